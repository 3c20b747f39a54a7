"""The API while its database is unreachable: keyword search is answered from the
on-disk index with the tenants it already resolved; what it cannot answer is a JSON
503, never a 500 or a stall."""

from __future__ import annotations

import asyncio
import time
from contextlib import ExitStack
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from awsm.db import open_async_pool
from awsm.errors import ServiceUnavailable
from awsm.settings import load_settings
from gateway.app import create_app
from search_svc.embedding import open_embedder
from search_svc.semantic import DATABASE_DOWN, SemanticSearcher
from search_svc.tenants import TenantResolver, TenantSource
from tests.fixtures.fix_pg import database_down
from tests.fixtures.fix_stack import (
    TENANT_A,
    TENANT_B,
    make_settings,
    running_stack,
    seed_tenants,
    wait_for,
)

TTL_S = 0.3


def _index_one_post(fresh_db: str, tmp_path: Path, **settings: str) -> str:
    """A database and, under tmp_path, an index holding one published post of 'kopi'."""
    with running_stack(fresh_db, tmp_path, **settings) as s:
        s.sql("INSERT INTO blogs (tenant_id, title, slug, content, status, published_at) "
              "SELECT id, 'Seduh kopi tubruk', 'seduh', 'Cara menyeduh kopi tubruk.', "
              "'published', now() - interval '1 day' FROM tenants WHERE slug = 'kopi'")
        wait_for(lambda: s.titles(q="tubruk"))
        if settings:  # with an embedder: until its model is live
            wait_for(lambda: s.search(q="tubruk", mode="semantic")["mode"] == "semantic",
                     timeout=60)
    return fresh_db


@pytest.fixture
def indexed(fresh_db: str, tmp_path: Path) -> str:
    return _index_one_post(fresh_db, tmp_path)


def test_keyword_search_outlives_a_database_outage(indexed: str, tmp_path: Path) -> None:
    settings = make_settings(indexed, tmp_path, tenant_cache_ttl_s=TTL_S)
    with TestClient(create_app(settings)) as client:
        def search(tenant: str) -> tuple[int, dict, float]:
            started = time.monotonic()
            r = client.get("/v1/search", params={"tenant": tenant, "q": "tubruk"})
            return r.status_code, r.json(), time.monotonic() - started

        status, body, _ = search("kopi")
        assert status == 200 and [h["title"] for h in body["hits"]] == ["Seduh kopi tubruk"]
        status, body, _ = search("nope")  # an unknown tenant: cached as such
        assert status == 200 and body["hits"] == []
        with database_down(indexed):
            time.sleep(TTL_S * 2)  # both cache entries have expired
            for _ in range(3):
                status, body, took = search("kopi")
                assert status == 200, body
                assert [h["title"] for h in body["hits"]] == ["Seduh kopi tubruk"]
                assert took < 3
            for tenant in ("nope", "tech"):  # unknown; known, not asked for before
                status, body, _ = search(tenant)
                assert status == 200 and body["hits"] == []
            metrics = client.get("/metrics").text
            age = next(float(line.split()[1]) for line in metrics.splitlines()
                       if line.startswith("awsm_tenants_read_age_seconds "))
            assert age > TTL_S  # what an alert on a stale tenants table would watch
            started = time.monotonic()
            ready = client.get("/readyz")
            assert ready.status_code == 503 and not ready.json()["checks"]["database"]["ok"]
            assert time.monotonic() - started < 2.5  # within a probe's usual timeout


def test_semantic_and_hybrid_answer_in_keyword_mode_while_the_database_is_down(
        fresh_db: str, tmp_path: Path) -> None:
    db = _index_one_post(fresh_db, tmp_path, embedder="use-multilingual")
    settings = make_settings(db, tmp_path, tenant_cache_ttl_s=TTL_S, embedder="use-multilingual")
    with TestClient(create_app(settings)) as client:
        cache_control: list[str] = []

        def search(mode: str) -> dict:
            r = client.get("/v1/search", params={"tenant": "kopi", "q": "tubruk", "mode": mode})
            assert r.status_code == 200, r.text
            cache_control.append(r.headers["cache-control"])
            return dict(r.json())

        wait_for(lambda: search("semantic")["mode"] == "semantic", timeout=60)
        assert search("hybrid")["mode"] == "hybrid"
        assert cache_control[-1] == "public, max-age=10, s-maxage=60, stale-while-revalidate=300"
        with database_down(db):
            # the first request meets the failure, the next ones know of it up front
            for mode in ("hybrid", "semantic", "hybrid"):
                body = search(mode)
                assert body["mode"] == "keyword"
                # a CDN keeps the keyword stand-in seconds, not a minute
                assert cache_control[-1] == (
                    "public, max-age=0, s-maxage=5, stale-while-revalidate=300")
                assert body["notice"] == ("semantic search is not available "
                                          "(its database is not answering)")
                assert [h["title"] for h in body["hits"]] == ["Seduh kopi tubruk"]
            assert 'awsm_search_semantic_fallbacks_total{reason="database"}' in \
                client.get("/metrics").text
        wait_for(lambda: search("hybrid")["mode"] == "hybrid", timeout=30)  # back on its own


def test_no_request_waits_on_the_semantic_check_while_the_database_is_down(
        fresh_db: str, tmp_path: Path) -> None:
    # Whether semantic search is live is asked of the database every few seconds, waiting
    # up to a second for a connection. While the database was down, one request every
    # few seconds (every one arriving meanwhile, under load) stalled that second: those
    # in keyword mode whatever the answer (mode=keyword, a listing by date) for an answer
    # they did not need, and those in the default mode for one that could come later.
    db = _index_one_post(fresh_db, tmp_path, embedder="use-multilingual")
    settings = make_settings(db, tmp_path, tenant_cache_ttl_s=TTL_S, embedder="use-multilingual")
    with TestClient(create_app(settings)) as client:
        wait_for(lambda: client.get("/v1/search", params={
            "tenant": "kopi", "q": "tubruk", "mode": "semantic"}).json()["mode"] == "semantic",
            timeout=60)
        searcher = client.app.state.semantic  # type: ignore[attr-defined]
        searcher.model_check_s = 0.5  # the check falls due many times below
        with database_down(db):
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline:
                for params in ({"q": "tubruk", "mode": "keyword"},
                               {"q": "", "sort": "published_at"}, {"q": "tubruk"}):
                    started = time.monotonic()
                    r = client.get("/v1/search", params={"tenant": "kopi", **params})
                    assert r.status_code == 200 and r.json()["hits"], r.text
                    assert r.json()["mode"] == "keyword"
                    if "mode" in params or "sort" in params:  # never semantic: no notice
                        assert "notice" not in r.json()
                    assert time.monotonic() - started < 0.5, params
                time.sleep(0.1)


def test_a_table_read_stands_in_for_the_database_only_so_long(fresh_db: str) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        seed_tenants(conn)

    async def scenario() -> None:
        pool = await open_async_pool(fresh_db, timeout=1.0)
        tenants = TenantResolver(pool, TenantSource(), ttl_s=0.1, stale_if_error_s=1.0)
        try:
            assert await tenants.resolve("KOPI") == TENANT_A
            with database_down(fresh_db):
                await asyncio.sleep(0.2)
                started = time.monotonic()
                assert await tenants.resolve("kopi") == TENANT_A  # stale, within a second
                assert await tenants.resolve("tech.localhost") == TENANT_B
                assert time.monotonic() - started < 0.1  # never waits for the database
                await asyncio.sleep(1.0)
                with pytest.raises(ServiceUnavailable) as refused:
                    await tenants.resolve("kopi")  # too old to stand in
                assert refused.value.headers == {"Retry-After": "5"}
                started = time.monotonic()
                with pytest.raises(ServiceUnavailable):  # just failed: no second wait
                    await tenants.resolve("kopi")
                assert time.monotonic() - started < 0.1
            deadline = time.monotonic() + 30  # back, once the pool has reconnected
            while True:
                await asyncio.sleep(0.15)
                try:
                    assert await tenants.resolve("kopi") == TENANT_A
                    break
                except ServiceUnavailable:
                    assert time.monotonic() < deadline
        finally:
            await tenants.close()
            await pool.close()

    asyncio.run(scenario())


def test_the_api_starts_without_its_database_and_serves_once_it_appears(
        indexed: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(indexed, tmp_path, tenant_cache_ttl_s=TTL_S)
    with ExitStack() as outage:
        outage.enter_context(database_down(indexed))
        with TestClient(create_app(settings)) as client:
            assert client.get("/healthz").status_code == 200  # up, not crash-looping
            assert client.get("/readyz").status_code == 503
            r = client.get("/v1/search", params={"tenant": "kopi", "q": "tubruk"})
            assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"
            assert any("cannot be reached yet" in rec.getMessage() for rec in caplog.records)
            outage.close()  # the database comes up
            wait_for(lambda: client.get("/v1/search", params={"tenant": "kopi", "q": "tubruk"}
                                        ).status_code == 200, timeout=30)
            assert client.get("/readyz").status_code == 200


def test_the_tenants_table_is_re_read_without_requests(fresh_db: str) -> None:
    # a rename must not wait for a request to notice the TTL has passed
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        seed_tenants(conn)

        async def scenario() -> None:
            pool = await open_async_pool(fresh_db, timeout=1.0)
            tenants = TenantResolver(pool, TenantSource(), ttl_s=0.2)
            try:
                assert await tenants.resolve("kopi") == TENANT_A
                conn.execute("UPDATE tenants SET slug = 'kopi-baru' WHERE id = %s", (TENANT_A,))
                await asyncio.sleep(0.6)  # quiet: no request meanwhile
                assert await tenants.resolve("kopi-baru") == TENANT_A  # the first one after
                assert await tenants.resolve("kopi") is None
            finally:
                await tenants.close()
                await pool.close()

        asyncio.run(scenario())


def test_closing_while_the_pool_hands_the_timer_its_connection_returns(fresh_db: str) -> None:
    # make test hung once at shutdown, right after an outage: the background read was
    # being handed a connection as the app closed, the cancel was lost (Python 3.11's
    # asyncio.wait_for returns a result that arrived in the same step) and the read loop
    # went on forever, so close() never returned. Here the hand-over is provoked at every
    # step around the close.
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        seed_tenants(conn)

    async def close_during_hand_over(steps: int) -> bool:
        pool = await open_async_pool(fresh_db, min_size=1, max_size=1, timeout=5.0)
        tenants = TenantResolver(pool, TenantSource(), ttl_s=0.05)
        try:
            assert await tenants.resolve("kopi") == TENANT_A
            held = await pool.getconn()  # the timer's next read waits in the pool's queue
            deadline = time.monotonic() + 5
            while pool.get_stats()["requests_waiting"] == 0:  # (however slow the machine)
                assert time.monotonic() < deadline, "the timer never asked for a connection"
                await asyncio.sleep(0.01)
            handing = asyncio.ensure_future(pool.putconn(held))  # ... and is handed it
            for _ in range(steps):
                await asyncio.sleep(0)
            closing = asyncio.ensure_future(tenants.close())
            await handing
            done, _ = await asyncio.wait({closing}, timeout=5.0)
            return bool(done)
        finally:
            await pool.close()

    async def every_step() -> list[int]:
        return [steps for steps in range(8) if not await close_during_hand_over(steps)]

    assert asyncio.run(every_step()) == []


def test_a_tenants_read_stuck_behind_a_lock_is_a_503_not_a_stall(fresh_db: str) -> None:
    # a migration's ALTER TABLE tenants waiting on a long transaction queues every read
    # behind it: the background read hung holding the resolver's lock, and once the last
    # read was too old to stand in, every search request waited on that lock for ever
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        seed_tenants(conn)

    async def scenario() -> None:
        pool = await open_async_pool(fresh_db, timeout=1.0)
        tenants = TenantResolver(pool, TenantSource(), ttl_s=0.2, stale_if_error_s=1.0,
                                 read_timeout_s=0.5)
        try:
            assert await tenants.resolve("kopi") == TENANT_A
            with psycopg.connect(fresh_db) as locker:  # a transaction, left open
                locker.execute("LOCK TABLE tenants IN ACCESS EXCLUSIVE MODE")
                await asyncio.sleep(1.5)  # past stale_if_error_s: the read must be fresh
                with pytest.raises(ServiceUnavailable):
                    await asyncio.wait_for(tenants.resolve("kopi"), timeout=5)
            await asyncio.sleep(0.5)  # the lock is gone: the next read succeeds
            assert await tenants.resolve("kopi") == TENANT_A
        finally:
            await tenants.close()
            await pool.close()

    asyncio.run(scenario())


def test_the_first_semantic_check_stuck_behind_a_lock_is_keyword_mode_not_a_stall(
        fresh_db: str, caplog: pytest.LogCaptureFixture) -> None:
    # the first liveness check is waited for by every request that arrives before it
    # answers: a check queued behind a lock on search.embedding_models (a migration)
    # held them all for as long as the lock lasted
    settings = load_settings({}, embedder="use-multilingual")

    async def scenario() -> None:
        pool = await open_async_pool(fresh_db, timeout=1.0)
        searcher = SemanticSearcher(lambda: open_embedder(settings), pool)
        try:
            while searcher.embedder is None:
                assert searcher.error is None, searcher.error
                await asyncio.sleep(0.05)
            with psycopg.connect(fresh_db) as locker:  # a transaction, left open
                locker.execute("LOCK TABLE search.embedding_models IN ACCESS EXCLUSIVE MODE")
                assert await asyncio.wait_for(searcher.ready(), timeout=10) is False
                assert searcher.reason == DATABASE_DOWN
        finally:
            await pool.close()

    with caplog.at_level("WARNING", logger="awsm.semantic"):
        asyncio.run(scenario())
    # the log says why (a timeout's own text is empty)
    assert any("cannot be reached: no answer within 2 s" in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]
