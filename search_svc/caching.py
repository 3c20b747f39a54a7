"""Pure: the HTTP caching decisions of the search API, in one place.

Anonymous results are CDN-cacheable (``s-maxage`` + ``stale-while-revalidate``) with a
strong ETag over the exact body and a cache-tag header naming tenant and types, so a
CDN purge by tag can follow a reindex. Errors are never cached (the gateway says so).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

__all__ = ["DEGRADED_S_MAXAGE", "cache_tags", "etag_for", "etag_matches",
           "public_cache_control"]

# A semantic or hybrid request answered in keyword mode (its "notice") is cached this
# long at most: enough to shield a struggling model or database from a hot query, short
# enough that visitors get semantic ranking back soon after it recovers.
DEGRADED_S_MAXAGE = 5


def etag_for(body: bytes) -> str:
    digest = hashlib.sha256(body).digest()[:18]
    return '"' + base64.urlsafe_b64encode(digest).decode().rstrip("=") + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    candidates = [c.strip() for c in if_none_match.split(",")]
    # weak comparison is allowed for If-None-Match (RFC 9110 13.1.2)
    return any(c.removeprefix("W/") == etag for c in candidates)


def public_cache_control(max_age: int, s_maxage: int, swr: int, *,
                         degraded: bool = False) -> str:
    if degraded:
        max_age, s_maxage = 0, min(s_maxage, DEGRADED_S_MAXAGE)
    return f"public, max-age={max_age}, s-maxage={s_maxage}, stale-while-revalidate={swr}"


def _tag_part(text: str) -> str:
    """ASCII letters, digits, '-' and '.' kept, anything else '_': a header value (no
    Latin-1 failure) that no separator (',', ' ') can split into another tag."""
    return "".join(c if (c.isascii() and c.isalnum()) or c in "-." else "_" for c in text)


def cache_tags(tenant: str, types: Sequence[str]) -> str:
    safe = _tag_part(tenant)
    tags = [f"awsm-tenant-{safe}"] + [f"awsm-tenant-{safe}-{_tag_part(t)}" for t in types]
    return ",".join(tags)
