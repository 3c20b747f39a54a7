"""Query-time semantic search: the query embedding (cached), the live model's vectors,
and the hybrid fusion with keyword hits.

The model loads in a background thread at start (importing torch costs seconds);
until it is ready, whenever the database's live model is not the model this process
embeds with, and for ``model_check_s`` after its database did not answer (within
``QUERY_TIMEOUT_S``), semantic search reports itself unavailable (``reason``) and the API answers in keyword
mode — two models' vectors are never compared, and an unreachable database costs
visitors semantic ranking, not their answers.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import psycopg
from psycopg_pool import PoolTimeout
from starlette.concurrency import run_in_threadpool

from awsm.db import connection_within
from search_svc.chunking import chunk_window
from search_svc.embedding import Embedder
from search_svc.engines.base import Hit, SearchQuery
from search_svc.fusion import (
    CONFIDENT_SEMANTIC_RATIO,
    DEFAULT_SEMANTIC_RATIO,
    fuse_normalised,
    fuse_scores,
    ratio_weights,
)
from search_svc.query import RANKING_MAX_TERMS, normalize_text, parse_query
from search_svc.snippets import best_snippet
from search_svc.vectors import VectorHit, semantic_search, table_name_for

__all__ = ["BUSY", "CANDIDATES_PER_HIT", "CONNECTIONS_BUSY", "DATABASE_DOWN", "MAX_FUSION_WINDOW", "MAX_QUEUED",
           "MIN_FUSION_WINDOW", "NOT_LIVE", "REASON_LABELS", "SemanticSearcher",
           "SemanticUnavailable", "fuse_hybrid", "fuse_hybrid_page", "fusion_depths",
           "keyword_side", "semantic_text", "vector_hit_to_hit"]

log = logging.getLogger("awsm.semantic")

# Semantic and hybrid pages fetch as deep as the page reaches, up to this many results
MAX_FUSION_WINDOW = 200
# ... semantic candidate documents per result fetched (a document's best chunk each)
CANDIDATES_PER_HIT = 4
# Hybrid fetches at least this many keyword hits (and CANDIDATES_PER_HIT times as many
# semantic candidates), and only these first entries' scores count in the fusion: no
# page's order depends on its size or on how deep it was fetched.
MIN_FUSION_WINDOW = 20

NOT_LIVE = "no embedding model is live"
DATABASE_DOWN = "its database is not answering"
BUSY = "the embedding model is busy"
CONNECTIONS_BUSY = "its database connections are all in use"
# each reason as a metric label (awsm_search_semantic_fallbacks_total)
REASON_LABELS = {NOT_LIVE: "not_live", DATABASE_DOWN: "database", BUSY: "busy",
                 CONNECTIONS_BUSY: "busy"}
# Queries not in the vector cache wait for the model one at a time; past this many
# waiting (or embedding), a request is answered in keyword mode at once instead of
# queueing without bound: a burst of new queries costs them semantic ranking, not
# seconds of latency (about this many inferences' time at most: 2-17 ms each on one
# core for the shipped models, bench/relevance.py).
MAX_QUEUED = 8
# the most a check of the model's liveness (every model_check_s) waits for a connection
DATABASE_TIMEOUT_S = 1.0
# The most a semantic query waits for its connection and its rows (a few ms when well):
# past it the database counts as not answering. A lock on the vector table (REINDEX,
# VACUUM FULL, an ALTER) or a server that stopped answering mid-query otherwise held
# every semantic and hybrid request for as long as that lasted.
QUERY_TIMEOUT_S = 2.0
_NEVER = float("-inf")  # when the model's state has not been checked yet


class SemanticUnavailable(Exception):
    """Semantic search failed for a reason visitors may read (``str(exc)``)."""


class SemanticSearcher:
    def __init__(self, load: Callable[[], Embedder], pool: Any, *, cache_size: int = 2048,
                 model_check_s: float = 5.0, max_queued: int = MAX_QUEUED) -> None:
        self.pool, self.cache_size, self.model_check_s = pool, cache_size, model_check_s
        self.max_queued = max_queued
        self._queued = 0  # requests waiting for the model or using it
        self.embedder: Embedder | None = None
        self.error: str | None = None
        self.reason = NOT_LIVE  # why ready() is False, for the API's notice
        self._cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._model_lock = asyncio.Lock()
        self._live: tuple[float, bool] = (_NEVER, False)  # (checked at, live)
        self._checking: asyncio.Task[bool] | None = None  # the check under way
        threading.Thread(target=self._load, args=(load,), name="embedder-load", daemon=True).start()

    def _load(self, load: Callable[[], Embedder]) -> None:
        try:
            self.embedder = load()
            log.info("query embedder ready: %s", self.embedder.model_id)
        except Exception as exc:  # logged; requests fall back to keyword with a notice
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("query embedder failed to load: %s", self.error)

    async def ready(self) -> bool:
        """The model is loaded and its vector table is the live one.

        Asked of the database every ``model_check_s``, one check at a time, and only
        the first answer is waited for: later checks run beside the requests, which
        take the last answer meanwhile. A request that waited on a check waited up to
        ``DATABASE_TIMEOUT_S`` while the database was unreachable, so during an outage,
        which keyword search is meant to ride out, one request every few seconds (and
        under load every one arriving meanwhile) stalled a second."""
        if self.embedder is None:
            return False
        checked_at, live = self._live
        if time.monotonic() - checked_at < self.model_check_s:
            return live
        if self._checking is None:
            self._checking = asyncio.ensure_future(self._check())
        if checked_at == _NEVER:
            return await asyncio.shield(self._checking)
        return live

    async def _check(self) -> bool:
        assert self.embedder is not None
        now = time.monotonic()
        try:
            async with connection_within(self.pool, QUERY_TIMEOUT_S,
                                         wait_s=DATABASE_TIMEOUT_S) as conn:
                cur = await conn.execute(
                    "SELECT 1 FROM search.embedding_models WHERE model_id = %s "
                    "AND state = 'active'", (self.embedder.model_id,))
                live = await cur.fetchone() is not None
        except (psycopg.Error, TimeoutError) as exc:
            if self._pool_busy(exc):  # this check's lot: the last answer stands
                return self._live[1]
            self._database_down(exc)
            return False
        finally:
            self._checking = None
        self._live, self.reason = (now, live), NOT_LIVE
        return live

    def _database_down(self, exc: psycopg.Error | TimeoutError) -> None:
        """Off for ``model_check_s``: the next requests decide on keyword mode up front."""
        if self._live[1] or self.reason != DATABASE_DOWN:
            log.warning("semantic search is off (for %g s at a time) while its database "
                        "cannot be reached: %s", self.model_check_s,
                        str(exc) or f"no answer within {QUERY_TIMEOUT_S:g} s")
        self._live, self.reason = (time.monotonic(), False), DATABASE_DOWN

    async def query_vector(self, text: str, scope: str = "") -> np.ndarray:
        """The model's vector for ``text``, cached per ``scope`` (the tenant): a cache
        shared by all sites would tell a visitor, by its speed, whether someone searched
        a phrase on another site."""
        assert self.embedder is not None
        key = (scope, text)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        if self._queued >= self.max_queued:
            raise SemanticUnavailable(BUSY)
        self._queued += 1
        try:
            async with self._model_lock:  # one inference at a time: the model is the bottleneck
                vector = await run_in_threadpool(self.embedder.embed_query, text)
        finally:
            self._queued -= 1
        self._cache[key] = vector
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return vector

    async def search(self, query: SearchQuery, candidates: int, *,
                     scope: str) -> list[VectorHit]:
        """``scope``: the tenant key as the request gave it, never the resolved id, so an
        unknown key's first query waits for the model as a real tenant's does, rather
        than finding the vector another unknown key left (which told them apart)."""
        return (await self.search_each((query,), candidates, scope=scope))[0]

    async def search_each(self, queries: Sequence[SearchQuery], candidates: int, *,
                          scope: str) -> list[list[VectorHit]]:
        """``search`` for queries that differ in their filters only: the text of the
        first is embedded once, and each runs on one connection in turn."""
        assert self.embedder is not None
        vector = await self.query_vector(queries[0].text, scope=scope)
        table = table_name_for(self.embedder.model_id)
        try:
            async with connection_within(self.pool, QUERY_TIMEOUT_S) as conn:
                return [await semantic_search(conn, table, vector, q, candidates=candidates)
                        for q in queries]
        except (psycopg.Error, TimeoutError) as exc:
            if self._pool_busy(exc):  # load, not an outage: this request's lot alone
                raise SemanticUnavailable(CONNECTIONS_BUSY) from exc
            self._database_down(exc)
            raise SemanticUnavailable(DATABASE_DOWN) from exc

    def _pool_busy(self, exc: BaseException) -> bool:
        """No connection came in time, though the pool can connect: every one is lent
        (load). Turning semantic search off for every tenant, with "its database is not
        answering", sent most requests of a loaded replica to keyword mode."""
        return isinstance(exc, PoolTimeout) and not getattr(self.pool, "connect_failing", True)


def semantic_text(raw: str) -> str:
    """What the model embeds: the visitor's text normalised (NFKC, control characters
    out, at most 128 characters) but not folded nor cut to words: case, accents and
    words past the tenth mean something to a model."""
    return normalize_text(raw).strip(" ")


def keyword_side(query: SearchQuery, raw: str, limit: int) -> SearchQuery:
    """Hybrid's keyword query: ``match="ranking"`` (BM25 over any word, exact and
    stemmed) over up to ``RANKING_MAX_TERMS`` words, the first ``limit`` hits."""
    return replace(query, text=parse_query(raw, max_terms=RANKING_MAX_TERMS).text,
                   match="ranking", limit=limit, offset=0)


def vector_hit_to_hit(v: VectorHit, text: str) -> Hit:
    parsed = parse_query(text)
    snippet = best_snippet([chunk_window(v.chunk_text), v.title], parsed.terms,
                           prefix_last=parsed.prefix_last)
    doc_type, _, row_id = v.key.partition(":")
    return Hit(key=v.key, id=row_id, type=v.type or doc_type, title=v.title, url=v.url,
               snippet=snippet, image=v.image, published_at=v.published_at,
               score=round(1.0 - v.distance, 6), category=v.category, tags=v.tags,
               locale=v.locale)


def fusion_depths(offset: int, limit: int) -> tuple[int, int]:
    """How many keyword hits and semantic candidate documents a hybrid page fuses: as
    many as the page reaches (at most ``MAX_FUSION_WINDOW``; at least
    ``MIN_FUSION_WINDOW``), and ``CANDIDATES_PER_HIT`` times as many candidates."""
    window = max(min(offset + limit, MAX_FUSION_WINDOW), MIN_FUSION_WINDOW)
    return window, window * CANDIDATES_PER_HIT


def fuse_hybrid(keyword: list[Hit], semantic: list[VectorHit], text: str,
                semantic_ratio: float | None, *,
                confident: bool = False) -> list[tuple[Hit, list[str]]]:
    """Both lists fused, each hit saying which side(s) matched it: by ``fuse_scores``
    (z-scores of BM25 and of cosine similarity) weighted by ``semantic_ratio``; with no
    ratio given, at ``DEFAULT_SEMANTIC_RATIO``, unless the keyword side is ``confident``
    (its first hit holds every word typed: a title word, a name, a misspelling of one),
    when ``fuse_normalised`` at ``CONFIDENT_SEMANTIC_RATIO`` keeps that hit first."""
    page, _total = fuse_hybrid_page(keyword, semantic, text, semantic_ratio,
                                    offset=0, limit=None, confident=confident)
    return page


def fuse_hybrid_page(keyword: list[Hit], semantic: list[VectorHit], text: str,
                     semantic_ratio: float | None, *, offset: int, limit: int | None,
                     confident: bool = False) -> tuple[list[tuple[Hit, list[str]]], int]:
    """``fuse_hybrid`` for one page, and the length of the whole fused list: snippets
    of semantic-only hits are built for the page alone (they are the costly part).

    Scores count within the depth every page fetches (``fusion_depths(0, 1)``): past
    it, a document scores as one the list did not return, and equal scores go by the
    best rank reached in either list. So the pages of one query, each fetched only as
    deep as it reaches, neither repeat nor skip a result."""
    by_key: dict[str, Hit] = {h.key: h for h in keyword}
    vectors = {v.key: v for v in reversed(semantic)}  # the best chunk of each document
    lists = [[(h.key, h.score) for h in keyword], [(v.key, 1.0 - v.distance) for v in semantic]]
    depths = fusion_depths(0, 1)
    if semantic_ratio is None and confident:
        # BM25 of a document the keyword side did not return is 0: its floor
        fused = fuse_normalised(lists, weights=ratio_weights(CONFIDENT_SEMANTIC_RATIO),
                                floors=(0.0, None), score_depths=depths)
    else:
        ratio = DEFAULT_SEMANTIC_RATIO if semantic_ratio is None else semantic_ratio
        fused = fuse_scores(lists, weights=ratio_weights(ratio), score_depths=depths)
    window = fused[offset:] if limit is None else fused[offset:offset + limit]
    out = []
    for f in window:
        matched = [side for i, side in enumerate(("keyword", "semantic")) if f.matched(i)]
        hit = by_key.get(f.key) or vector_hit_to_hit(vectors[f.key], text)
        out.append((replace(hit, score=round(f.score, 6)), matched))
    return out, len(fused)
