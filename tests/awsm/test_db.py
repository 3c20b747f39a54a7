import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from awsm.db import (
    CONNECT_TIMEOUT_S,
    OncePerInterval,
    apply_migrations,
    connect,
    connection_within,
    open_async_pool,
)
from awsm.errors import ServiceUnavailable
from indexer.replication import ReplicationStream
from tests.fixtures.fix_pg import database_down


def test_fresh_database_has_logical_wal_and_search_schema(fresh_db: str) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        assert conn.execute("SHOW wal_level").fetchone() == ("logical",)
        assert apply_migrations(conn) == []  # the template already holds them
        tables = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'search'")}
        assert {"dead_letters", "indexer_status", "schema_migrations"} <= tables
        ext = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        assert ext is not None


def test_a_database_restart_fails_at_most_one_request_per_pool(fresh_db: str) -> None:
    # A restart or failover of the database ends every pooled session; each was still
    # handed out once, dead, so up to max_size requests in a row failed though the database
    # was back: /readyz 503s (a probe's failureThreshold reached on every replica at
    # once), semantic searches fell back to keyword mode, a tenants read failed.
    async def scenario() -> int:
        pool = await open_async_pool(fresh_db, min_size=4, max_size=4, timeout=5.0)
        failed = 0
        try:
            await pool.wait(timeout=10)
            with psycopg.connect(fresh_db, autocommit=True) as admin:
                ended = admin.execute(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                    "FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()").fetchone()
            assert ended == (4,)
            for _ in range(4):
                try:
                    async with pool.connection(timeout=5.0) as conn:
                        await conn.execute("SELECT 1")
                except psycopg.OperationalError:
                    failed += 1
                await asyncio.sleep(0.1)
        finally:
            await pool.close()
        return failed

    assert asyncio.run(scenario()) <= 1


def test_while_the_database_refuses_connections_no_caller_waits_out_the_pool_timeout(
        fresh_db: str) -> None:
    # Once the pool had found its idle connections dead, every caller that needed a new
    # one waited the whole timeout it gave (2 s for a semantic query) for a connection
    # that could not come, though each has an answer for an unreachable database.
    async def scenario() -> tuple[list[float], float]:
        pool = await open_async_pool(fresh_db, min_size=2, max_size=2, timeout=5.0)
        waits: list[float] = []
        try:
            await pool.wait(timeout=10)
            with database_down(fresh_db):
                await pool.check()  # both found dead; the pool starts reconnecting
                deadline = time.monotonic() + 5
                while not pool.connect_failing:  # its first attempt failed (in a few ms)
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.01)
                for _ in range(3):
                    started = time.monotonic()
                    with pytest.raises(psycopg.OperationalError):  # PoolTimeout is one
                        async with connection_within(pool, 2.0) as conn:
                            await conn.execute("SELECT 1")
                    waits.append(time.monotonic() - started)
            started = time.monotonic()
            while True:  # back: the next request's connection is made as it asks
                try:
                    async with connection_within(pool, 2.0) as conn:
                        await conn.execute("SELECT 1")
                    break
                except psycopg.OperationalError:
                    assert time.monotonic() - started < 10  # the pool's next attempt
                    await asyncio.sleep(0.05)
            return waits, time.monotonic() - started
        finally:
            await pool.close()

    waits, back_after = asyncio.run(scenario())
    assert max(waits) < 0.5, waits
    assert back_after < 10


def test_after_an_outage_the_pool_connects_again_within_seconds(fresh_db: str) -> None:
    # psycopg_pool retries a failed connection with a backoff that doubles up to its
    # reconnect_timeout (5 minutes by default): after an outage of 20 s the next try came
    # 11 s after the database was back, after one of a minute, a minute after, and
    # meanwhile every request that needed the database failed (/readyz 503 on every
    # replica at once, so the load balancer had none left for keyword search).
    async def scenario() -> float:
        pool = await open_async_pool(fresh_db, min_size=1, max_size=2, timeout=5.0)
        try:
            await pool.wait(timeout=10)
            with database_down(fresh_db):
                started = time.monotonic()
                while time.monotonic() - started < 16:  # requests meet the outage
                    try:
                        async with connection_within(pool, 2.0) as conn:
                            await conn.execute("SELECT 1")
                    except psycopg.OperationalError:
                        pass
                    await asyncio.sleep(0.2)
            back = time.monotonic()
            while True:
                try:
                    async with connection_within(pool, 2.0) as conn:
                        await conn.execute("SELECT 1")
                    return time.monotonic() - back
                except psycopg.OperationalError:
                    assert time.monotonic() - back < 60
                    await asyncio.sleep(0.2)
        finally:
            await pool.close()

    assert asyncio.run(scenario()) < 6


@contextmanager
def _server_that_never_answers() -> Iterator[str]:
    """The URL of a server that takes connections and never says a word (a hung process,
    a partition that leaves the port open): the kernel completes the handshake, nobody
    ever reads."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"postgresql://awsm@127.0.0.1:{server.getsockname()[1]}/awsm"


def _failure_within(attempt: Callable[[], object], seconds: float) -> BaseException | None:
    """What ``attempt`` raised (None: it succeeded), failing the test if it has not ended
    within ``seconds`` (run in a thread: a try to connect without a limit never ends)."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            attempt()
        except BaseException as exc:  # noqa: BLE001 - handed to the test to judge
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"still trying after {seconds} s"
    return outcome[0]


def test_a_server_that_never_answers_fails_each_try_to_connect_within_seconds() -> None:
    # libpq waits for such a server without limit: the pool's first try never ended and
    # every request waited its whole timeout for a connection, the pool never learning
    # that the database was gone; an indexer starting against it hung (not restarted)
    with _server_that_never_answers() as url:
        for open_one in (lambda: connect(url).close(),
                         lambda: ReplicationStream(url, "slot", "publication").open()):
            failure = _failure_within(open_one, CONNECT_TIMEOUT_S + 3)
            assert isinstance(failure, (psycopg.OperationalError, ServiceUnavailable))
        # the URL's own limit wins
        failure = _failure_within(lambda: connect(url + "?connect_timeout=2").close(), 4)
        assert isinstance(failure, psycopg.OperationalError)

        async def scenario() -> tuple[float, float]:
            pool = await open_async_pool(url, timeout=30, wait=False)
            try:
                started = time.monotonic()
                while not pool.connect_failing:
                    assert time.monotonic() - started < CONNECT_TIMEOUT_S + 5
                    await asyncio.sleep(0.1)
                failed_after = time.monotonic() - started
                started = time.monotonic()
                with pytest.raises(psycopg.OperationalError):  # at once, not in 30 s
                    async with connection_within(pool, 30):
                        pass
                return failed_after, time.monotonic() - started
            finally:
                await pool.close()

        failed_after, refused_after = asyncio.run(scenario())
    assert CONNECT_TIMEOUT_S - 1 < failed_after < CONNECT_TIMEOUT_S + 5
    assert refused_after < 1


def test_a_refused_new_connection_does_not_hurry_requests_waiting_for_a_busy_one(
        fresh_db: str, plain_role: tuple[str, str]) -> None:
    # The database up but refusing one more connection (its or the role's limit
    # reached): a request that waits for a busy connection gets it when it is returned,
    # rather than the 0.1 s an unreachable database leaves it.
    name, url = plain_role
    with psycopg.connect(fresh_db, autocommit=True) as admin:
        admin.execute(f"ALTER ROLE {name} CONNECTION LIMIT 1")

    async def use(pool: Any, seconds: float) -> None:
        async with connection_within(pool, 5.0) as conn:
            await conn.execute("SELECT pg_sleep(%s)", (seconds,))

    async def scenario() -> None:
        pool = await open_async_pool(url, min_size=1, max_size=2, timeout=5.0)
        try:
            first = asyncio.ensure_future(use(pool, 1.0))  # busy for a second
            await asyncio.sleep(0.1)
            second = asyncio.ensure_future(use(pool, 0.1))  # a second connection: refused
            deadline = time.monotonic() + 5
            while not pool.connect_failing:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
            third = asyncio.ensure_future(use(pool, 0.1))  # after the refusal
            await asyncio.gather(first, second, third)  # each in turn on the one connection
        finally:
            await pool.close()

    asyncio.run(scenario())


def test_a_pool_that_cannot_connect_warns_once_not_at_every_try(caplog) -> None:  # type: ignore[no-untyped-def]
    # psycopg_pool warns at each try (1, 2, 4 ... s apart): docs/troubleshooting.md
    # promises an unreachable database one warning a minute, not a log full of them.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # a port nothing listens on
        port = s.getsockname()[1]

    async def scenario() -> None:
        pool = await open_async_pool(f"postgresql://u@127.0.0.1:{port}/db", wait=False)
        try:
            await asyncio.sleep(3.5)  # tries at about 0, 1 and 3 s
        finally:
            await pool.close()

    installed = [f for f in logging.getLogger("psycopg.pool").filters
                 if isinstance(f, OncePerInterval)]
    assert len(installed) == 1
    installed[0].reset()  # what earlier tests' outages warned is not this test's
    with caplog.at_level(logging.WARNING, logger="psycopg.pool"):
        asyncio.run(scenario())
    warned = [r for r in caplog.records if r.name == "psycopg.pool"
              and r.getMessage().startswith("error connecting")]
    assert len(warned) == 1, [r.getMessage()[:80] for r in warned]


def test_once_per_interval_passes_each_message_once_an_interval() -> None:
    now = [0.0]
    once = OncePerInterval(60.0, clock=lambda: now[0])

    def passes(msg: str, level: int = logging.WARNING) -> bool:
        return once.filter(logging.LogRecord("psycopg.pool", level, "", 0, msg, (), None))

    assert passes("error connecting in %r: %s") and passes("discarding broken connection: %s")
    now[0] = 59.0
    assert not passes("error connecting in %r: %s") and passes("x", logging.ERROR)
    now[0] = 60.0
    assert passes("error connecting in %r: %s") and not passes("error connecting in %r: %s")


def test_a_hand_back_past_the_deadline_keeps_the_connection(fresh_db: str) -> None:
    # Under load a returned connection waits its turn for the pool's lock (0.7-1 s in an
    # audit's load test); the deadline, covering the hand-back too, cancelled it there:
    # the connection was lost, still counted, until all were and every request got 503.
    async def scenario() -> None:
        pool = await open_async_pool(fresh_db, min_size=1, max_size=1, timeout=2.0)
        handing_back = pool.putconn

        async def slow_putconn(conn: Any) -> None:
            await asyncio.sleep(0.3)  # past the 0.1 s deadline below
            await handing_back(conn)

        pool.putconn = slow_putconn  # type: ignore[method-assign]
        try:
            for _ in range(3):
                async with connection_within(pool, 0.1) as conn:
                    await conn.execute("SELECT 1")
            pool.putconn = handing_back  # type: ignore[method-assign]
            async with connection_within(pool, 1.0) as conn:  # the one connection is back
                assert await (await conn.execute("SELECT 2")).fetchone() == (2,)
            task = asyncio.ensure_future(_use_then_cancelled(pool))
            await asyncio.sleep(0.05)
            task.cancel()  # a request cancelled (its client went away) mid-work
            with pytest.raises(asyncio.CancelledError):
                await task
            async with connection_within(pool, 1.0) as conn:
                assert await (await conn.execute("SELECT 3")).fetchone() == (3,)
        finally:
            await pool.close()

    asyncio.run(scenario())


async def _use_then_cancelled(pool: Any) -> None:
    async with connection_within(pool, 5.0) as conn:
        await conn.execute("SELECT pg_sleep(2)")
