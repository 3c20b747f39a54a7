"""Resolves the ``tenant`` of a request (slug or domain) to an active tenant id.

Each API process keeps the whole tenants table in memory (id, slug, domain, whether
active), read with one query when the first request needs it and then re-read once a
TTL by a background task, so a request never waits on the database (after the first)
and a flood of made-up keys costs it nothing: traffic does not turn into database load.
Unknown, suspended and archived tenants, and those that turned their search off
(``SearchSwitch``), resolve to None — the API answers them exactly
like "no hits", so tenants cannot be enumerated.

A key is compared without case to slugs first, then domains: a slug always wins over
another tenant's domain spelled the same, the tenant it names must itself be active (a
suspended tenant's key never falls through to another tenant), and a key that names two
tenants at the same rank (slugs "KOPI" and "kopi") resolves to None rather than to
whichever row the database returns first.

While the database cannot be reached, or a read takes over ``READ_TIMEOUT_S`` (one
queued behind a migration's lock), the last table read stands in for up to
``STALE_IF_ERROR_S``; after that, or before the first read succeeds, resolving is a
503.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from awsm.db import HIDING_ROWS_SQL, connection_within
from awsm.errors import ServiceUnavailable

__all__ = ["READ_TIMEOUT_S", "STALE_IF_ERROR_S", "SearchSwitch", "SearchTypes",
           "TenantDirectory", "host_form", "TenantDomains", "TenantResolver", "TenantSource"]

log = logging.getLogger("awsm.search")

STALE_IF_ERROR_S = 600.0  # how old a table read may be to stand in for an unreachable database
# A read that waits this long has failed: it holds the one-read lock, so a read stuck
# behind a lock on the table (ALTER TABLE tenants) would otherwise stall every request
# that needs a fresh read, for as long as the lock lasts.
READ_TIMEOUT_S = 5.0
# A table this large is indexed in a worker thread, not on the event loop (50,000
# tenants: a ~130 ms read and ~30 MB here, most of it building the lookups).
THREADED_ROWS = 5_000


@dataclass(frozen=True, slots=True)
class TenantDomains:
    """A table of the tenants' host names, any number a tenant (AWCMS's
    ``awcms_tenant_domains``); only a row with an active status and not deleted names
    its tenant, so a domain still being verified never does."""

    table: str = "tenant_domains"
    tenant: str = "tenant_id"
    host: str = "hostname"
    status: str | None = "status"
    active_values: tuple[str, ...] = ("active",)
    deleted_at: str | None = "deleted_at"


@dataclass(frozen=True, slots=True)
class SearchSwitch:
    """A table where a tenant turns its public search off: a row of the tenant's that
    holds one of the ``require`` values (e.g. AWCMS's ``awcms_tenant_modules`` row whose
    ``module_key`` is ``site_search``) with ``enabled`` false. No such row: on (AWCMS's
    default). A tenant whose search is off is answered as an unknown one."""

    table: str
    tenant: str = "tenant_id"
    enabled: str = "enabled"  # a boolean column: only false turns search off
    require: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def columns(self) -> set[str]:
        return {self.tenant, self.enabled} | {column for column, _ in self.require}


@dataclass(frozen=True, slots=True)
class SearchTypes:
    """Where a tenant says which document types the public may search: ``column`` (an
    array of type names, e.g. AWCMS's ``awcms_site_search_settings.enabled_resource_types``)
    of the tenant's row in ``table``. No row or NULL: every type; an empty array: none.
    ``names`` translates the names there into the mapping's document types (AWCMS's
    ``blog_post`` is ``blog``); with ``names`` given, a name it lacks matches nothing."""

    table: str
    tenant: str = "tenant_id"
    column: str = "enabled_resource_types"
    names: tuple[tuple[str, str], ...] = ()

    def columns(self) -> set[str]:
        return {self.tenant, self.column}

    def scope(self, names: list[str | None] | None) -> tuple[str, ...] | None:
        """The document types a row's ``names`` let the public search (None: all); a NULL
        or empty element of the array names none."""
        if names is None:
            return None
        given = [n for n in names if n]
        if self.names:
            types = dict(self.names)
            given = [types[n] for n in given if n in types]
        return tuple(dict.fromkeys(given))


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
    domains: TenantDomains | None = None  # host names in a table of their own
    search_switches: tuple[SearchSwitch, ...] = ()  # any one off: the tenant's search is off
    search_types: SearchTypes | None = None  # the types its public search may show

    def tables(self) -> list[str]:
        """The tables the API reads tenants from."""
        return list(dict.fromkeys([
            self.table, *([self.domains.table] if self.domains else []),
            *(switch.table for switch in self.search_switches),
            *([self.search_types.table] if self.search_types else [])]))


def host_form(name: str) -> str:
    """A domain in the form a Host header carries it: lower case, without the final dot
    of its fully qualified form, an internationalised one in ASCII (punycode, IDNA 2003
    as Python's codec has it), so the Unicode form an admin stored and the ASCII one a
    frontend passes on name the same tenant."""
    name = name.strip().lower().removesuffix(".")
    if name.isascii():
        return name
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:  # an empty or over-long label: no host name, kept as it is
        return name


class TenantDirectory:
    """Pure: the tenants table as lookups by key (``directory.resolve(key)``)."""

    def __init__(self, rows: Iterable[tuple[Any, ...]],
                 search_types: SearchTypes | None = None) -> None:
        """``rows``: (id, slug, domain, active[, type names]) of every tenant not deleted;
        a tenant with more domains has a row for each of the others, with no slug. The
        type names (``search_types``) bound what its public search shows."""
        self._by_slug: dict[str, list[tuple[str, bool]]] = {}
        self._by_domain: dict[str, list[tuple[str, bool]]] = {}
        self._scopes: dict[str, tuple[str, ...]] = {}
        for tenant_id, slug, domain, active, *names in rows:
            entry = (tenant_id, bool(active))
            if search_types is not None and names and names[0] is not None:
                self._scopes[tenant_id] = search_types.scope(names[0]) or ()
            if slug:
                self._by_slug.setdefault(slug.lower(), []).append(entry)
            if domain and host_form(domain):
                named = self._by_domain.setdefault(host_form(domain), [])
                if entry not in named:  # one tenant's host in two forms or both places
                    named.append(entry)
        self.size = sum(map(len, self._by_slug.values()))

    def resolve(self, key: str) -> str | None:
        """The tenant ``key`` (any case, no surrounding space) names by slug, else by
        domain (in any of its host forms), if exactly one tenant does at that rank, it is
        active and its search shows some type (an empty list: none, as AWCMS answers it)."""
        key = key.strip().lower()
        named = self._by_slug.get(key) or self._by_domain.get(host_form(key)) or []
        if len(named) != 1 or not named[0][1] or self._scopes.get(named[0][0]) == ():
            return None
        return named[0][0]

    def scope(self, tenant_id: str) -> tuple[str, ...] | None:
        """The only document types ``tenant_id``'s public search may show (None: all;
        never empty for a tenant ``resolve`` gives)."""
        return self._scopes.get(tenant_id)


class TenantResolver:
    def __init__(self, pool: AsyncConnectionPool, source: TenantSource, *,
                 ttl_s: float = 5.0, stale_if_error_s: float = STALE_IF_ERROR_S,
                 read_timeout_s: float = READ_TIMEOUT_S) -> None:
        self.pool, self.source, self.ttl_s = pool, source, ttl_s
        self.stale_if_error_s, self.read_timeout_s = stale_if_error_s, read_timeout_s
        self._query = self._build_query()
        self._directory: TenantDirectory | None = None
        self._read_at = -float("inf")  # monotonic time of the directory's read
        self._failed_at = -float("inf")  # ... of the last read that failed
        self._lock = asyncio.Lock()  # one read at a time
        self._timer: asyncio.Task[None] | None = None  # re-reads once a TTL
        self._closed = False
        self._warned_at = -float("inf")
        self._security_checked = False

    def _build_query(self) -> sql.Composed:
        """(id, slug, domain, active[, type names]) of every tenant not deleted, then (id,
        NULL, domain, active[, NULL]) for each of its active rows in the domains table, if
        there is one; active: its status is an active one and no switch turns its search
        off; the type names: its ``search_types`` array, if that is mapped."""
        s = self.source

        def col(alias: str, name: str) -> sql.Composable:
            return sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(name))

        domain: sql.Composable = (sql.SQL("{}::text").format(col("t", s.domain))
                                  if s.domain else sql.SQL("NULL::text"))
        active: list[sql.Composable] = []
        if s.status:
            active.append(sql.SQL("coalesce({}::text = ANY({}), false)").format(
                col("t", s.status), sql.Literal(list(s.active_values))))
        for i, switch in enumerate(s.search_switches):
            alias = f"s{i}"
            off = [sql.SQL("{} = {}").format(col(alias, switch.tenant), col("t", s.id)),
                   sql.SQL("{} IS false").format(col(alias, switch.enabled))]
            off += [sql.SQL("{}::text = ANY({})").format(col(alias, column),
                                                         sql.Literal(list(values)))
                    for column, values in switch.require]
            active.append(sql.SQL("NOT EXISTS (SELECT 1 FROM {} {} WHERE {})").format(
                sql.Identifier(switch.table), sql.Identifier(alias), sql.SQL(" AND ").join(off)))
        where: sql.Composable = sql.SQL(" WHERE true")
        if s.deleted_at:  # a deleted tenant is gone: it neither answers nor competes
            where = sql.SQL(" WHERE {} IS NULL").format(col("t", s.deleted_at))
        names: sql.Composable = sql.SQL("")
        no_names: sql.Composable = sql.SQL("")
        if s.search_types:
            st = s.search_types
            names = sql.SQL(", (SELECT {}::text[] FROM {} st WHERE {} = {} LIMIT 1)").format(
                col("st", st.column), sql.Identifier(st.table), col("st", st.tenant),
                col("t", s.id))
            no_names = sql.SQL(", NULL::text[]")
        fields = {"id": col("t", s.id), "slug": col("t", s.slug),
                  "active": sql.SQL(" AND ").join(active) if active else sql.SQL("true"),
                  "table": sql.Identifier(s.table), "where": where}
        query = sql.SQL("SELECT {id}::text, {slug}::text, {domain}, {active}{names} "
                        "FROM {table} t{where}").format(domain=domain, names=names, **fields)
        if s.domains is None:
            return query
        d = s.domains
        on = [sql.SQL("{} = {}").format(col("d", d.tenant), col("t", s.id))]
        if d.status:
            on.append(sql.SQL("{}::text = ANY({})").format(col("d", d.status),
                                                         sql.Literal(list(d.active_values))))
        if d.deleted_at:
            on.append(sql.SQL("{} IS NULL").format(col("d", d.deleted_at)))
        return sql.SQL("{query} UNION ALL SELECT {id}::text, NULL::text, {host}::text, {active}"
                       "{names} FROM {table} t JOIN {domains} d ON {on}{where}").format(
            query=query, host=col("d", d.host), domains=sql.Identifier(d.table), names=no_names,
            on=sql.SQL(" AND ").join(on), **fields)

    async def resolve(self, key: str) -> str | None:
        """The active tenant ``key`` names, or None; ``ServiceUnavailable`` when the
        database cannot be reached and no recent enough read of it is at hand."""
        directory = self._directory
        try:
            if directory is None or time.monotonic() - self._read_at >= self.stale_if_error_s:
                directory = await self._read_now()
        finally:
            if self._timer is None and not self._closed:  # after the first read: a TTL later
                self._timer = asyncio.create_task(self._keep_fresh())
        return directory.resolve(key)

    def scope(self, tenant_id: str) -> tuple[str, ...] | None:
        """The only document types the public search of ``tenant_id`` (as ``resolve``
        gave it) may show, from the same read: None for every type."""
        return self._directory.scope(tenant_id) if self._directory is not None else None

    def read_age(self) -> float:
        """Seconds since the tenants table was last read (infinite before the first read)."""
        return time.monotonic() - self._read_at

    async def close(self) -> None:
        """Stops the background reads (before the pool they use closes).

        One cancel does not always stop them: one that lands while the pool hands the
        read its connection is lost (Python 3.11's ``asyncio.wait_for``, inside the pool,
        returns a result that arrived in the same step), and the loop would go on
        forever. So the cancel is repeated until the task ends, and ``_closed`` ends the
        loop after the read in flight should every cancel be lost."""
        self._closed = True
        timer, self._timer = self._timer, None
        while timer is not None and not timer.done():
            timer.cancel()
            await asyncio.wait({timer}, timeout=0.1)
        if timer is not None and not timer.cancelled():
            timer.exception()  # retrieved: a read that failed as it was closed is no news

    def _refuse_if_just_failed(self) -> None:
        """A read failed moments ago: the next request is refused at once rather than
        queued behind another read, which would likely fail too."""
        if time.monotonic() - self._failed_at < self.ttl_s:
            raise ServiceUnavailable(detail="reading tenants failed moments ago",
                                     headers={"Retry-After": "5"})

    async def _read_now(self) -> TenantDirectory:
        # before the lock too: a background read in progress during an outage held
        # every such request for as long as its wait for a connection
        self._refuse_if_just_failed()
        async with self._lock:
            now = time.monotonic()
            if self._directory is not None and now - self._read_at < self.stale_if_error_s:
                return self._directory  # read by another request meanwhile
            self._refuse_if_just_failed()
            try:
                return await self._read()
            except (psycopg.Error, TimeoutError) as exc:
                self._failed_at = time.monotonic()
                raise ServiceUnavailable(detail=f"reading tenants: {exc}",
                                         headers={"Retry-After": "5"}) from exc

    async def _keep_fresh(self) -> None:
        """A read a TTL after the last one (or the last failed one), for as long as the
        process runs, whether or not requests come."""
        while not self._closed:
            due = max(self._read_at, self._failed_at) + self.ttl_s
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            try:
                async with self._lock:
                    await self._read()
            except (psycopg.Error, TimeoutError) as exc:
                now = self._failed_at = time.monotonic()
                if now - self._warned_at >= 60:
                    self._warned_at = now
                    log.warning("reading tenants failed; answering from the read of %.0f s "
                                "ago (usable for %g s): %s", now - self._read_at,
                                self.stale_if_error_s, exc)
            except Exception:  # never let the task die silently: try again a TTL later
                self._failed_at = time.monotonic()
                log.exception("reading tenants failed")

    async def _warn_of_hidden_rows(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Once: a tenants, domains or switch table whose row-level security applies to
        this role (AWCMS forces it on ``awcms_tenant_domains`` and
        ``awcms_tenant_modules``) shows it only some rows: a tenant or host it cannot see
        answers as unknown, a switch it cannot see leaves search on, silently; the log
        says why."""
        tables = self.source.tables()
        try:
            cur = await conn.execute(HIDING_ROWS_SQL, ([sql.Identifier(t).as_string(conn)
                                                        for t in tables],))
            hidden = await cur.fetchall()
        except psycopg.Error as exc:  # a warning's check never fails the read
            log.debug("checking the tenant tables' row security failed: %s", exc)
            return
        for (table,) in hidden:
            log.warning("table %r has row-level security that applies to this database "
                        "role: tenants or hosts it does not show answer as unknown, and a "
                        "tenant's search switched off in it stays on. Connect the API "
                        "(AWSM_DATABASE_READ_URL) as a role with BYPASSRLS.", table)

    async def _read(self) -> TenantDirectory:
        started = time.monotonic()
        try:
            async with connection_within(self.pool, self.read_timeout_s) as conn:
                cur = await conn.execute(self._query)
                rows = await cur.fetchall()
                if not self._security_checked:
                    self._security_checked = True
                    await self._warn_of_hidden_rows(conn)
        except TimeoutError as exc:  # (its own text is empty) for the log and the 503's detail
            raise TimeoutError(f"no answer within {self.read_timeout_s:g} s") from exc
        types = self.source.search_types
        directory = (TenantDirectory(rows, types) if len(rows) < THREADED_ROWS
                     else await asyncio.to_thread(TenantDirectory, rows, types))
        self._directory, self._read_at = directory, started
        return directory
