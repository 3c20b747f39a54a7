"""Where the output's pixels come from: crop box, resample size and canvas.

Pure arithmetic over sizes and a ``TransformSpec``; the Pillow steps only carry the
plan out. Sizes here are in the *oriented* source (after EXIF rotation).
"""

from __future__ import annotations

from dataclasses import dataclass

from media_svc.errors import OutputTooLarge
from media_svc.options import MAX_DIMENSION, TransformSpec

__all__ = ["MAX_SIDE", "Plan", "largest_width", "plan_geometry"]

# WebP's largest side; one bound for every format, so whether a URL works never depends
# on the format an Accept header negotiates
MAX_SIDE = 16383


@dataclass(frozen=True, slots=True)
class Plan:
    box: tuple[float, float, float, float]  # region of the source to use
    size: tuple[int, int]  # what that region is resampled to
    canvas: tuple[int, int]  # final output size (larger than size only for "contain")
    offset: tuple[int, int]  # where the resampled region sits on the canvas
    source: tuple[int, int]  # the oriented source size the box refers to

    @property
    def scale(self) -> float:
        """Output pixels per source pixel: how far a JPEG may be drafted down."""
        return max(self.size[0] / (self.box[2] - self.box[0]),
                   self.size[1] / (self.box[3] - self.box[1]))


def _px(value: float) -> int:
    return max(1, round(value))


def plan_geometry(spec: TransformSpec, source: tuple[int, int], max_pixels: int) -> Plan:
    sw, sh = source
    full = (0.0, 0.0, float(sw), float(sh))
    tw = spec.width * spec.dpr if spec.width else None
    th = spec.height * spec.dpr if spec.height else None
    if tw is None and th is None:
        plan = Plan(full, (sw, sh), (sw, sh), (0, 0), source)
    elif tw is None or th is None:
        scale = (tw / sw) if tw is not None else (th / sh)  # type: ignore[operator]
        if not spec.enlarge:
            scale = min(scale, 1.0)
        size = (_px(sw * scale), _px(sh * scale))
        plan = Plan(full, size, size, (0, 0), source)
    else:
        plan = _two_sided(spec, sw, sh, tw, th)
    cw, ch = plan.canvas
    if cw * ch > max_pixels or max(cw, ch) > MAX_SIDE:
        raise OutputTooLarge(f"The output would be {cw}x{ch} pixels; the limit is "
                             f"{max_pixels} pixels and {MAX_SIDE} a side.")
    return plan


def largest_width(source: tuple[int, int], max_pixels: int) -> int | None:
    """The widest ``w_`` (without enlarging) at which ``plan_geometry`` serves an image of
    ``source`` size: the top of an upload's srcset. A 24 MP photo's own width would be
    a 413 under the default 16 MP output limit. None when no width is served: an image
    more than ``MAX_SIDE`` times as tall as it is wide (1 x 40,000) is too tall at 1 px."""
    sw, sh = source

    def fits(width: int) -> bool:
        height = _px(sh * (width / sw))  # as plan_geometry computes it
        return width * height <= max_pixels and height <= MAX_SIDE

    # a wider image is never smaller, so a binary search finds the edge exactly
    low, high = 1, min(sw, MAX_DIMENSION)
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return low if fits(low) else None


def _two_sided(spec: TransformSpec, sw: int, sh: int, tw: float, th: float) -> Plan:
    full = (0.0, 0.0, float(sw), float(sh))
    if spec.fit == "fill":
        if not spec.enlarge:
            tw, th = min(tw, sw), min(th, sh)
        size = (_px(tw), _px(th))
        return Plan(full, size, size, (0, 0), (sw, sh))
    if spec.fit in ("inside", "outside"):
        pick = min if spec.fit == "inside" else max
        scale = pick(tw / sw, th / sh)
        if not spec.enlarge:
            scale = min(scale, 1.0)
        size = (_px(sw * scale), _px(sh * scale))
        return Plan(full, size, size, (0, 0), (sw, sh))
    if spec.fit == "cover":
        scale = max(tw / sw, th / sh)
        if not spec.enlarge and scale > 1.0:
            # Keep the requested aspect ratio, but at the source's own resolution.
            tw, th, scale = tw / scale, th / scale, 1.0
        cw, ch = min(sw, tw / scale), min(sh, th / scale)
        fx, fy = spec.focus
        x0 = min(max(fx * sw - cw / 2, 0.0), sw - cw)
        y0 = min(max(fy * sh - ch / 2, 0.0), sh - ch)
        size = (_px(tw), _px(th))
        return Plan((x0, y0, x0 + cw, y0 + ch), size, size, (0, 0), (sw, sh))
    # contain: fit inside, then pad to the box with the background colour
    scale = min(tw / sw, th / sh)
    if not spec.enlarge and scale > 1.0:
        tw, th, scale = tw / scale, th / scale, 1.0
    size = (_px(sw * scale), _px(sh * scale))
    canvas = (max(_px(tw), size[0]), max(_px(th), size[1]))
    fx, fy = spec.focus
    offset = (round((canvas[0] - size[0]) * fx), round((canvas[1] - size[1]) * fy))
    return Plan(full, size, canvas, offset, (sw, sh))
