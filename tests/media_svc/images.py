"""Real image files for the media tests, drawn with Pillow (and a few built by hand).

Each function returns the file's bytes. The hostile ones are built the way attackers
build them: a header that lies about the size, markup with an image header, a file
cut in half.
"""

from __future__ import annotations

import io
import random
import struct
import zlib

from PIL import Image, ImageDraw

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def photo(size: tuple[int, int] = (600, 400), mode: str = "RGB") -> Image.Image:
    """A landscape picture with a red block in its top-left corner (to check rotation)."""
    im = Image.linear_gradient("L").resize(size).convert(mode if mode != "CMYK" else "RGB")
    if im.mode == "RGB":
        im = Image.merge("RGB", (im.getchannel(0), im.getchannel(0).transpose(
            Image.Transpose.FLIP_LEFT_RIGHT), Image.new("L", size, 128)))
    draw = ImageDraw.Draw(im)
    draw.rectangle((0, 0, size[0] // 4, size[1] // 4), fill=(255, 0, 0) if im.mode == "RGB" else 0)
    return im.convert(mode) if mode != im.mode else im


def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def exif_with_gps(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "TestCam"
    exif[GPS_IFD] = {1: "S", 2: (6.0, 10.0, 30.0), 3: "E", 4: (106.0, 49.0, 0.0)}
    return exif


def jpeg_with_exif(orientation: int = 6, size: tuple[int, int] = (600, 400)) -> bytes:
    """Stored landscape, displayed portrait (orientation 6 = rotate 90° clockwise)."""
    return encode(photo(size), "JPEG", quality=90, exif=exif_with_gps(orientation).tobytes())


def jpeg(size: tuple[int, int] = (1200, 800), **params: object) -> bytes:
    return encode(photo(size), "JPEG", quality=88, **params)


def progressive_jpeg(size: tuple[int, int] = (1200, 800)) -> bytes:
    return jpeg(size, progressive=True)


def cmyk_jpeg(size: tuple[int, int] = (500, 300)) -> bytes:
    return encode(photo(size).convert("CMYK"), "JPEG", quality=90)


def png16(size: tuple[int, int] = (300, 200)) -> bytes:
    ramp = Image.linear_gradient("L").resize(size).convert("I")
    return encode(ramp.point(lambda v: v * 257).convert("I;16"), "PNG")


def png_alpha(size: tuple[int, int] = (400, 300)) -> bytes:
    im = Image.new("RGBA", size, (0, 0, 255, 0))
    mx, my = size[0] // 8, size[1] // 8
    ImageDraw.Draw(im).ellipse((mx, my, size[0] - mx, size[1] - my), fill=(0, 200, 0, 255))
    return encode(im, "PNG")


def png_colour_key(mode: str = "RGB", size: tuple[int, int] = (100, 100)) -> bytes:
    """An opaque RGB or greyscale PNG whose border colour is transparent (tRNS), with an
    opaque block in the middle: transparency without an alpha channel."""
    border, block = ((0, 0, 255), (255, 0, 0)) if mode == "RGB" else (0, 200)
    im = Image.new(mode, size, border)
    im.paste(block, (size[0] // 4, size[1] // 4, size[0] * 3 // 4, size[1] * 3 // 4))
    return encode(im, "PNG", transparency=border)


def png_chunk_flood(chunks: int = 30_000) -> bytes:
    """An 8x8 PNG with tens of thousands of empty private chunks before its pixels: cheap
    to send, slow for a decoder that handles chunks one at a time."""
    base = encode(Image.new("RGB", (8, 8)), "PNG")
    empty = struct.pack(">I", 0) + b"prVt" + struct.pack(">I", zlib.crc32(b"prVt"))
    return base[:33] + empty * chunks + base[33:]  # after the 8-byte signature and IHDR


def animated_gif(frames: int = 4, size: tuple[int, int] = (120, 80)) -> bytes:
    images = [Image.new("RGB", size, ((i * 53) % 256, (i * 97) % 256, (i * 31) % 256))
              for i in range(frames)]
    return encode(images[0], "GIF", save_all=True, append_images=images[1:], duration=80,
                  loop=0)


def animated_with_orientation(fmt: str = "WEBP", orientation: int = 6) -> bytes:
    """Two 200x100 frames (blue, then green) with a red block top-left when stored; the
    EXIF orientation (6: rotate 90° clockwise) says to show them portrait."""
    frames = [Image.new("RGB", (200, 100), colour) for colour in ((0, 0, 255), (0, 160, 0))]
    for frame in frames:
        ImageDraw.Draw(frame).rectangle((0, 0, 49, 49), fill=(255, 0, 0))
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100,
                  loop=0, exif=exif.tobytes(), **({"lossless": True} if fmt == "WEBP" else {}))


def truncated_jpeg() -> bytes:
    data = jpeg((800, 600))
    return data[: len(data) // 2]


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A PNG whose header claims 900 MP while the file is a few hundred bytes."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 16, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def gif_frame_bomb(frames: int = 400) -> bytes:
    return animated_gif(frames=frames, size=(16, 16))


def _gif_image_block(data: bytes) -> bytes:
    """The first image descriptor of a GIF Pillow wrote, with its pixel data."""
    flags = data[10]
    i = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    while data[i] == 0x21:  # extensions: label, then sub-blocks to a zero length
        i += 2
        while data[i]:
            i += 1 + data[i]
        i += 1
    return data[i:data.rindex(b"\x3b")]


def growing_gif(side: int = 7000) -> bytes:
    """A GIF whose header says 64x64, as does its first frame; its second frame is
    side x side (49 MP by default), which decoders grow the canvas to hold. A few dozen
    kB: one colour compresses to almost nothing in LZW."""
    small = encode(Image.new("P", (64, 64), 1), "GIF")
    big = encode(Image.new("P", (side, side), 2), "GIF")
    flags = small[10]
    head = small[:13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)]
    looping = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    control = b"\x21\xf9\x04\x00\x0a\x00\x00\x00"  # 100 ms, no disposal
    return (head + looping + control + _gif_image_block(small) + control
            + _gif_image_block(big) + b"\x3b")


def gif_block_flood(blocks: int = 300_000) -> bytes:
    """A 8x8 GIF with hundreds of thousands of empty comment extensions before its
    frame: three bytes each, and one step each of a decoder reading blocks in Python."""
    data = encode(Image.new("P", (8, 8), 1), "GIF")
    flags = data[10]
    head = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    return data[:head] + b"\x21\xfe\x00" * blocks + data[head:]


def polyglot_gif_script() -> bytes:
    """A GIF header followed by JavaScript: the classic GIFAR/JS polyglot."""
    return b"GIF89a/*\x00\x00*/=1;alert(document.domain);//" + b"\x00" * 40


def polyglot_jpeg_html() -> bytes:
    """A valid JPEG with an HTML page glued after its end marker."""
    return jpeg((300, 200)) + b"<html><script>alert(1)</script></html>"


SVG_WITH_SCRIPT = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" '
                   b'height="10"><script>alert(1)</script><rect width="10" height="10"/></svg>')


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def swapped_primaries_icc() -> bytes:
    """A minimal ICC v2 RGB profile whose red and blue primaries are exchanged.

    Under it, a pixel stored as pure red *is* blue: a service that converts through the
    profile outputs blue, one that drops the profile outputs red.
    """
    return _rgb_icc(b"swapped primaries", swapped=True, gamma=0x0233)


def linear_srgb_icc() -> bytes:
    """sRGB's primaries with a linear tone curve (gamma 1.0), named as Elle Stone's
    well-known profile is: stored mid grey (128) is sRGB's 188, though the name says sRGB."""
    return _rgb_icc(b"sRGB-elle-V2-g10.icc", swapped=False, gamma=0x0100)


def _rgb_icc(name: bytes, *, swapped: bool, gamma: int) -> bytes:
    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \x00\x00\x00\x00" + _s15(x) + _s15(y) + _s15(z)

    desc_text = name + b"\x00"
    desc = (b"desc\x00\x00\x00\x00" + struct.pack(">I", len(desc_text)) + desc_text
            + b"\x00" * 8 + b"\x00\x00\x00" + b"\x00" * 67)
    curve = b"curv\x00\x00\x00\x00" + struct.pack(">IH", 1, gamma) + b"\x00\x00"
    red, blue = xyz(0.4361, 0.2225, 0.0139), xyz(0.1431, 0.0606, 0.7141)  # sRGB's
    tags = [
        (b"desc", desc), (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", blue if swapped else red),
        (b"gXYZ", xyz(0.3851, 0.7169, 0.0971)),
        (b"bXYZ", red if swapped else blue),
        (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve),
        (b"cprt", b"text\x00\x00\x00\x00public domain\x00\x00\x00"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags:
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data + b"\x00" * (-len(data) % 4)
    size = offset + len(body)
    header = (struct.pack(">I", size) + b"\x00" * 4 + struct.pack(">I", 0x02100000)
              + b"mntrRGB XYZ " + b"\x00" * 12 + b"acsp" + b"\x00" * 24
              + struct.pack(">I", 0) + _s15(0.9642) + _s15(1.0) + _s15(0.8249) + b"\x00" * 48)
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def red_with_swapped_profile(fmt: str = "JPEG") -> bytes:
    return encode(Image.new("RGB", (64, 48), (255, 0, 0)), fmt, icc_profile=swapped_primaries_icc())


def _scans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each scan (SOS segment and its entropy-coded data) of a JPEG."""
    out, i = [], 2
    while i < len(data) and data[i + 1] != 0xD9:
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        end = i + 2 + length
        if data[i + 1] == 0xDA:
            while data[end] != 0xFF or data[end + 1] == 0 or 0xD0 <= data[end + 1] <= 0xD7:
                end += 1
            out.append((i, end))
        i = end
    return out


def scan_bomb_jpeg(repeats: int = 300, side: int = 256) -> bytes:
    """A valid progressive JPEG whose last scan is repeated: small, but every scan
    decodes the whole image again (the libjpeg 'progressive DoS')."""
    data = encode(Image.new("L", (side, side), 128), "JPEG", progressive=True, quality=90)
    start, end = _scans(data)[-1]
    eoi = data.rindex(b"\xff\xd9")
    return data[:eoi] + data[start:end] * repeats + data[eoi:]


def jpeg_segment_flood(segments: int = 20_000) -> bytes:
    """An 8x8 JPEG with tens of thousands of empty APP5 segments before its frame: each
    is 4 bytes to send and one step of a decoder that reads segments one at a time."""
    data = encode(Image.new("RGB", (8, 8)), "JPEG")
    return data[:2] + b"\xff\xe5\x00\x02" * segments + data[2:]


def jpeg_with_metadata_after_the_first_scan() -> bytes:
    """A progressive JPEG with a GPS EXIF block and a comment between its scans, where
    markers other than the scan's own are legal too."""
    data = progressive_jpeg((300, 200))
    first_end = _scans(data)[0][1]
    exif = exif_with_gps().tobytes()  # "Exif\0\0" and the TIFF data
    comment = b"SECRET-HOME-ADDRESS"
    extra = (b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
             + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment)
    return data[:first_end] + extra + data[first_end:]


def jpeg_with_trailer(size: int = 8_000_000) -> bytes:
    """A JPEG followed by random bytes, as a motion photo carries its video after the
    image's end (random data holds ~16 FF DA pairs a MB)."""
    return jpeg((300, 200)) + random.Random(7).randbytes(size)


def jpeg_with_fill_and_stray_bytes() -> bytes:
    """A progressive JPEG with restart markers where an extra fill byte precedes a
    restart marker (FF FF D0) and two stray bytes follow a table between scans: both
    legal or tolerated, and decoded by libjpeg like the plain file."""
    data = encode(photo((160, 120)), "JPEG", progressive=True, quality=90,
                  restart_marker_blocks=4)
    first_end = _scans(data)[0][1]
    restart = data.index(b"\xff\xd0", _scans(data)[1][0])
    stray_at = data.index(b"\xff\xc4", first_end)  # a table between scans
    (length,) = struct.unpack(">H", data[stray_at + 2:stray_at + 4])
    table_end = stray_at + 2 + length
    assert table_end < restart
    return (data[:table_end] + b"\x00\x00" + data[table_end:restart] + b"\xff"
            + data[restart:])


def gif_with_profile(gif: bytes, icc: bytes) -> bytes:
    """``gif`` with ``icc`` in an ICCRGBG1012 application extension after its header."""
    table = 3 << ((gif[10] & 7) + 1) if gif[10] & 0x80 else 0
    i = 13 + table
    blocks = b"".join(bytes([len(icc[j:j + 255])]) + icc[j:j + 255]
                      for j in range(0, len(icc), 255))
    return gif[:i] + b"\x21\xff\x0bICCRGBG1012" + blocks + b"\x00" + gif[i:]


def mpo(size: tuple[int, int] = (600, 400)) -> bytes:
    """A camera's JPEG with a second picture after it, listed in an MPF index (APP2):
    Pillow opens it as a two-frame MPO."""
    return encode(Image.new("RGB", size, (255, 0, 0)), "MPO", save_all=True,
                  append_images=[Image.new("RGB", (160, 120), (0, 0, 255))])
