"""A change that lands while the embedding worker is embedding a document: the vectors it
then writes must not bring back what the indexer just took out of search (an unpublished
row, a row moved to another tenant, a truncated table) until the queue comes round to
the document again. The worker runs by hand here, with the real model, and the change
is made from inside the model call."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from indexer.embeddings import EmbeddingWorker
from indexer.worker import Indexer
from search_svc.embedding import Embedder, open_embedder
from search_svc.vectors import table_name_for
from tests.fixtures.fix_stack import TENANT_A, TENANT_B, make_settings, open_indexer, seed_tenants


@dataclass
class Race:
    db: psycopg.Connection
    indexer: Indexer
    embedder: Embedder
    blog: str

    def worker(self, **options: Any) -> EmbeddingWorker:
        worker = self.indexer.new_embedding_worker(self.embedder)
        for name, value in options.items():
            setattr(worker, name, value)
        worker.prepare()
        return worker

    def during_the_model_call(self, change: Callable[[], None]) -> Callable[[], None]:
        """Make ``change`` while the next model call runs; returns the undo."""
        real = self.embedder.embed_documents

        def embed(texts: list[str]) -> Any:
            vectors = real(texts)
            change()
            return vectors

        self.embedder.embed_documents = embed  # type: ignore[method-assign,assignment]
        return lambda: setattr(self.embedder, "embed_documents", real)

    def index_now(self) -> None:
        """What the indexer does with a batch holding the row."""
        upserts, deletes = self.indexer.documents_for({"blogs": {self.blog}})
        self.indexer._queue_embeddings(upserts, deletes)

    def edit(self) -> None:
        """An editor saves the row, and the indexer takes the change in."""
        self.db.execute("UPDATE blogs SET title = 'Rahasia dapur kopi baru' WHERE id = %s",
                        (self.blog,))
        self.index_now()

    def vectors(self) -> list[tuple[str, str]]:
        return self.db.execute(
            f"SELECT DISTINCT tenant_id, type FROM search.{table_name_for(self.embedder.model_id)}"
            " WHERE doc_key = %s", (f"blog:{self.blog}",)).fetchall()

    def queued(self) -> int:
        row = self.db.execute("SELECT count(*) FROM search.embedding_queue").fetchone()
        return int(row[0]) if row else -1


@pytest.fixture
def race(fresh_db: str, tmp_path: Path) -> Iterator[Race]:
    settings = make_settings(fresh_db, tmp_path, embedder="use-multilingual")
    with psycopg.connect(fresh_db, autocommit=True) as db, \
            open_indexer(fresh_db, settings) as indexer:
        seed_tenants(db)
        indexer.prepare()
        row = db.execute(
            "INSERT INTO blogs (tenant_id, title, slug, content, status, published_at) "
            "VALUES (%s, 'Rahasia dapur kopi', 's', 'Resep rahasia kami.', 'published', "
            "now() - interval '1 hour') RETURNING id::text", (TENANT_A,)).fetchone()
        assert row is not None
        yield Race(db, indexer, open_embedder(settings), row[0])


@pytest.mark.parametrize("change", [
    "UPDATE blogs SET status = 'draft' WHERE id = %s",
    f"UPDATE blogs SET tenant_id = '{TENANT_B}' WHERE id = %s",
])
def test_a_change_during_embedding_is_not_undone_by_the_vectors_written_after_it(
        race: Race, change: str) -> None:
    def change_and_index() -> None:  # committed, and indexed, while the model ran
        race.db.execute(change, (race.blog,))
        race.index_now()

    race.index_now()
    worker = race.worker()
    undo = race.during_the_model_call(change_and_index)
    assert worker.run_once() == 1
    assert race.vectors() == []  # not written from the read before the change
    assert race.queued() == 1  # the change's own request stays queued
    undo()
    assert worker.run_once() == 1
    # the queue came round: embedded as the row now is
    assert race.vectors() == ([(TENANT_B, "blog")] if "tenant_id" in change else [])
    worker.close()


def test_a_failure_does_not_use_up_a_request_made_during_it(race: Race) -> None:
    # the model fails on a document that is edited meanwhile: the edit's request starts
    # afresh instead of counting as the failed one's retry (and being parked with it)
    race.index_now()
    worker = race.worker(max_attempts=1)

    def edited_then_failed(texts: list[str]) -> Any:
        race.edit()
        raise RuntimeError("model out of memory")

    race.embedder.embed_documents = edited_then_failed  # type: ignore[method-assign,assignment]
    assert worker.run_once() == 1
    assert race.queued() == 1  # the edit's request, still queued
    parked = race.db.execute("SELECT count(*) FROM search.dead_letters").fetchone()
    assert parked == (0,)
    worker.close()


def test_a_failure_recorded_after_an_edit_leaves_the_edit_queued(race: Race) -> None:
    # the same, with the edit landing after the worker's write and before it records
    # the failure (an enqueue that waited on the write's locks lands just there)
    race.index_now()
    worker = race.worker(max_attempts=1)

    def failing(texts: list[str]) -> Any:
        raise RuntimeError("model out of memory")

    record = worker._record_failure

    def edited_first(*args: Any) -> None:
        race.edit()
        record(*args)

    race.embedder.embed_documents = failing  # type: ignore[method-assign,assignment]
    worker._record_failure = edited_first  # type: ignore[method-assign,assignment]
    assert worker.run_once() == 1
    assert race.queued() == 1  # the edit's request, still queued with a fresh count
    attempts = race.db.execute("SELECT attempts FROM search.embedding_queue").fetchone()
    assert attempts == (0,)
    parked = race.db.execute("SELECT count(*) FROM search.dead_letters").fetchone()
    assert parked == (0,)
    worker.close()


def test_text_blanked_by_an_edit_undone_before_the_queue_came_round_is_written_again(
        race: Race) -> None:
    # the indexer blanks a chunk's text the row no longer holds; when the row holds it
    # again by the time the worker reads it, the hashes match and only the metadata was
    # written: the chunk kept no text, and its hits the title for a snippet, for good
    race.index_now()
    worker = race.worker()
    assert worker.run_once() == 1

    def texts() -> list[str]:
        return [r[0] for r in race.db.execute(
            f"SELECT chunk_text FROM search.{table_name_for(race.embedder.model_id)} "
            "WHERE doc_key = %s", (f"blog:{race.blog}",))]

    stored = texts()
    assert stored == ["Rahasia dapur kopi\nResep rahasia kami."]
    for content in ("Resep yang lain sama sekali.", "Resep rahasia kami."):
        race.db.execute("UPDATE blogs SET content = %s WHERE id = %s", (content, race.blog))
        race.index_now()
    assert texts() == [""]
    calls = worker.stats.model_calls
    assert worker.run_once() == 1
    assert texts() == stored and worker.stats.model_calls == calls  # the vectors kept
    worker.close()


def test_a_row_that_cannot_be_read_is_parked_once_and_not_kept_by_the_worker(
        race: Race) -> None:
    # the indexer's reader and the worker's both parked an unreadable row (two attempts
    # for one failure), and the worker's reader kept every row it parked, never taken
    from indexer.embeddings import enqueue

    race.db.execute("ALTER TABLE blogs ALTER COLUMN tags DROP DEFAULT")
    race.db.execute("ALTER TABLE blogs ALTER COLUMN tags TYPE text")
    race.db.execute("UPDATE blogs SET tags = 'a,b' WHERE id = %s", (race.blog,))
    race.index_now()  # the indexer parks it, and queues it out of semantic search
    worker = race.worker()
    assert worker.run_once() == 1
    # a row read by the worker alone (a model's build re-reads every row) is parked by it
    other = race.db.execute(
        "INSERT INTO blogs (tenant_id, title, slug, content, status, published_at, tags) "
        "VALUES (%s, 'Kopi', 's2', 'Isi.', 'published', now(), 'c,d') RETURNING id::text",
        (TENANT_A,)).fetchone()
    assert other is not None
    enqueue(race.db, [(f"blog:{other[0]}", "blogs", other[0])])
    assert worker.run_once() == 1
    parked = race.db.execute("SELECT row_id, attempts FROM search.dead_letters "
                             "ORDER BY row_id = %s DESC", (race.blog,)).fetchall()
    assert parked == [(race.blog, 1), (other[0], 1)]
    assert worker.reader.parked == set() and race.queued() == 0
    worker.close()


def test_a_row_truncated_during_embedding_keeps_no_vectors(race: Race) -> None:
    # a TRUNCATE queues no row again: the rebuild it causes must still stop the worker
    # from writing the vectors of a row it read before
    race.indexer.backfill()
    worker = race.worker()

    def truncate() -> None:
        race.db.execute("TRUNCATE blogs")
        race.indexer.backfill()  # what the indexer does with a TRUNCATE

    undo = race.during_the_model_call(truncate)
    assert worker.run_once() == 1
    assert race.vectors() == []
    undo()
    assert worker.run_once() == 1  # the row is gone: nothing to embed, nothing kept
    assert race.queued() == 0
    worker.close()


def test_the_queue_and_vector_writers_never_deadlock(race: Race) -> None:
    # The indexer queues documents (one pipeline: one transaction, many row locks) while
    # the worker locks and dequeues what it claimed, a rebuild re-stamps the whole queue
    # and a worker whose model is new queues every row: all lock queue entries in one
    # order, so none waits on another in a cycle (PostgreSQL would abort one with
    # DeadlockDetected: a batch or rebuild replayed).
    import random
    import threading
    import time

    from indexer.embeddings import enqueue, requeue_all
    from search_svc.vectors import VectorStore

    with race.db.cursor() as cur:
        cur.executemany("INSERT INTO blogs (tenant_id, title, slug, content) "
                        "VALUES (%s, %s, 's', 'x')", [(TENANT_A, f"Draf {i}") for i in range(400)])
    ids = [r[0] for r in race.db.execute("SELECT id::text FROM blogs")]
    keys = sorted((f"blog:{i}", "blogs", i) for i in ids)
    for key in reversed(keys):  # claimed (oldest first) in the reverse of key order
        enqueue(race.db, [key])
    worker = race.worker()
    dsn = race.indexer.dsn
    errors: list[BaseException] = []
    until = time.monotonic() + 4

    def indexer() -> None:
        with psycopg.connect(dsn, autocommit=True, prepare_threshold=None) as conn:
            while time.monotonic() < until:
                enqueue(conn, random.sample(keys, 50))

    def rebuild() -> None:
        with psycopg.connect(dsn, autocommit=True, prepare_threshold=None) as conn:
            store = VectorStore(conn)
            while time.monotonic() < until:
                with conn.transaction():
                    store.lock_writes()
                    requeue_all(conn)

    def new_model() -> None:  # a worker starting while its model builds queues it all
        with psycopg.connect(dsn, autocommit=True, prepare_threshold=None) as conn:
            while time.monotonic() < until:
                EmbeddingWorker.enqueue_all_sql(conn, race.indexer.mapping)
                for key, _t, _i in random.sample(keys, 20):  # room for it to insert again
                    conn.execute("DELETE FROM search.embedding_queue WHERE doc_key = %s", (key,))

    def embedding_worker() -> None:
        while time.monotonic() < until:
            claimed = worker.conn.execute(
                "SELECT doc_key, enqueued_at FROM search.embedding_queue "
                "ORDER BY enqueued_at LIMIT 64").fetchall()
            worker._write(dict(claimed), {}, [], [], [])

    def run(target: Callable[[], None]) -> Callable[[], None]:
        def guarded() -> None:
            try:
                target()
            except BaseException as exc:  # reported by the test
                errors.append(exc)
        return guarded

    threads = [threading.Thread(target=run(t))
               for t in (indexer, rebuild, new_model, embedding_worker)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    worker.close()
    assert not errors, errors[:3]


def test_a_model_switch_does_not_pull_a_table_from_under_a_writer(fresh_db: str) -> None:
    # The indexer lists the model tables, then writes each: a switch that drops the old
    # table in between made that write fail (UndefinedTable, a batch replayed). The
    # switch holds the writers' lock, so a writer lists the tables after it.
    import threading

    from search_svc.engines.base import Document
    from search_svc.vectors import VectorStore

    doc = Document(key="blog:1", id="1", tenant_id="t", type="blog", title="a")
    with psycopg.connect(fresh_db, autocommit=True) as switcher, \
            psycopg.connect(fresh_db, autocommit=True) as writer:
        store = VectorStore(switcher)
        store.model_table("test:old", 3)
        store.activate("test:old")
        store.model_table("test:new", 3)
        errors: list[BaseException] = []

        def sync() -> None:
            try:
                VectorStore(writer).sync_visibility([doc], [])
            except BaseException as exc:  # reported by the test
                errors.append(exc)

        with switcher.transaction():  # the switch, held open while the writer starts
            store.activate("test:new")
            thread = threading.Thread(target=sync)
            thread.start()
            thread.join(1.0)
            assert thread.is_alive()  # waiting for the switch, not failing
        thread.join(10)
        assert not errors, errors


@pytest.mark.parametrize("during", [False, True], ids=["after", "during"])
@pytest.mark.parametrize("there, back", [
    (f"UPDATE blogs SET tenant_id = '{TENANT_B}' WHERE id = %s",
     f"UPDATE blogs SET tenant_id = '{TENANT_A}' WHERE id = %s"),
    ("UPDATE blogs SET status = 'draft' WHERE id = %s",
     "UPDATE blogs SET status = 'published' WHERE id = %s"),
])
def test_a_state_the_worker_read_but_the_indexer_never_saw_is_not_kept(
        race: Race, there: str, back: str, during: bool) -> None:
    # The worker reads the primary, which is ahead of the indexer: a move to another
    # tenant (or an unpublish) undone before the indexer re-reads the row is all the
    # worker sees. The indexer then finds the row as it last wrote it, and skips it
    # (a view counter must not cost a write), so nothing corrected what the worker
    # wrote: the document stayed in the other tenant's semantic search, or out of its
    # own, until its next edit. The indexer reads the row undone after the worker's
    # write, or before it (then it is not read again).
    key = f"blog:{race.blog}"
    race.indexer.write_documents({"blogs": {race.blog}})
    worker = race.worker()
    assert worker.run_once() == 1 and race.vectors() == [(TENANT_A, "blog")]
    race.db.execute("UPDATE blogs SET content = 'Resep rahasia kami, diperbarui.' "
                    "WHERE id = %s", (race.blog,))
    race.indexer.write_documents({"blogs": {race.blog}})  # queued again
    race.db.execute(there, (race.blog,))  # committed; the indexer is behind

    def undo() -> None:
        race.db.execute(back, (race.blog,))
        race.indexer.write_documents({"blogs": {race.blog}})  # as it last wrote it

    read = worker.reader.documents_for
    if during:  # right after the worker's read

        def read_then_undo(keys: Any) -> Any:
            got = read(keys)
            undo()
            return got

        worker.reader.documents_for = read_then_undo  # type: ignore[method-assign]
    assert worker.run_once() == 1  # reads it moved (or unpublished)
    worker.reader.documents_for = read  # type: ignore[method-assign]
    if not during:
        undo()
    while worker.run_once():
        pass
    assert race.vectors() == [(TENANT_A, "blog")], key
    worker.close()
