"""Supabase Storage's image-render parameters, mapped onto a ``TransformSpec``.

Pure. ``/storage/v1/render/image/public/{bucket}/{path}?width=&height=&resize=&quality=
&format=origin`` keeps Supabase's meanings (resize defaults to cover; contain keeps the
aspect ratio inside the box; no format means WebP where the browser accepts it).
Widths, heights and qualities must come from configured lists: without a signature,
that is what stops anyone from minting unlimited variants (the Next.js defence).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from awsm.text import CONTROL_CHARS
from media_svc.errors import InvalidOptions, InvalidSource
from media_svc.options import Fit, TransformSpec

__all__ = ["RESIZE_MODES", "parse_int_list", "refuse_other_spellings", "render_source",
           "render_spec"]

RESIZE_MODES: dict[str, Fit] = {"cover": "cover", "contain": "inside", "fill": "fill"}
DEFAULT_QUALITY = 80
# Left after the URL's own decoding, these would give one file many names: "%3F" in the
# path becomes "?" and, under an HTTP origin, the fetch's query string.
_NOT_IN_NAMES = re.compile(r"[?#%]|" + CONTROL_CHARS.pattern)


def parse_int_list(raw: str) -> frozenset[int]:
    return frozenset(int(p) for p in raw.replace(" ", "").split(",") if p)


def _allowed(name: str, raw: str | None, allowed: frozenset[int]) -> int | None:
    if raw is None or raw == "":
        return None
    # the length first: int() of thousands of digits raises (and costs) before "not in";
    # written plainly ("0640" is not): the route is unsigned, one URL per rendition
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6 or raw != str(int(raw)) \
            or int(raw) not in allowed:
        raise InvalidOptions(f"{name} must be one of {', '.join(map(str, sorted(allowed)))}.")
    return int(raw)


def refuse_other_spellings(query: bytes) -> None:
    """Each rendition has one URL (parameter order aside): an empty pair (``&&``,
    ``height=``) or an escape (``width=%36%34%30``) would be one more URL, one more CDN
    entry, for the same image (``InvalidOptions``). ``query``: the raw query string."""
    pairs = query.split(b"&") if query else []
    if any(not p or p.endswith(b"=") or b"=" not in p for p in pairs) \
            or b"%" in query or b"+" in query:
        raise InvalidOptions("Write each render parameter once as name=value, with no empty "
                             "one and no escapes (width=640&height=640).")


def render_spec(query: Mapping[str, str], *, sizes: frozenset[int],
                qualities: frozenset[int]) -> TransformSpec:
    unknown = set(query) - {"width", "height", "resize", "quality", "format"}
    if unknown:
        raise InvalidOptions(f"Unknown parameter {sorted(unknown)[0]!r}.")
    resize = query.get("resize", "cover")
    if resize not in RESIZE_MODES:
        raise InvalidOptions("resize must be cover, contain or fill.")
    fmt = query.get("format")
    if fmt not in (None, "origin"):
        raise InvalidOptions("format may only be 'origin'.")
    quality = _allowed("quality", query.get("quality"), qualities | {DEFAULT_QUALITY})
    return TransformSpec(
        width=_allowed("width", query.get("width"), sizes),
        height=_allowed("height", query.get("height"), sizes),
        fit=RESIZE_MODES[resize],
        format=None if fmt == "origin" else "auto",
        quality=quality or DEFAULT_QUALITY,
    )


def render_source(origin: str, bucket: str, path: str) -> str:
    """The original a render URL names, ``{origin}{bucket}/{path}``, or ``InvalidSource``.

    The route is unsigned, so each file must have exactly one name: a ``?``, ``#`` or
    ``%`` (``photo.jpg%3Fbust=1``) would otherwise mint unlimited origin fetches and
    cache entries for one image, past the width and quality allow-lists.
    """
    if bucket.startswith(".") or "/" in bucket:  # "..", a hidden folder: as in the path
        raise InvalidSource("The bucket name may not be '.', '..' or hidden.")
    if _NOT_IN_NAMES.search(bucket) or _NOT_IN_NAMES.search(path):
        raise InvalidSource("The bucket or path holds '?', '#', '%' or a control character.")
    if not bucket or "" in path.split("/"):
        # under the media root, bucket "http:" and path "/host/x.jpg" would spell an
        # HTTP origin's URL, which only signed URLs may reach
        raise InvalidSource("The bucket and every part of the path must be non-empty.")
    return f"{origin}{bucket}/{path}"
