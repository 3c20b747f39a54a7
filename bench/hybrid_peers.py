"""What the hybrid latency benchmark times, each one ``search(query, vector) -> hits``.

The API over HTTP (hybrid, semantic, keyword) on one keep-alive connection; pgvector the
way the API queries it (``search_svc.vectors.semantic_search``, in this process); and raw
pgvector, ``ORDER BY embedding <=> q LIMIT 10`` with no filter. The query vector is made
once per query by the caller (untimed for the pgvector peers: they show the database's
share). Never times anything itself.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

import httpx
import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql

from awsm.db import connect
from search_svc.engines.base import SearchQuery
from search_svc.semantic import fusion_depths
from search_svc.vectors import semantic_search

__all__ = ["ApiPeer", "Peer", "PgvectorApiQueryPeer", "RawPgvectorPeer", "plan_uses_hnsw"]

LIMIT = 10
# the semantic candidates the API asks pgvector for on a hybrid page of LIMIT hits
API_CANDIDATES = fusion_depths(0, LIMIT)[1]


class Peer(Protocol):
    name: str

    def search(self, query: str, vector: np.ndarray) -> int: ...

    def close(self) -> None: ...


class ApiPeer:
    """``GET /v1/search?mode=...`` on ``awsm serve``; keeps the last answer's details."""

    def __init__(self, client: httpx.Client, tenant_slug: str, mode: str, name: str) -> None:
        self.client, self.tenant_slug, self.mode, self.name = client, tenant_slug, mode, name
        self.last: dict[str, Any] = {}

    def search(self, query: str, vector: np.ndarray) -> int:
        r = self.client.get("/v1/search", params={"tenant": self.tenant_slug, "q": query,
                                                  "mode": self.mode, "limit": LIMIT})
        r.raise_for_status()
        self.last = r.json()
        if self.last.get("mode") != self.mode:
            raise RuntimeError(f"asked for mode={self.mode}, the API answered in "
                               f"{self.last.get('mode')}: {self.last.get('notice')}")
        return len(self.last["hits"])

    def close(self) -> None:
        pass


class PgvectorApiQueryPeer:
    """``semantic_search`` itself (tenant and visibility filters, iterative HNSW scan,
    ef_search 100, best chunk per document) on one async connection in this process."""

    name = "pgvector, the API's query"

    def __init__(self, url: str, table: str, tenant_id: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.conn = self.loop.run_until_complete(
            psycopg.AsyncConnection.connect(url, autocommit=True))
        self.table, self.tenant_id = table, tenant_id

    def search(self, query: str, vector: np.ndarray) -> int:
        q = SearchQuery(tenant_id=self.tenant_id, text=query, limit=LIMIT,
                        published_before=int(time.time()))
        hits = self.loop.run_until_complete(
            semantic_search(self.conn, self.table, vector, q, candidates=API_CANDIDATES))
        return min(len(hits), LIMIT)

    def close(self) -> None:
        self.loop.run_until_complete(self.conn.close())
        self.loop.close()


def raw_sql(table: str) -> sql.Composed:
    return sql.SQL("SELECT doc_key FROM {} ORDER BY embedding <=> %s LIMIT {}").format(
        sql.Identifier("search", table), sql.Literal(LIMIT))


class RawPgvectorPeer:
    """The floor: nearest chunks by cosine distance, no filter, pgvector's defaults."""

    name = "raw pgvector <=> LIMIT 10"

    def __init__(self, url: str, table: str) -> None:
        self.conn: psycopg.Connection = connect(url)
        register_vector(self.conn)
        self.stmt = raw_sql(table)

    def search(self, query: str, vector: np.ndarray) -> int:
        return len(self.conn.execute(self.stmt, (vector,)).fetchall())

    def close(self) -> None:
        self.conn.close()


def plan_uses_hnsw(conn: psycopg.Connection, table: str, vector: np.ndarray) -> bool:
    """Whether the raw query's plan walks the HNSW index (not a sequential scan + sort)."""
    register_vector(conn)
    row = conn.execute(sql.SQL("EXPLAIN (FORMAT JSON) ") + raw_sql(table), (vector,)).fetchone()
    return row is not None and "_hnsw" in str(row[0])
