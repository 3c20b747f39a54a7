"""``/readyz`` against a real database: it answers within about its timeouts whatever
the database or the engine does, so a probe (and the pool it shares with search) never
waits on them."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.health import READY_DB_TIMEOUT_S, READY_ENGINE_TIMEOUT_S
from search_svc.engines.meili import MeiliEngine
from tests.fixtures.fix_stack import make_settings


@pytest.mark.parametrize("table", ["search.indexer_status", "search.dead_letters"])
def test_readyz_answers_while_a_lock_holds_the_indexer_tables(
        fresh_db: str, tmp_path: Path, table: str) -> None:
    # A migration's ALTER TABLE (or one queued behind the indexer's write) holds these
    # tables: the lag query waited for it without bound, each probe holding one of the
    # read pool's connections, which search's tenant and semantic reads need too.
    settings = make_settings(fresh_db, tmp_path)
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").json()["checks"]["database"] == {"ok": True}
        with psycopg.connect(fresh_db) as locker:
            locker.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            answer: dict[str, Any] = {}

            def probe() -> None:
                started = time.monotonic()
                r = client.get("/readyz")
                answer.update(took=time.monotonic() - started, body=r.json())

            thread = threading.Thread(target=probe, daemon=True)
            thread.start()
            thread.join(READY_DB_TIMEOUT_S + 4)
            try:
                assert not thread.is_alive(), "/readyz waited on the lock"
            finally:
                locker.rollback()
                thread.join(10)
        assert answer["took"] < READY_DB_TIMEOUT_S + 2
        checks = answer["body"]["checks"]
        assert checks["database"] == {"ok": True}
        assert checks["indexer"] == {"error": "TimeoutError"}
        # the connection the cancelled query had is not handed to the next request broken
        assert client.get("/readyz").json()["checks"]["indexer"] == {"state": "not started"}


def test_readyz_shows_no_server_path_of_a_local_model(fresh_db: str, tmp_path: Path) -> None:
    # AWSM_EMBEDDER=sentence-transformers with AWSM_EMBEDDING_MODEL=/srv/models/labse
    # (the documented way to run a model offline): /readyz is public, and showed the path
    settings = make_settings(fresh_db, tmp_path)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')",
                     (settings.slot_name,))
        conn.execute("INSERT INTO search.indexer_status (slot_name, state, embedding_model) "
                     "VALUES (%s, 'streaming', 'st:/srv/models/labse')", (settings.slot_name,))
    with TestClient(create_app(settings)) as client:
        body = client.get("/readyz").text
    assert "embeddings" in body and "/srv/models" not in body
    assert '"model":"st:labse"' in body.replace(" ", "")


def test_readyz_answers_while_meilisearch_accepts_and_never_answers(
        fresh_db: str, tmp_path: Path) -> None:
    # a Meilisearch that accepts connections and hangs (overloaded, a half-dead host)
    # held the probe for AWSM_MEILI_TIMEOUT_S (10 s here), past any probe's timeout
    with socket.create_server(("127.0.0.1", 0)) as silent:  # never accepts or answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        engine = MeiliEngine(url, None, "awsm", writer=False, timeout_s=10.0)
        with TestClient(create_app(make_settings(fresh_db, tmp_path), engine=engine)) as client:
            started = time.monotonic()
            r = client.get("/readyz")
            took = time.monotonic() - started
    assert r.status_code == 503 and took < READY_ENGINE_TIMEOUT_S + 2
    assert r.json()["checks"]["engine"] == {"ok": False, "error": "TimeoutError"}
    assert r.json()["checks"]["database"] == {"ok": True}


def test_readyz_answers_while_searches_hold_every_read_connection(
        fresh_db: str, tmp_path: Path) -> None:
    # on the read pool, a probe waited behind the searches holding all 8 connections: at
    # 200 concurrent connections 97 % of probes were 503 (PoolTimeout), and a load
    # balancer would have taken every loaded replica out of rotation at once
    settings = make_settings(fresh_db, tmp_path)
    with TestClient(create_app(settings)) as client:
        assert client.portal is not None
        pool = client.app.state.read_pool  # type: ignore[attr-defined]
        held = [client.portal.call(pool.getconn) for _ in range(8)]
        try:
            started = time.monotonic()
            r = client.get("/readyz")
            assert r.json()["checks"]["database"] == {"ok": True}, r.text
            assert time.monotonic() - started < READY_DB_TIMEOUT_S
        finally:
            for conn in held:
                client.portal.call(pool.putconn, conn)


def test_probes_arriving_together_share_one_check(fresh_db: str, tmp_path: Path) -> None:
    # each probe ran its own check on the one health connection: while one waited out
    # its second (here the lag query, behind a migration's lock; in a load test, a
    # saturated event loop) the others found no connection (PoolTimeout)
    settings = make_settings(fresh_db, tmp_path)
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").json()["checks"]["database"] == {"ok": True}
        answers: list[dict[str, Any]] = []

        def probe() -> None:
            answers.append(client.get("/readyz").json()["checks"])

        with psycopg.connect(fresh_db) as locker:
            locker.execute("LOCK TABLE search.indexer_status IN ACCESS EXCLUSIVE MODE")
            threads = [threading.Thread(target=probe, daemon=True) for _ in range(6)]
            try:
                for t in threads:
                    t.start()
                    time.sleep(0.05)  # within the first one's check
                for t in threads:
                    t.join(READY_DB_TIMEOUT_S + 4)
            finally:
                locker.rollback()
        assert len(answers) == 6
        # one check, behind the lock: no probe found the health connection taken
        assert all(a["database"] == {"ok": True} and a["indexer"] == {"error": "TimeoutError"}
                   for a in answers), answers
