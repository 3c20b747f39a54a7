"""Commit → searchable while other rows are being updated all the time.

    python bench/indexer_load.py [--seconds 20] [--markers 30] [--rate 0] [--keep]
                                 [--docs 100000] [--corpus-dir D] [--json FILE]

On the keyword benchmark's corpus (``bench/search_keyword.py``; ``--keep`` reuses
``bench/results/keyword-corpus-100000-7``), with ``awsm indexer`` streaming and ``awsm
serve`` answering, a background connection updates 2,000 published blogs the bench adds
(copies of corpus rows; removed after), one transaction at a time (``--rate`` a second, 0: as fast as it
goes), while marker rows are inserted one by one and the API is polled until each is
found. Two kinds of background update, side by side on the same corpus:

- **views**: ``views = views + 1``, a column no document holds (AWCMS's view counter): the
  indexer re-reads each row and finds its document unchanged (``indexer/written.py``);
- **title**: the title changes, so every update is a document to write.

Prints, per kind, the background transactions a second it kept up and the markers'
commit → searchable p50 / p95 / max (a marker not found within ``--timeout`` seconds
counts as lost); writes ``bench/results/indexer_load.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import secrets
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: bench/ is on the path, the repo is not
    sys.path.insert(0, str(ROOT))

from awsm.db import connect  # noqa: E402
from bench.keyword_peers import HttpPeer  # noqa: E402
from bench.keyword_report import cpu_model, percentile  # noqa: E402
from bench.keyword_setup import api_process, indexer_process, open_corpus  # noqa: E402
from bench.search_keyword import _INSERT  # noqa: E402

RESULTS = ROOT / "bench" / "results"
UPDATES = {
    "views": "UPDATE blogs SET views = views + 1 WHERE id = %s",
    "title": "UPDATE blogs SET title = split_part(title, ' #', 1) || ' #' || %s WHERE id = %s",
}
BACKGROUND_ROWS = 2000  # published blogs the bench adds for the updates, and removes
# copies of corpus rows (their text, of the size and vocabulary of the corpus's)
_ADD_ROWS = (  # (fewer on a corpus of fewer published rows)
    "INSERT INTO blogs (tenant_id, title, slug, content, excerpt, status, published_at, "
    "is_active, is_public, workflow_state, language) SELECT b.tenant_id, b.title, "
    "'latar-' || b.slug, b.content, b.excerpt, 'published', now() - interval '1 minute', "
    "true, true, 'published', b.language FROM blogs b WHERE b.tenant_id = %s "
    "AND b.status = 'published' ORDER BY b.id LIMIT %s RETURNING id")


def _background(url: str, ids: list[Any], kind: str, rate: float,
                stop: threading.Event, done: list[int]) -> None:
    with connect(url) as conn:
        i = 0
        while not stop.is_set():
            row = ids[i % len(ids)]
            conn.execute(UPDATES[kind], (i, row) if kind == "title" else (row,))
            i += 1
            done[0] = i
            if rate:
                time.sleep(1 / rate)


def run_kind(corpus: Any, api: HttpPeer, kind: str, *, seconds: float, markers: int,
             rate: float, timeout_s: float) -> dict[str, Any]:
    conn = connect(corpus.url)
    inserted = [r[0] for r in conn.execute(_ADD_ROWS, (corpus.tenant_id, BACKGROUND_ROWS))]
    background = list(inserted)
    stop, done = threading.Event(), [0]
    worker = threading.Thread(target=_background, daemon=True, args=(
        corpus.url, background, kind, rate, stop, done))
    latencies: list[float] = []
    try:
        time.sleep(5)  # the indexer takes the new rows in before the timing starts
        worker.start()
        time.sleep(2)  # the indexer under load before the first marker
        started, before = time.monotonic(), done[0]
        gap = max(0.0, seconds / markers - 0.05)
        for _ in range(markers):
            word = f"muatan{secrets.token_hex(5)}"
            row = conn.execute(_INSERT, (corpus.tenant_id, f"Kabar muatan {word}", word,
                                         f"<p>Berita {word}.</p>", f"Berita {word}.")).fetchone()
            assert row is not None
            inserted.append(row[0])
            committed = time.perf_counter()
            # timed at the first answer holding the marker, not at one more request
            while not (found := bool(api.hits(word))):
                if time.perf_counter() - committed > timeout_s:
                    break
                time.sleep(0.005)
            latencies.append((time.perf_counter() - committed) * 1000 if found else math.inf)
            time.sleep(gap)
        tps = (done[0] - before) / (time.monotonic() - started)
    finally:
        stop.set()
        worker.join()
        if inserted:
            conn.execute("DELETE FROM blogs WHERE id = ANY(%s)", (inserted,))
        conn.close()
    time.sleep(3)  # let the indexer drain before the next kind
    return {"background_tps": round(tps), "markers": len(latencies),
            "lost": sum(math.isinf(v) for v in latencies),
            "p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95),
            "max_ms": max(latencies, default=math.nan)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="markers spread over this")
    ap.add_argument("--markers", type=int, default=30)
    ap.add_argument("--rate", type=float, default=0.0,
                    help="background updates a second (0: as fast as one connection goes)")
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--docs", type=int, default=100_000, help="corpus size")
    ap.add_argument("--keep", action="store_true",
                    help="reuse the keyword benchmark's kept corpus (bench/results)")
    ap.add_argument("--corpus-dir", type=Path, help="build (or reuse) the corpus here")
    ap.add_argument("--json", type=Path, default=RESULTS / "indexer_load.json")
    args = ap.parse_args(argv)
    root = args.corpus_dir or (RESULTS / f"keyword-corpus-{args.docs}-7" if args.keep else
                               Path(tempfile.mkdtemp(prefix="awsm-indexer-load-")))
    corpus = open_corpus(root, docs=args.docs, seed=7,
                         keep=args.keep or args.corpus_dir is not None, progress=print)
    results: dict[str, Any] = {"cpu": cpu_model(), "rate": args.rate, "kinds": {}}
    logs = Path(tempfile.mkdtemp(prefix="awsm-indexer-load-logs-"))
    try:
        with api_process(corpus, logs / "api.log") as base, \
                indexer_process(corpus, logs / "indexer.log"):
            api = HttpPeer(base, corpus.tenant_slug)
            probe = f"siap{secrets.token_hex(4)}"
            with connect(corpus.url) as conn:
                conn.execute(_INSERT, (corpus.tenant_id, probe, probe, probe, probe))
            deadline = time.monotonic() + 120
            while not api.hits(probe):  # the indexer streams (a first backfill done)
                if time.monotonic() > deadline:
                    raise RuntimeError(f"awsm indexer is not streaming; see {logs}")
                time.sleep(0.2)
            for kind in UPDATES:
                r = run_kind(corpus, api, kind, seconds=args.seconds, markers=args.markers,
                             rate=args.rate, timeout_s=args.timeout)
                results["kinds"][kind] = r
                print(f"{kind:6s} background {r['background_tps']:5d} updates/s: commit → "
                      f"searchable p50 {r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms, "
                      f"max {r['max_ms']:.0f} ms, {r['lost']} of {r['markers']} lost "
                      f"(> {args.timeout:.0f} s)", flush=True)
            with connect(corpus.url) as conn:
                conn.execute("DELETE FROM blogs WHERE title LIKE 'siap%%'")
    finally:
        corpus.close()
        if not (args.keep or args.corpus_dir):  # a corpus of its own, in a temp dir
            shutil.rmtree(root, ignore_errors=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
