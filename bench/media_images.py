"""Benchmark inputs for bench/media.py: photo-like originals and the transform cases.

Pillow draws them (no downloads): smooth gradients, shapes and fine grain, which
compress and decode like camera JPEGs at quality 90 (12 MP ≈ 3–5 MB).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

__all__ = ["CASES", "Case", "make_images"]


@dataclass(frozen=True)
class Case:
    name: str
    file: str
    width: int
    height: int | None  # None: width only; set: a cover crop to width × height
    format: str  # jpeg | webp | avif
    quality: int


CASES = [
    Case("12 MP JPEG → 800 px JPEG", "photo-12mp.jpg", 800, None, "jpeg", 80),
    Case("12 MP JPEG → 800 px WebP", "photo-12mp.jpg", 800, None, "webp", 80),
    Case("12 MP JPEG → 800 px AVIF", "photo-12mp.jpg", 800, None, "avif", 60),
    Case("12 MP progressive → 800 px JPEG", "photo-12mp-progressive.jpg", 800, None, "jpeg", 80),
    Case("12 MP progressive → 800 px WebP", "photo-12mp-progressive.jpg", 800, None, "webp", 80),
    Case("12 MP progressive → 800 px AVIF", "photo-12mp-progressive.jpg", 800, None, "avif", 60),
    Case("24 MP JPEG → 1200 px JPEG", "photo-24mp.jpg", 1200, None, "jpeg", 80),
    Case("12 MP JPEG → 400×400 cover JPEG", "photo-12mp.jpg", 400, 400, "jpeg", 80),
    Case("PNG with alpha → 800 px WebP", "alpha.png", 800, None, "webp", 80),
]


def _photo(size: tuple[int, int]) -> Image.Image:
    w, h = size
    small = (w // 8, h // 8)
    base = Image.merge("RGB", (
        Image.linear_gradient("L").resize(small),
        Image.radial_gradient("L").resize(small),
        Image.linear_gradient("L").rotate(90).resize(small),
    ))
    draw = ImageDraw.Draw(base)
    for i in range(40):
        x, y = (i * 97) % small[0], (i * 61) % small[1]
        draw.ellipse((x, y, x + small[0] // 6, y + small[1] // 5),
                     fill=((i * 50) % 256, (i * 90) % 256, (i * 130) % 256))
    base = base.filter(ImageFilter.GaussianBlur(2)).resize(size, Image.Resampling.BICUBIC)
    grain = Image.effect_noise(size, 18).convert("RGB")
    return Image.blend(base, grain, 0.12)


def make_images(directory: Path) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    wanted = {
        "photo-12mp.jpg": lambda p: _photo((4000, 3000)).save(p, quality=90),
        "photo-12mp-progressive.jpg": lambda p: _photo((4000, 3000)).save(
            p, quality=90, progressive=True),
        "photo-24mp.jpg": lambda p: _photo((6000, 4000)).save(p, quality=90),
        "alpha.png": lambda p: _alpha((2000, 1500)).save(p),
    }
    paths = {}
    for name, make in wanted.items():
        path = directory / name
        if not path.exists():
            make(path)
        paths[name] = path
    return paths


def _alpha(size: tuple[int, int]) -> Image.Image:
    im = _photo(size).convert("RGBA")
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).ellipse((size[0] // 10, size[1] // 10, size[0] * 9 // 10,
                                  size[1] * 9 // 10), fill=255)
    im.putalpha(mask.filter(ImageFilter.GaussianBlur(20)))
    return im
