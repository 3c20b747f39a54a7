"""Remove location and other personal metadata from uploaded originals, losslessly.

Pure byte surgery on the container (JPEG segments, PNG chunks, WebP RIFF chunks, GIF
blocks), so an original keeps its exact pixels. Trailing bytes after the image end are
dropped, which also defuses polyglots (an image with an archive or HTML glued on).
"""

from __future__ import annotations

import struct
import zlib

from PIL import Image

from media_svc.errors import ImageDecodeError
from media_svc.jpeg import segments

__all__ = ["strip_personal_metadata"]

# EXIF kept on uploads: orientation (needed to display correctly) and authorship.
_KEEP_IFD0 = (0x0112, 0x010F, 0x0110, 0x0132, 0x013B, 0x8298, 0x010E, 0x0131)
_PNG_KEEP = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB",
             b"iCCP", b"sBIT", b"pHYs", b"acTL", b"fcTL", b"fdAT", b"bKGD", b"cICP"}
_WEBP_DROP = {b"XMP "}  # and EXIF, written again with only the tags kept
_GIF_LOOPING = (b"NETSCAPE2.0", b"ANIMEXTS1.0")  # application extensions kept: looping
_GIF_ICC = b"ICCRGBG1012"  # ... and the colour profile, which the transforms convert from


def strip_personal_metadata(data: bytes, fmt: str) -> bytes:
    try:
        if fmt == "jpeg":
            return _strip_jpeg(data)
        if fmt == "png":
            return _strip_png(data)
        if fmt == "webp":
            return _strip_webp(data)
        if fmt == "gif":
            return _strip_gif(data)
    except (IndexError, struct.error, ValueError) as exc:
        raise ImageDecodeError(detail=f"container: {exc!r}") from exc
    return data  # AVIF is re-encoded (transform.reencode_avif)


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
        elif marker == 0xFE or (0xE0 <= marker <= 0xEF and not _kept_app(marker, body)):
            # XMP, Photoshop/IPTC, comments, vendor APPn (free text: may hold locations);
            # an MPF index, whose images after the end of this one are dropped with it
            continue
        else:
            out.append(segment)
    return b"".join(out)


def _kept_app(marker: int, body: bytes) -> bool:
    """JFIF (APP0), an ICC profile (APP2) and Adobe's colour transform (APP14)."""
    return marker in (0xE0, 0xEE) or (marker == 0xE2 and body.startswith(b"ICC_PROFILE\x00"))


def _tiff(exif: bytes) -> bytes:
    """EXIF as PNG's eXIf and WebP's EXIF chunks hold it: from the TIFF header on."""
    return exif.removeprefix(b"Exif\x00\x00")


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
        elif kind == b"eXIf" and (exif := _minimal_exif(chunk[8:8 + length])):
            body = b"eXIf" + _tiff(exif)  # orientation: needed to display it upright
            out.append(struct.pack(">I", len(body) - 4) + body
                       + struct.pack(">I", zlib.crc32(body)))
        if kind == b"IEND":
            break
    return b"".join(out)


def _strip_webp(data: bytes) -> bytes:
    chunks: list[bytes] = []
    has_exif, flags_at = False, None
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
        if kind == b"EXIF":
            exif = _minimal_exif(bytes(chunk[8:8 + length]))
            if not exif:
                continue
            body = _tiff(exif)
            chunk = bytearray(b"EXIF" + struct.pack("<I", len(body)) + body
                              + b"\x00" * (len(body) & 1))
            has_exif = True
        if kind == b"VP8X":
            chunk[8] &= ~(0x08 | 0x04) & 0xFF  # the EXIF and XMP presence flags
            flags_at = len(chunks)
        chunks.append(bytes(chunk))
    if has_exif and flags_at is not None:  # EXIF only counts where VP8X says it is there
        vp8x = bytearray(chunks[flags_at])
        vp8x[8] |= 0x08
        chunks[flags_at] = bytes(vp8x)
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _colour_table_size(flags: int) -> int:
    return 3 << ((flags & 7) + 1) if flags & 0x80 else 0


def _after_sub_blocks(data: bytes, i: int) -> int:
    while data[i]:  # a length byte, then that many bytes; 0 ends the chain
        i += 1 + data[i]
    return i + 1


def _strip_gif(data: bytes) -> bytes:
    """The frames, their timing, the looping extension and the colour profile, to the
    trailer. Comments, XMP and other application extensions (free text, which may say
    where a photo was taken), plain-text blocks with the graphic control that belongs to
    them, and anything after the trailer (a polyglot's payload) are dropped."""
    i = 13 + _colour_table_size(data[10])
    out = [data[:i]]
    control = b""  # a graphic control extension: written with the block it governs
    while i < len(data) and data[i] != 0x3B:
        start = i
        if data[i] == 0x2C:  # image descriptor, local colour table, LZW code size, data
            i = _after_sub_blocks(data, i + 11 + _colour_table_size(data[i + 9]))
            out += [control, data[start:i]]
            control = b""
        elif data[i] == 0x21:  # extension: label, then sub-blocks
            label = data[i + 1]
            i = _after_sub_blocks(data, i + 2)
            if label == 0xF9:  # delay, disposal, transparency of the next block (each
                control += data[start:i]  # one before it counts: a flag of the first too)
            elif label == 0x01:  # plain text: dropped, and its graphic control with it
                control = b""
            elif label == 0xFF and data[start + 2] == 11 and (
                    data[start + 3:start + 14] in _GIF_LOOPING
                    or data[start + 3:start + 14] == _GIF_ICC):
                out.append(data[start:i])
        else:  # a stray byte: skipped, as Pillow's decoder skips it
            i += 1
    out.append(b"\x3b")
    return b"".join(out)
