"""Resolves the ``tenant`` of a request (slug or domain) to an active tenant id.

Reads the AWCMS tenants table through the read pool, with a short in-process TTL cache
so visitors never cost a database round trip each. Unknown, suspended and archived
tenants resolve to None — the API answers them exactly like "no hits", so tenants
cannot be enumerated.

A key is compared without case to slugs first, then domains: a slug always wins over
another tenant's domain spelled the same, the tenant it names must itself be active (a
suspended tenant's key never falls through to another tenant), and a key that names two
tenants at the same rank (slugs "KOPI" and "kopi") resolves to None rather than to
whichever row the database returns first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from psycopg import sql
from psycopg_pool import AsyncConnectionPool

__all__ = ["TenantResolver", "TenantSource"]


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


class TenantResolver:
    def __init__(self, pool: AsyncConnectionPool, source: TenantSource, *,
                 ttl_s: float = 5.0, max_entries: int = 10_000) -> None:
        self.pool, self.source, self.ttl_s, self.max_entries = pool, source, ttl_s, max_entries
        self._cache: dict[str, tuple[float, str | None]] = {}
        self._query = self._build_query()

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
        key = key.strip().lower()
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        async with self.pool.connection() as conn:
            cur = await conn.execute(self._query, {"key": key})
            rows = await cur.fetchall()
        best = [r for r in rows if r[2] == rows[0][2]] if rows else []
        tenant_id = best[0][0] if len(best) == 1 and best[0][1] else None
        if len(self._cache) >= self.max_entries:
            self._cache.clear()
        self._cache[key] = (now + self.ttl_s, tenant_id)
        return tenant_id
