"""Resolves the ``tenant`` of a request (slug or domain) to an active tenant id.

Reads the AWCMS tenants table through the read pool, with a short in-process TTL cache
so visitors never cost a database round trip each. Unknown, suspended and archived
tenants resolve to None — the API answers them exactly like "no hits", so tenants
cannot be enumerated.
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
        s = self.source
        match = sql.SQL("lower({}::text) = %(key)s").format(sql.Identifier(s.slug))
        if s.domain:
            match = sql.SQL("({} OR lower({}::text) = %(key)s)").format(match, sql.Identifier(s.domain))
        conds: list[sql.Composable] = [match]
        if s.status:
            conds.append(sql.SQL("{}::text = ANY({})").format(
                sql.Identifier(s.status), sql.Literal(list(s.active_values))))
        if s.deleted_at:
            conds.append(sql.SQL("{} IS NULL").format(sql.Identifier(s.deleted_at)))
        return sql.SQL("SELECT {}::text FROM {} WHERE {} LIMIT 1").format(
            sql.Identifier(s.id), sql.Identifier(s.table), sql.SQL(" AND ").join(conds))

    async def resolve(self, key: str) -> str | None:
        key = key.strip().lower()
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        async with self.pool.connection() as conn:
            cur = await conn.execute(self._query, {"key": key})
            row = await cur.fetchone()
        tenant_id = row[0] if row else None
        if len(self._cache) >= self.max_entries:
            self._cache.clear()
        self._cache[key] = (now + self.ttl_s, tenant_id)
        return tenant_id
