"""Colour: a decoded frame brought to sRGB and to 8-bit L, LA, RGB or RGBA.

Pure (Pillow images in, images out, no I/O). Owns the embedded ICC profile's conversion
(one LittleCMS transform per profile, kept for the next request; a profile that maps
colours as sRGB does costs no conversion) and the scaling of 16-bit samples by their
bit depth. Never reads a profile's name to decide anything.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict

from PIL import Image, ImageChops, ImageCms

__all__ = ["is_sixteen_bit", "normalise_mode", "to_srgb"]

_SRGB = ImageCms.createProfile("sRGB")
# Greys, primaries, secondaries and mid tones: a profile that maps each of them to
# itself (within rounding) is sRGB in effect, whatever it calls itself
_PROBE = Image.frombytes("RGB", (16, 1), bytes((
    0, 0, 0, 32, 32, 32, 64, 64, 64, 128, 128, 128, 188, 188, 188, 224, 224, 224,
    255, 255, 255, 255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 0, 0, 255, 255,
    255, 0, 255, 200, 120, 60, 60, 140, 200, 90, 170, 90)))
_SAME = 2  # rounding between two sRGB definitions moves a level or two
_CACHED = 64
_transforms: OrderedDict[tuple[bytes, str], ImageCms.ImageCmsTransform | None] = OrderedDict()
_lock = threading.Lock()
_CMS_ERRORS = (ImageCms.PyCMSError, OSError, ValueError, TypeError)


def _build(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """The profile → sRGB transform for frames of ``mode``; None when the profile maps
    colours as sRGB does, or cannot be read (a broken profile is common in the wild:
    the pixels are then taken as sRGB)."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        # NOCACHE: LittleCMS's one-pixel cache is not safe when threads share a transform
        transform = ImageCms.buildTransform(profile, _SRGB, mode,
                                            "RGBA" if mode == "RGBA" else "RGB",
                                            flags=ImageCms.Flags.NOCACHE)
        if mode == "CMYK":
            return transform
        probe = _PROBE if mode == "RGB" else _PROBE.convert("RGBA")
        moved = ImageChops.difference(transform.apply(probe).convert("RGB"), _PROBE)
    except _CMS_ERRORS:
        return None
    # no sample moved by more than rounding: sRGB in effect
    return None if moved.point(lambda v: 255 if v > _SAME else 0).getbbox() is None \
        else transform


def _transform(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    key = (hashlib.sha256(icc).digest(), mode)  # a profile may be megabytes: not a key
    with _lock:
        if key in _transforms:
            _transforms.move_to_end(key)
            return _transforms[key]
    transform = _build(icc, mode)
    with _lock:
        _transforms[key] = transform
        while len(_transforms) > _CACHED:
            _transforms.popitem(last=False)
    return transform


def to_srgb(frame: Image.Image, icc: bytes | None) -> Image.Image:
    """``frame`` converted from the colour profile ``icc`` to sRGB. A palette frame is
    expanded first (its colours are the profile's too); greyscale is left as it is."""
    if not icc:
        return frame
    if frame.mode in ("P", "PA"):
        keep_alpha = frame.mode == "PA" or "transparency" in frame.info
        frame = frame.convert("RGBA" if keep_alpha else "RGB")
    if frame.mode not in ("RGB", "RGBA", "CMYK"):
        return frame
    transform = _transform(icc, frame.mode)
    if transform is None:
        return frame
    try:
        return transform.apply(frame)
    except _CMS_ERRORS:
        return frame


def is_sixteen_bit(frame: Image.Image) -> bool:
    """16-bit greyscale (PNG): resampled as it is, then scaled to 8 bits."""
    return frame.mode.startswith("I;16")


def normalise_mode(frame: Image.Image) -> Image.Image:
    """Bring every decoded mode to L, LA, RGB or RGBA (8 bits per channel)."""
    mode = frame.mode
    if mode in ("RGB", "RGBA", "L", "LA"):
        return frame
    if mode in ("P", "PA"):
        keep_alpha = mode == "PA" or "transparency" in frame.info
        return frame.convert("RGBA" if keep_alpha else "RGB")
    if is_sixteen_bit(frame):
        # by the bit depth: 256/65535 is a dark grey, not white or black
        return frame.convert("I").point(lambda v: v * (255 / 65535)).convert("L")
    if mode.startswith("I") or mode == "F":
        # 32-bit samples, whose depth the file does not say: scaled when past 8 bits
        frame = frame.convert("I") if mode != "I" else frame
        top = frame.getextrema()[1]
        if isinstance(top, (int, float)) and top > 255:
            frame = frame.point(lambda v: v * (255 / 65535))
        return frame.convert("L")
    if mode == "1":
        return frame.convert("L")
    if mode in ("RGBa", "La"):
        return frame.convert("RGBA")
    return frame.convert("RGB")  # CMYK, YCbCr, LAB, HSV
