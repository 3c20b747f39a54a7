"""Transform options: parse the compact URL segment into a frozen ``TransformSpec``.

Pure: no I/O, no Pillow. One canonical text per spec (fixed key order, defaults left
out, numbers normalised), so equivalent option lists sign and cache as one URL.
Format negotiation (``format=auto`` against ``Accept``) lives here too.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Literal, cast

from media_svc.errors import InvalidOptions

__all__ = [
    "FITS",
    "FORMATS",
    "GRAVITIES",
    "MAX_DIMENSION",
    "Fit",
    "OutputFormat",
    "TransformSpec",
    "accept_class",
    "accept_for_class",
    "canonical_options",
    "negotiate_format",
    "parse_options",
]

Fit = Literal["cover", "contain", "fill", "inside", "outside"]
OutputFormat = Literal["jpeg", "png", "webp", "avif"]
FITS: tuple[str, ...] = ("cover", "contain", "fill", "inside", "outside")
FORMATS: tuple[str, ...] = ("jpeg", "png", "webp", "avif", "auto")
MAX_DIMENSION = 8192
NO_OPTIONS = "_"  # the options segment when every option is at its default

# Named gravities are just focal points on the unit square; "c" is the default.
GRAVITIES: dict[str, tuple[float, float]] = {
    "c": (0.5, 0.5), "n": (0.5, 0.0), "s": (0.5, 1.0), "e": (1.0, 0.5), "w": (0.0, 0.5),
    "ne": (1.0, 0.0), "nw": (0.0, 0.0), "se": (1.0, 1.0), "sw": (0.0, 1.0),
}
_GRAVITY_NAMES = {v: k for k, v in GRAVITIES.items()}
_INT = re.compile(r"[0-9]{1,6}")
_NUM = re.compile(r"[0-9]{1,4}(\.[0-9]{1,4})?")
_HEX = re.compile(r"[0-9a-fA-F]{6}|[0-9a-fA-F]{3}")


@dataclass(frozen=True, slots=True)
class TransformSpec:
    """What to make from an original. Validated on construction; compare by value."""

    width: int | None = None
    height: int | None = None
    fit: Fit = "cover"
    focus: tuple[float, float] = (0.5, 0.5)
    dpr: float = 1.0
    format: str | None = None  # None keeps the source's format family; "auto" negotiates
    quality: int | None = None
    blur: float = 0.0
    sharpen: float = 0.0
    background: tuple[int, int, int] | None = None
    enlarge: bool = False
    animated: bool = True

    def __post_init__(self) -> None:
        for name in ("width", "height"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= MAX_DIMENSION:
                raise InvalidOptions(f"{name} must be between 1 and {MAX_DIMENSION}.")
        if self.fit not in FITS:
            raise InvalidOptions(f"fit must be one of {', '.join(FITS)}.")
        if self.format is not None and self.format not in FORMATS:
            raise InvalidOptions(f"format must be one of {', '.join(FORMATS)}.")
        if not all(0.0 <= c <= 1.0 and math.isfinite(c) for c in self.focus):
            raise InvalidOptions("A focal point must be two numbers between 0 and 1.")
        if not (1.0 <= self.dpr <= 4.0):
            raise InvalidOptions("dpr must be between 1 and 4.")
        if self.quality is not None and not 1 <= self.quality <= 100:
            raise InvalidOptions("quality must be between 1 and 100.")
        if not 0.0 <= self.blur <= 100.0:
            raise InvalidOptions("blur must be between 0 and 100.")
        if not 0.0 <= self.sharpen <= 10.0:
            raise InvalidOptions("sharpen must be between 0 and 10.")
        if self.background is not None and not all(0 <= c <= 255 for c in self.background):
            raise InvalidOptions("background must be an RGB colour.")
        # Rounding here makes "dpr_2" and "dpr_2.0001" the same spec, hence the same URL.
        object.__setattr__(self, "dpr", round(float(self.dpr), 2))
        object.__setattr__(self, "blur", round(float(self.blur), 2))
        object.__setattr__(self, "sharpen", round(float(self.sharpen), 2))
        object.__setattr__(self, "focus", (round(self.focus[0], 3), round(self.focus[1], 3)))

    def canonical(self) -> str:
        """The options segment without expiry: what the derived cache is keyed on."""
        return canonical_options(self)

    def with_format(self, output: str) -> TransformSpec:
        return replace(self, format=output)


def _num(value: float) -> str:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return text or "0"


def canonical_options(spec: TransformSpec, expires: int | None = None) -> str:
    """Fixed key order, defaults omitted; ``_`` when nothing differs from the defaults."""
    parts: list[str] = []
    if spec.width is not None:
        parts.append(f"w_{spec.width}")
    if spec.height is not None:
        parts.append(f"h_{spec.height}")
    if spec.fit != "cover":
        parts.append(f"fit_{spec.fit}")
    if spec.focus != (0.5, 0.5):
        name = _GRAVITY_NAMES.get(spec.focus)
        parts.append(f"g_{name}" if name else f"g_fp:{_num(spec.focus[0])}:{_num(spec.focus[1])}")
    if spec.dpr != 1.0:
        parts.append(f"dpr_{_num(spec.dpr)}")
    if spec.format is not None:
        parts.append(f"f_{spec.format}")
    if spec.quality is not None:
        parts.append(f"q_{spec.quality}")
    if spec.blur:
        parts.append(f"blur_{_num(spec.blur)}")
    if spec.sharpen:
        parts.append(f"sharp_{_num(spec.sharpen)}")
    if spec.background is not None:
        parts.append("bg_" + "".join(f"{c:02x}" for c in spec.background))
    if spec.enlarge:
        parts.append("enl_1")
    if not spec.animated:
        parts.append("anim_0")
    if expires is not None:
        parts.append(f"exp_{int(expires)}")
    return ",".join(parts) or NO_OPTIONS


def _int(key: str, raw: str) -> int:
    if not _INT.fullmatch(raw):
        raise InvalidOptions(f"{key} needs a whole number, got {raw[:20]!r}.")
    return int(raw)


def _float(key: str, raw: str) -> float:
    if not _NUM.fullmatch(raw):
        raise InvalidOptions(f"{key} needs a number like 2 or 1.5, got {raw[:20]!r}.")
    return float(raw)


def _flag(key: str, raw: str) -> bool:
    if raw not in ("0", "1"):
        raise InvalidOptions(f"{key} must be 0 or 1.")
    return raw == "1"


def _focus(raw: str) -> tuple[float, float]:
    if raw in GRAVITIES:
        return GRAVITIES[raw]
    bits = raw.split(":")
    if len(bits) == 3 and bits[0] == "fp":
        return (_float("g_fp x", bits[1]), _float("g_fp y", bits[2]))
    raise InvalidOptions(f"g must be one of {', '.join(GRAVITIES)} or fp:X:Y (0..1).")


def _background(raw: str) -> tuple[int, int, int]:
    if not _HEX.fullmatch(raw):
        raise InvalidOptions("bg must be a hex colour such as ffffff.")
    if len(raw) == 3:
        raw = "".join(c * 2 for c in raw)
    return (int(raw[0:2], 16), int(raw[2:4], 16), int(raw[4:6], 16))


_FIELDS = {
    "w": ("width", _int), "h": ("height", _int), "dpr": ("dpr", _float),
    "q": ("quality", _int), "blur": ("blur", _float), "sharp": ("sharpen", _float),
    "enl": ("enlarge", _flag), "anim": ("animated", _flag),
}


def parse_options(text: str) -> tuple[TransformSpec, int | None]:
    """``w_800,f_webp,exp_1767225600`` → (spec, expires). Raises ``InvalidOptions``."""
    if len(text) > 512:
        raise InvalidOptions("The options segment is too long.")
    values: dict[str, object] = {}
    expires: int | None = None
    seen: set[str] = set()
    if text in (NO_OPTIONS, ""):
        return TransformSpec(), None
    for token in text.split(","):
        key, sep, raw = token.partition("_")
        if not sep or not raw:
            raise InvalidOptions(f"Option {token[:20]!r} must look like key_value.")
        if key in seen:
            raise InvalidOptions(f"Option {key!r} is given twice.")
        seen.add(key)
        if key in _FIELDS:
            name, conv = _FIELDS[key]
            values[name] = conv(key, raw)
        elif key == "fit":
            values["fit"] = raw
        elif key == "f":
            values["format"] = raw
        elif key == "g":
            values["focus"] = _focus(raw)
        elif key == "bg":
            values["background"] = _background(raw)
        elif key == "exp":
            expires = _epoch(raw)
        else:
            raise InvalidOptions(f"Unknown option {key[:20]!r}; see docs/media.md.")
    spec = TransformSpec(**cast(dict[str, object], values))  # type: ignore[arg-type]
    return spec, expires


def _epoch(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise InvalidOptions("exp must be a Unix time in seconds.")
    return int(raw)


def negotiate_format(spec: TransformSpec, accept: str | None, source_format: str,
                     has_alpha: bool, animated: bool) -> OutputFormat:
    """The concrete output format. ``auto`` prefers AVIF, then WebP, from ``Accept``.

    Animated output is only produced as WebP or PNG (APNG): AVIF sequences encode far
    too slowly to make on request.
    """
    wanted = spec.format
    if wanted is None:
        family = {"jpeg": "jpeg", "png": "png", "webp": "webp", "avif": "avif"}.get(source_format)
        if family is None:  # GIF: keep animation (WebP) or at least its sharp edges (PNG)
            family = "webp" if animated else "png"
        wanted = family
    if wanted == "auto":
        accepted = _accepted_types(accept)
        if "image/avif" in accepted and not animated:
            return "avif"
        if "image/webp" in accepted:
            return "webp"
        return "png" if has_alpha or animated else "jpeg"
    return cast(OutputFormat, wanted)


def _accepted_types(accept: str | None) -> set[str]:
    types: set[str] = set()
    for item in (accept or "").lower().split(","):
        media, _, params = item.strip().partition(";")
        if re.search(r"q=0(\.0*)?\s*$", params.strip()):
            continue  # "q=0" means explicitly not acceptable
        types.add(media.strip())
    return types


def accept_class(accept: str | None) -> str:
    """The part of ``Accept`` that can change an ``f_auto`` answer: avif, avif-only,
    webp or ''.

    The derived cache and the ETag are keyed on this, never on the raw header, so the
    thousands of distinct browser ``Accept`` strings share four cache entries. WebP
    counts even beside AVIF: an animation is never AVIF, so a client refusing WebP
    (avif-only) must get PNG for one, not WebP.
    """
    accepted = _accepted_types(accept)
    if "image/avif" in accepted:
        return "avif" if "image/webp" in accepted else "avif-only"
    return "webp" if "image/webp" in accepted else ""


def accept_for_class(klass: str) -> str:
    return {"avif": "image/avif,image/webp", "avif-only": "image/avif",
            "webp": "image/webp"}.get(klass, "image/jpeg")
