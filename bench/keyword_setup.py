"""The keyword benchmark's world: one embedded PostgreSQL, one corpus, one index, one API.

Builds (or, with ``keep``, reuses) a corpus directory holding an embedded PostgreSQL
with the AWCMS schema and ``bench.corpus`` rows, AWCMS's site-search projection (the
FTS peer's table and GIN index), and the Tantivy index filled by the real indexer's
backfill; starts ``awsm serve`` and ``awsm indexer`` as child processes. Never times.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

from awsm.db import connect
from awsm.settings import Settings, load_settings
from bench.corpus import ensure_tenants, generate_rows, load_rows
from gateway.demo import prepare_schema
from gateway.embedded_pg import EmbeddedPostgres
from search_svc.engines.generations import read_pointer
from search_svc.engines.tantivy_query import SCHEMA_VERSION

__all__ = ["TENANT_SLUG", "Corpus", "api_process", "indexer_process", "open_corpus"]

ROOT = Path(__file__).resolve().parent.parent
TENANT_SLUG = "bench-kw"  # one 100k-document site: the tenant filter narrows nothing
SLOT = "bench_keyword"
_DB = "awcms"
_MARKER = "corpus.json"
# How the kept index was built; a kept corpus built otherwise is re-indexed.
# 2: a backfill commits once, into one segment (search_svc/engines/tantivy.py)
# 3: stored documents in 4 kB blocks (DOCSTORE_BLOCKSIZE there)
INDEX_BUILD = 3
_LOAD_CHUNK = 10_000

Progress = Callable[[str], None]

# AWCMS's site-search projection (sql/064_awcms_site_search_schema.sql in ahliweb/awcms),
# cut to the columns its query reads: 'simple' config, title A / summary B / tags C /
# body D, a GIN index; no RLS or foreign keys (one role, one tenant here).
FTS_DDL = """
CREATE TABLE IF NOT EXISTS awcms_site_search_documents (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  resource_type text NOT NULL,
  resource_id text NOT NULL,
  locale text NOT NULL,
  url text NOT NULL,
  title text NOT NULL,
  summary text,
  body_text text,
  tags_text text,
  weight numeric NOT NULL DEFAULT 1.0,
  search_vector tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', coalesce(title, '')), 'A') ||
    setweight(to_tsvector('simple', coalesce(summary, '')), 'B') ||
    setweight(to_tsvector('simple', coalesce(tags_text, '')), 'C') ||
    setweight(to_tsvector('simple', coalesce(body_text, '')), 'D')
  ) STORED
)
"""
# AWCMS's extractor: published public rows only, body = left(content_text, 16000), and
# blog posts declare no tags column. Our corpus stores HTML, AWCMS's extractor reads
# the plain-text column, so tags are stripped here.
FTS_FILL = """
INSERT INTO awcms_site_search_documents
  (tenant_id, resource_type, resource_id, locale, url, title, summary, body_text, tags_text)
SELECT b.tenant_id, 'blog_post', b.id::text, coalesce(b.language, ''), '/blogs/' || b.slug,
       left(b.title, 500), left(b.excerpt, 2000),
       left(regexp_replace(coalesce(b.content, ''), '<[^>]+>', ' ', 'g'), 16000), NULL
FROM blogs b JOIN tenants t ON t.id = b.tenant_id
WHERE b.status = 'published' AND b.deleted_at IS NULL AND b.is_active AND b.is_public
  AND b.published_at <= now() AND t.status = 'active'
"""
FTS_INDEX = ("CREATE INDEX IF NOT EXISTS awcms_site_search_documents_search_vector_idx "
             "ON awcms_site_search_documents USING GIN (search_vector)")


@dataclass
class Corpus:
    root: Path
    pg: EmbeddedPostgres
    url: str
    settings: Settings
    tenant_id: str
    docs: int
    seed: int
    build_s: dict[str, float]

    @property
    def tenant_slug(self) -> str:
        return TENANT_SLUG

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of an ``awsm`` child: ours without any AWSM_* of the caller."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWSM_")}
        env.update({
            "AWSM_DATABASE_URL": self.url, "AWSM_DATA_DIR": str(self.settings.data_dir),
            "AWSM_SLOT_NAME": SLOT, "AWSM_DEMO": "true", "AWSM_LOG_LEVEL": "warning",
            "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT),
        })
        env.update(extra)
        return env

    def close(self) -> None:
        self.pg.stop()


def _settings(root: Path, url: str) -> Settings:
    return load_settings({}, data_dir=root / "awsm", database_url=url, demo=True,
                         slot_name=SLOT)


def open_corpus(root: Path, *, docs: int, seed: int, keep: bool,
                progress: Progress = print) -> Corpus:
    """The corpus under ``root``: reused when ``keep`` and it was built with these
    parameters, otherwise rebuilt from nothing."""
    marker = root / _MARKER
    saved = json.loads(marker.read_text()) if keep and marker.exists() else None
    if saved and (saved.get("docs"), saved.get("seed")) == (docs, seed):
        progress(f"reusing the corpus in {root} (built {saved['built_at']})")
        pg = EmbeddedPostgres(root / "pg")
        url = pg.url(_DB)
        settings = _settings(root, url)
        pointer = read_pointer(settings.tantivy_dir)
        schema = pointer and pointer.get("schema_version")
        if schema != SCHEMA_VERSION or saved.get("index_build") != INDEX_BUILD:
            # the index predates the engine's schema or way of building: the indexer
            # backfills a new one
            progress(f"  index: schema {schema}, build {saved.get('index_build')}; the "
                     f"engine's are {SCHEMA_VERSION} and {INDEX_BUILD}: re-indexing")
            try:
                index_corpus(settings, url, progress)
            except BaseException:
                pg.stop()
                raise
            marker.write_text(json.dumps({**saved, "index_build": INDEX_BUILD}))
        return Corpus(root, pg, url, settings, saved["tenant_id"], docs, seed,
                      saved["build_s"])
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    pg = EmbeddedPostgres(root / "pg")
    try:
        with psycopg.connect(pg.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {_DB}")
        url = pg.url(_DB)
        with connect(url) as conn:
            prepare_schema(conn)
            tenant_id = ensure_tenants(conn, [TENANT_SLUG])[0]
            timings["postgres"] = time.perf_counter() - started
            timings["load"] = _load(conn, docs, seed, tenant_id, progress)
            timings["fts_projection"] = build_fts_projection(conn, progress)
        settings = _settings(root, url)
        timings["index"] = index_corpus(settings, url, progress)
    except BaseException:
        pg.stop()
        raise
    marker.write_text(json.dumps({
        "docs": docs, "seed": seed, "tenant_id": tenant_id, "build_s": timings,
        "index_build": INDEX_BUILD, "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }))
    return Corpus(root, pg, url, settings, tenant_id, docs, seed, timings)


def _load(conn: psycopg.Connection, docs: int, seed: int, tenant_id: str,
          progress: Progress) -> float:
    started = time.perf_counter()
    rows = generate_rows(docs, seed=seed, tenants=[tenant_id])
    done = 0
    while done < docs:
        chunk = [next(rows) for _ in range(min(_LOAD_CHUNK, docs - done))]
        done += load_rows(conn, chunk)
        progress(f"  corpus: {done:,}/{docs:,} rows in blogs")
    conn.execute("VACUUM ANALYZE blogs")
    return time.perf_counter() - started


def build_fts_projection(conn: psycopg.Connection, progress: Progress = print) -> float:
    """AWCMS's ``awcms_site_search_documents`` filled from the visible blogs, GIN-indexed."""
    started = time.perf_counter()
    progress("  fts: building AWCMS's site-search projection and its GIN index")
    conn.execute(FTS_DDL)
    conn.execute("TRUNCATE awcms_site_search_documents")
    conn.execute(FTS_FILL)
    conn.execute("SET maintenance_work_mem = '256MB'")
    conn.execute(FTS_INDEX)
    conn.execute("VACUUM ANALYZE awcms_site_search_documents")
    return time.perf_counter() - started


class _BackfillProgress(logging.Filter):
    """Shows one line per 10,000 documents of the indexer's own backfill log."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress, self.shown = progress, 0

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        if str(record.msg).startswith("backfill") and len(args) == 2 \
                and isinstance(args[1], int) and args[1] // 10_000 > self.shown:
            self.shown = args[1] // 10_000
            self.progress(f"  index: {args[1]:,} documents of {args[0]}")
        return False


def index_corpus(settings: Settings, url: str, progress: Progress = print) -> float:
    """Fill the Tantivy index through the real indexer (slot, publication, backfill)."""
    from indexer.mapping import load_mapping
    from indexer.worker import Indexer
    from search_svc.engines import open_engine

    started = time.perf_counter()
    log = logging.getLogger("awsm.indexer")
    gate = _BackfillProgress(progress)
    log.addFilter(gate)
    level = log.level
    log.setLevel(logging.INFO)
    engine = open_engine(settings, writer=True)
    indexer = Indexer(settings, load_mapping(None, demo=True), engine, url)
    try:
        indexer.prepare()
        total = indexer.backfill()
    finally:
        indexer.close()
        engine.close()
        log.removeFilter(gate)
        log.setLevel(level)
    progress(f"  index: {total:,} documents in Tantivy")
    return time.perf_counter() - started


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextlib.contextmanager
def api_process(corpus: Corpus, log_path: Path) -> Iterator[str]:
    """``awsm serve`` in its own process; yields its base URL once /healthz answers."""
    port = _free_port()
    with log_path.open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve"], cwd=ROOT,
                                env=corpus.env(AWSM_PORT=str(port)), stdout=log,
                                stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"awsm serve exited with {proc.returncode}; see {log_path}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"awsm serve did not answer within 60 s; see {log_path}")
            time.sleep(0.1)
        yield base
    finally:
        _stop(proc)


@contextlib.contextmanager
def indexer_process(corpus: Corpus, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``awsm indexer`` streaming from the corpus's slot (it resumes; no backfill)."""
    with log_path.open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "indexer"], cwd=ROOT,
                                env=corpus.env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        _stop(proc)
