"""Reciprocal rank fusion: hand-computed examples, edge cases and properties."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search_svc.engines.base import Hit
from search_svc.fusion import (
    CONFIDENT_SEMANTIC_RATIO,
    DEFAULT_SEMANTIC_RATIO,
    RRF_K,
    fuse_normalised,
    fuse_ranks,
    fuse_scores,
    ratio_weights,
    standardise,
)
from search_svc.params import parse_search_params
from search_svc.semantic import (
    MAX_FUSION_WINDOW,
    fuse_hybrid,
    fuse_hybrid_page,
    fusion_depths,
)
from search_svc.vectors import VectorHit


def test_two_lists_fuse_to_the_hand_computed_scores_and_ranks():
    fused = fuse_ranks([["a", "b", "c"], ["c", "a", "d"]])
    assert [f.key for f in fused] == ["a", "c", "b", "d"]
    expected = {"a": 1 / 61 + 1 / 62, "c": 1 / 63 + 1 / 61, "b": 1 / 62, "d": 1 / 63}
    for f in fused:
        assert math.isclose(f.score, expected[f.key])
    assert {f.key: f.ranks for f in fused} == {
        "a": (1, 2), "c": (3, 1), "b": (2, None), "d": (None, 3)}
    assert fused[2].matched(0) and not fused[2].matched(1)


def test_a_document_in_both_lists_beats_one_ranked_first_in_only_one():
    fused = fuse_ranks([["solo", "both"], ["x", "y", "both"]])
    assert fused[0].key == "both"


def test_repeated_key_in_one_list_counts_once_at_its_best_rank():
    fused = fuse_ranks([["a", "b", "a"]])
    assert [(f.key, f.ranks) for f in fused] == [("a", (1,)), ("b", (2,))]
    assert math.isclose(fused[0].score, 1 / (RRF_K + 1))


def test_equal_scores_are_ordered_deterministically_by_first_appearance():
    assert [f.key for f in fuse_ranks([["a", "b"], ["b", "a"]])] == ["a", "b"]
    assert [f.key for f in fuse_ranks([["b", "a"], ["a", "b"]])] == ["b", "a"]


def test_zero_weight_list_reports_ranks_but_does_not_move_the_order():
    fused = fuse_ranks([["a", "b"], ["b", "c"]], weights=[1.0, 0.0])
    assert [f.key for f in fused] == ["a", "b", "c"]
    assert fused[1].ranks == (2, 1)
    assert fused[2].score == 0.0


def test_limit_cuts_after_fusing():
    assert [f.key for f in fuse_ranks([["a", "b", "c"]], limit=2)] == ["a", "b"]


def test_empty_inputs():
    assert fuse_ranks([]) == []
    assert fuse_ranks([[], []]) == []


@pytest.mark.parametrize("kwargs", [
    {"k": 0}, {"k": -1}, {"weights": [1.0]}, {"weights": [1.0, -0.5]},
])
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError):
        fuse_ranks([["a"], ["b"]], **kwargs)


def test_semantic_ratio_maps_to_keyword_and_semantic_weights():
    assert ratio_weights(0.0) == (1.0, 0.0)
    assert ratio_weights(0.25) == (0.75, 0.25)
    assert ratio_weights(1.0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        ratio_weights(1.5)


lists = st.lists(st.lists(st.integers(0, 30), max_size=20), max_size=4)


@given(lists)
def test_fused_keys_are_the_union_best_first(rankings):
    fused = fuse_ranks(rankings)
    assert sorted(f.key for f in fused) == sorted({k for r in rankings for k in r})
    scores = [f.score for f in fused]
    assert scores == sorted(scores, reverse=True)


@given(st.lists(st.integers(0, 50), unique=True, max_size=30))
def test_one_list_keeps_its_order(ranking):
    assert [f.key for f in fuse_ranks([ranking])] == ranking


# score fusion: what hybrid search runs ------------------------------------------
def test_standardise_gives_z_scores_and_zeros_when_nothing_spreads():
    assert standardise([3.0, 1.0]) == [1.0, -1.0]
    assert standardise([2.0, 2.0, 2.0]) == [0.0, 0.0, 0.0]
    assert standardise([7.0]) == [0.0] and standardise([]) == []


def test_fuse_scores_hand_computed():
    # keyword z: a=+1, b=-1; semantic z: b=+1, c=-1; absent → that list's lowest z (-1)
    fused = fuse_scores([[("a", 9.0), ("b", 1.0)], [("b", 0.9), ("c", 0.7)]],
                        weights=[0.25, 0.75])
    expected = {"b": 0.25 * -1 + 0.75 * 1, "a": 0.25 * 1 + 0.75 * -1, "c": -1.0}
    below = 1e-9  # absent: just under the list's lowest
    assert [f.key for f in fused] == ["b", "a", "c"]
    for f in fused:
        assert math.isclose(f.score, expected[f.key], abs_tol=2 * below)
    assert {f.key: f.ranks for f in fused} == {"a": (1, None), "b": (2, 1), "c": (None, 2)}


def test_fuse_scores_weights_zero_and_one_keep_one_lists_order():
    kw, sem = [("k1", 5.0), ("k2", 4.0), ("s2", 1.0)], [("s1", 0.9), ("s2", 0.8), ("k2", 0.1)]
    assert [f.key for f in fuse_scores([kw, sem], weights=ratio_weights(1.0))] \
        == ["s1", "s2", "k2", "k1"]
    assert [f.key for f in fuse_scores([kw, sem], weights=ratio_weights(0.0))] \
        == ["k1", "k2", "s2", "s1"]
    with pytest.raises(ValueError):
        fuse_scores([kw, sem], weights=[1.0])


@given(st.lists(st.tuples(st.integers(0, 40), st.floats(-1e6, 1e6)), max_size=25),
       st.lists(st.tuples(st.integers(0, 40), st.floats(-1.0, 1.0)), max_size=25),
       st.floats(0.0, 1.0))
def test_fuse_scores_returns_the_union_best_first(kw, sem, ratio):
    fused = fuse_scores([kw, sem], weights=ratio_weights(ratio))
    assert sorted(f.key for f in fused) == sorted({k for k, _ in kw} | {k for k, _ in sem})
    scores = [f.score for f in fused]
    assert all(math.isfinite(s) for s in scores)
    assert scores == sorted(scores, reverse=True)


def _hit(key: str, score: float) -> Hit:
    return Hit(key=key, id=key, type="blog", title=key, url="/" + key, snippet="", image=None,
               published_at=0, score=score)


def _vhit(key: str, cosine: float) -> VectorHit:
    return VectorHit(key=key, distance=1.0 - cosine, chunk_text=key, title=key, url="/" + key,
                     image=None, published_at=0, type="blog", category=None, tags=(), locale="id")


def test_default_hybrid_keeps_the_semantic_answer_over_keyword_noise():
    # "situs web lambat": the keyword side ranks word-sharing decoys (an archaeological
    # "situs", a slow passport office) above the CDN article by a hair; the model is
    # sure. Judged: cdn 3, cache 2, decoys 0. The default fusion keeps cdn first.
    keyword = [_hit("situs-purbakala", 5.2), _hit("paspor-lambat", 5.1), _hit("cdn", 5.0),
               _hit("internet-rumah", 3.0)]
    semantic = [_vhit("cdn", 0.91), _vhit("cache", 0.86), _vhit("internet-rumah", 0.80),
                _vhit("situs-purbakala", 0.78), _vhit("paspor-lambat", 0.77)]
    fused = fuse_hybrid(keyword, semantic, "situs web lambat", DEFAULT_SEMANTIC_RATIO)
    assert [h.key for h, _ in fused][:2] == ["cdn", "cache"]
    assert fused[0][1] == ["keyword", "semantic"] and fused[1][1] == ["semantic"]


def test_the_default_ratio_lives_in_one_place():
    # the request leaves it to the fusion, which adapts it to the keyword side
    assert parse_search_params({"tenant": ["t"], "q": ["x"]}).semantic_ratio is None
    assert parse_search_params({"tenant": ["t"], "semantic_ratio": ["0.3"]}).semantic_ratio == 0.3
    assert 0.0 <= CONFIDENT_SEMANTIC_RATIO < 0.5 < DEFAULT_SEMANTIC_RATIO <= 1.0


def test_a_keyword_hit_holding_every_word_comes_first_by_default():
    # a misspelled title word: the keyword side found its document by typo, alone; the
    # model, embedding a word that does not exist, ranks other documents above it
    keyword = [_hit("reformasi-pemerintahan", 1.0)]
    semantic = [_vhit("sepak-bola", 0.84), _vhit("balap-sepeda", 0.83), _vhit("resep", 0.80),
                _vhit("reformasi-pemerintahan", 0.79)]
    plain = fuse_hybrid(keyword, semantic, "femerintahan", None)
    assert plain[0][0].key == "sepak-bola"  # z-scores: a one-hit list says nothing
    sure = fuse_hybrid(keyword, semantic, "femerintahan", None, confident=True)
    assert [h.key for h, _ in sure] == ["reformasi-pemerintahan", "sepak-bola",
                                        "balap-sepeda", "resep"]
    assert sure[0][1] == ["keyword", "semantic"]
    # a ratio the request gives is used as given, sure or not
    assert fuse_hybrid(keyword, semantic, "femerintahan", 1.0, confident=True)[0][0].key \
        == "sepak-bola"


@given(st.lists(st.tuples(st.sampled_from("abcdefgh"), st.floats(0, 30)), max_size=8),
       st.lists(st.tuples(st.sampled_from("defghijk"), st.floats(-1, 1)), max_size=8))
def test_normalised_fusion_puts_the_best_keyword_hit_above_every_semantic_only_one(
        keyword: list[tuple[str, float]], semantic: list[tuple[str, float]]) -> None:
    keyword = sorted(dict(keyword).items(), key=lambda kv: -kv[1])
    semantic = sorted(dict(semantic).items(), key=lambda kv: -kv[1])
    fused = fuse_normalised([keyword, semantic], floors=(0.0, None),
                            weights=ratio_weights(CONFIDENT_SEMANTIC_RATIO))
    assert {f.key for f in fused} == {k for k, _ in keyword} | {k for k, _ in semantic}
    assert all(0.0 <= f.score <= 1.0 + 1e-9 for f in fused)
    if keyword and keyword[0][1] > 0:
        only_semantic = {k for k, _ in semantic} - {k for k, _ in keyword}
        top = next(f for f in fused if f.key == keyword[0][0])
        assert all(top.score > f.score for f in fused if f.key in only_semantic)


def _ranked_lists(seed: int) -> tuple[list[Hit], list[VectorHit]]:
    """A keyword list (BM25, best first) and a semantic one (cosine, best first) over
    one pool of documents, of any length up to past what a page fetches, with ties."""
    rng = random.Random(seed)
    pool = [f"d{i}" for i in range(rng.randint(5, 1200))]
    digits = rng.choice([0, 1, 6])  # 0 and 1: many equal scores
    keyword = sorted((round(rng.uniform(0, 20), digits) for _ in range(rng.randint(0, 260))),
                     reverse=True)
    cosines = sorted((round(rng.uniform(-0.2, 0.95), digits + 1)
                      for _ in range(rng.randint(0, 900))), reverse=True)
    # (a list longer than the pool stops at the pool's end)
    return ([_hit(key, score) for key, score in zip(rng.sample(pool, len(pool)), keyword,
                                                    strict=False)],
            [_vhit(key, cos) for key, cos in zip(rng.sample(pool, len(pool)), cosines,
                                                 strict=False)])


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32), st.sampled_from([None, 0.0, 0.3, DEFAULT_SEMANTIC_RATIO, 1.0]),
       st.booleans(), st.sampled_from([1, 7, 10, 20, 33, 100]))
def test_hybrid_pages_neither_repeat_nor_skip_a_result(seed: int, ratio: float | None,
                                                       confident: bool, limit: int) -> None:
    # Each page fetches only as deep as it reaches (fusion_depths), as the API does; the
    # pages of one query, read one after the other, must be the deepest fusion's list.
    keyword, semantic = _ranked_lists(seed)
    pages: list[str] = []
    for offset in range(0, MAX_FUSION_WINDOW, limit):
        hits, candidates = fusion_depths(offset, limit)
        page, _ = fuse_hybrid_page(keyword[:hits], semantic[:candidates], "q", ratio,
                                   offset=offset, limit=limit, confident=confident)
        pages += [hit.key for hit, _ in page]
    hits, candidates = fusion_depths(0, MAX_FUSION_WINDOW)
    deepest, _ = fuse_hybrid_page(keyword[:hits], semantic[:candidates], "q", ratio,
                                  offset=0, limit=len(pages), confident=confident)
    assert pages == [hit.key for hit, _ in deepest]


def test_a_first_page_fuses_as_before_scores_stopped_counting_past_its_depth() -> None:
    # the first page fetches exactly the depth whose scores count: its order is what
    # fusing every score gives (the relevance figures of docs/benchmarks.md stand)
    for seed in range(40):
        keyword, semantic = _ranked_lists(seed)
        hits, candidates = fusion_depths(0, 20)
        lists = [[(h.key, h.score) for h in keyword[:hits]],
                 [(v.key, 1.0 - v.distance) for v in semantic[:candidates]]]
        page, _ = fuse_hybrid_page(keyword[:hits], semantic[:candidates], "q", None,
                                   offset=0, limit=None)
        every = fuse_scores(lists, weights=ratio_weights(DEFAULT_SEMANTIC_RATIO))
        assert [hit.key for hit, _ in page] == [f.key for f in every]
        sure, _ = fuse_hybrid_page(keyword[:hits], semantic[:candidates], "q", None,
                                   offset=0, limit=None, confident=True)
        every = fuse_normalised(lists, weights=ratio_weights(CONFIDENT_SEMANTIC_RATIO),
                                floors=(0.0, None))
        assert [hit.key for hit, _ in sure] == [f.key for f in every]


def test_past_its_score_depth_a_list_entry_counts_as_missing_but_keeps_its_rank() -> None:
    lists = [[("a", 9.0), ("b", 5.0), ("c", 4.0)], [("c", 0.9), ("d", 0.5), ("b", 0.1)]]
    fused = {f.key: f for f in fuse_scores(lists, norm_depth=2, score_depths=(2, 2))}
    # "c" past the keyword list's depth and "b" past the semantic one's: each scores
    # there as a document the list did not return
    assert fused["c"].ranks == (3, 1) and fused["b"].ranks == (2, 3)
    alone = {f.key: f for f in fuse_scores([lists[0][:2], lists[1][:2]], norm_depth=2)}
    assert math.isclose(fused["c"].score, alone["c"].score)
    assert math.isclose(fused["b"].score, alone["b"].score)
    with pytest.raises(ValueError, match="one score depth per list"):
        fuse_scores(lists, score_depths=(2,))
