"""Relevance metrics and the SMART loader of bench/relevance.py, checked by hand."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.relevance import (
    DEFAULT_COLLECTIONS,
    Collection,
    ScoredRun,
    bm25_run,
    cranfield_gain,
    dcg,
    evaluate,
    graded_gain,
    hybrid_run,
    load_collection,
    ndcg_at,
    read_smart,
    recall_at,
    update_docs,
)

GAINS = {"d1": 3.0, "d2": 0.0, "d3": 2.0, "d5": 1.0}


def test_ndcg_matches_the_hand_computed_example():
    # DCG = 3/log2(2) + 0/log2(3) + 2/log2(4) + 0/log2(5) = 3 + 0 + 1 + 0 = 4
    # ideal = 3/log2(2) + 2/log2(3) + 1/log2(4) = 3 + 1.2618595 + 0.5 = 4.7618595
    assert dcg([3, 0, 2, 0]) == pytest.approx(4.0)
    assert ndcg_at(["d1", "d2", "d3", "d4"], GAINS) == pytest.approx(4 / 4.7618595, abs=1e-6)
    assert ndcg_at(["d1", "d3", "d5"], GAINS) == pytest.approx(1.0)
    assert ndcg_at(["d2", "d4"], GAINS) == 0.0


def test_ndcg_only_counts_the_first_k():
    ranking = [f"x{i}" for i in range(10)] + ["d1", "d3", "d5"]
    assert ndcg_at(ranking, GAINS, k=10) == 0.0
    assert ndcg_at(ranking, GAINS, k=11) == pytest.approx((3 / math.log2(12)) / 4.7618595)


def test_ndcg_and_recall_are_zero_without_relevant_documents():
    assert ndcg_at(["a"], {"a": 0.0}) == 0.0
    assert recall_at(["a"], {}) == 0.0


def test_recall_counts_relevant_documents_found_in_the_first_k():
    assert recall_at(["d1", "d2", "d3", "d5"], GAINS, k=2) == pytest.approx(1 / 3)
    assert recall_at(["d1", "d2", "d3", "d5"], GAINS, k=100) == 1.0


@pytest.mark.parametrize(("grade", "gain"), [(1, 4.0), (2, 3.0), (3, 2.0), (4, 1.0), (5, 0.0), (-1, 0.0)])
def test_cranfield_grades_turn_into_gains(grade, gain):
    assert cranfield_gain(grade) == gain


def test_graded_judgements_are_their_own_gain():
    assert [graded_gain(g) for g in (0, 1, 2, 3)] == [0.0, 1.0, 2.0, 3.0]


def _write(tmp_path: Path, qrels: str) -> Path:
    (tmp_path / "x.all.3").write_text(
        ".I 1\n.T\nfirst title\n.A\nsomeone\n.W\nfirst body\nsecond line\n"
        ".I 2\n.T\nempty body\n.W\n"
        ".I 3\n.T\nthird\n.W\nthird body\n")
    (tmp_path / "x.qry").write_text(".I 001\n.W\nquery one\n.I 004\n.W\nquery\ntwo\n")
    (tmp_path / "xqrel").write_text(qrels)
    return tmp_path


def test_smart_records_keep_fields_and_join_lines(tmp_path):
    records = read_smart(_write(tmp_path, "") / "x.all.3")
    assert records[0] == ("1", {"T": "first title", "A": "someone", "W": "first body second line"})
    assert records[1] == ("2", {"T": "empty body", "W": ""})


def test_cranfield_style_queries_are_numbered_by_file_order_with_cranfield_gains(tmp_path):
    c = load_collection("c", _write(tmp_path, "1 1 1 \n1 2 5\n2 3 -1\n2 1 4\n"))
    assert c.queries == {"1": "query one", "2": "query two"}
    assert c.judgements == {"1": {"1": 4.0, "2": 0.0}, "2": {"3": 0.0, "1": 1.0}}
    assert c.doc_text("1") == "first title\nfirst body second line"


def test_graded_collection_uses_grades_and_reads_query_types(tmp_path):
    _write(tmp_path, "1 1 3\n1 3 0\n")
    (tmp_path / "x.keys").write_text("doc 1 a\nquery 1 id-kw\nquery 2 en-id\n")
    c = load_collection("g", tmp_path)
    assert c.judgements == {"1": {"1": 3.0, "3": 0.0}}
    assert c.judged_queries == ["1"]  # query 2 has no relevant document: not averaged
    scores = evaluate({"1": ["3", "1"]}, c)
    assert scores.queries == 1
    assert scores.ndcg == pytest.approx(1 / math.log2(3))
    assert scores.by_group == {"id-kw": pytest.approx(1 / math.log2(3))}


def _scored(ids: list[str], scores: list[float]) -> ScoredRun:
    run = ScoredRun({"q": ids})
    run.similarity = {"q": scores}
    return run


ONE_QUERY = Collection("one", {}, {"q": "query text"}, {})


def test_hybrid_run_fuses_each_query_as_the_api_does():
    fused = hybrid_run(_scored(["a", "b"], [9.0, 3.0]), _scored(["b", "c"], [0.9, 0.8]),
                       ONE_QUERY)
    assert fused == {"q": ["b", "a", "c"]}


def test_the_indonesian_judged_set_is_complete_and_consistent():
    c: Collection = load_collection("id_judged", DEFAULT_COLLECTIONS["id_judged"])
    assert len(c.docs) >= 300 and len(c.queries) >= 60
    assert set(c.judgements) <= set(c.queries)
    assert all(d in c.docs for j in c.judgements.values() for d in j)
    assert len(c.judged_queries) == len(c.queries)
    assert {"id-kw", "id-para", "en-id", "id-en"} <= set(c.query_groups.values())
    assert all(c.docs[d][1] for d in c.docs)


def test_semantic_ratio_weighs_the_hybrid_lists():
    keyword, semantic = _scored(["k1", "k2"], [5.0, 4.0]), _scored(["s1", "s2"], [0.9, 0.8])
    assert hybrid_run(keyword, semantic, ONE_QUERY, semantic_ratio=1.0)["q"][:2] == ["s1", "s2"]
    assert hybrid_run(keyword, semantic, ONE_QUERY, semantic_ratio=0.0)["q"][:2] == ["k1", "k2"]


def test_docs_update_replaces_only_its_own_block(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("intro\n<!-- semantic:start -->\nembed speed table\n<!-- semantic:end -->\n")
    update_docs("| first |", "python bench/relevance.py", doc)
    update_docs("| second |", "python bench/relevance.py", doc)
    text = doc.read_text()
    assert "| second |" in text and "| first |" not in text
    assert text.count("<!-- relevance:start -->") == 1
    assert "embed speed table" in text and text.startswith("intro\n<!-- semantic:start -->\n")


def test_bm25_peer_stems_indonesian_words_when_asked():
    pytest.importorskip("Stemmer")
    c = Collection("t", {"1": ("Resep", "aneka makanan rumahan"), "2": ("Jalan", "jalan raya")},
                   {"1": "makan"}, {"1": {"1": 3.0}})
    assert bm25_run(c)["1"] == []
    assert bm25_run(c, "indonesian")["1"] == ["1"]
