"""Reciprocal rank fusion: hand-computed examples, edge cases and properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from search_svc.fusion import RRF_K, fuse_ranks, ratio_weights


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
