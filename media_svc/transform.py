"""The Pillow pipeline: one original file + a ``TransformSpec`` → encoded bytes.

Ordered small steps (open → check limits → decode small → orient → sRGB → resample →
effects → flatten → encode) with the deadline checked between them. Runs in a worker
thread; never touches the network or the cache. Every decoder failure becomes a 4xx
``media_svc.errors`` class here, so hostile files never surface as 500s.
"""

from __future__ import annotations

import contextlib
import io
import math
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageCms, ImageFilter, ImageOps, ImageSequence

from media_svc.colour import is_sixteen_bit, normalise_mode, to_srgb
from media_svc.containers import check_gif, check_jpeg, check_png, gif_icc_profile
from media_svc.errors import ImageDecodeError, OutputTooLarge, SourceTooLarge, TransformTimeout
from media_svc.geometry import Plan, plan_geometry
from media_svc.options import OutputFormat, TransformSpec, negotiate_format
from media_svc.sniff import HEAD_BYTES, MEDIA_TYPES, PIL_NAMES, sniff_format

__all__ = ["PIPELINE_VERSION", "Limits", "Probe", "Rendition", "probe", "reencode_avif", "render"]

# Part of every derived-cache key and ETag: bump when output bytes change.
# 5: JPEG never animated (MPO), ICC on every frame and palette, 16-bit by its depth,
# GIF play-once and APNG default image kept
PIPELINE_VERSION = f"5/pillow-{Image.__version__}"
DEFAULT_QUALITY = {"jpeg": 80, "webp": 80, "avif": 60, "png": 100}
_ORIENTATION, _GPS_IFD = 0x0112, 0x8825
_WHITE = (255, 255, 255)
# EXIF orientation → the transposition that displays it upright (as ImageOps.exif_transpose)
_TRANSPOSE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90,
}
# Everything a damaged or hostile file can make a Pillow decoder raise.
# (Pillow's AVIF decoder raises RuntimeError: "Failed to decode image: Not implemented")
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError,
                  KeyError, TypeError, ZeroDivisionError, zlib.error, RuntimeError,
                  ImageCms.PyCMSError)


@dataclass(frozen=True, slots=True)
class Limits:
    max_source_pixels: int = 40_000_000
    max_output_pixels: int = 16_000_000
    max_frames: int = 200
    max_jpeg_scans: int = 100  # progressive JPEGs have ~10; each scan decodes the image again
    max_jpeg_segments: int = 10_000  # a camera's JPEG has a few dozen
    max_png_chunks: int = 10_000  # 25 MB in libpng's 8 kB IDATs is ~3,000
    max_gif_blocks: int = 200_000  # 25 MB in 255-byte sub-blocks is ~100,000
    timeout_s: float = 20.0
    avif_speed: int = 8
    strip_metadata: bool = True


@dataclass(frozen=True, slots=True)
class Rendition:
    data: bytes
    format: OutputFormat
    width: int
    height: int

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]


@dataclass(frozen=True, slots=True)
class Probe:
    format: str
    width: int  # as displayed, after EXIF orientation
    height: int
    frames: int


@contextlib.contextmanager
def _decoder_errors() -> Iterator[None]:
    """Pillow's ways of refusing a damaged, hostile or oversized file, as our 4xx errors
    (opening the file included: ``Image.open`` raises some of them itself)."""
    try:
        yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise SourceTooLarge("The image has too many pixels.", detail=str(exc)) from exc
    except MemoryError as exc:
        raise SourceTooLarge("The image is too large to decode.") from exc
    except _DECODE_ERRORS as exc:
        raise ImageDecodeError(detail=f"{type(exc).__name__}: {exc}") from exc


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.at:
            raise TransformTimeout(f"The image took longer than {self.seconds:g} s to transform.")


def render(original: Path | BinaryIO, spec: TransformSpec, accept: str | None,
           limits: Limits) -> Rendition:
    """Make the variant ``spec`` asks for from the original: a path, or a file already
    open (read from its start, left open)."""
    deadline = _Deadline(limits.timeout_s)
    with _open_original(original, limits) as (source_format, im):
        return _render_open(im, source_format, spec, accept, limits, deadline)


def probe(path: Path, limits: Limits) -> Probe:
    """Check an original fully (format, pixel and frame limits, every byte decodes)."""
    with _open_original(path, limits) as (source_format, im):
        width, height = im.size
        _check_pixels(width, height, limits)
        orientation = im.getexif().get(_ORIENTATION, 1)
        frames = 0
        for frame in _frames_of(im, source_format, limits):
            frames += 1
            if source_format == "jpeg":
                frame.draft(frame.mode, (max(1, width // 8), max(1, height // 8)))
            frame.load()
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return Probe(source_format, width, height, frames)


def reencode_avif(data: bytes, limits: Limits) -> bytes:
    """An uploaded AVIF without its metadata: AVIF keeps EXIF inside its box tree, so
    re-encoding is the dependable way to drop it. Its orientation is applied to the
    pixels (the EXIF that said it goes), its colour profile and its frames are kept.
    Its size, and its frames', are checked before decoding."""
    with _decoder_errors(), Image.open(io.BytesIO(data), formats=["AVIF"]) as im:
        _check_pixels(*im.size, limits)
        icc = im.info.get("icc_profile")
        turn = _TRANSPOSE_FOR_ORIENTATION.get(im.getexif().get(_ORIENTATION, 1))
        loop = im.info.get("loop", 0)
        frames: list[Image.Image] = []
        durations: list[int] = []
        for frame in _counted_frames(im, limits):
            frame.load()
            durations.append(int(frame.info.get("duration", 100)))
            copy = frame.copy()
            frames.append(copy.transpose(turn) if turn is not None else copy)
    first = frames[0]
    first.info = {}
    params: dict[str, object] = {"quality": 90, "speed": 6, "max_threads": 1}
    if icc:
        params["icc_profile"] = icc
    if len(frames) > 1:
        params.update(save_all=True, append_images=frames[1:], duration=durations, loop=loop)
    buf = io.BytesIO()
    with _decoder_errors():
        first.save(buf, "AVIF", **params)
    return buf.getvalue()


@contextlib.contextmanager
def _opened(original: Path | BinaryIO) -> Iterator[BinaryIO]:
    if isinstance(original, Path):
        with original.open("rb") as fh:
            yield fh
    else:
        original.seek(0)
        yield original


@contextlib.contextmanager
def _open_original(original: Path | BinaryIO,
                   limits: Limits) -> Iterator[tuple[str, Image.Image]]:
    """The original's format (from its magic bytes alone) and its image, decoder errors
    translated. A JPEG or GIF is read once, whole: its structure is checked before any
    decoder runs, and it is decoded from those bytes."""
    with _opened(original) as fh:
        source_format = sniff_format(fh.read(HEAD_BYTES))
        fh.seek(0)
        source: BinaryIO = fh
        icc: bytes | None = None
        if source_format == "jpeg":
            data = fh.read()
            check_jpeg(data, max_scans=limits.max_jpeg_scans,
                       max_segments=limits.max_jpeg_segments)
            source = io.BytesIO(data)
        elif source_format == "gif":
            data = fh.read()
            check_gif(data, max_blocks=limits.max_gif_blocks)
            source = io.BytesIO(data)
            icc = gif_icc_profile(data)  # Pillow does not read a GIF's profile
        elif source_format == "png":
            check_png(fh, max_chunks=limits.max_png_chunks)
            fh.seek(0)
        with _decoder_errors(), Image.open(source, formats=[PIL_NAMES[source_format]]) as im:
            if source_format == "gif" and icc:
                im.info["icc_profile"] = icc
            yield source_format, im


def _check_pixels(width: int, height: int, limits: Limits) -> None:
    if width * height > limits.max_source_pixels:
        raise SourceTooLarge(f"The image is {width}x{height}; the limit is "
                             f"{limits.max_source_pixels} pixels.")


def _render_open(im: Image.Image, source_format: str, spec: TransformSpec,
                 accept: str | None, limits: Limits, deadline: _Deadline) -> Rendition:
    width, height = im.size
    _check_pixels(width, height, limits)
    exif = im.getexif()
    oriented = (height, width) if exif.get(_ORIENTATION, 1) in (5, 6, 7, 8) else (width, height)
    # a JPEG's second image (MPF: a preview, a depth or gain map) is no animation frame
    animated = spec.animated and source_format != "jpeg" and bool(getattr(im, "is_animated",
                                                                         False))
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    output = negotiate_format(spec, accept, source_format, has_alpha, animated)
    animated = animated and output in ("webp", "png")
    plan = plan_geometry(spec, oriented, limits.max_output_pixels)
    deadline.check()
    if animated:
        turn = _TRANSPOSE_FOR_ORIENTATION.get(exif.get(_ORIENTATION, 1))
        frames, durations = _animated_frames(im, source_format, spec, plan, limits, deadline,
                                             turn)
    else:
        frames, durations = [_still_frame(im, source_format, spec, plan, output)], []
    deadline.check()
    meta = None if limits.strip_metadata else _exif_without_gps(exif)
    # a GIF without a looping extension plays once; WebP's and APNG's 0 is for ever
    loop = im.info.get("loop", 1 if source_format == "gif" else 0)
    data = _encode(frames, durations, output, spec, limits, meta, loop)
    return Rendition(data, output, frames[0].width, frames[0].height)


def _still_frame(im: Image.Image, source_format: str, spec: TransformSpec, plan: Plan,
                 output: str) -> Image.Image:
    if source_format == "jpeg" and plan.scale < 1.0:
        # DCT scaling decodes at 1/2, 1/4 or 1/8 size (never below the size asked
        # for): the step that makes Pillow as fast as libvips.
        raw_w, raw_h = im.size
        im.draft(im.mode, (max(1, math.ceil(raw_w * plan.scale)),
                           max(1, math.ceil(raw_h * plan.scale))))
    # in place: with no orientation to apply, the default would copy the whole decoded
    # image (a 12 MP PNG is 48 MB), the one step thumbor does not pay
    icc = im.info.get("icc_profile")
    ImageOps.exif_transpose(im, in_place=True)
    frame = _with_transparency(im)
    frame = to_srgb(frame, icc)
    return _finish(frame, spec, plan, output)


def _with_transparency(frame: Image.Image) -> Image.Image:
    """An RGB or greyscale PNG may name one colour transparent (tRNS) instead of carrying
    alpha: made alpha before any step that would drop the colour key (the ICC
    conversion, resampling) and leave the image opaque."""
    if frame.mode in ("RGB", "L") and "transparency" in frame.info:
        return frame.convert("RGBA" if frame.mode == "RGB" else "LA")
    return frame


def _animated_frames(im: Image.Image, source_format: str, spec: TransformSpec, plan: Plan,
                     limits: Limits, deadline: _Deadline, turn: Image.Transpose | None
                     ) -> tuple[list[Image.Image], list[int]]:
    """Every frame, oriented by ``turn`` (the container's one EXIF orientation, which
    only the first frame carries), in sRGB by the container's profile, resampled to the
    plan. An APNG's default image (shown only where APNG is not understood) is left out."""
    frames: list[Image.Image] = []
    durations: list[int] = []
    out_pixels = plan.canvas[0] * plan.canvas[1]
    icc = im.info.get("icc_profile")
    skip = 1 if source_format == "png" and im.info.get("default_image") else 0
    for index, frame in enumerate(_counted_frames(im, limits)):
        if index < skip:
            continue
        # The output frames are all held until encoded: a small GIF enlarged (enl_1)
        # must not hold gigabytes. Same bound over all frames as the source's.
        if (index + 1) * out_pixels > limits.max_source_pixels:
            raise OutputTooLarge(f"{index + 1} frames of {plan.canvas[0]}x{plan.canvas[1]} "
                                 f"pass {limits.max_source_pixels} pixels over all frames; "
                                 "ask for a smaller size or anim_0.")
        durations.append(int(frame.info.get("duration", 100)))
        rgba = to_srgb(frame.convert("RGBA"), icc)
        frames.append(_finish(rgba.transpose(turn) if turn is not None else rgba, spec, plan,
                              "webp"))
        deadline.check()
    return frames, durations


def _frames_of(im: Image.Image, source_format: str, limits: Limits) -> Iterator[Image.Image]:
    """The frames an original is served from: a JPEG's primary image alone (the images
    an MPF index lists after it are previews or maps, and an upload drops them)."""
    return iter((im,)) if source_format == "jpeg" else _counted_frames(im, limits)


def _counted_frames(im: Image.Image, limits: Limits) -> Iterator[Image.Image]:
    """Every frame, counted before it is decoded (a 10,000-frame GIF stops early), at its
    own size: Pillow grows a GIF's canvas for a frame outside the screen its header
    gives (a 37 kB 64x64 GIF with a 7000x7000 second frame took 800 MB)."""
    decoded = 0
    for index, frame in enumerate(ImageSequence.Iterator(im)):
        decoded += frame.width * frame.height
        if index >= limits.max_frames or decoded > limits.max_source_pixels:
            raise SourceTooLarge(f"The animation has too many frames (limit "
                                 f"{limits.max_frames}, or {limits.max_source_pixels} "
                                 "pixels over all frames).")
        yield frame


def _finish(frame: Image.Image, spec: TransformSpec, plan: Plan, output: str) -> Image.Image:
    # 16-bit greyscale is resampled first: scaling it at full size took 370 MB for a
    # 90 kB 6320x6320 PNG (Pillow's reduce(), which reducing_gap uses, refuses it)
    wide = is_sixteen_bit(frame)
    frame = frame if wide else normalise_mode(frame)
    # A drafted JPEG is smaller than the source the plan was made for.
    sx, sy = frame.width / plan.source[0], frame.height / plan.source[1]
    box = (plan.box[0] * sx, plan.box[1] * sy, plan.box[2] * sx, plan.box[3] * sy)
    if plan.size != frame.size or box != (0.0, 0.0, float(frame.width), float(frame.height)):
        frame = frame.resize(plan.size, Image.Resampling.LANCZOS, box=box,
                             reducing_gap=None if wide else 3.0)
    frame = normalise_mode(frame) if wide else frame
    if spec.blur:
        frame = frame.filter(ImageFilter.GaussianBlur(spec.blur))
    if spec.sharpen:
        frame = frame.filter(ImageFilter.UnsharpMask(radius=spec.sharpen, percent=80,
                                                     threshold=2))
    if plan.canvas != plan.size:
        # padding is transparent where the output can be, unless bg_ names a colour
        fill = spec.background or _WHITE
        mode = "RGBA" if spec.background is None and output != "jpeg" else "RGB"
        canvas = Image.new(mode, plan.canvas, (*fill, 0) if mode == "RGBA" else fill)
        canvas.paste(frame, plan.offset, frame if _has_alpha(frame) else None)
        frame = canvas
    if _has_alpha(frame) and (output == "jpeg" or spec.background is not None):
        frame = _flatten(frame, spec.background or _WHITE)
    return frame


def _has_alpha(frame: Image.Image) -> bool:
    return frame.mode in ("RGBA", "LA")


def _flatten(frame: Image.Image, colour: tuple[int, int, int]) -> Image.Image:
    base = Image.new("RGB", frame.size, colour)
    base.paste(frame.convert("RGBA"), (0, 0), frame.convert("RGBA"))
    return base


def _exif_without_gps(exif: Image.Exif) -> bytes | None:
    """EXIF kept by configuration: orientation already applied, GPS always removed."""
    if not exif:
        return None
    exif.pop(_ORIENTATION, None)
    exif.pop(_GPS_IFD, None)
    return exif.tobytes() if len(exif) else None


def _encode(frames: list[Image.Image], durations: list[int], output: str,
            spec: TransformSpec, limits: Limits, exif: bytes | None, loop: int) -> bytes:
    quality = spec.quality or DEFAULT_QUALITY[output]
    first = frames[0]
    if output in ("jpeg",) and first.mode not in ("RGB", "L"):
        first = first.convert("RGB")
    # Nothing from the source's info (ICC, EXIF, XMP, comments) may ride along.
    first.info = {}
    params: dict[str, object] = {}
    if exif:
        params["exif"] = exif
    if len(frames) > 1:
        params.update(save_all=True, append_images=frames[1:], duration=durations, loop=loop)
    if output == "jpeg":
        params.update(quality=quality)
    elif output == "webp":
        params.update(quality=quality, method=4)
    elif output == "avif":
        # speed 8 keeps AVIF within about 2x of WebP; one thread because the pool,
        # not the encoder, decides how many cores image work may take.
        params.update(quality=quality, speed=limits.avif_speed, max_threads=1)
    else:
        params.update(compress_level=6)
    buf = io.BytesIO()
    first.save(buf, PIL_NAMES[output], **params)
    return buf.getvalue()
