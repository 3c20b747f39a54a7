"""The initial backfill through the real indexer, database and Tantivy index."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg

from indexer.mapping import load_mapping
from indexer.worker import Indexer
from search_svc.engines import SearchQuery, open_engine
from tests.fixtures.fix_stack import TENANT_A, TENANT_B, make_settings, seed_tenants


def test_a_backfill_in_many_chunks_goes_live_whole_as_one_segment(fresh_db: str,
                                                                   tmp_path: Path) -> None:
    settings = make_settings(fresh_db, tmp_path, backfill_chunk_rows=3)
    with psycopg.connect(fresh_db, autocommit=True) as db:
        seed_tenants(db)
        for i in range(10):
            for tenant, status in ((TENANT_A, "published"), (TENANT_A, "draft"),
                                   (TENANT_B, "published")):
                db.execute(
                    "INSERT INTO blogs (tenant_id, title, slug, content, status, published_at)"
                    " VALUES (%s, %s, %s, 'Isi tentang pemerintahan daerah', %s,"
                    " now() - interval '1 minute')",
                    (tenant, f"Berita pemerintahan {i}", f"berita-{i}-{status}", status))
    engine = open_engine(settings, writer=True)
    indexer = Indexer(settings, load_mapping(None), engine, fresh_db)
    try:
        indexer.prepare()
        assert indexer.backfill() == 20  # in chunks of 3 rows; drafts left out
        stats = engine.stats()
        assert stats.documents == 20 and stats.checkpoint is not None
        assert stats.detail["segments"] == 1  # one commit, not one per chunk
        for tenant in (TENANT_A, TENANT_B):
            result = engine.search(SearchQuery(tenant_id=tenant, text="pemerintahn", limit=100,
                                               published_before=int(time.time())))
            assert result.total == 10 and len(result.hits) == 10
    finally:
        indexer.close()
        engine.close()
