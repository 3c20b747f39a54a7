"""Fusion for hybrid search: merge scored or ranked lists (keyword, semantic) into one.

``fuse_scores`` is what hybrid search runs by default: each list's scores (BM25, cosine) are
standardised (z-scores against the list's top ``NORM_DEPTH``), a key absent from a
list gets that list's lowest z, and the fused score is the convex combination weighted
by ``semantic_ratio`` (``DEFAULT_SEMANTIC_RATIO`` unless the request says otherwise).
Unlike ranks, z-scores keep how far a hit stands out: a keyword list of near-equal weak
matches moves little, a clear keyword winner moves a lot. ``fuse_ranks`` is reciprocal
rank fusion (Cormack, Clarke & Büttcher, 2009), kept as the rank-only peer the
benchmark compares with. ``fuse_normalised`` (scores scaled to [0, 1]) is what hybrid
runs instead when the keyword side is sure: its first hit holds every word typed.
Pure functions on plain data: no engine, no model, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["CONFIDENT_SEMANTIC_RATIO", "DEFAULT_SEMANTIC_RATIO", "NORM_DEPTH", "RRF_K", "Fused",
           "fuse_normalised", "fuse_ranks", "fuse_scores", "ratio_weights", "standardise"]

K = TypeVar("K", bound=Hashable)

RRF_K = 60  # the constant from the paper; flat enough that a single top hit cannot dominate
# The semantic list's weight when a request gives no semantic_ratio: the value at which
# hybrid's first page (nDCG@10) was at least the best single mode on both judged sets
# with the demo model (bench/relevance.py, docs/benchmarks.md).
DEFAULT_SEMANTIC_RATIO = 0.85
# ... and when the keyword side's first hit holds every word the visitor typed (as typed,
# by stem, prefix or a typo: a name, a title word, a misspelling of one), the lists are
# fused by ``fuse_normalised`` with this ratio instead: below one half, so that hit
# outranks whatever the model alone found. Measured on known-item queries derived from
# both judged sets (bench/known_items.py): nDCG@10 0.34-0.78 → 0.93-0.99 with e5, the
# topical sets unchanged (docs/embeddings.md); flat from 0.35 to 0.5.
CONFIDENT_SEMANTIC_RATIO = 0.45
# Scores are standardised against each list's top 20: the API always fetches at least
# 20 keyword hits and 80 semantic candidates, so these statistics never depend on the
# page asked for.
NORM_DEPTH = 20
_BELOW = 1e-9


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
    weights = _weights(weights, len(rankings), "ranking")
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
    return _ranked(ranks, scores, limit)


def standardise(scores: Sequence[float], top: int | None = None) -> list[float]:
    """z-scores against the mean and (population) standard deviation of the first
    ``top`` scores (all of them by default); all 0 when those do not spread."""
    ref = scores[:top] if top is not None else scores
    n = len(ref)
    if n < 2:
        return [0.0] * len(scores)
    mean = sum(ref) / n
    sd = math.sqrt(sum((s - mean) ** 2 for s in ref) / n)
    if sd <= 1e-12 * max(1.0, abs(mean)):
        return [0.0] * len(scores)
    return [(s - mean) / sd for s in scores]


def fuse_scores(lists: Sequence[Sequence[tuple[K, float]]], *,
                weights: Sequence[float] | None = None, norm_depth: int | None = NORM_DEPTH,
                score_depths: Sequence[int | None] | None = None,
                limit: int | None = None) -> list[Fused[K]]:
    """Fuse scored lists (``(key, score)``, best first), best fused score first.

    Each list's scores are standardised against its first ``norm_depth`` (so the order
    of the top does not depend on how many candidates were fetched); a key missing from
    a list counts just under that list's lowest z (it ranked below everything the list
    returned). ``score_depths`` (one per list; None: all) limits the scores that count
    to each list's first keys (a repeated key counted once): one further down counts as
    missing there, and keeps its rank (``_scored``). Paging relies on lists sorted best
    first, each key once, the same at every depth.
    Within one list a repeated key counts at its first position. Ties are broken like
    ``fuse_ranks``.
    """
    weights = _weights(weights, len(lists), "list")
    zs: list[dict[K, float]] = []
    ranks: dict[K, list[int | None]] = {}
    for source, (items, depth) in enumerate(_scored(lists, score_depths)):
        first = _first(items, source, ranks, len(lists))
        zs.append(dict(zip(list(first)[:depth], standardise(list(first.values()),
                                                            norm_depth)[:depth], strict=True)))
    # strictly below everything the list returned, so at semantic_ratio 1 a keyword-only
    # hit never ties with the last semantic candidate
    floors = [min(z.values(), default=0.0) - _BELOW for z in zs]
    scores = {key: sum(w * z.get(key, floor) for w, z, floor in zip(weights, zs, floors,
                                                                    strict=True))
              for key in ranks}
    return _ranked(ranks, scores, limit)


def fuse_normalised(lists: Sequence[Sequence[tuple[K, float]]], *,
                    weights: Sequence[float] | None = None,
                    floors: Sequence[float | None] | None = None,
                    score_depths: Sequence[int | None] | None = None,
                    limit: int | None = None) -> list[Fused[K]]:
    """Fuse scored lists by scores scaled to [0, 1]: ``(score - floor) / (top - floor)``,
    where a list's floor is the score every document it did not return has, when known
    (BM25: 0), else its lowest score; a key missing from a list counts 0 there.
    ``score_depths`` as in ``fuse_scores``.

    Unlike z-scores this keeps how good the keyword side's best hit is, not only how it
    stands out from its list: with the keyword weight above one half, the best keyword
    hit outranks every document the other list alone found (``CONFIDENT_SEMANTIC_RATIO``).
    Repeats and ties are handled like ``fuse_scores``."""
    weights = _weights(weights, len(lists), "list")
    floors = [None] * len(lists) if floors is None else floors
    if len(floors) != len(lists):
        raise ValueError("one floor per list")
    scaled: list[dict[K, float]] = []
    ranks: dict[K, list[int | None]] = {}
    for source, ((items, depth), floor) in enumerate(zip(_scored(lists, score_depths),
                                                         floors, strict=True)):
        first = dict(list(_first(items, source, ranks, len(lists)).items())[:depth])
        low = min(first.values(), default=0.0) if floor is None else floor
        span = max(first.values(), default=low) - low
        scaled.append({k: (v - low) / span if span > 0 else 1.0 for k, v in first.items()})
    scores = {key: sum(w * s.get(key, 0.0) for w, s in zip(weights, scaled, strict=True))
              for key in ranks}
    return _ranked(ranks, scores, limit)


def _scored(lists: Sequence[Sequence[tuple[K, float]]], depths: Sequence[int | None] | None
            ) -> list[tuple[Sequence[tuple[K, float]], int | None]]:
    """Each list with how many of its first (distinct) keys' scores count (None: all).

    Scores counted only within a depth every request fetches keep hybrid pages from
    overlapping: a page fetched deeper sees documents past that depth, and were their
    scores to count they could fuse above one a shallower page already showed, while a
    missing document and one past the depth count alike whatever was fetched."""
    if depths is None:
        return [(items, None) for items in lists]
    if len(depths) != len(lists):
        raise ValueError("one score depth per list")
    return list(zip(lists, depths, strict=True))


def _first(items: Sequence[tuple[K, float]], source: int, ranks: dict[K, list[int | None]],
           n: int) -> dict[K, float]:
    """``items``' scores by key at each key's first position, noting that position in
    ``ranks`` (one slot per input list)."""
    first: dict[K, float] = {}
    for position, (key, score) in enumerate(items, start=1):
        if key not in first:
            first[key] = float(score)
            ranks.setdefault(key, [None] * n)[source] = position
    return first


def _weights(weights: Sequence[float] | None, n: int, what: str) -> Sequence[float]:
    """``weights`` checked (one per input, none negative); all 1 when not given."""
    if weights is None:
        return [1.0] * n
    if len(weights) != n:
        raise ValueError(f"one weight per {what}")
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    return weights


def _ranked(ranks: dict[K, list[int | None]], scores: dict[K, float],
            limit: int | None) -> list[Fused[K]]:
    """Best score first; ties go to the best rank reached anywhere, then to first
    appearance, so both fusers are deterministic in the same way."""
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
