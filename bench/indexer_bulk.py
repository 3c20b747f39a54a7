"""A bulk transaction through the indexer: peak memory and commit → searchable.

    python bench/indexer_bulk.py [--rows 20000,40000] [--body-kb 8]

For each row count: ``awsm up --demo`` (embedded PostgreSQL, the indexer as its own
process, the API; no embedding model) in a fresh data dir, then one transaction inserts
that many published blogs with bodies of ``--body-kb`` kB, and the API is polled until
all are searchable. Prints the indexer process's peak resident memory (``VmHWM``) before
and after, and the seconds from commit to searchable. The indexer writes a transaction
in parts of bounded size (``docs/indexer.md``), so its peak should not grow with the
row count.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
TENANT = "kopi-nusantara"
WORD = "impormassal"


def _peak_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) // 1024
    return -1


def _indexer_pid() -> int:
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    pids = [int(line.split()[0]) for line in ps.splitlines() if "gateway.cli indexer" in line]
    if len(pids) != 1:
        raise SystemExit(f"expected one indexer process, found {len(pids)}")
    return pids[0]


def _total(api: str) -> int:
    url = f"{api}/v1/search?tenant={TENANT}&q={WORD}&limit=1&mode=keyword"
    with urllib.request.urlopen(url) as r:
        return int(json.load(r)["total"])


def run(rows: int, body_kb: int) -> dict[str, float]:
    data = Path(tempfile.mkdtemp(prefix="awsm-bulk-"))
    env = {**os.environ, "AWSM_EMBEDDER": "none"}
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "up", "--demo",
                             "--data-dir", str(data), "--port", "0"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        stack_file = data / "stack.json"
        deadline = time.monotonic() + 300
        while not stack_file.exists():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("awsm up did not start")
            time.sleep(0.5)
        stack = json.loads(stack_file.read_text())
        while True:  # the demo indexed: the API answers
            try:
                _total(stack["api_url"])
                break
            except OSError:
                time.sleep(0.5)
        time.sleep(3)
        pid = _indexer_pid()
        before = _peak_mb(pid)
        body = (f"{WORD.capitalize()} kopi nusantara dari petani lokal, disangrai segar "
                "setiap minggu. " * 400)[:body_kb * 1024]
        with psycopg.connect(stack["database_url"], autocommit=True) as db:
            row = db.execute("SELECT id FROM tenants WHERE slug = %s", (TENANT,)).fetchone()
            assert row is not None
            with db.transaction(), db.cursor() as cur:
                cur.executemany(
                    "INSERT INTO blogs (tenant_id, title, slug, content, status, published_at) "
                    "VALUES (%s, %s, %s, %s, 'published', now() - interval '1 minute')",
                    [(row[0], f"Impor massal nomor {i}", f"impor-{i}", f"{body} nomor{i}")
                     for i in range(rows)])
        committed = time.monotonic()
        while _total(stack["api_url"]) < rows:
            if time.monotonic() - committed > 1800:
                raise SystemExit("not searchable within 30 minutes")
            time.sleep(0.5)
        return {"rows": rows, "body_kb": body_kb, "peak_before_mb": before,
                "peak_after_mb": _peak_mb(pid),
                "searchable_s": round(time.monotonic() - committed, 1)}
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(60)
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--rows", default="20000,40000", help="row counts, comma-separated")
    ap.add_argument("--body-kb", type=int, default=8, help="body size of each row (8)")
    args = ap.parse_args()
    print("rows  body  indexer peak before  after  commit → searchable")
    for rows in (int(r) for r in args.rows.split(",")):
        r = run(rows, args.body_kb)
        print(f"{r['rows']:>6}  {r['body_kb']} kB  {r['peak_before_mb']:>6} MB  "
              f"{r['peak_after_mb']:>6} MB  {r['searchable_s']:>6} s", flush=True)


if __name__ == "__main__":
    main()
