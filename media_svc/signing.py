"""Signed image URLs: HMAC-SHA256 over the canonical options and the source path.

Pure: keys, clock and text come in as arguments. The first key signs and every key
verifies, so keys rotate without breaking URLs a CDN already caches. Only canonical
option text verifies, so each variant has exactly one URL (one CDN cache entry).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from urllib.parse import quote

from media_svc.errors import SignatureExpired, SignatureInvalid
from media_svc.options import TransformSpec, canonical_options, parse_options

__all__ = ["PATH_PREFIX", "compute_signature", "sign_path", "srcset", "url_path", "verify",
           "verify_url"]

PATH_PREFIX = "/v1/img"
Keys = Sequence[tuple[str, bytes]]
# Characters a source keeps literally in the URL; everything else is percent-encoded.
_SAFE = "/:@!$&'()*+;=-._~"


def compute_signature(secret: bytes, options: str, source: str) -> str:
    """base64url (unpadded) HMAC-SHA256 of ``options/source``."""
    mac = hmac.new(secret, f"{options}/{source}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def _normalise_source(source: str) -> str:
    source = source.strip()
    return source if source.startswith(("http://", "https://")) else source.lstrip("/")


def sign_path(keys: Keys, options: TransformSpec | str, source: str,
              expires: int | None = None) -> str:
    """``/v1/img/<sig>/<options>/<source>`` signed with the first key.

    ``options`` may be a spec or option text in any order; ``expires`` is a Unix time.
    """
    if not keys:
        raise ValueError("No signing key configured (AWSM_SIGNING_KEYS).")
    if isinstance(options, str):
        spec, parsed_expiry = parse_options(options)
        expires = expires if expires is not None else parsed_expiry
    else:
        spec = options
    text = canonical_options(spec, expires)
    source = _normalise_source(source)
    return url_path(compute_signature(keys[0][1], text, source), text, source)


def url_path(signature: str, options: str, source: str) -> str:
    """The one way the URL of a signed image is written: what ``sign_path`` returns.

    The signature covers the decoded path, so the service compares the path as sent
    with this to refuse the percent-encoded aliases of a URL (``bl%6Fg/hero.jpg``,
    ``w_%31%30%30``): each would be one more CDN entry for one variant.
    """
    return f"{PATH_PREFIX}/{signature}/{options}/{quote(source, safe=_SAFE)}"


def verify(keys: Keys, signature: str, options: str, source: str,
           now: float | None = None) -> TransformSpec:
    """Check a request's signature before any work; return its spec.

    Raises ``SignatureInvalid`` for a wrong, missing or non-canonical URL and
    ``SignatureExpired`` once ``exp`` has passed.
    """
    return verify_url(keys, signature, options, source, now)[0]


def verify_url(keys: Keys, signature: str, options: str, source: str,
               now: float | None = None) -> tuple[TransformSpec, int | None]:
    """``verify``, also returning the URL's expiry (Unix time; None: it never expires)."""
    if not keys or len(signature) != 43 or len(options) > 512:
        raise SignatureInvalid()
    matched = False
    for _key_id, secret in keys:
        # Every key is tried, so the time taken does not tell which one matched.
        expected = compute_signature(secret, options, source)
        matched |= hmac.compare_digest(expected.encode(), signature.encode("ascii", "replace"))
    if not matched:
        raise SignatureInvalid()
    try:
        spec, expires = parse_options(options)
    except Exception as exc:  # a key holder signed garbage: still not a valid URL
        raise SignatureInvalid("The URL options are not valid.") from exc
    if canonical_options(spec, expires) != options:
        raise SignatureInvalid(
            "The URL options are not in canonical order; mint URLs with sign_path()."
        )
    if expires is not None and expires <= (time.time() if now is None else now):
        raise SignatureExpired()
    return spec, expires


def srcset(keys: Keys, source: str, widths: Iterable[int],
           options: TransformSpec | None = None, expires: int | None = None,
           base_url: str = "") -> str:
    """A ``srcset`` attribute value: one signed URL per width, ``<url> <w>w`` joined.

    When ``options`` fixes both width and height, every entry keeps that aspect ratio
    (heights rounded half up, as JavaScript's ``Math.round`` does in docs/media.md's
    helper, so both mint the same URLs).
    """
    base = options or TransformSpec()
    entries = []
    for width in sorted(set(widths)):
        height = None
        if base.width and base.height:
            height = max(1, math.floor(base.height * width / base.width + 0.5))
        spec = replace(base, width=width, height=height)
        entries.append(f"{base_url}{sign_path(keys, spec, source, expires)} {width}w")
    return ", ".join(entries)
