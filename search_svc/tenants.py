"""Resolves the ``tenant`` of a request (slug or domain) to an active tenant id.

Reads the AWCMS tenants table through the read pool, with a short in-process TTL cache
so visitors never cost a database round trip each. Unknown, suspended and archived
tenants resolve to None — the API answers them exactly like "no hits", so tenants
cannot be enumerated.

While the database cannot be reached, a key resolved within ``STALE_IF_ERROR_S`` keeps
its last answer (keyword search runs from the local index and need not fail with it),
asked again once a TTL; a key with no such answer is a 503.

A key is compared without case to slugs first, then domains: a slug always wins over
another tenant's domain spelled the same, the tenant it names must itself be active (a
suspended tenant's key never falls through to another tenant), and a key that names two
tenants at the same rank (slugs "KOPI" and "kopi") resolves to None rather than to
whichever row the database returns first.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from awsm.errors import ServiceUnavailable

__all__ = ["STALE_IF_ERROR_S", "TenantResolver", "TenantSource"]

log = logging.getLogger("awsm.search")

STALE_IF_ERROR_S = 600.0  # how old an answer may be to stand in for an unreachable database
# with such an answer in hand, a lookup waits this long for a connection before using it
STALE_LOOKUP_TIMEOUT_S = 0.5


@dataclass(frozen=True, slots=True)
class TenantSource:
    """Where tenants live (part of the source mapping; see docs/mapping.md)."""

    table: str = "tenants"
    id: str = "id"
    slug: str = "slug"
    domain: str | None = "domain"
    status: str | None = "status"
    active_values: tuple[str, ...] = ("active",)
    deleted_at: str | None = "deleted_at"
    locale: str | None = "locale"


@dataclass(slots=True)
class _Entry:
    tenant_id: str | None
    fresh_until: float  # answered from the cache until then
    usable_until: float  # ... and, while the database is unreachable, until then


class TenantResolver:
    def __init__(self, pool: AsyncConnectionPool, source: TenantSource, *,
                 ttl_s: float = 5.0, max_entries: int = 10_000,
                 stale_if_error_s: float = STALE_IF_ERROR_S) -> None:
        self.pool, self.source, self.ttl_s, self.max_entries = pool, source, ttl_s, max_entries
        self.stale_if_error_s = stale_if_error_s
        self._cache: dict[str, _Entry] = {}
        self._query = self._build_query()
        self._warned_at = -float("inf")

    def _build_query(self) -> sql.Composed:
        """(id, active, rank) of the tenants the key names: rank 0 by slug, 1 by domain."""
        s = self.source
        by_slug = sql.SQL("lower({}::text) = %(key)s").format(sql.Identifier(s.slug))
        match: sql.Composable = by_slug
        if s.domain:
            match = sql.SQL("({} OR lower({}::text) = %(key)s)").format(
                by_slug, sql.Identifier(s.domain))
        conds: list[sql.Composable] = [match]
        if s.deleted_at:  # a deleted tenant is gone: it neither answers nor competes
            conds.append(sql.SQL("{} IS NULL").format(sql.Identifier(s.deleted_at)))
        active: sql.Composable = sql.SQL("true")
        if s.status:
            active = sql.SQL("coalesce({}::text = ANY({}), false)").format(
                sql.Identifier(s.status), sql.Literal(list(s.active_values)))
        return sql.SQL(
            "SELECT {id}::text, {active}, CASE WHEN {by_slug} THEN 0 ELSE 1 END AS rank "
            "FROM {table} WHERE {conds} ORDER BY rank LIMIT 3"
        ).format(id=sql.Identifier(s.id), active=active, by_slug=by_slug,
                 table=sql.Identifier(s.table), conds=sql.SQL(" AND ").join(conds))

    async def resolve(self, key: str) -> str | None:
        """The active tenant ``key`` names, or None; ``ServiceUnavailable`` when the
        database cannot be reached and no recent answer for ``key`` is at hand."""
        key = key.strip().lower()
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit.fresh_until > now:
            return hit.tenant_id
        stale = hit if hit is not None and hit.usable_until > now else None
        try:
            tenant_id = await self._lookup(key, STALE_LOOKUP_TIMEOUT_S if stale else None)
        except psycopg.Error as exc:
            if stale is None:
                raise ServiceUnavailable(detail=f"tenant lookup: {exc}",
                                         headers={"Retry-After": "5"}) from exc
            if now - self._warned_at >= self.ttl_s:  # one line a TTL, not one per request
                self._warned_at = now
                log.warning("tenant lookups fail, answering from the last answers (up to %g s "
                            "old): %s", self.stale_if_error_s, exc)
            stale.fresh_until = now + self.ttl_s  # asked again in a TTL, not per request
            return stale.tenant_id
        if len(self._cache) >= self.max_entries:
            self._cache.clear()
        self._cache[key] = _Entry(tenant_id, now + self.ttl_s,
                                  now + self.ttl_s + self.stale_if_error_s)
        return tenant_id

    async def _lookup(self, key: str, timeout: float | None) -> str | None:
        async with self.pool.connection(timeout=timeout) as conn:
            cur = await conn.execute(self._query, {"key": key})
            rows = await cur.fetchall()
        best = [r for r in rows if r[2] == rows[0][2]] if rows else []
        return best[0][0] if len(best) == 1 and best[0][1] else None
