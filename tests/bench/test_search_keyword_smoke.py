"""The keyword benchmark still runs end to end on a tiny corpus (no timing asserts).

Builds ~300 documents in its own embedded PostgreSQL, indexes them through the real
indexer, starts ``awsm serve`` and ``awsm indexer`` as children, runs 2 queries of each
kind on every system and one commit → searchable, and checks the shape of what it wrote.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from bench import keyword_report as report
from bench import search_keyword
from bench.corpus import KINDS
from bench.keyword_peers import ilike_patterns, ilike_sql, tantivy_query_text


def test_ilike_patterns_escape_and_keep_phrases_whole() -> None:
    assert ilike_patterns("kopi 50%_a") == ["%kopi%", "%50\\%\\_a%"]
    assert ilike_patterns('"harga  yang"') == ["%harga yang%"]
    sql, params = ilike_sql("kopi susu", "t")
    assert sql.count("ILIKE") == 4 and params == ["t", "%kopi%", "%kopi%", "%susu%", "%susu%"]


def test_tantivy_query_text_folds_and_keeps_phrases_quoted() -> None:
    assert tantivy_query_text("Kafé  Susu") == "kafe susu"
    assert tantivy_query_text('"Harga Yang"') == '"harga yang"'
    assert tantivy_query_text('"') == ""


def test_report_arithmetic() -> None:
    assert report.percentile([1, 2, 3, 4], 50) == 2.5
    assert math.isnan(report.percentile([], 95))
    text = "a\n<!-- keyword:start -->\nold\n<!-- keyword:end -->\nb"
    assert report.replace_section(text, "new") == (
        "a\n<!-- keyword:start -->\nnew\n<!-- keyword:end -->\nb")


def test_benchmark_runs_on_a_tiny_corpus(tmp_path: Path) -> None:
    out = tmp_path / "kw.json"
    code = search_keyword.main([
        "--docs", "300", "--per-kind", "2", "--rounds", "1", "--commits", "2",
        "--corpus-dir", str(tmp_path / "corpus"), "--json", str(out),
    ])
    assert code == 0
    result = json.loads(out.read_text())
    systems = ["ILIKE", "PG FTS", "raw Tantivy", "Tantivy, engine query", "engine",
               "API (HTTP)", "API, empty query (no search)"]
    assert list(result["stats"]) == systems
    for system in systems:
        assert set(result["stats"][system]) == {*KINDS, "all"}
        assert result["stats"][system]["all"]["queries"] == 2 * len(KINDS)
    # the API and the engine answer the same queries the same way
    hits = {s: result["stats"][s]["all"]["hits"] for s in systems}
    assert hits["API (HTTP)"] == hits["engine"] == hits["Tantivy, engine query"]
    assert result["stats"]["API (HTTP)"]["typo1"]["answered"] == 1.0
    # the request path alone: answered (a reason, no hits) and timed like the rest
    assert result["stats"]["API, empty query (no search)"]["all"]["hits"] == 0
    assert result["ratios"]["api_floor_over_raw_p50"] > 0
    assert result["commit_to_searchable"]["n"] == 2
    assert {t["name"] for t in result["targets"]} >= {"API p50 / raw Tantivy p50"}
