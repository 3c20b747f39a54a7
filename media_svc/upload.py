"""Store an uploaded original: real type from magic bytes, limits, no location data.

Runs in the transform pool (it decodes every frame once to prove the file is whole).
Writes only under ``<media root>/<tenant>/uploads/`` and only after every check passed;
the stored name is content-addressed, so re-uploading the same bytes within a month (its
folder) is idempotent.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from media_svc.errors import InvalidSource, OutputTooLarge, StorageUnavailable
from media_svc.geometry import MAX_SIDE, largest_width
from media_svc.metadata import strip_personal_metadata
from media_svc.sniff import EXTENSIONS, HEAD_BYTES, sniff_format
from media_svc.transform import Limits, probe, reencode_avif

__all__ = ["StoredOriginal", "store_upload", "valid_tenant"]

_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_SLUG_DROP = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class StoredOriginal:
    source: str  # the source path to sign, relative to the media root
    format: str
    width: int
    height: int
    bytes: int
    sha256: str


def valid_tenant(tenant: str) -> str:
    if not _TENANT.fullmatch(tenant):
        raise InvalidSource("The tenant id may only hold letters, digits, '-' and '_'.")
    return tenant


def _slug(name: str | None) -> str:
    stem = (name or "").rsplit("/", 1)[-1].rsplit(".", 1)[0].lower()
    return _SLUG_DROP.sub("-", stem).strip("-")[:60] or "image"


def store_upload(data: bytes, *, name: str | None, tenant: str, root: Path,
                 limits: Limits, now: float | None = None) -> StoredOriginal:
    fmt = sniff_format(data[:HEAD_BYTES])
    cleaned = reencode_avif(data, limits) if fmt == "avif" else strip_personal_metadata(data, fmt)
    digest = hashlib.sha256(cleaned).hexdigest()
    month = time.strftime("%Y/%m", time.gmtime(now))
    relative = f"{valid_tenant(tenant)}/uploads/{month}/{digest[:16]}-{_slug(name)}.{EXTENSIONS[fmt]}"
    target = root / relative
    try:
        if _holds(target, cleaned):  # stored before: its mtime is the version every
            # variant and ETag made for it carries, so the file is left as it is
            return StoredOriginal(relative, fmt, *_servable(target, limits), len(cleaned),
                                  digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".upload-{secrets.token_hex(8)}"
        # created with the process's umask, as any file it writes (mkstemp's 0600 would
        # keep the original from a web server, backup or replica running as another user)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(cleaned)
                fh.flush()
                # its data on disk before its name: a power cut after the 201 must not
                # leave an empty original under a name that is already handed out
                os.fsync(fh.fileno())
            size = _servable(tmp, limits)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:  # a full or failing disk: retryable, not a bug in the file
        raise StorageUnavailable(detail=f"{relative}: cannot store the upload: {exc}") from exc
    return StoredOriginal(relative, fmt, *size, len(cleaned), digest)


def _holds(path: Path, data: bytes) -> bool:
    """Whether ``path`` is a file holding exactly ``data``."""
    try:
        with path.open("rb") as fh:
            return os.fstat(fh.fileno()).st_size == len(data) and fh.read() == data
    except (FileNotFoundError, NotADirectoryError):
        return False


def _servable(path: Path, limits: Limits) -> tuple[int, int]:
    """The picture's width and height, once some width of it is known to be servable."""
    checked = probe(path, limits)
    if largest_width((checked.width, checked.height), limits.max_output_pixels) is None:
        # stored, every URL answered for it would be a 413 output_too_large
        raise OutputTooLarge(
            f"The image is {checked.width}x{checked.height} pixels: no width of it "
            f"fits the output limits ({limits.max_output_pixels} pixels, {MAX_SIDE} "
            f"a side), so it could never be served.")
    return checked.width, checked.height
