"""The embedding and hybrid-latency benchmarks still run, on a handful of documents.

No timing asserts: each core function runs once for real (USE v3 through the real
``EmbeddingWorker`` into pgvector; the ONNX export of MiniLM when onnxruntime is
installed; ``bench/search_hybrid.py`` end to end with ``awsm serve`` in its own process).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from awsm.db import connect
from bench import embed, search_hybrid
from bench.corpus import ensure_tenants, generate_rows, load_rows
from bench.embed_report import replace_subsection
from indexer.mapping import load_mapping


def test_subsections_are_replaced_without_touching_the_others() -> None:
    text = ("# B\n<!-- semantic:start -->\n## Relevance\n\nrel table\n"
            "<!-- semantic:end -->\nafter\n")
    once = replace_subsection(text, "### Speed (x)", "v1")
    assert "rel table" in once and "### Speed (x)\n\nv1\n" in once
    twice = replace_subsection(replace_subsection(once, "### Latency (y)", "l1"),
                               "### Speed (x)", "v2")
    assert twice.count("### Speed (x)") == 1 and "v1" not in twice
    assert twice.index("rel table") < twice.index("v2") < twice.index("l1")
    assert twice.endswith("<!-- semantic:end -->\nafter\n")
    fenced = once.replace("<!-- semantic:end -->", "<!-- other:start -->\nx\n<!-- other:end -->\n"
                          "<!-- semantic:end -->")
    assert "<!-- other:start -->\nx" in replace_subsection(fenced, "### Speed (x)", "v3")


def test_raw_and_pipeline_throughput_on_a_handful_of_documents(fresh_db: str) -> None:
    with connect(fresh_db) as conn:
        tenant = ensure_tenants(conn, ["bench-smoke"])[0]
        load_rows(conn, list(generate_rows(8, seed=3, tenants=[tenant])))
    mapping = load_mapping(None)
    docs = embed.load_documents(fresh_db, mapping)
    assert docs and all(d.key.startswith("blog:") for d in docs)
    texts = embed.chunk_texts(docs, model_id="bench", max_tokens=embed.CHUNK_TOKENS)
    rows, _ = embed.raw_throughput(texts[:6], slow_texts=2, onnx=None,
                                   configs=((embed.USE, 1, False),), passes=1, progress=lambda _m: None)
    assert rows[0]["texts"] == 6 and rows[0]["texts_per_s"] > 0
    use = embed.open_backend(embed.USE, 1, None)
    out = embed.measure_pipeline(fresh_db, mapping, docs, use, embed.USE, lambda _m: None)
    assert out["docs"] == len(docs) and out["chunks"] >= len(docs)
    assert out["model_calls"] >= 1 and out["e2e_per_s"] > 0


def test_onnx_export_agrees_with_the_shipped_model(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from bench.embed_onnx import OnnxMiniLM, export_minilm

    exported = export_minilm(tmp_path)
    texts = ["Cara mempercepat situs dengan CDN", "How to cache pages at the edge", ""]
    st = embed.open_backend(embed.ST, 1, None).embed_documents(texts)
    for path, floor in ((exported.fp32, 0.999), (exported.int8, 0.95)):
        model = OnnxMiniLM(path, exported.tokenizer, model_id="test:onnx")
        vectors = model.embed_documents(texts)
        assert vectors.shape == (3, 384)
        assert np.all(np.sum(vectors[:2] * st[:2], axis=1) > floor)


def test_hybrid_latency_runs_on_a_tiny_corpus(tmp_path: Path) -> None:
    out = tmp_path / "hybrid.json"
    code = search_hybrid.main(["--docs", "200", "--vector-docs", "40", "--queries", "8",
                               "--corpus-dir", str(tmp_path / "corpus"), "--json", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert set(result["stats"]) == set(search_hybrid.ORDER)
    assert all(s["n"] == 8 for s in result["stats"].values())
    assert 0 < result["vectors"]["docs"] <= 40 and result["vectors"]["chunks"] >= result["vectors"]["docs"]
    assert sum(result["hybrid_hits_matched_by"].values()) > 0
    assert result["targets"][0]["name"].startswith("API hybrid p95")
