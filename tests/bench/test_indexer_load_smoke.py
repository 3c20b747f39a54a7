"""The indexer-under-load benchmark still runs end to end on a tiny corpus (no timing
asserts): both kinds of background update, markers found, the shape of what it wrote."""

from __future__ import annotations

import json
from pathlib import Path

from bench import indexer_load


def test_benchmark_runs_on_a_tiny_corpus(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    code = indexer_load.main(["--docs", "300", "--markers", "2", "--seconds", "1",
                              "--corpus-dir", str(tmp_path / "corpus"), "--json", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert list(result["kinds"]) == ["views", "title"]
    for kind in result["kinds"].values():
        assert kind["markers"] == 2 and kind["lost"] == 0  # found: the stream went on
        assert kind["background_tps"] > 0
