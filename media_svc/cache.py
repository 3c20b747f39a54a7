"""Bounded on-disk caches (LRU by total size) and single flight for identical work.

``DiskCache`` knows one directory of files named by key; it is shared by the event
loop and worker threads, so every index change holds its lock. It never decides what
a key means: callers build keys (the derived-image key leaves the URL signature out).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

__all__ = ["CacheEntry", "DiskCache", "SingleFlight"]

T = TypeVar("T")
# A temporary file untouched this long belongs to no live write: every write (a
# rendition, a download bounded by AWSM_MEDIA_HTTP_TIMEOUT_S) ends far sooner.
STALE_TEMP_S = 3600


@dataclass(frozen=True, slots=True)
class CacheEntry:
    path: Path
    size: int
    mtime_ns: int  # when it was written: read back, the file may already be evicted


class DiskCache:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self._total = 0
        root.mkdir(parents=True, exist_ok=True)
        self._load_existing()

    def _load_existing(self) -> None:
        # Left by a process that died mid-write; a recent one may be another replica's
        # write in progress on a shared directory, which deleting would break.
        stale_before = time.time() - STALE_TEMP_S
        for leftover in self.root.glob(".tmp-*"):
            with contextlib.suppress(FileNotFoundError):
                if leftover.stat().st_mtime < stale_before:
                    leftover.unlink()
        # Least recently written first, so a restart keeps a sensible eviction order.
        found = []
        for path in self.root.glob("??/*"):
            if path.name.startswith(".") or not path.is_file():
                continue
            try:
                st = path.stat()
            except FileNotFoundError:  # evicted since it was listed, by another replica
                continue
            if st.st_size == 0:  # renamed in, data lost: a power cut before fsync existed
                path.unlink(missing_ok=True)
                continue
            found.append((st.st_mtime, path.name.split(".", 1)[0], CacheEntry(path, st.st_size,
                                                                     st.st_mtime_ns)))
        for _mtime, key, entry in sorted(found, key=lambda item: item[0]):
            self._entries[key] = entry
            self._total += entry.size
        self._evict()

    @property
    def total_bytes(self) -> int:
        return self._total

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> CacheEntry | None:
        """The entry for ``key``, or None. An entry whose file is gone, empty or not the
        size it was stored at is discarded: served, it would be a broken image that a CDN
        keeps for a year."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        if entry is None:
            return None
        try:
            size = entry.path.stat().st_size
        except OSError:
            size = -1
        if size != entry.size or size == 0:
            # ... unless adopt() has just put a new file there: that one stays
            self.discard(key, only=entry)
            return None
        return entry

    def put(self, key: str, data: bytes, suffix: str) -> CacheEntry:
        """Store ``data`` under ``key``. A failed write (a full disk) raises ``OSError``
        and leaves no temporary file behind."""
        tmp = self.temp_path()
        try:
            with tmp.open("wb") as fh:
                fh.write(data)
            return self.adopt(key, tmp, suffix)
        finally:
            tmp.unlink(missing_ok=True)  # gone already once adopted

    def temp_path(self) -> Path:
        """A fresh temporary file in the cache directory, for ``adopt()`` to take over."""
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
        os.close(fd)
        return Path(tmp)

    def adopt(self, key: str, tmp: Path, suffix: str) -> CacheEntry:
        """Move a finished temporary file into the cache under ``key`` (atomically).

        Blocks on the disk (fsync): call it from a thread, never the event loop.
        """
        target = self.root / key[:2] / f"{key}.{suffix}"
        target.parent.mkdir(exist_ok=True)
        # Its data on disk before its name: after a power cut a rename can survive the
        # data it points at, leaving an empty file under a valid key.
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        with self._lock:  # the file and the index change together: a reader holding the
            os.replace(tmp, target)  # old entry never takes the new file for a torn one
            st = target.stat()
            entry = CacheEntry(target, st.st_size, st.st_mtime_ns)
            old = self._entries.pop(key, None)
            if old is not None:
                self._total -= old.size
            self._entries[key] = entry
            self._total += entry.size
            self._evict()
        return entry

    def discard(self, key: str, *, only: CacheEntry | None = None) -> None:
        """Forget ``key`` and delete its file; with ``only``, just while that entry is
        the one held (not one stored since, under the same file name)."""
        with self._lock:
            if only is not None and self._entries.get(key) is not only:
                return
            entry = self._entries.pop(key, None)
            if entry is not None:
                self._total -= entry.size
                entry.path.unlink(missing_ok=True)

    def _evict(self) -> None:
        # The newest entry is kept even when it alone exceeds the budget: its caller is
        # about to read it.
        while self._total > self.max_bytes and len(self._entries) > 1:
            _key, entry = self._entries.popitem(last=False)
            self._total -= entry.size
            entry.path.unlink(missing_ok=True)


class SingleFlight(Generic[T]):
    """Concurrent calls with one key share one run of the work.

    The work runs as its own task, so a client that disconnects does not cancel it
    for the others (or for the cache).
    """

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Future[T]] = {}

    async def run(self, key: str, work: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """Return ``(result, shared)``; ``shared`` is True when another call did the work."""
        running = self._running.get(key)
        if running is not None:
            return await asyncio.shield(running), True
        task = asyncio.ensure_future(work())
        self._running[key] = task
        task.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(task), False

    def _finished(self, key: str, task: asyncio.Future[T]) -> None:
        self._running.pop(key, None)
        if not task.cancelled():
            task.exception()  # mark it retrieved even when every caller went away
