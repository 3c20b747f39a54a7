"""The initial backfill through the real indexer, database and Tantivy index."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from awsm.errors import ConfigError
from indexer.mapping import DocumentSource, load_mapping
from indexer.worker import BackfillStopped, Indexer
from search_svc.engines import SearchQuery, open_engine
from search_svc.engines.base import Document
from tests.fixtures.fix_stack import (
    TENANT_A,
    TENANT_B,
    make_settings,
    seed_tenants,
    wait_for,
)


def _published_blogs(url: str, count: int) -> None:
    """The two tenants, and ``count`` published blogs of the first."""
    with psycopg.connect(url, autocommit=True) as db:
        seed_tenants(db)
        for i in range(count):
            db.execute("INSERT INTO blogs (tenant_id, title, slug, content, status, published_at)"
                       " VALUES (%s, %s, %s, 'isi', 'published', now() - interval '1 minute')",
                       (TENANT_A, f"Kabar {i}", f"kabar-{i}"))


def test_a_backfill_in_many_chunks_goes_live_whole_as_one_segment(fresh_db: str,
                                                                   tmp_path: Path) -> None:
    settings = make_settings(fresh_db, tmp_path, backfill_chunk_rows=3)
    with psycopg.connect(fresh_db, autocommit=True) as db:
        seed_tenants(db)
        for i in range(10):
            for tenant, status in ((TENANT_A, "published"), (TENANT_A, "draft"),
                                   (TENANT_B, "published")):
                db.execute(
                    "INSERT INTO blogs (tenant_id, title, slug, content, status, published_at)"
                    " VALUES (%s, %s, %s, 'Isi tentang pemerintahan daerah', %s,"
                    " now() - interval '1 minute')",
                    (tenant, f"Berita pemerintahan {i}", f"berita-{i}-{status}", status))
    engine = open_engine(settings, writer=True)
    indexer = Indexer(settings, load_mapping(None), engine, fresh_db)
    try:
        indexer.prepare()
        assert indexer.backfill() == 20  # in chunks of 3 rows; drafts left out
        stats = engine.stats()
        assert stats.documents == 20 and stats.checkpoint is not None
        assert stats.detail["segments"] == 1  # one commit, not one per chunk
        for tenant in (TENANT_A, TENANT_B):
            result = engine.search(SearchQuery(tenant_id=tenant, text="pemerintahn", limit=100,
                                               published_before=int(time.time())))
            assert result.total == 10 and len(result.hits) == 10
    finally:
        indexer.close()
        engine.close()


def test_a_stop_during_a_backfill_drops_the_rebuild_and_keeps_the_live_index(
        fresh_db: str, tmp_path: Path) -> None:
    # a signal during a long first backfill or reindex was noticed only once it had
    # read every table: `awsm up` killed the indexer after 15 s, `docker stop` after 10
    settings = make_settings(fresh_db, tmp_path, backfill_chunk_rows=2)
    _published_blogs(fresh_db, 9)
    engine = open_engine(settings, writer=True)
    indexer = Indexer(settings, load_mapping(None), engine, fresh_db)
    pages = indexer.visible_documents
    stop = threading.Event()

    def stop_after_the_first_page(src: DocumentSource) -> Iterator[list[Document]]:
        for n, docs in enumerate(pages(src)):
            yield docs
            if n == 0:
                stop.set()  # as the signal handler does

    def generations() -> list[str]:
        return sorted(p.name for p in settings.tantivy_dir.iterdir() if p.is_dir())

    try:
        indexer.visible_documents = stop_after_the_first_page  # type: ignore[method-assign]
        indexer.run(stop)  # the first backfill, stopped: run returns, nothing swapped in
        assert engine.stats().documents == 0
        live = engine.stats().detail["generation"]
        assert generations() == [live]  # the abandoned rebuild left nothing behind
        indexer.visible_documents = pages  # type: ignore[method-assign]
        assert indexer.backfill() == 9
        live = engine.stats().detail["generation"]
        stop.clear()
        indexer.visible_documents = stop_after_the_first_page  # type: ignore[method-assign]
        with pytest.raises(BackfillStopped):  # a reindex, stopped: the old index answers
            indexer.backfill(stop)
        assert engine.stats().detail["generation"] == live and engine.stats().documents == 9
        assert generations() == [live]
    finally:
        indexer.close()
        engine.close()


def test_a_reindex_stopped_part_way_is_taken_up_by_the_next_start(fresh_db: str,
                                                                 tmp_path: Path) -> None:
    # `awsm up --reindex` stopped (Ctrl-C, a crash) and then a plain `awsm up`: the rebuild
    # asked for was dropped, and the old index served on as if it had never been asked
    from gateway.indexer_main import REINDEX_PENDING, _run

    settings = make_settings(fresh_db, tmp_path, backfill_chunk_rows=1)
    _published_blogs(fresh_db, 60)
    pending = settings.data_dir / REINDEX_PENDING

    def stop_when(condition: object, stop: threading.Event) -> threading.Thread:
        def watch() -> None:
            deadline = time.monotonic() + 30
            while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
                time.sleep(0.001)
            stop.set()
        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        return thread

    from search_svc.engines.generations import read_pointer

    built = threading.Event()  # a first start builds the index
    stop_when(lambda: read_pointer(settings.tantivy_dir) is not None, built)
    assert _run(settings, built, reindex=False) == 0
    stop = threading.Event()
    stop_when(pending.exists, stop)  # at once: the rebuild's first page of 60
    assert _run(settings, stop, reindex=True) == 0
    assert pending.exists()  # stopped part-way: still asked for

    again = threading.Event()
    stop_when(lambda: not pending.exists(), again)  # once the rebuild is done
    assert _run(settings, again, reindex=False) == 0
    assert not pending.exists()
    reader = open_engine(settings, writer=False)
    try:
        assert reader.stats().documents == 60
    finally:
        reader.close()


def test_a_mapped_column_dropped_under_the_stream_is_named_not_a_traceback(
        fresh_db: str, tmp_path: Path) -> None:
    # the re-read failed with UndefinedColumn: a traceback, printed twice, and only the
    # restart after it said which column the mapping misses
    from gateway.indexer_main import _run

    settings = make_settings(fresh_db, tmp_path)
    _published_blogs(fresh_db, 1)
    outcome: list[BaseException | int] = []

    def run() -> None:
        try:
            outcome.append(_run(settings, threading.Event(), reindex=False))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    with psycopg.connect(fresh_db, autocommit=True) as db:
        wait_for(lambda: db.execute("SELECT state FROM search.indexer_status").fetchone()
                 == ("streaming",))
        db.execute("ALTER TABLE blogs DROP COLUMN excerpt")
        db.execute("UPDATE blogs SET title = 'Kabar baru'")
        thread.join(30)
        assert len(outcome) == 1 and isinstance(outcome[0], ConfigError), outcome
        assert "blogs.excerpt" in str(outcome[0])
        assert "blogs.excerpt" in db.execute(
            "SELECT last_error FROM search.indexer_status").fetchone()[0]
