"""Limits on an original's container, checked on its bytes before any decoder runs.

Pure: bytes or a file and numbers in, ``SourceTooLarge`` out. Each limit bounds work a
decoder does a step at a time where no deadline check between pipeline steps reaches:
libjpeg decoding the image again per scan, Pillow reading segments, chunks and blocks
one at a time in Python. Never decodes pixels.
"""

from __future__ import annotations

import io
import struct
from typing import BinaryIO

from media_svc.errors import SourceTooLarge
from media_svc.jpeg import SOS, segments

__all__ = ["check_gif", "check_jpeg", "check_png", "gif_icc_profile"]


def check_jpeg(data: bytes, *, max_scans: int, max_segments: int) -> None:
    """Refuse a JPEG of more than ``max_scans`` scans or ``max_segments`` segments.
    Each progressive scan decodes the whole image again (156 kB of one 4000x4000 scan
    repeated 3,000 times held a thread for 25 s); Pillow reads segments one at a time
    in Python and keeps each (24 MB of empty APPn ones: 14 s, 820 MB). Counted to the
    end of image: what follows it (a motion photo's video) or sits inside an APPn
    segment (a thumbnail) is not."""
    scans = 0
    for count, (marker, _, _) in enumerate(segments(data), start=1):
        scans += marker == SOS
        if scans > max_scans:
            raise SourceTooLarge(f"The JPEG has more than {max_scans} scans.")
        if count > max_segments:
            raise SourceTooLarge(f"The JPEG has more than {max_segments} segments.")


def check_png(fh: BinaryIO, *, max_chunks: int) -> None:
    """Refuse a PNG of more than ``max_chunks`` chunks. Pillow reads each chunk in
    Python (~4 µs), past any deadline check: 25 MB of empty private chunks held a
    transform thread for 8 s. The walk reads only the chunk headers, to IEND."""
    fh.seek(8)
    for _ in range(max_chunks):
        header = fh.read(8)
        if len(header) < 8 or header[4:] == b"IEND":
            return
        fh.seek(struct.unpack(">I", header[:4])[0] + 4, io.SEEK_CUR)
    raise SourceTooLarge(f"The PNG has more than {max_chunks} chunks.")


def _colour_table_size(flags: int) -> int:
    return 3 << ((flags & 7) + 1) if flags & 0x80 else 0


def check_gif(data: bytes, *, max_blocks: int) -> None:
    """Refuse a GIF of more than ``max_blocks`` blocks, sub-blocks and stray bytes, to
    its trailer. Pillow reads each in Python, frames' data too when it seeks past them:
    24 MB of empty comment extensions held a transform thread for 10 s. A 25 MB GIF in
    the usual 255-byte sub-blocks has about 100,000."""
    n = len(data)
    i = 13 + _colour_table_size(data[10]) if n > 10 else n
    in_sub_blocks = False
    for _ in range(max_blocks):
        if i >= n:
            return
        if in_sub_blocks:  # a length byte and that many bytes; a zero ends the chain
            in_sub_blocks = data[i] > 0
            i += 1 + data[i]
        elif data[i] == 0x3B:  # the trailer
            return
        elif data[i] == 0x2C:  # image descriptor, local colour table, LZW code size
            i += 11 + (_colour_table_size(data[i + 9]) if i + 9 < n else 0)
            in_sub_blocks = True
        elif data[i] == 0x21:  # extension introducer and label
            i += 2
            in_sub_blocks = True
        else:  # a stray byte, which Pillow skips one step at a time too
            i += 1
    raise SourceTooLarge(f"The GIF has more than {max_blocks} blocks.")


_GIF_ICC = b"\x0bICCRGBG1012"  # an application extension's block size and identifier


def gif_icc_profile(data: bytes) -> bytes | None:
    """The colour profile of a GIF whose blocks ``check_gif`` has bounded: the data of
    its ICCRGBG1012 application extension, which Pillow does not read. None if absent."""
    n = len(data)
    i = 13 + _colour_table_size(data[10]) if n > 10 else n
    while i < n and data[i] != 0x3B:
        if data[i] == 0x2C:  # image descriptor, local colour table, LZW code size
            i += 11 + (_colour_table_size(data[i + 9]) if i + 9 < n else 0)
        elif data[i] == 0x21:  # extension introducer and label
            profile = data[i + 1] == 0xFF and data[i + 2:i + 14] == _GIF_ICC
            i += 14 if profile else 2
            parts = []
            while i < n and data[i]:  # sub-blocks: a length byte, that many bytes
                parts.append(data[i + 1:i + 1 + data[i]])
                i += 1 + data[i]
            if profile:
                return b"".join(parts) or None
            i += 1
            continue
        else:  # a stray byte
            i += 1
            continue
        while i < n and data[i]:  # the image's sub-blocks
            i += 1 + data[i]
        i += 1
    return None
