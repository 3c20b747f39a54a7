"""A row the model keeps failing on is parked after a few tries, never retried forever,
and the rest of the queue goes on."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import psycopg

from awsm.settings import load_settings
from indexer.embeddings import EmbeddingWorker, enqueue
from indexer.mapping import load_mapping
from search_svc.embedding import Embedder, open_embedder
from tests.fixtures.fix_stack import TENANT_A, seed_tenants

POISON = "zzpoisonzz"


class FailsOnMarker:
    """Fault injection around the real model: raises for texts holding the marker."""

    def __init__(self, real: Embedder) -> None:
        self.real = real
        self.model_id, self.dimensions, self.max_tokens = real.model_id, real.dimensions, real.max_tokens

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if any(POISON in t for t in texts):
            raise RuntimeError("model rejected the input")
        return self.real.embed_documents(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self.real.embed_query(text)

    def count_tokens(self, text: str) -> int:
        return self.real.count_tokens(text)


@contextmanager
def queue_worker(fresh_db: str, model: type[FailsOnMarker], *, max_attempts: int,
                 contents: Sequence[str]) -> Iterator[tuple[psycopg.Connection, EmbeddingWorker,
                                                            list[str]]]:
    """A connection, a worker around the real model with ``model``'s faults, and the ids
    of one published blog per content (titles a, b, ...)."""
    real = open_embedder(load_settings({}, embedder="use-multilingual"))
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        seed_tenants(conn)
        ids = [conn.execute(  # type: ignore[index]
            "INSERT INTO blogs (tenant_id, title, slug, content, status, published_at) VALUES "
            "(%s, %s, %s, %s, 'published', now()) RETURNING id::text",
            (TENANT_A, f"Kabar {n}", f"s{n}", content)).fetchone()[0]
            for n, content in enumerate(contents)]
        worker = EmbeddingWorker(load_mapping(None), model(real), fresh_db, {"blogs": "uuid"},
                                 max_attempts=max_attempts, backoff_s=0.0)  # type: ignore[arg-type]
        try:
            worker.table = worker.store.model_table(real.model_id, real.dimensions)
            yield conn, worker, ids
        finally:
            worker.close()


def _keys(ids: Sequence[str]) -> list[tuple[str, str, str]]:
    return [(f"blog:{i}", "blogs", i) for i in ids]


def test_poison_row_is_parked_and_the_rest_embedded(fresh_db: str) -> None:
    with queue_worker(fresh_db, FailsOnMarker, max_attempts=3,
                      contents=["isi biasa", f"isi {POISON}"]) as (conn, worker, ids):
        enqueue(conn, _keys(ids))
        for _ in range(10):
            worker.run_once()
        assert worker.backlog() == 0
        assert worker.stats.parked == 1
        parked = conn.execute("SELECT row_id, attempts, error FROM search.dead_letters").fetchall()
        assert parked[0][0] == ids[1] and parked[0][1] == 3 and "rejected" in parked[0][2]
        assert worker.store.count(worker.table.table) == 1  # the good row has its vector


class NanOnMarker(FailsOnMarker):
    """A model that answers with a vector it cannot be right about (fp16 overflow)."""

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.real.embed_documents(texts).copy()
        for i, text in enumerate(texts):
            if POISON in text:
                vectors[i, 0] = np.nan
        return vectors


def test_a_non_finite_vector_is_parked_not_a_stuck_queue(fresh_db: str) -> None:
    # pgvector refuses NaN: written with the batch, it failed the whole write, every
    # round, and nothing behind the document in the queue was ever embedded
    with queue_worker(fresh_db, NanOnMarker, max_attempts=2,
                      contents=["isi biasa", f"isi {POISON}"]) as (conn, worker, ids):
        enqueue(conn, _keys(ids))
        for _ in range(5):
            worker.run_once()
        assert worker.backlog() == 0
        assert worker.stats.parked == 1
        assert worker.store.count(worker.table.table) == 1


def test_a_parked_document_keeps_no_vectors_of_its_old_text(fresh_db: str) -> None:
    # the edit that the model keeps failing on may be the one that took a paragraph out:
    # the vectors (and chunk text, shown as the snippet) of the text before it must not
    # stay in semantic search for as long as the document stays parked
    with queue_worker(fresh_db, FailsOnMarker, max_attempts=2,
                      contents=["nomor telepon rahasia 0812"]) as (conn, worker, ids):
        enqueue(conn, _keys(ids))
        worker.run_once()
        assert worker.store.count(worker.table.table) == 1
        conn.execute("UPDATE blogs SET content = %s WHERE id = %s", (f"isi baru {POISON}", ids[0]))
        enqueue(conn, _keys(ids))
        for _ in range(5):
            worker.run_once()
        assert worker.stats.parked == 1 and worker.backlog() == 0
        assert worker.store.count(worker.table.table) == 0


def test_a_parked_document_embedded_after_an_edit_is_no_longer_parked(fresh_db: str) -> None:
    # /readyz counts search.dead_letters as rows skipped: one embedded since must leave it
    with queue_worker(fresh_db, FailsOnMarker, max_attempts=1,
                      contents=[f"isi {POISON}"]) as (conn, worker, ids):
        enqueue(conn, _keys(ids))
        worker.run_once()
        assert conn.execute("SELECT count(*) FROM search.dead_letters").fetchone() == (1,)
        conn.execute("UPDATE blogs SET content = 'isi baru' WHERE id = %s", (ids[0],))
        enqueue(conn, _keys(ids))
        worker.run_once()
        assert worker.store.count(worker.table.table) == 1
        assert conn.execute("SELECT count(*) FROM search.dead_letters").fetchone() == (0,)
