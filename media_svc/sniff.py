"""Recognise an image by its magic bytes, before any decoder sees it.

Pure. Only the formats in ``DECODABLE`` ever reach Pillow, whatever a file's name or
``Content-Type`` says; markup (SVG, HTML) is refused rather than served, and formats
whose decoders shell out (EPS, PDF) never get past here.
"""

from __future__ import annotations

from media_svc.errors import ImageDecodeError, UnsupportedFormat

__all__ = ["DECODABLE", "EXTENSIONS", "MEDIA_TYPES", "PIL_NAMES", "sniff_format"]

DECODABLE = ("jpeg", "png", "gif", "webp", "avif")
PIL_NAMES = {"jpeg": "JPEG", "png": "PNG", "gif": "GIF", "webp": "WEBP", "avif": "AVIF"}
MEDIA_TYPES = {
    "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif",
    "webp": "image/webp", "avif": "image/avif",
}
EXTENSIONS = {"jpeg": "jpg", "png": "png", "gif": "gif", "webp": "webp", "avif": "avif"}
HEAD_BYTES = 64

_AVIF_BRANDS = (b"avif", b"avis")
_REFUSED = (
    (b"%PDF", "PDF"), (b"%!PS", "PostScript/EPS"), (b"\xc5\xd0\xd3\xc6", "EPS"),
    (b"8BPS", "Photoshop"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"BM", "BMP"),
)


def sniff_format(head: bytes) -> str:
    """Return one of ``DECODABLE`` for the first bytes of a file, or raise."""
    if not head:
        raise ImageDecodeError("The file is empty.")
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp" and _is_avif(head):
        return "avif"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<svg", b"<?xml", b"<!doctype", b"<html", b"<")):
        raise UnsupportedFormat(
            "SVG and other markup are not served; upload a PNG or WebP rendering instead."
        )
    for magic, name in _REFUSED:
        if head.startswith(magic):
            raise UnsupportedFormat(f"{name} images are not supported; use JPEG, PNG, WebP, "
                                    "AVIF or GIF.")
    raise UnsupportedFormat("The file is not a JPEG, PNG, WebP, AVIF or GIF image.")


def _is_avif(head: bytes) -> bool:
    box_size = int.from_bytes(head[0:4], "big")
    brands = head[8:min(max(box_size, 16), len(head))]
    return any(brands[i:i + 4] in _AVIF_BRANDS for i in range(0, len(brands) - 3, 4))
