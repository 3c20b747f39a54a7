"""Remove location and other personal metadata from uploaded originals, losslessly.

Pure byte surgery on the container (JPEG segments, PNG chunks, WebP RIFF chunks), so
an original keeps its exact pixels. Trailing bytes after the image end are dropped,
which also defuses polyglots (an image with an archive or HTML glued on).
"""

from __future__ import annotations

import struct

from PIL import Image

from media_svc.errors import ImageDecodeError
from media_svc.jpeg import segments

__all__ = ["strip_personal_metadata"]

# EXIF kept on uploads: orientation (needed to display correctly) and authorship.
_KEEP_IFD0 = (0x0112, 0x010F, 0x0110, 0x0132, 0x013B, 0x8298, 0x010E, 0x0131)
_PNG_KEEP = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB",
             b"iCCP", b"sBIT", b"pHYs", b"acTL", b"fcTL", b"fdAT", b"bKGD", b"cICP"}
_WEBP_DROP = {b"EXIF", b"XMP "}


def strip_personal_metadata(data: bytes, fmt: str) -> bytes:
    try:
        if fmt == "jpeg":
            return _strip_jpeg(data)
        if fmt == "png":
            return _strip_png(data)
        if fmt == "webp":
            return _strip_webp(data)
    except (IndexError, struct.error, ValueError) as exc:
        raise ImageDecodeError(detail=f"container: {exc!r}") from exc
    return data  # GIF carries no EXIF; AVIF is re-encoded (transform.reencode_avif)


def _minimal_exif(segment_body: bytes) -> bytes | None:
    source = Image.Exif()
    try:
        source.load(segment_body)
    except (SyntaxError, ValueError, struct.error, OSError):
        return None
    kept = Image.Exif()
    for tag in _KEEP_IFD0:
        if tag in source:
            kept[tag] = source[tag]
    return kept.tobytes() if len(kept) else None


def _strip_jpeg(data: bytes) -> bytes:
    """Every segment to the end of the image (nothing after it is kept), scans included:
    a progressive JPEG may carry APPn and comment segments between its scans."""
    out = [b"\xff\xd8"]
    for marker, start, end in segments(data):
        segment = data[start:end]
        body = segment[4:]
        if marker == 0xE1 and body.startswith(b"Exif\x00\x00"):
            exif = _minimal_exif(body)
            if exif:
                out.append(b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif)
        elif marker == 0xE1 or marker in (0xED, 0xFE) or 0xE3 <= marker <= 0xEC:
            continue  # XMP, Photoshop/IPTC, comments, vendor APPn: may hold locations
        else:
            out.append(segment)
    return b"".join(out)


def _strip_png(data: bytes) -> bytes:
    out = [data[:8]]
    i = 8
    while i + 8 <= len(data):
        (length,) = struct.unpack(">I", data[i:i + 4])
        kind = data[i + 4:i + 8]
        chunk = data[i:i + 12 + length]
        i += 12 + length
        if kind in _PNG_KEEP:
            out.append(chunk)
        if kind == b"IEND":
            break
    return b"".join(out)


def _strip_webp(data: bytes) -> bytes:
    chunks = []
    i = 12
    (riff_size,) = struct.unpack("<I", data[4:8])
    end = min(len(data), 8 + riff_size)
    while i + 8 <= end:
        kind = data[i:i + 4]
        (length,) = struct.unpack("<I", data[i + 4:i + 8])
        chunk = bytearray(data[i:i + 8 + length + (length & 1)])
        i += 8 + length + (length & 1)
        if kind in _WEBP_DROP:
            continue
        if kind == b"VP8X":
            chunk[8] &= ~(0x08 | 0x04) & 0xFF  # the EXIF and XMP presence flags
        chunks.append(bytes(chunk))
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body
