"""Keyword search benchmark: ILIKE, PostgreSQL FTS (AWCMS's site-search), raw Tantivy,
the engine in-process and ``GET /v1/search`` over HTTP (and its request path alone), side by
side on one corpus.

    python bench/search_keyword.py [--docs 100000] [--per-kind 20] [--seed 7] [--keep]
                                   [--rounds 5] [--commits 30] [--write-docs]

Builds a corpus (``bench.corpus``) in a fresh embedded PostgreSQL, indexes it through
the real indexer, starts ``awsm serve`` in its own process and times every query kind
on every system; then, with ``awsm indexer`` streaming, times commit → searchable.
Prints the tables, ratios and PASS/MISS per target of issue 10, writes
``bench/results/search_keyword.json`` and, with ``--write-docs``, the keyword section
of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import secrets
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: bench/ is on the path, the repo is not
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from awsm.db import connect  # noqa: E402
from bench import keyword_report as report  # noqa: E402
from bench.corpus import KINDS, query_set  # noqa: E402
from bench.keyword_peers import (  # noqa: E402
    EnginePeer,
    FtsPeer,
    HttpFloorPeer,
    HttpPeer,
    IlikePeer,
    Peer,
    RawTantivyPeer,
    TantivyEngineQueryPeer,
)
from bench.keyword_setup import Corpus, api_process, indexer_process, open_corpus  # noqa: E402

__all__ = ["commit_to_searchable", "main", "measure", "run"]

RESULTS = ROOT / "bench" / "results"
DOCS_FILE = ROOT / "docs" / "benchmarks.md"
SLOW = frozenset({report.ILIKE, report.FTS})
Progress = Callable[[str], None]


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def measure(peers: Sequence[Peer], queries: Sequence[tuple[str, str]], *, rounds: int,
            slow_rounds: int, progress: Progress = _progress) -> list[report.Sample]:
    """Warm every system up on every query, then time each query on every system in turn
    (interleaved, so background noise hits them alike); ILIKE and FTS only in the first
    ``slow_rounds`` rounds. Query order is shuffled per round, the same for every system."""
    for peer in peers:
        # the same warm-up for all: a query met first in a timed round is timed cold
        # (FTS's posting lists and TOASTed bodies for ts_headline not yet read)
        progress(f"warm-up: {peer.name} ({len(queries)} queries)")
        for _kind, query in queries:
            peer.search(query)
    samples: list[report.Sample] = []
    for n in range(rounds):
        active = [p for p in peers if p.name not in SLOW or n < slow_rounds]
        order = list(queries)
        random.Random(n).shuffle(order)
        started = time.perf_counter()
        for i, (kind, query) in enumerate(order, 1):
            for peer in active:
                t0 = time.perf_counter()
                hits = peer.search(query)
                samples.append(report.Sample(peer.name, kind, query,
                                             (time.perf_counter() - t0) * 1000, hits, n))
            if i % 20 == 0 or i == len(order):
                progress(f"round {n + 1}/{rounds}: {i}/{len(order)} queries on "
                         f"{', '.join(p.name for p in active)} "
                         f"({time.perf_counter() - started:.0f} s)")
    return samples


_INSERT = (
    "INSERT INTO blogs (tenant_id, title, slug, content, excerpt, status, published_at, "
    "is_active, is_public, workflow_state, language) VALUES (%s, %s, %s, %s, %s, "
    "'published', now() - interval '1 minute', true, true, 'published', 'id') RETURNING id")


def commit_to_searchable(corpus: Corpus, api: HttpPeer, n: int, *, log: Path,
                         progress: Progress = _progress,
                         timeout_s: float = 5.0) -> dict[str, Any]:
    """With ``awsm indexer`` streaming, insert ``n`` rows one at a time, each with a word
    of its own, and poll the API (~5 ms apart) until it finds it: milliseconds from the
    commit returning to the first answer holding the row. A row still missing after
    ``timeout_s`` counts as lost (infinitely late). The rows are removed after."""
    conn: psycopg.Connection = connect(corpus.url)
    inserted: list[Any] = []

    def publish(word: str) -> float:
        row = conn.execute(_INSERT, (corpus.tenant_id, f"Kabar kilat {word}", f"kilat-{word}",
                                     f"<p>Berita singkat tentang {word} hari ini.</p>",
                                     f"Berita singkat tentang {word}.")).fetchone()
        assert row is not None
        inserted.append(row[0])
        return time.perf_counter()

    def searchable_after(word: str, committed: float, limit_s: float) -> float:
        while not api.hits(word):
            if time.perf_counter() - committed > limit_s:
                return math.inf
            time.sleep(0.005)
        return (time.perf_counter() - committed) * 1000

    latencies: list[float] = []
    try:
        with indexer_process(corpus, log) as proc:
            progress("commit → searchable: waiting for awsm indexer to stream")
            deadline = time.monotonic() + 120
            while math.isinf(searchable_after(probe := f"siap{secrets.token_hex(4)}",
                                              publish(probe), 5.0)):  # start-up, not timed
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"awsm indexer is not streaming; see {log}")
            for i in range(n):
                word = f"kilat{secrets.token_hex(5)}"
                latencies.append(searchable_after(word, publish(word), timeout_s))
                if (i + 1) % 10 == 0 or i + 1 == n:
                    lost = sum(math.isinf(v) for v in latencies)
                    progress(f"commit → searchable: {i + 1}/{n}" + (f", {lost} lost" if lost else ""))
                time.sleep(0.05)
            conn.execute("DELETE FROM blogs WHERE id = ANY(%s)", (inserted,))
            inserted.clear()
            time.sleep(0.5)  # let the indexer take the rows out again before it stops
    finally:
        if inserted:
            conn.execute("DELETE FROM blogs WHERE id = ANY(%s)", (inserted,))
        conn.close()
    return {"n": len(latencies), "lost": sum(math.isinf(v) for v in latencies),
            "timeout_s": timeout_s, "p50": report.percentile(latencies, 50),
            "p95": report.percentile(latencies, 95), "max": max(latencies, default=math.nan),
            "p95_found": report.percentile([v for v in latencies if math.isfinite(v)], 95),
            "samples_ms": [round(v, 2) if math.isfinite(v) else None for v in latencies]}


def _machine() -> dict[str, Any]:
    return {"cores": os.cpu_count(), "cpu": report.cpu_model(), "python": platform.python_version(),
            "platform": platform.platform(), "tantivy": metadata.version("tantivy")}


def _postgres(url: str) -> dict[str, str]:
    with connect(url) as conn:
        out = {"version": str(conn.execute("SHOW server_version").fetchone()[0])}  # type: ignore[index]
        for name in ("shared_buffers", "work_mem", "jit", "max_parallel_workers_per_gather"):
            out[name] = str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
    return out


def run(*, docs: int, per_kind: int, seed: int, rounds: int, slow_rounds: int, commits: int,
        commit_timeout_s: float = 5.0, keep: bool, corpus_dir: Path | None, log_dir: Path,
        progress: Progress = _progress) -> dict[str, Any]:
    """Build (or reuse) the corpus, time every system, time commit → searchable."""
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    log_dir.mkdir(parents=True, exist_ok=True)
    if corpus_dir is not None:
        root, scratch = corpus_dir, False
    elif keep:
        root, scratch = RESULTS / f"keyword-corpus-{docs}-{seed}", False
    else:
        RESULTS.mkdir(parents=True, exist_ok=True)
        root, scratch = Path(tempfile.mkdtemp(prefix="keyword-corpus-", dir=RESULTS)), True
    progress(f"corpus: {docs:,} documents, seed {seed}, in {root}")
    corpus = open_corpus(root, docs=docs, seed=seed, keep=keep, progress=progress)
    try:
        queries = query_set(seed, per_kind=per_kind)
        tenant = corpus.tenant_id
        with api_process(corpus, log_dir / "search_keyword.api.log") as base:
            progress(f"awsm serve (own process) at {base}")
            http = HttpPeer(base, corpus.tenant_slug)
            peers: list[Peer] = [IlikePeer(corpus.url, tenant), FtsPeer(corpus.url, tenant),
                                 RawTantivyPeer(corpus.settings.tantivy_dir, tenant),
                                 TantivyEngineQueryPeer(corpus.settings.tantivy_dir, tenant),
                                 EnginePeer(corpus.settings, tenant), http,
                                 HttpFloorPeer(base, corpus.tenant_slug)]
            try:
                samples = measure(peers, queries, rounds=rounds, slow_rounds=slow_rounds,
                                  progress=progress)
                commit = (commit_to_searchable(corpus, http, commits, progress=progress,
                                               log=log_dir / "search_keyword.indexer.log",
                                               timeout_s=commit_timeout_s)
                          if commits else None)
            finally:
                for peer in peers:
                    peer.close()
        postgres = _postgres(corpus.url)
    finally:
        corpus.close()
        if scratch:
            shutil.rmtree(root, ignore_errors=True)
    table = report.summarize(samples, KINDS)
    ratios = report.ratios(samples, table)
    targets = report.targets(ratios, commit)
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "params": {"docs": docs, "per_kind": per_kind, "seed": seed, "rounds": rounds,
                   "slow_rounds": slow_rounds, "commits": commits, "queries": len(queries)},
        "machine": _machine(), "postgres": postgres,
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "build_s": {k: round(v, 1) for k, v in corpus.build_s.items()},
        "elapsed_s": round(time.perf_counter() - started, 1),
        "stats": {system: {kind: s.as_dict() for kind, s in per_kind_stats.items()}
                  for system, per_kind_stats in table.items()},
        "ratios": ratios,
        "targets": [{"name": t.name, "value": t.value, "goal": t.goal, "passed": t.passed}
                    for t in targets],
        "commit_to_searchable": commit,
        "queries": [{"kind": k, "q": q} for k, q in queries],
        "_tables": (table, ratios, targets, commit),
    }


_METHOD = """\
One run, one corpus, every system side by side: {docs:,} blog rows (mixed Indonesian and
English, Zipf-distributed words over a vocabulary of tens of thousands of forms, ~3 %
drafts and 2 % private) of one tenant in a fresh embedded PostgreSQL, and {queries} queries,
{per_kind} of each kind (one word, two words, a quoted phrase, a rare word, one typo, two
typos, a prefix of the last word). Every system is warmed up first; then each query runs
on every system in turn, in a shuffled order, {rounds} rounds for the Tantivy-based
systems and {slow_rounds} for ILIKE and FTS. All return at most 20 hits. The ratios
against ILIKE and FTS take the API's times from those {slow_rounds} rounds only.

- **ILIKE**: `blogs`, `(title ILIKE '%w%' OR content ILIKE '%w%')` per word, tenant and
  visibility filter, `LIMIT 20`, no trigram index.
- **PG FTS**: AWCMS's site-search as in `ahliweb/awcms` (`sql/064` and
  `search-service.ts`): its projection table with a `'simple'` tsvector weighted
  title A / summary B / body D (body = plain text, first 16,000 characters), a GIN index,
  `websearch_to_tsquery` + `ts_rank`, `ts_headline` snippets, `ORDER BY rank DESC`,
  `LIMIT 21`. Its locale filter is left out (the other systems search every locale).
- **raw Tantivy**: tantivy-py `parse_query` over title and body (every word required)
  on the engine's own index directory, tenant filter, `search(q, 20)`; no stored fields,
  no snippets, no typo or prefix matching: a floor, not a peer in features.
- **Tantivy, engine query**: the engine's own Tantivy query (typo automata by word
  length, prefix on the last word, field boosts, OR fallback) on a searcher, top 20, no
  stored fields or snippets: what the engine's features cost inside Tantivy.
- **engine**: `TantivyEngine.search` in-process (the above, plus stored documents and
  snippets).
- **API (HTTP)**: `GET /v1/search?mode=keyword` on `awsm serve` in its own process, one keep-alive
  HTTP/1.1 connection, the response parsed by httptools and the body read with orjson
  (the standard library's `http.client` would add ~0.2 ms of client-side header
  parsing to every request), no `If-None-Match` (the API keeps no result cache).
- **API, empty query (no search)**: the same route on the same server over its own
  keep-alive connection with `q` empty, which the API answers with a `reason` and no
  search: the request path alone (HTTP, parameters, tenant lookup, JSON, caching
  headers), the floor under every answer of the API. It is timed once per query of the
  mix, like the others, and returns no hits.

Commit → searchable: with `awsm indexer` streaming, {commits} rows inserted one at a
time, each with a word of its own; the API is polled every ~5 ms until it finds it.

Figures are noisy: the machine is shared with other work while the benchmark runs (see
the load average above). Above a load of about the core count the Python-heavy systems
(engine, API) slow down 2–3× while ILIKE and FTS, which run inside PostgreSQL, slow
less, so the ratios against the API move with the load; compare figures of one run only
and repeat a run before reading much into a difference under ~20 %."""


def docs_section(result: dict[str, Any], command: str) -> str:
    table, ratios, targets, commit = result["_tables"]
    m, p = result["machine"], result["params"]
    head = (f"## Keyword search\n\n"
            f"`bench/search_keyword.py`, {result['date']}, on the development machine: "
            f"{m['cores']} cores ({m['cpu']}), Python {m['python']}, PostgreSQL "
            f"{result['postgres']['version']}, tantivy {m['tantivy']}; 1-minute load average "
            f"{result['load_average'][0]:g} at the start, {result['load_average'][1]:g} at the "
            f"end.\n\n"
            f"    {command}\n\n" + _METHOD.format(**p) + "\n")
    body = head + "\n" + report.render_markdown(table, KINDS, ratios, targets, commit)
    if commit and commit["lost"]:
        body += (f"\n\n{int(commit['lost'])} of {int(commit['n'])} inserted rows never became "
                 f"searchable: the indexer re-read them before their transaction was visible "
                 f"to other sessions (logical decoding can deliver a commit a moment before "
                 f"that) and took them for deleted; they stay out of the index until their "
                 f"row changes again. The p95 counts them as infinitely late.")
    return body


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: a missing ratio or a lost row is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=100_000, help="corpus size (default 100000)")
    ap.add_argument("--per-kind", type=int, default=20, help="queries of each kind (20)")
    ap.add_argument("--seed", type=int, default=7, help="corpus and query seed (7)")
    ap.add_argument("--rounds", type=int, default=5,
                    help="timed rounds for Tantivy, engine and API (5)")
    ap.add_argument("--slow-rounds", type=int, default=2, help="timed rounds for ILIKE, FTS (2)")
    ap.add_argument("--commits", type=int, default=30, help="commit → searchable rows (30)")
    ap.add_argument("--commit-timeout", type=float, default=5.0,
                    help="seconds before an inserted row counts as lost (5)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the corpus in bench/results and reuse it on the next run")
    ap.add_argument("--corpus-dir", type=Path, help="where the corpus lives (implies reuse)")
    ap.add_argument("--json", type=Path, default=RESULTS / "search_keyword.json")
    ap.add_argument("--write-docs", action="store_true",
                    help="replace the keyword section of docs/benchmarks.md")
    args = ap.parse_args(argv)
    keep = args.keep or args.corpus_dir is not None
    result = run(docs=args.docs, per_kind=args.per_kind, seed=args.seed, rounds=args.rounds,
                 slow_rounds=args.slow_rounds, commits=args.commits,
                 commit_timeout_s=args.commit_timeout, keep=keep,
                 corpus_dir=args.corpus_dir, log_dir=args.json.parent)
    table, ratios, targets, commit = result.pop("_tables")
    print(report.render_text(table, KINDS, ratios, targets, commit))
    print(f"\n{len(targets) - sum(t.passed for t in targets)} of {len(targets)} targets "
          f"missed; total {result['elapsed_s']:.0f} s", flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(_finite(result), indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.json}")
    if args.write_docs:
        shown = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--keep"]
        command = shlex.join([".venv/bin/python", "bench/search_keyword.py", *shown])
        result["_tables"] = (table, ratios, targets, commit)
        DOCS_FILE.write_text(report.replace_section(DOCS_FILE.read_text(),
                                                    docs_section(result, command)))
        print(f"updated {DOCS_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
