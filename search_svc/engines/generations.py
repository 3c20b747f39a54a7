"""Index generations on disk: a ``CURRENT`` pointer file naming the live directory.

Owns the atomic file operations behind build-and-swap and checkpoints for on-disk
engines: durable writes (temp file, fsync, rename, fsync the directory), reading the
pointer cheaply (a ``stat`` per query), and removing generations nobody points at.
Knows nothing about any engine library.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import uuid
from pathlib import Path

__all__ = [
    "POINTER",
    "lock_writer",
    "new_generation",
    "read_json",
    "read_pointer",
    "remove_generations",
    "stat_key",
    "write_json_durably",
]

POINTER = "CURRENT"
GENERATION_PREFIX = "gen-"
WRITER_LOCK = "writer.lock"

StatKey = tuple[int, int, int]


def stat_key(path: Path | str) -> StatKey | None:
    """What changes when ``path`` is replaced or rewritten (inode, mtime, size)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_durably(path: Path, value: object) -> None:
    """Replace ``path`` with ``value`` as JSON so a crash leaves the old or the new file."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(value, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def read_json(path: Path) -> dict[str, object] | None:
    try:
        with open(path, encoding="utf-8") as fh:
            value = json.load(fh)
    except FileNotFoundError:
        return None
    return value if isinstance(value, dict) else None


def read_pointer(root: Path) -> dict[str, object] | None:
    """``{"generation": name, "schema_version": n}`` or None before the first index."""
    value = read_json(root / POINTER)
    if value is None or not isinstance(value.get("generation"), str):
        return None
    return value


def schema_fields(generation: Path) -> frozenset[str] | None:
    """The field names a generation's index was written with (its ``meta.json``), or
    None when they cannot be read."""
    meta = read_json(generation / "meta.json")
    schema = meta.get("schema") if meta else None
    if not isinstance(schema, list):
        return None
    return frozenset(str(f["name"]) for f in schema if isinstance(f, dict) and "name" in f)


def new_generation(root: Path) -> str:
    """Create and return the name of a fresh, empty, not yet live generation directory."""
    name = f"{GENERATION_PREFIX}{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
    (root / name).mkdir(parents=True)
    return name


def remove_generations(root: Path, *, keep: set[str]) -> None:
    """Delete every generation directory not in ``keep`` (old lives, crashed rebuilds).

    Readers still holding an old generation keep their open files (POSIX semantics)
    and move to the pointer's generation on their next query.
    """
    for child in root.iterdir():
        if child.name.startswith(GENERATION_PREFIX) and child.name not in keep:
            shutil.rmtree(child, ignore_errors=True)


def lock_writer(root: Path) -> int:
    """Hold ``<root>/writer.lock`` for the one writer of the index; its descriptor, to
    close when done (the kernel drops the lock with the process too). Tantivy's own lock
    is a generation's, and generations come and go: two first starts, each making a
    generation of its own, never met. ``BlockingIOError`` when another writer holds it."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / WRITER_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException:
        os.close(fd)
        raise
    return fd
