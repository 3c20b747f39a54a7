"""pgoutput can deliver a commit before a new snapshot sees it: re-reads must wait."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from indexer.changes import Batch, add_record
from indexer.mapping import load_mapping
from indexer.pgoutput import Begin, Commit
from indexer.worker import Indexer
from search_svc.engines import open_engine
from tests.fixtures.fix_stack import make_settings


def test_batches_remember_their_transactions() -> None:
    b = Batch()
    add_record(b, load_mapping(None), Begin(1, 0, 4242))
    add_record(b, load_mapping(None), Commit(1, 2, 0))
    assert b.xids == {4242}


def test_reread_waits_until_the_commit_is_visible(fresh_db: str, tmp_path: Path) -> None:
    settings = make_settings(fresh_db, tmp_path)
    engine = open_engine(settings, writer=True)
    indexer = Indexer(settings, load_mapping(None), engine, fresh_db)
    try:
        with psycopg.connect(fresh_db) as writer:
            writer.execute("CREATE TEMP TABLE t (i int)")
            row = writer.execute("SELECT pg_current_xact_id()::text::bigint & 4294967295").fetchone()
            assert row is not None
            xid = int(row[0])
            released = threading.Event()

            def wait() -> None:
                indexer.wait_visible({xid})
                released.set()

            thread = threading.Thread(target=wait)
            thread.start()
            time.sleep(0.3)
            assert not released.is_set()  # still in progress: no re-read yet
            writer.commit()
            thread.join(5)
            assert released.is_set()
        with pytest.raises(RuntimeError, match="invisible"):
            with psycopg.connect(fresh_db) as open_txn:
                open_txn.execute("CREATE TEMP TABLE u (i int)")
                row = open_txn.execute(
                    "SELECT pg_current_xact_id()::text::bigint & 4294967295").fetchone()
                assert row is not None
                indexer.wait_visible({int(row[0])}, timeout_s=0.2)
    finally:
        indexer.close()
        engine.close()
