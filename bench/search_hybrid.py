"""Hybrid search latency: ``GET /v1/search?mode=hybrid`` through the API on 100k documents,
side by side with raw pgvector on the same vector table, in one run.

    python bench/search_hybrid.py [--docs 100000] [--vector-docs N] [--queries 200]
                                  [--seed 7] [--keep] [--corpus-dir D] [--write-docs]

Builds (or with ``--keep`` reuses) the keyword benchmark's corpus through its own setup
(``bench.keyword_setup``: embedded PostgreSQL, ``--docs`` rows, Tantivy filled by the
real indexer), then has the real ``EmbeddingWorker`` embed every row (or the first
``--vector-docs`` in md5(id) order) with the multilingual USE v3 model into pgvector and
makes that model live. Embedding 100k rows takes ~35 minutes on 2 cores; ``--keep``
keeps the vectors, and a kept corpus embeds only what it lacks. ``awsm serve`` runs in
its own process with the same model;
every timed query text is new to it, so each hybrid query embeds (a query-cache miss).
Prints the table and PASS/MISS, writes ``bench/results/search_hybrid.json`` and, with
``--write-docs``, its subsection of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: bench/ is on the path, the repo is not
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from psycopg import sql  # noqa: E402

from awsm.db import connect  # noqa: E402
from awsm.settings import load_settings  # noqa: E402
from bench import embed_report as report  # noqa: E402
from bench.corpus import query_set  # noqa: E402
from bench.embed import key_types  # noqa: E402
from bench.hybrid_peers import (  # noqa: E402
    API_CANDIDATES,
    LIMIT,
    ApiPeer,
    Peer,
    PgvectorApiQueryPeer,
    RawPgvectorPeer,
    plan_uses_hnsw,
)
from bench.keyword_report import percentile  # noqa: E402
from bench.keyword_setup import Corpus, api_process, open_corpus  # noqa: E402
from indexer.embeddings import EmbeddingWorker  # noqa: E402
from indexer.mapping import load_mapping  # noqa: E402
from search_svc.embedding import Embedder, open_embedder  # noqa: E402
from search_svc.query import parse_query  # noqa: E402

__all__ = ["embed_sample", "main", "measure", "pick_queries", "run"]

RESULTS = ROOT / "bench" / "results"
DOCS_FILE = ROOT / "docs" / "benchmarks.md"
HEADING = "### Hybrid latency (bench/search_hybrid.py)"
EMBEDDER = "use-multilingual"  # the fastest offline multilingual backend (bench/embed.py)
P95_TARGET_MS = 50.0
HYBRID_MISS, HYBRID_HIT = "API hybrid, cache miss", "API hybrid, cache hit"
SEMANTIC_HIT, KEYWORD = "API semantic, cache hit", "API keyword"
EMBED = "query embedding (USE, in-process)"
Progress = Callable[[str], None]


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class SemanticCorpus(Corpus):
    """The keyword corpus whose ``awsm`` children also load the embedding model."""

    def env(self, **extra: str) -> dict[str, str]:
        return super().env(AWSM_EMBEDDER=EMBEDDER, AWSM_EMBEDDING_THREADS="1", **extra)


# --- the vectors --------------------------------------------------------------------
def embed_sample(corpus: Corpus, embedder: Embedder, rows: int,
                 progress: Progress = _progress) -> dict[str, Any]:
    """Embed the first ``rows`` blog rows in md5(id) order (a fixed, evenly spread sample)
    through the real worker, then make the model live. Rows already embedded (a kept
    corpus) cost no model call."""
    mapping = load_mapping(None, demo=True)
    src = mapping.source("blogs")
    assert src is not None
    with connect(corpus.url) as conn:
        types = key_types(conn, mapping)
    worker = EmbeddingWorker(mapping, embedder, corpus.url, types)
    started = time.perf_counter()
    try:
        table = worker.prepare()  # a new model queues every document: keep only the sample
        conn = worker.conn
        conn.execute("DELETE FROM search.embedding_queue")
        # rows a kept corpus already holds are left out: re-queueing them would rewrite
        # every chunk row (update_metadata) and churn the HNSW index for nothing
        conn.execute(sql.SQL(
            "INSERT INTO search.embedding_queue (doc_key, source_table, row_id) "
            "SELECT s.k, {name}, s.id FROM (SELECT {prefix} || {id}::text AS k, {id}::text AS id "
            "FROM {table} ORDER BY md5({id}::text) LIMIT %s) s "
            "WHERE NOT EXISTS (SELECT 1 FROM {vectors} v WHERE v.doc_key = s.k)").format(
                prefix=sql.Literal(f"{src.type}:"), id=sql.Identifier(src.id),
                name=sql.Literal(src.table), table=sql.Identifier(src.table),
                vectors=sql.Identifier("search", table.table)), (rows,))
        done = 0
        while n := worker.run_once():
            done += n
            if done % 1000 < n:
                rate = worker.stats.embedded_chunks / (time.perf_counter() - started)
                progress(f"  vectors: {done:,}/{rows:,} rows, {worker.stats.embedded_chunks:,} "
                         f"chunks embedded ({rate:.0f}/s)")
        if table.state != "active":
            worker.store.activate(table.model_id)
        conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier("search", table.table)))
        counts = conn.execute(sql.SQL("SELECT count(DISTINCT doc_key), count(*) FROM {}").format(
            sql.Identifier("search", table.table))).fetchone()
        assert counts is not None
        return {"table": table.table, "model_id": table.model_id, "sample_rows": rows,
                "docs": int(counts[0]), "chunks": int(counts[1]),
                "embedded_now": worker.stats.embedded_chunks,
                "seconds": time.perf_counter() - started}
    finally:
        worker.close()


# --- the queries --------------------------------------------------------------------
def pick_queries(seed: int, n: int, *, avoid: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """``n`` visitor queries (every kind of the keyword benchmark) that are distinct after
    the API's own parsing, so none of them hits the query-embedding cache."""
    seen, out = set(avoid), []
    per_kind = n // 7 + 10
    for _kind, q in query_set(seed, per_kind=per_kind):
        parsed = parse_query(q)
        if parsed.reason is None and parsed.text and parsed.text not in seen:
            seen.add(parsed.text)
            out.append(q)
    random.Random(seed).shuffle(out)
    return out[:n]


def measure(peers: Sequence[Peer], embedder: Embedder, queries: Sequence[str],
            progress: Progress = _progress) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Each query once on every system, in turn: the in-process embedding (untimed for
    the others), hybrid (a miss: the API has never seen the text), hybrid again (a hit),
    then the rest. Milliseconds per system, and what the hybrid answers contained."""
    times: dict[str, list[float]] = {EMBED: [], **{p.name: [] for p in peers}}
    hybrid = next(p for p in peers if p.name == HYBRID_MISS)
    sides = {"keyword": 0, "semantic": 0, "both": 0}
    server_ms: list[float] = []
    for i, query in enumerate(queries, 1):
        t0 = time.perf_counter()
        vector = embedder.embed_query(parse_query(query).text)
        times[EMBED].append((time.perf_counter() - t0) * 1000)
        for peer in peers:
            t0 = time.perf_counter()
            peer.search(query, vector)
            times[peer.name].append((time.perf_counter() - t0) * 1000)
            if peer is hybrid and isinstance(peer, ApiPeer):
                server_ms.append(float(peer.last.get("took_ms", 0.0)))
                for hit in peer.last["hits"]:
                    matched = hit.get("matched", [])
                    sides["both" if len(matched) == 2 else matched[0]] += 1
        if i % 50 == 0 or i == len(queries):
            progress(f"{i}/{len(queries)} queries")
    return times, {"hybrid_hits_matched_by": sides, "hybrid_server_took_ms": server_ms}


def _stats(samples: list[float]) -> dict[str, float]:
    return {"n": len(samples), "p50": percentile(samples, 50), "p95": percentile(samples, 95),
            "p99": percentile(samples, 99), "mean": statistics.fmean(samples),
            "max": max(samples)}


# --- the run ------------------------------------------------------------------------
def run(*, docs: int, vector_docs: int, queries: int, seed: int, keep: bool,
        corpus_dir: Path | None, log_dir: Path, progress: Progress = _progress) -> dict[str, Any]:
    started = time.perf_counter()
    load = report.machine()
    if corpus_dir is not None:
        root, scratch = corpus_dir, False
    elif keep:
        root, scratch = RESULTS / f"hybrid-corpus-{docs}-{seed}", False
    else:
        RESULTS.mkdir(parents=True, exist_ok=True)
        root, scratch = Path(tempfile.mkdtemp(prefix="hybrid-corpus-", dir=RESULTS)), True
    log_dir.mkdir(parents=True, exist_ok=True)
    progress(f"corpus: {docs:,} documents, seed {seed}, in {root}")
    base = open_corpus(root, docs=docs, seed=seed, keep=keep or corpus_dir is not None,
                       progress=progress)
    corpus = SemanticCorpus(**{f.name: getattr(base, f.name) for f in fields(base)})
    try:
        embedder = open_embedder(load_settings({}, embedder=EMBEDDER, embedding_threads=1))
        progress(f"vectors: embedding a sample of {vector_docs:,} rows with {embedder.model_id}")
        vectors = embed_sample(corpus, embedder, vector_docs, progress)
        progress(f"vectors: {vectors['docs']:,} documents, {vectors['chunks']:,} chunks in "
                 f"search.{vectors['table']}")
        timed = pick_queries(seed, queries)
        warm = pick_queries(seed + 1, 20, avoid={parse_query(q).text for q in timed})
        with api_process(corpus, log_dir / "search_hybrid.api.log") as url, \
                httpx.Client(base_url=url, timeout=60) as client:
            progress(f"awsm serve (own process, {EMBEDDER}) at {url}")
            peers: list[Peer] = [
                ApiPeer(client, corpus.tenant_slug, "hybrid", HYBRID_MISS),
                ApiPeer(client, corpus.tenant_slug, "hybrid", HYBRID_HIT),
                ApiPeer(client, corpus.tenant_slug, "semantic", SEMANTIC_HIT),
                ApiPeer(client, corpus.tenant_slug, "keyword", KEYWORD),
                PgvectorApiQueryPeer(corpus.url, vectors["table"], corpus.tenant_id),
                RawPgvectorPeer(corpus.url, vectors["table"]),
            ]
            try:
                _wait_for_semantic(client, corpus.tenant_slug, warm[0])
                progress(f"warm-up: {len(warm)} other queries on every system")
                measure(peers, embedder, warm, progress=lambda _m: None)
                times, details = measure(peers, embedder, timed, progress)
                with connect(corpus.url) as conn:
                    hnsw = plan_uses_hnsw(conn, vectors["table"],
                                          embedder.embed_query(parse_query(timed[0]).text))
            finally:
                for peer in peers:
                    peer.close()
    finally:
        corpus.close()
        if scratch:
            shutil.rmtree(root, ignore_errors=True)
    stats = {name: _stats(v) for name, v in times.items()}
    server = _stats(details.pop("hybrid_server_took_ms"))
    p95 = stats[HYBRID_MISS]["p95"]
    raw = stats[RawPgvectorPeer.name]
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": load,
        "params": {"docs": docs, "vector_sample_rows": vector_docs, "queries": len(timed),
                   "seed": seed, "limit": LIMIT, "api_candidates": API_CANDIDATES,
                   "embedder": EMBEDDER},
        "build_s": {k: round(v, 1) for k, v in base.build_s.items()}, "vectors": vectors,
        "raw_plan_uses_hnsw": hnsw, "stats": stats, "hybrid_server_took_ms": server,
        **details,
        "ratios": {"hybrid_miss_p50_over_raw_pgvector_p50": stats[HYBRID_MISS]["p50"] / raw["p50"],
                   "hybrid_miss_p95_over_raw_pgvector_p95": p95 / raw["p95"]},
        "targets": [{"name": "API hybrid p95, query-cache miss", "value": p95,
                     "goal": f"< {P95_TARGET_MS:.0f} ms", "passed": p95 < P95_TARGET_MS}],
        "queries": timed, "elapsed_s": time.perf_counter() - started,
    }


def _wait_for_semantic(client: httpx.Client, tenant: str, probe: str, timeout: float = 120) -> None:
    """The API loads its model in the background and checks the live model every 5 s."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.get("/v1/search", params={"tenant": tenant, "q": probe, "mode": "hybrid"})
        if r.status_code != 200:
            raise RuntimeError(f"the API answered {r.status_code}: {r.text[:300]}")
        body = r.json()
        if body.get("mode") == "hybrid":
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the API never answered in hybrid mode: {body.get('notice')}")
        time.sleep(0.5)


# --- tables -------------------------------------------------------------------------
ORDER = (HYBRID_MISS, HYBRID_HIT, SEMANTIC_HIT, KEYWORD, PgvectorApiQueryPeer.name,
         RawPgvectorPeer.name, EMBED)


def table_rows(result: dict[str, Any]) -> list[list[str]]:
    raw_p50 = result["stats"][RawPgvectorPeer.name]["p50"]
    rows = [["system", "queries", "p50 ms", "p95 ms", "p99 ms", "max ms", "p50 × raw pgvector"]]
    for name in ORDER:
        s = result["stats"][name]
        rows.append([name, str(s["n"]), f"{s['p50']:.2f}", f"{s['p95']:.2f}", f"{s['p99']:.2f}",
                     f"{s['max']:.1f}", f"{s['p50'] / raw_p50:.1f}"])
    srv = result["hybrid_server_took_ms"]
    rows.append(["(API hybrid miss, server took_ms)", str(srv["n"]), f"{srv['p50']:.2f}",
                 f"{srv['p95']:.2f}", f"{srv['p99']:.2f}", f"{srv['max']:.1f}", ""])
    return rows


def target_line(result: dict[str, Any]) -> str:
    return "; ".join(f"{t['name']}: {t['value']:.1f} ms (goal {t['goal']}) "
                     f"{'PASS' if t['passed'] else 'MISS'}" for t in result["targets"])


_METHOD = """\
One run: {docs:,} blog rows of the keyword benchmark's corpus (`bench/corpus.py`, seed
{seed}, one tenant, ~70 % Indonesian) in an embedded PostgreSQL; every visible one in
Tantivy through the real indexer (the keyword side holds all of them). {vector_side},
embedded by the real `EmbeddingWorker` with USE v3 multilingual (`use:multilingual-v3`,
512 dims, 1 thread), = {vdocs:,} visible documents in {chunks:,} chunks (HNSW, cosine);
{docs:,} rows take ~35 minutes to embed on 2 cores (~70 chunks/s), so `--keep` keeps
them between runs. `awsm serve` in its
own process with the same model and `AWSM_EMBEDDING_THREADS=1`, one keep-alive
`httpx.Client`, `limit={limit}`. {queries} visitor queries (every kind of the keyword
benchmark: words, phrases, typos, prefixes), distinct after the API's parsing and never
sent before, so every hybrid request embeds its query (query-cache miss); the same query
is then sent again (cache hit), in semantic and keyword mode, and to pgvector directly.
20 other queries warm every system up first.

- **API hybrid**: `GET /v1/search?mode=hybrid` — query embedding, Tantivy (top 20) and
  pgvector (top {cand} chunks, tenant/visibility filters, iterative scan, `ef_search`
  100) concurrently, z-score fusion (`semantic_ratio` 0.85), snippets, JSON, HTTP.
- **pgvector, the API's query**: `search_svc.vectors.semantic_search` in this process
  (vector given, no embedding, no HTTP).
- **raw pgvector**: `SELECT doc_key FROM search.<table> ORDER BY embedding <=> %s LIMIT 10`
  on the same table, no filter, pgvector defaults (`ef_search` 40); plan uses HNSW:
  {hnsw}.
- **query embedding**: `embed_query` of the same model in the benchmark's process.

Figures are noisy: the 2-core machine is shared with other work while the benchmark runs
(1-minute load average {load} at start)."""


def docs_section(result: dict[str, Any], command: str) -> str:
    p, v, m = result["params"], result["vectors"], result["machine"]
    head = (f"`bench/search_hybrid.py`, {result['date']}, {m['cores']} cores ({m['cpu']}), "
            f"Python {m['python']}.\n\n    {command}\n\n" + _METHOD.format(
                docs=p["docs"], seed=p["seed"], vector_side=(
                    "The vector side holds every row" if p["vector_sample_rows"] >= p["docs"]
                    else f"The vector side is a sample: the first {p['vector_sample_rows']:,} "
                         "rows in md5(id) order"),
                vdocs=v["docs"], chunks=v["chunks"], limit=p["limit"], queries=p["queries"],
                cand=p["api_candidates"], hnsw="yes" if result["raw_plan_uses_hnsw"] else "NO",
                load=m["load_1min_at_start"]))
    sides = result["hybrid_hits_matched_by"]
    return (head + "\n\n" + report.markdown(table_rows(result)) + "\n\n" +
            f"Target: {target_line(result)}. Hybrid hits matched by keyword only / semantic "
            f"only / both: {sides['keyword']} / {sides['semantic']} / {sides['both']}.")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=100_000, help="keyword-side rows (100000)")
    ap.add_argument("--vector-docs", type=int, default=None,
                    help="rows embedded into pgvector, a fixed sample (default: every row)")
    ap.add_argument("--queries", type=int, default=200, help="distinct timed queries (200)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", action="store_true",
                    help="keep the corpus (and its vectors) in bench/results and reuse it")
    ap.add_argument("--corpus-dir", type=Path, help="where the corpus lives (implies reuse)")
    ap.add_argument("--json", type=Path, default=RESULTS / "search_hybrid.json")
    ap.add_argument("--write-docs", action="store_true",
                    help=f"replace '{HEADING}' in docs/benchmarks.md")
    args = ap.parse_args(argv)
    result = run(docs=args.docs, vector_docs=args.vector_docs or args.docs,
                 queries=args.queries,
                 seed=args.seed, keep=args.keep, corpus_dir=args.corpus_dir,
                 log_dir=args.json.parent)
    print(report.text_table(table_rows(result)))
    print(f"\n{target_line(result)}; total {result['elapsed_s']:.0f} s")
    report.save(result, args.json, script="bench/search_hybrid.py", argv=argv,
                docs=(DOCS_FILE, HEADING, lambda command: docs_section(result, command))
                if args.write_docs else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
