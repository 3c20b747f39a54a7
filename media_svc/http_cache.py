"""Cache headers for image responses, decided in this one place, and revalidation.

Pure. Image URLs are immutable (their content is fixed by the signed options and the
source version), so successful responses are cacheable for a year, or, for a URL that
expires (``exp_``), only until it does: a CDN or browser must not keep serving it after
the origin refuses it. Errors are never cached (the gateway marks them ``no-store``).
"""

from __future__ import annotations

from datetime import UTC
from email.utils import formatdate, parsedate_to_datetime

__all__ = ["IMMUTABLE", "cache_control", "image_headers", "not_modified"]

YEAR_S = 31_536_000
IMMUTABLE = f"public, max-age={YEAR_S}, immutable"


def cache_control(expires: int | None, now: float) -> str:
    """A year for a URL that never expires; until its expiry for one that does (in whole
    seconds, rounded down; not ``immutable``: the URL's answer will change to a 403)."""
    if expires is None:
        return IMMUTABLE
    return f"public, max-age={max(0, min(YEAR_S, int(expires - now)))}"


def image_headers(*, etag: str, last_modified: float, media_type: str | None,
                  negotiated: bool, cache_status: str | None = None,
                  expires: int | None = None, now: float = 0.0) -> dict[str, str]:
    headers = {
        "Cache-Control": cache_control(expires, now),
        "ETag": etag,
        "Last-Modified": formatdate(int(last_modified), usegmt=True),
        # Never let a browser reinterpret image bytes as HTML or script.
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    if media_type:
        headers["Content-Type"] = media_type
    if negotiated:
        headers["Vary"] = "Accept"
    if cache_status:
        headers["X-Media-Cache"] = cache_status
    return headers


def not_modified(etag: str, last_modified: float, if_none_match: str | None,
                 if_modified_since: str | None) -> bool:
    """RFC 9110 §13.1: If-None-Match wins over If-Modified-Since (weak comparison)."""
    if if_none_match is not None:
        if if_none_match.strip() == "*":
            return True
        wanted = etag.removeprefix("W/")
        return any(tag.strip().removeprefix("W/") == wanted for tag in if_none_match.split(","))
    if if_modified_since:
        try:
            parsed = parsedate_to_datetime(if_modified_since)
            # asctime dates and "-0000" come back without a zone: HTTP dates are GMT,
            # never the host's local time
            since = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return False
        return int(last_modified) <= since
    return False
