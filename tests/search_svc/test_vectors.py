"""The semantic query over pgvector (``search_svc.vectors.semantic_search``) on a real
embedded PostgreSQL, with hand-made vectors (no model needed)."""

from __future__ import annotations

import asyncio

import numpy as np
import psycopg

from search_svc.chunking import MAX_CHUNKS, Chunk
from search_svc.engines.base import Document, SearchQuery
from search_svc.vectors import VectorHit, VectorStore, semantic_search


def _unit(*xs: float) -> np.ndarray:
    v = np.array(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


def _search(url: str, table: str, vector: np.ndarray, query: SearchQuery,
            candidates: int) -> list[VectorHit]:
    async def run() -> list[VectorHit]:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            return await semantic_search(conn, table, vector, query, candidates=candidates)
    return asyncio.run(run())


def test_documents_of_many_chunks_still_fill_the_candidates(fresh_db: str) -> None:
    # Every chunk of a document leads with its title and summary, so a long document's
    # chunks crowd the nearest rows together: counted as chunks, 20 candidates were a
    # couple of documents, and a semantic page came back short (and its total small)
    # while more documents matched.
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        store = VectorStore(conn)
        table = store.model_table("test:chunks", 3).table
        items = []
        for n in range(30):
            doc = Document(key=f"blog:{n}", id=str(n), tenant_id="t", type="blog",
                           title=f"judul {n}")
            chunks = [Chunk(i, f"judul {n}\nbagian {i}", f"h{n}-{i}") for i in range(MAX_CHUNKS)]
            vectors = [_unit(1.0, 0.001 * n + 0.0001 * i, 0.0) for i in range(MAX_CHUNKS)]
            items.append((doc, chunks, vectors))
        store.replace(table, items)
    hits = _search(fresh_db, table, _unit(1.0, 0.0, 0.0), SearchQuery(tenant_id="t"), 20)
    assert [h.key for h in hits] == [f"blog:{n}" for n in range(20)]


def test_the_tenants_type_scope_bounds_the_semantic_candidates(fresh_db: str) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        store = VectorStore(conn)
        table = store.model_table("test:scope", 3).table
        items = []
        for n, doc_type in enumerate(("blog", "page", "product", "page")):
            doc = Document(key=f"{doc_type}:{n}", id=str(n), tenant_id="t", type=doc_type,
                           title=f"judul {n}")
            items.append((doc, [Chunk(0, f"judul {n}", f"h{n}")], [_unit(1.0, 0.01 * n, 0.0)]))
        store.replace(table, items)

    def keys(**kw: object) -> list[str]:
        query = SearchQuery(tenant_id="t", **kw)  # type: ignore[arg-type]
        return [h.key for h in _search(fresh_db, table, _unit(1.0, 0.0, 0.0), query, 10)]

    assert keys() == ["blog:0", "page:1", "product:2", "page:3"]
    assert keys(scope_types=("blog", "product")) == ["blog:0", "product:2"]
    assert keys(scope_types=("blog", "product"), types=("page", "product")) == ["product:2"]
    assert keys(scope_types=("blog",), types=("page",)) == []
