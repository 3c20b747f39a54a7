"""Draws the demo's images with Pillow: gradient-and-shape JPEGs, one RGBA PNG, one EXIF-rotated JPEG.

Writes only under the media root it is given, as ``<tenant slug>/<name>``; returns what
it wrote so the corpus can reference the files. Deterministic for a seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

__all__ = ["ImageFile", "render_tenant_images"]

HERO_SIZE = (1600, 1067)
PRODUCT_SIZE = (1000, 1000)
_ORIENTATION = 0x0112


@dataclass(frozen=True)
class ImageFile:
    path: str  # relative to the media root, e.g. "kopi-nusantara/hero-1.jpg"
    width: int  # as stored, before any EXIF orientation is applied
    height: int
    mime: str
    size: int


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, TypeError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def _canvas(
    rng: random.Random, size: tuple[int, int], label: str, mode: str = "RGB"
) -> Image.Image:
    width, height = size
    start = tuple(rng.randint(20, 200) for _ in range(3))
    end = tuple(rng.randint(60, 255) for _ in range(3))
    ramp = Image.linear_gradient("L").rotate(rng.choice((0, 90, 45, 135)), expand=False)
    ramp = ramp.resize(size, Image.Resampling.BILINEAR)
    image = Image.composite(Image.new("RGB", size, end), Image.new("RGB", size, start), ramp)
    if mode == "RGBA":
        image = image.convert("RGBA")
    draw = ImageDraw.Draw(image, "RGBA")
    for _ in range(rng.randint(4, 9)):
        x, y = rng.randrange(width), rng.randrange(height)
        radius = rng.randint(height // 12, height // 3)
        fill = (*(rng.randint(0, 255) for _ in range(3)), rng.randint(60, 160))
        box = (x - radius, y - radius, x + radius, y + radius)
        if rng.random() < 0.5:
            draw.ellipse(box, fill=fill)
        else:
            draw.rectangle(box, fill=fill)
    font = _font(max(24, height // 12))
    draw.rectangle((0, height - height // 6, width, height), fill=(0, 0, 0, 110))
    draw.text((width // 20, height - height // 8), label, fill=(255, 255, 255, 255), font=font)
    return image


def _save(image: Image.Image, root: Path, rel: str, **params: Any) -> ImageFile:
    target = root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    image.save(target, **params)
    mime = "image/png" if rel.endswith(".png") else "image/jpeg"
    return ImageFile(rel, image.width, image.height, mime, target.stat().st_size)


def render_tenant_images(
    root: Path,
    slug: str,
    title: str,
    *,
    heroes: int,
    products: int,
    seed: int,
    with_logo: bool = False,
    with_exif_portrait: bool = False,
) -> list[ImageFile]:
    """Heroes are 1600×1067 JPEGs, products 1000×1000 JPEGs; optional RGBA logo and EXIF portrait."""
    rng = random.Random(f"{seed}:{slug}:images")
    files: list[ImageFile] = []
    for i in range(1, heroes + 1):
        image = _canvas(rng, HERO_SIZE, f"{title} · {i}")
        files.append(_save(image, root, f"{slug}/hero-{i}.jpg", quality=82, optimize=False))
    for i in range(1, products + 1):
        image = _canvas(rng, PRODUCT_SIZE, f"{title} · produk {i}")
        files.append(_save(image, root, f"{slug}/products/produk-{i}.jpg", quality=82))
    if with_logo:
        logo = Image.new("RGBA", (512, 512), (0, 0, 0, 0))
        draw = ImageDraw.Draw(logo)
        draw.ellipse((16, 16, 496, 496), fill=(111, 78, 55, 255))
        draw.ellipse((96, 96, 416, 416), fill=(240, 220, 190, 200))
        draw.text((150, 230), slug[:12], fill=(60, 40, 20, 255), font=_font(40))
        files.append(_save(logo, root, f"{slug}/logo.png"))
    if with_exif_portrait:
        # Stored landscape with Orientation=6 (rotate 90° CW to display): a portrait
        # phone photo as cameras write it, so transforms must apply the tag first.
        image = _canvas(rng, HERO_SIZE, f"{title} · portrait (EXIF 6)")
        exif = Image.Exif()
        exif[_ORIENTATION] = 6
        files.append(
            _save(image, root, f"{slug}/portrait-exif.jpg", quality=82, exif=exif.tobytes())
        )
    return files
