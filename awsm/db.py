"""PostgreSQL connections and awsm's own migrations (the ``search`` schema).

Connections never use server-side prepared statements (``prepare_threshold=None``) so
they work behind Supavisor/PgBouncer in transaction mode. This module knows psycopg 3;
it never knows logical replication (that is ``indexer/replication.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool

from awsm.errors import ConfigError

__all__ = ["CONNECT_TIMEOUT_S", "OncePerInterval", "apply_migrations", "connect", "connect_timeout",
           "connection_within", "ensure_pgvector", "open_async_pool", "refused", "unreachable"]


# a try to connect gives up after this long, unless the URL says otherwise (connect_timeout)
CONNECT_TIMEOUT_S = 5
# the most a caller waits for a connection while the pool cannot connect (a local
# connection is made in a few ms, so one made as the database comes back is still taken)
FAILING_WAIT_S = 0.1
# psycopg_pool retries a failed connection 1, 2, 4, 8 ... s apart until this long has
# passed, then gives that attempt up; the next request that finds no connection starts a
# new one at once. Its default (5 minutes) let the gap between tries grow past a minute,
# so after an outage the pool stayed away from a database that was back for as long
# again (every request that needed it failing: /readyz 503 on every replica). With 10 s
# the tries are at most 4 s apart.
RECONNECT_GIVE_UP_S = 10.0


def connect(url: str, *, autocommit: bool = True, **kwargs: object) -> psycopg.Connection:
    options: dict[str, Any] = {**connect_timeout(url), **kwargs}
    return psycopg.connect(url, autocommit=autocommit, prepare_threshold=None, **options)


def connect_timeout(url: str) -> dict[str, int]:
    """``{"connect_timeout": CONNECT_TIMEOUT_S}`` unless ``url`` sets its own: libpq waits
    for a server without limit, so one that takes the connection and never answers (a
    hung process, a partition that leaves the port open) held a try to connect for as
    long as the network allowed: a pool never learned the database was down, and an
    indexer starting against it hung instead of failing and being restarted."""
    return {} if "connect_timeout" in conninfo_to_dict(url) else {
        "connect_timeout": CONNECT_TIMEOUT_S}


class _Pool(AsyncConnectionPool):
    """A pool that checks its idle connections once one comes back broken, and keeps
    callers from waiting on a database it cannot reach (``connect_failing``).

    A restart or failover of the database ends every session at once; psycopg_pool
    replaces a connection only when it is returned broken, so each idle one was handed
    out once more, dead: up to ``max_size`` requests in a row failed though the database
    was back (``/readyz`` 503 on every replica at once). One check in the background
    (``check()``: each idle connection tested, the dead replaced) ends that after the
    first. A check on every checkout (``check=``) would cost a round trip a request."""

    _checking: asyncio.Task[None] | None = None
    # The last attempt to connect failed and none has succeeded since: the database is
    # down (or refusing us). With no connection lent out either (none will come back), a
    # caller then waits FAILING_WAIT_S at most for a connection, not the pool's timeout:
    # once the idle connections were found dead, every request that needed a new one (a
    # semantic query, a tenant read) otherwise waited seconds for a connection that could
    # not come, though each of them has an answer ready for an unreachable database. A
    # connection lent out (the database up, refusing one more) is waited for as ever.
    # The pool's next connection made (its tries go on, and a request may start one)
    # ends this. Callers that began waiting before the first failed try (a few ms) still
    # wait their timeout. (``_connect`` is psycopg_pool's one way to a new connection,
    # in 3.2 and 3.3.)
    connect_failing = False
    _lent = 0  # connections handed out and not yet returned

    async def getconn(self, timeout: float | None = None) -> psycopg.AsyncConnection:
        if self.connect_failing and not self._lent:
            timeout = min(self.timeout if timeout is None else timeout, FAILING_WAIT_S)
        conn = await super().getconn(timeout)
        self._lent += 1
        return conn

    async def _connect(self, timeout: float | None = None) -> psycopg.AsyncConnection:
        try:
            conn = await super()._connect(timeout)
        except Exception:
            self.connect_failing = True
            raise
        self.connect_failing = False
        return conn

    async def putconn(self, conn: psycopg.AsyncConnection) -> None:  # type: ignore[override]
        self._lent -= 1
        broken = conn.closed
        await super().putconn(conn)
        if broken and not self.closed and (self._checking is None or self._checking.done()):
            self._checking = asyncio.get_running_loop().create_task(self.check())

    async def close(self, timeout: float = 5.0) -> None:
        if self._checking is not None and not self._checking.done():
            self._checking.cancel()
        await super().close(timeout)


class OncePerInterval(logging.Filter):
    """Passes a warning once per ``interval_s`` for each message text (errors always).

    psycopg_pool warns at every try to connect, 1, 2, 4 ... s apart while the database
    is down, each with a two-line reason: an outage of minutes filled the log with them.
    """

    def __init__(self, interval_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval_s, self._clock = interval_s, clock
        self._passed: dict[str, float] = {}  # message text → when one last passed

    def reset(self) -> None:
        self._passed.clear()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.WARNING:
            return True
        key, now = str(record.msg), self._clock()
        if now - self._passed.get(key, now - self.interval_s) < self.interval_s:
            return False
        self._passed[key] = now
        return True


_POOL_LOG = logging.getLogger("psycopg.pool")
if not any(isinstance(f, OncePerInterval) for f in _POOL_LOG.filters):
    _POOL_LOG.addFilter(OncePerInterval())


async def open_async_pool(url: str, *, min_size: int = 1, max_size: int = 8,
                          timeout: float = 5.0, wait: bool = True) -> AsyncConnectionPool:
    """A pool for ``url``; with ``wait``, its first connection is made (or ``PoolTimeout``
    raised) before it returns, else the pool connects in the background, retrying."""
    kwargs = {"autocommit": True, "prepare_threshold": None, **connect_timeout(url)}
    pool = _Pool(
        url, min_size=min_size, max_size=max_size, timeout=timeout, open=False,
        kwargs=kwargs, reconnect_timeout=RECONNECT_GIVE_UP_S,
    )
    await pool.open(wait=wait, timeout=timeout)
    return pool


@asynccontextmanager
async def connection_within(pool: Any, total_s: float | None, *, wait_s: float | None = None,
                            ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A connection of ``pool`` (``open_async_pool``'s) for work that must end within
    ``total_s``, the wait for it included: ``PoolTimeout`` (a ``psycopg.OperationalError``)
    when no connection came in time, ``TimeoutError`` when the work ran past it, and the
    statement then running is cancelled on the server, so a lock it queued behind (a
    migration's) holds neither the caller nor the connection. ``wait_s`` bounds the wait
    for a connection alone (None: the pool's own timeout).

    The connection goes back to the pool outside the deadline and shielded from
    cancellation: under load the hand-back waits its turn for the pool's lock, and a
    deadline (or a request cancelled) that fell there lost the connection for good, the
    pool still counting it, until every one was lost and the API answered 503 for good."""
    loop = asyncio.get_running_loop()
    deadline = None if total_s is None else loop.time() + total_s
    wait = pool.timeout if wait_s is None else wait_s
    conn = await pool.getconn(timeout=wait if total_s is None else min(wait, total_s))
    try:
        async with asyncio.timeout_at(deadline):
            yield conn
    finally:
        await asyncio.shield(pool.putconn(conn))


async def unreachable(url: str, timeout: float = 5.0) -> str | None:
    """Why a connection to ``url`` fails now (the server's or the network's reason, no
    credentials), or None when it succeeds."""
    try:
        conn = await psycopg.AsyncConnection.connect(url, connect_timeout=max(1, round(timeout)))
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    await conn.close()
    return None


def apply_migrations(conn: psycopg.Connection) -> list[str]:
    """Apply every migration in ``awsm/migrations`` once, in name order, under a lock."""
    applied: list[str] = []
    files = sorted(
        (f for f in resources.files("awsm.migrations").iterdir() if f.name.endswith(".sql")),
        key=lambda f: f.name,
    )
    try:
        with conn.transaction():
            # one migrator at a time: API replicas and the indexer may start together
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('awsm.migrations'))")
            # CREATE ... IF NOT EXISTS still needs the privilege: a role that an owner
            # set up (schema and migrations applied, USAGE granted) must not need it
            if not conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'search'").fetchone():
                conn.execute("CREATE SCHEMA search")
            if conn.execute("SELECT to_regclass('search.schema_migrations')").fetchone() == (None,):
                conn.execute(
                    "CREATE TABLE search.schema_migrations "
                    "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
            done = {r[0] for r in conn.execute("SELECT name FROM search.schema_migrations")}
            for f in files:
                if f.name in done:
                    continue
                conn.execute(f.read_text())  # type: ignore[call-overload]
                conn.execute("INSERT INTO search.schema_migrations (name) VALUES (%s)",
                             (f.name,))
                applied.append(f.name)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise refused(exc, "awsm cannot create its tables in the 'search' schema",
                      "Run it as a role with CREATE on the database (Supabase: postgres), or "
                      "apply awsm/migrations/*.sql once as the owner and grant this role "
                      "USAGE and CREATE on schema search.") from exc
    return applied


# The tables (parameter: an array of quoted names) whose row-level security applies to
# the session's role: not a superuser or BYPASSRLS, and not the owner (or a member of
# the owning role) of a table whose security is not forced. Such a role sees only the
# rows the policies show it.
HIDING_ROWS_SQL = (
    "SELECT c.relname::text FROM pg_class c, pg_roles r WHERE c.oid = ANY(%s::regclass[]) "
    "AND r.rolname = current_user AND NOT (r.rolsuper OR r.rolbypassrls) "
    "AND c.relrowsecurity AND (c.relforcerowsecurity "
    "OR NOT pg_has_role(current_user, c.relowner, 'USAGE')) ORDER BY 1")


def refused(exc: psycopg.Error, problem: str, fix: str) -> ConfigError:
    """A start-up step the database refused, as a ``ConfigError``: what failed, the
    server's reason, and what the operator can do."""
    return ConfigError([f"{problem} ({exc.diag.message_primary or exc}). {fix}"])


def ensure_pgvector(conn: psycopg.Connection) -> None:
    """The pgvector extension that semantic search stores vectors with: created when
    missing and this role may; otherwise a ``ConfigError`` that says how to enable it."""
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
        return
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.Error as exc:
        raise refused(exc, "semantic search needs the pgvector extension, which this "
                           "database lacks and this role cannot create",
                      "Enable it as a superuser with 'CREATE EXTENSION vector' (Supabase: "
                      "Database, Extensions, vector), or set AWSM_EMBEDDER=none for keyword "
                      "search alone.") from exc
