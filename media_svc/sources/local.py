"""Originals from a local directory (``AWSM_MEDIA_ROOT``): the embedded default.

Knows the file system only. Names are checked lexically first, then the resolved path
(symlinks followed) must still be inside the root, so a link cannot lead out of it.
"""

from __future__ import annotations

import errno
import stat
from pathlib import Path

from media_svc.errors import SourceForbidden, SourceNotFound, SourceTooLarge
from media_svc.sources import Original, safe_relative_path

__all__ = ["LocalSource"]


class LocalSource:
    def __init__(self, root: Path, *, max_bytes: int) -> None:
        self.root = root.resolve()
        self.max_bytes = max_bytes

    def locate(self, name: str) -> Path:
        """The real path of ``name`` inside the root; raises for anything outside."""
        relative = safe_relative_path(name)
        try:
            resolved = (self.root / relative).resolve(strict=True)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise SourceNotFound(detail=str(exc)) from exc
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:  # no such file can exist
                raise SourceNotFound(detail=str(exc)) from exc
            raise SourceForbidden(detail=str(exc)) from exc  # symlink loops, permissions
        except RuntimeError as exc:  # a symlink loop, as some Python versions report one
            raise SourceForbidden(detail=str(exc)) from exc
        if not resolved.is_relative_to(self.root):
            raise SourceForbidden("The source path leads outside the media root.")
        return resolved

    async def fetch(self, name: str) -> Original:
        path = self.locate(name)
        try:
            st = path.stat()
        except OSError as exc:
            raise SourceNotFound(detail=str(exc)) from exc
        if not stat.S_ISREG(st.st_mode):
            raise SourceNotFound()
        if st.st_size > self.max_bytes:
            raise SourceTooLarge(f"The source is {st.st_size} bytes; the limit is "
                                 f"{self.max_bytes}.")
        return Original(path, st.st_size, st.st_mtime, f"{st.st_mtime_ns:x}-{st.st_size:x}")
