"""A change that lands while the embedding worker is embedding a document: the vectors it
then writes must not bring back what the indexer just took out of search (an unpublished
row, a row moved to another tenant) until the queue comes round to the document again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from indexer.embeddings import EmbeddingWorker
from search_svc.embedding import open_embedder
from search_svc.vectors import table_name_for
from tests.fixtures.fix_stack import TENANT_A, TENANT_B, make_settings, open_indexer, seed_tenants


@pytest.mark.parametrize("change", [
    "UPDATE blogs SET status = 'draft' WHERE id = %s",
    f"UPDATE blogs SET tenant_id = '{TENANT_B}' WHERE id = %s",
])
def test_a_change_during_embedding_is_not_undone_by_the_vectors_written_after_it(
        fresh_db: str, tmp_path: Path, change: str) -> None:
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
        blog = row[0]

        def index_now() -> None:  # what the indexer does with a batch holding the row
            upserts, deletes = indexer.documents_for({"blogs": {blog}})
            indexer._queue_embeddings(upserts, deletes)

        index_now()
        embedder = open_embedder(settings)
        worker = EmbeddingWorker(indexer.mapping, embedder, fresh_db, dict(indexer._key_types))
        worker.prepare()
        real = embedder.embed_documents

        def embed_while_the_row_changes(texts: list[str]) -> Any:
            vectors = real(texts)
            db.execute(change, (blog,))  # committed, and indexed, while the model ran
            index_now()
            return vectors

        embedder.embed_documents = embed_while_the_row_changes  # type: ignore[method-assign]
        assert worker.run_once() == 1
        table = table_name_for(embedder.model_id)

        def vectors() -> list[tuple[str, str]]:
            return db.execute(f"SELECT DISTINCT tenant_id, type FROM search.{table} "
                              "WHERE doc_key = %s", (f"blog:{blog}",)).fetchall()

        assert vectors() == []  # not written from the read before the change
        queued = db.execute("SELECT count(*) FROM search.embedding_queue").fetchone()
        assert queued == (1,)  # the change's own request stays queued
        embedder.embed_documents = real  # type: ignore[method-assign]
        assert worker.run_once() == 1
        # the queue came round: embedded as the row now is
        assert vectors() == ([(TENANT_B, "blog")] if "tenant_id" in change else [])
        worker.close()


def test_a_row_truncated_during_embedding_keeps_no_vectors(fresh_db: str, tmp_path: Path) -> None:
    # a TRUNCATE queues no row again: the rebuild it causes must still stop the worker
    # from writing the vectors of a row it read before
    settings = make_settings(fresh_db, tmp_path, embedder="use-multilingual")
    with psycopg.connect(fresh_db, autocommit=True) as db, \
            open_indexer(fresh_db, settings) as indexer:
        seed_tenants(db)
        indexer.prepare()
        db.execute("INSERT INTO blogs (tenant_id, title, slug, content, status, published_at) "
                   "VALUES (%s, 'Rahasia dapur kopi', 's', 'Resep rahasia kami.', "
                   "'published', now() - interval '1 hour')", (TENANT_A,))
        indexer.backfill()
        embedder = open_embedder(settings)
        worker = EmbeddingWorker(indexer.mapping, embedder, fresh_db, dict(indexer._key_types))
        worker.prepare()
        real = embedder.embed_documents

        def embed_while_the_table_is_truncated(texts: list[str]) -> Any:
            vectors = real(texts)
            db.execute("TRUNCATE blogs")
            indexer.backfill()  # what the indexer does with a TRUNCATE
            return vectors

        embedder.embed_documents = embed_while_the_table_is_truncated  # type: ignore[method-assign]
        assert worker.run_once() == 1
        table = table_name_for(embedder.model_id)
        assert db.execute(f"SELECT count(*) FROM search.{table}").fetchone() == (0,)
        embedder.embed_documents = real  # type: ignore[method-assign]
        assert worker.run_once() == 1  # the row is gone: nothing to embed, nothing kept
        assert db.execute("SELECT count(*) FROM search.embedding_queue").fetchone() == (0,)
        worker.close()
