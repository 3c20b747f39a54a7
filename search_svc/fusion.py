"""Rank fusion for hybrid search: merge ranked lists (keyword, semantic) into one.

Reciprocal rank fusion (Cormack, Clarke & Büttcher, 2009): a document's score is the sum
over the lists that hold it of ``weight / (k + rank)``, rank counted from 1. Only ranks
are used, so BM25 scores and cosine similarities never need to share a scale. Pure
functions on plain data: no engine, no model, no I/O.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["RRF_K", "Fused", "fuse_ranks", "ratio_weights"]

K = TypeVar("K", bound=Hashable)

RRF_K = 60  # the constant from the paper; flat enough that a single top hit cannot dominate


@dataclass(frozen=True, slots=True)
class Fused(Generic[K]):
    key: K
    score: float
    ranks: tuple[int | None, ...]  # 1-based rank in each input list; None where absent

    def matched(self, source: int) -> bool:
        """Whether the ``source``-th input list held this document."""
        return self.ranks[source] is not None


def fuse_ranks(rankings: Sequence[Sequence[K]], *, k: float = RRF_K,
               weights: Sequence[float] | None = None,
               limit: int | None = None) -> list[Fused[K]]:
    """Fuse ranked lists of keys, best first.

    A key repeated within one list counts at its first (best) rank. Equal scores are
    ordered by the best rank the key reached anywhere, then by first appearance, so the
    result is deterministic. ``weights`` (one per list, ≥ 0) scale each list's
    contribution; a list with weight 0 still reports its ranks but adds nothing.
    """
    if k <= 0:
        raise ValueError("k must be positive")
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    n = len(rankings)
    scores: dict[K, float] = {}
    ranks: dict[K, list[int | None]] = {}
    for source, (ranking, weight) in enumerate(zip(rankings, weights, strict=True)):
        for position, key in enumerate(ranking, start=1):
            slots = ranks.setdefault(key, [None] * n)
            if slots[source] is not None:
                continue
            slots[source] = position
            scores[key] = scores.get(key, 0.0) + weight / (k + position)
    order = {key: i for i, key in enumerate(ranks)}

    def sort_key(key: K) -> tuple[float, int, int]:
        best = min(r for r in ranks[key] if r is not None)
        return (-scores[key], best, order[key])

    fused = [Fused(key, scores[key], tuple(ranks[key])) for key in sorted(ranks, key=sort_key)]
    return fused if limit is None else fused[:limit]


def ratio_weights(semantic_ratio: float) -> tuple[float, float]:
    """(keyword, semantic) weights for a Meilisearch-style ``semantic_ratio`` in [0, 1]."""
    if not 0.0 <= semantic_ratio <= 1.0:
        raise ValueError("semantic_ratio must be between 0 and 1")
    return 1.0 - semantic_ratio, semantic_ratio
