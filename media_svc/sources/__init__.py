"""Where originals come from: a small port and the path rules every source shares.

A source turns a source name from the URL into an ``Original``: a local file the
transform can open, plus what makes its version (so the cache and ETag follow edits).
Sources never decode images; the names they accept can never leave their root.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from awsm.text import CONTROL_CHARS
from media_svc.errors import InvalidSource

__all__ = ["Original", "Source", "safe_relative_path"]


@dataclass(frozen=True, slots=True)
class Original:
    path: Path
    size: int
    modified: float  # Unix time, for Last-Modified
    version: str  # changes whenever the content may have changed


class Source(Protocol):
    async def fetch(self, name: str) -> Original:
        """Return the original called ``name`` or raise a ``media_svc.errors`` class."""
        ...


def safe_relative_path(name: str) -> PurePosixPath:
    """``name`` as a relative path that cannot climb out of its root, or ``InvalidSource``.

    The name was percent-decoded once by the HTTP layer. Any ``%`` left means an
    encoded name (``%2e%2e``, double encoding), which no original of ours has: it is
    refused outright instead of being decoded again, so there is one reading of a name.
    """
    if not name or len(name) > 1024:
        raise InvalidSource("The source path is empty or too long.")
    if "%" in name or "\\" in name or CONTROL_CHARS.search(name) \
            or any(0xD800 <= ord(c) <= 0xDFFF for c in name):  # bytes not UTF-8 (surrogateescape)
        raise InvalidSource("The source path contains characters that are not allowed.")
    if name.startswith("/"):
        raise InvalidSource("The source path must be relative.")
    parts = name.split("/")
    for part in parts:
        if part in ("", ".", "..") or part.startswith("."):
            raise InvalidSource("The source path may not contain empty, '.', '..' or hidden "
                                "segments.")
    return PurePosixPath(*parts)
