"""The query embedder's queue is bounded: past ``max_queued`` requests waiting for the
model, a request is told at once that semantic search is busy (the API then answers it
in keyword mode) instead of waiting behind all the others."""

from __future__ import annotations

import asyncio
import time

import pytest

from awsm.settings import load_settings
from search_svc.embedding import open_embedder
from search_svc.semantic import BUSY, SemanticSearcher, SemanticUnavailable


@pytest.fixture(scope="module")
def searcher() -> SemanticSearcher:
    s = SemanticSearcher(lambda: open_embedder(load_settings({}, embedder="use-multilingual")),
                         pool=None, max_queued=3)
    deadline = time.monotonic() + 120
    while s.embedder is None:
        assert s.error is None and time.monotonic() < deadline, s.error
        time.sleep(0.05)
    return s


def test_a_burst_past_the_queue_is_refused_at_once_and_the_rest_embedded(
        searcher: SemanticSearcher) -> None:
    dims = (searcher.embedder.dimensions,)  # type: ignore[union-attr]
    cached = asyncio.run(searcher.query_vector("kopi tubruk"))

    async def burst() -> list[object]:
        texts = [f"kopi tubruk nomor {i}" for i in range(20)] + ["kopi tubruk"]
        return await asyncio.gather(*(searcher.query_vector(t) for t in texts),
                                    return_exceptions=True)

    *new, again = asyncio.run(burst())
    refused = [r for r in new if isinstance(r, SemanticUnavailable)]
    assert len(refused) == 17 and all(str(r) == BUSY for r in refused)
    assert [r.shape for r in new if not isinstance(r, BaseException)] == [dims] * 3  # type: ignore[attr-defined]
    assert again is cached  # a cached query needs no place in the queue
    # the queue has drained: a query refused a moment ago is embedded now
    assert asyncio.run(searcher.query_vector("kopi tubruk nomor 19")).shape == dims


def test_query_vectors_are_cached_per_tenant(searcher: SemanticSearcher) -> None:
    # a cache shared by all sites would tell, by its speed, that a phrase was searched
    # on another site
    before = len(searcher._cache)
    a = asyncio.run(searcher.query_vector("rahasia situs lain", scope="tenant-a"))
    again = asyncio.run(searcher.query_vector("rahasia situs lain", scope="tenant-a"))
    b = asyncio.run(searcher.query_vector("rahasia situs lain", scope="tenant-b"))
    assert again is a and b is not a and (b == a).all()
    assert len(searcher._cache) == before + 2
