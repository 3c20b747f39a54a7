"""SIGKILL the indexer in the middle of a stream of changes; after a restart the index
holds exactly what the visibility rules say — nothing lost, nothing stale."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg

from search_svc.engines import open_engine
from search_svc.engines.base import SearchQuery
from tests.fixtures.fix_stack import TENANT_A, TENANT_B, make_settings, seed_tenants, wait_for


def _expected(conn: psycopg.Connection) -> dict[str, str]:
    """key → title of every row the public may see, by the AWCMS rules, in SQL."""
    rows = conn.execute(
        "SELECT 'blog:' || b.id, b.title FROM blogs b JOIN tenants t ON t.id = b.tenant_id "
        "WHERE b.status = 'published' AND b.deleted_at IS NULL AND b.is_active AND b.is_public "
        "AND b.published_at <= now() AND t.status = 'active' AND t.deleted_at IS NULL"
    ).fetchall()
    return dict(rows)


def _indexer(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "gateway.cli", "indexer"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _churn(url: str, stop: threading.Event, seed: int) -> int:
    rnd = random.Random(seed)
    done = 0
    with psycopg.connect(url, autocommit=True) as conn:
        while not stop.is_set():
            op = rnd.random()
            if op < 0.5:
                conn.execute(
                    "INSERT INTO blogs (tenant_id, title, slug, content, status, published_at) "
                    "VALUES (%s, %s, 's', 'isi', %s, now() - interval '1 minute')",
                    (rnd.choice([TENANT_A, TENANT_B]), f"judul {done} versi awal",
                     rnd.choice(["published", "published", "draft"])))
            elif op < 0.8:
                conn.execute(
                    "UPDATE blogs SET title = %s, status = %s WHERE id = "
                    "(SELECT id FROM blogs ORDER BY random() LIMIT 1)",
                    (f"judul {done} versi baru", rnd.choice(["published", "draft"])))
            elif op < 0.9:
                conn.execute("UPDATE blogs SET deleted_at = now() WHERE id = "
                             "(SELECT id FROM blogs ORDER BY random() LIMIT 1)")
            else:
                conn.execute("DELETE FROM blogs WHERE id = "
                             "(SELECT id FROM blogs ORDER BY random() LIMIT 1)")
            done += 1
            time.sleep(0.002)
    return done


def test_sigkill_mid_stream_then_restart_converges_exactly(fresh_db: str, tmp_path: Path) -> None:
    settings = make_settings(fresh_db, tmp_path)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        seed_tenants(conn)
    env = {**os.environ, "AWSM_DATABASE_URL": fresh_db, "AWSM_DATA_DIR": str(tmp_path),
           "AWSM_SLOT_NAME": settings.slot_name, "AWSM_DEMO": "true", "AWSM_LOG_LEVEL": "warning"}
    proc = _indexer(env)
    stop = threading.Event()
    churn = threading.Thread(target=_churn, args=(fresh_db, stop, 1), daemon=True)
    churn.start()
    # kill it only once it streams: backfilled, and it has written changes since
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        def status() -> tuple[str, object, int] | None:
            return conn.execute(
                "SELECT state, backfilled_at, documents_written FROM search.indexer_status "
                "WHERE slot_name = %s", (settings.slot_name,)).fetchone()

        def streaming() -> tuple[str, object, int] | None:
            row = status()
            return row if row and row[0] == "streaming" and row[1] is not None else None

        after_backfill = wait_for(streaming, timeout=60)[2]
        wait_for(lambda: (status() or ("", None, 0))[2] > after_backfill, timeout=30)
    time.sleep(0.3)  # a few batches in
    assert proc.poll() is None, "the indexer exited on its own before the kill"
    proc.send_signal(signal.SIGKILL)  # mid-stream: changes keep arriving
    proc.wait(10)
    time.sleep(0.5)
    stop.set()
    churn.join(10)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("UPDATE tenants SET status = 'suspended' WHERE id = %s", (TENANT_B,))
        expected = _expected(conn)
    assert len(expected) > 20
    proc = _indexer(env)
    try:
        reader = open_engine(settings, writer=False)

        def indexed() -> dict[str, str]:
            result: dict[str, str] = {}
            for tenant in (TENANT_A, TENANT_B):
                res = reader.search(SearchQuery(tenant_id=tenant, text="", limit=10_000,
                                                sort="published_at"))
                result.update({h.key: h.title for h in res.hits})
            return result

        def converged() -> bool:
            return reader.keys() == set(expected) and indexed() == expected

        wait_for(converged, timeout=30, interval=0.2)
        assert reader.keys(TENANT_B) == set()
        reader.close()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err.decode()[-2000:]
