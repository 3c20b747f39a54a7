"""The embedding thread outlives a database that does not answer for a moment: the
keyword indexer goes on streaming meanwhile, so a thread that died would leave every
later change unembedded, its backlog frozen in the status, until the process restarts."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

import indexer.embeddings
from indexer.embeddings import enqueue
from search_svc.embedding import open_embedder
from search_svc.vectors import table_name_for
from tests.fixtures.fix_stack import TENANT_A, make_settings, open_indexer, seed_tenants, wait_for


def test_a_refused_connection_restarts_the_worker_instead_of_ending_embedding(
        fresh_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(fresh_db, tmp_path, embedder="use-multilingual")
    real_connect = indexer.embeddings.connect
    refusals = [psycopg.OperationalError("sorry, too many clients already")]

    def connect(url: str, **kwargs: Any) -> psycopg.Connection:
        if refusals:
            raise refusals.pop()
        return real_connect(url, **kwargs)

    monkeypatch.setattr(indexer.embeddings, "connect", connect)
    table = table_name_for(open_embedder(settings).model_id)
    with psycopg.connect(fresh_db, autocommit=True) as db, \
            open_indexer(fresh_db, settings) as idx:
        seed_tenants(db)
        idx.prepare()
        row = db.execute(
            "INSERT INTO blogs (tenant_id, title, slug, content, status, published_at) "
            "VALUES (%s, 'Kopi', 's', 'Resep kopi.', 'published', now()) RETURNING id::text",
            (TENANT_A,)).fetchone()
        assert row is not None
        enqueue(db, [(f"blog:{row[0]}", "blogs", row[0])])
        stop = threading.Event()
        thread = threading.Thread(target=idx._run_embeddings, args=(stop,), daemon=True)
        thread.start()
        try:
            wait_for(lambda: db.execute(
                "SELECT to_regclass(%s) IS NOT NULL AND (SELECT count(*) = 0 FROM "
                "search.embedding_queue)", (f"search.{table}",)).fetchone() == (True,),
                timeout=60)
            assert db.execute(f"SELECT count(*) FROM search.{table}").fetchone() == (1,)
        finally:
            stop.set()
            thread.join(30)


def test_a_new_model_goes_live_while_edits_keep_arriving(fresh_db: str) -> None:
    # The build went live only when a round found the queue empty: with an edit queued
    # during every round (a busy site), the old model stayed live for as long as they did.
    from tests.indexer.test_embedding_poison import FailsOnMarker, queue_worker

    with queue_worker(fresh_db, FailsOnMarker, max_attempts=3,
                      contents=["Resep kopi tubruk.", "Cara menyeduh teh."]) as (conn, worker, ids):
        worker.enqueue_all()
        assert worker.table is not None and worker.table.state == "building"
        rounds = []

        def edit_during_round(docs: Any, deletes: Any) -> list[str]:
            rounds.append(len(docs))
            enqueue(conn, [(f"blog:{ids[0]}", "blogs", ids[0])])  # an edit, every round
            return []

        worker.on_written = edit_during_round
        stop = threading.Event()
        thread = threading.Thread(target=worker.run, args=(stop,), kwargs={"idle_wait": 0.01},
                                  daemon=True)
        thread.start()
        try:
            wait_for(lambda: conn.execute(
                "SELECT state FROM search.embedding_models").fetchone() == ("active",),
                timeout=30)
        finally:
            stop.set()
            thread.join(30)
        assert not thread.is_alive() and len(rounds) >= 2
        assert worker.store.count(worker.table.table) == 2  # both documents, live
        assert conn.execute("SELECT count(*) FROM search.embedding_queue").fetchone() == (1,)
