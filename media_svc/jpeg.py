"""Pure: the segments of a JPEG in order, to its end of image, each scan with its
entropy-coded data: what stripping metadata and counting scans read. Tolerant as libjpeg
is (fill bytes before a marker, stray bytes between segments are skipped) and linear in
the file's size whatever its bytes; nothing after the end of image is read.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator

__all__ = ["EOI", "SOS", "segments"]

SOS, EOI = 0xDA, 0xD9
_STANDALONE = frozenset({0x01, 0xD8, *range(0xD0, 0xD8)})  # markers without a length
_FILL = re.compile(rb"\xff+")
# The first marker after a scan's data: an FF followed by neither 00 (a stuffed FF), a
# restart marker nor another FF (fill bytes, which stay with the scan's data). A literal
# first byte lets the regex engine skip ahead at C speed: ~1 ms for 10 MB of scan data.
_MARKER_AFTER_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def segments(data: bytes) -> Iterator[tuple[int, int, int]]:
    """``(marker, start, end)`` of every segment after the start of image; a scan's end
    includes its entropy-coded data, and the last one is the end of image when the file
    has one. A segment whose length runs past the data ends the walk."""
    i, n = 2, len(data)
    while i < n - 1:
        if data[i] != 0xFF:  # stray bytes
            i = data.find(b"\xff", i)
            if i < 0:
                return
            continue
        marker = data[i + 1]
        if marker == 0xFF:  # fill bytes: to the last FF of the run
            i = _FILL.match(data, i).end() - 1  # type: ignore[union-attr]
            continue
        if marker == EOI:
            yield marker, i, i + 2
            return
        if marker in _STANDALONE:
            i += 2
            continue
        if i + 4 > n:
            return
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        end = i + 2 + length
        if length < 2 or end > n:
            return
        if marker == SOS:
            found = _MARKER_AFTER_SCAN.search(data, end)
            end = found.start() if found else n
        yield marker, i, end
        i = end
