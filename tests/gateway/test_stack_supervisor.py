"""``awsm up``: the indexer children are asked to rebuild until one has (``--reindex``),
when to wait for the first index, and the demo's secrets."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import psycopg

from awsm.settings import load_settings
from gateway.demo_secrets import demo_secrets as _demo_secrets
from gateway.stack import _index_exists, _IndexerSupervisor, backfilled_since
from search_svc.engines.base import Document
from search_svc.engines.tantivy import TantivyEngine


def test_reindex_is_asked_of_every_child_until_one_has_rebuilt(fresh_db: str) -> None:
    slot, asked_at = "s_supervised", time.time()
    supervisor = _IndexerSupervisor({}, reindex=True,
                                    reindex_done=lambda: backfilled_since(fresh_db, slot, asked_at))
    assert supervisor.command(first=True)[-1] == "--reindex"
    # the first child failed before rebuilding (no status yet): the next one rebuilds
    assert supervisor.command(first=False)[-1] == "--reindex"
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("INSERT INTO search.indexer_status (slot_name, state, backfilled_at) "
                     "VALUES (%s, 'error', now() - interval '1 hour')", (slot,))
        assert supervisor.command(first=False)[-1] == "--reindex"  # an older rebuild
        conn.execute("UPDATE search.indexer_status SET backfilled_at = now() "
                     "WHERE slot_name = %s", (slot,))
    assert "--reindex" not in supervisor.command(first=False)  # done: plain restarts now
    plain = _IndexerSupervisor({}, reindex=False, reindex_done=lambda: False)
    assert "--reindex" not in plain.command(first=True)


def test_an_unreachable_database_counts_as_not_rebuilt() -> None:
    assert backfilled_since("postgresql://nobody@127.0.0.1:1/none", "s", 0.0) is False


def test_only_a_first_run_waits_for_the_indexers_first_pass(tmp_path: Path) -> None:
    # an index from an earlier run is served at once: a resumed run's indexer catches
    # up, and `--reindex` builds its successor while the old one answers
    settings = load_settings({}, data_dir=tmp_path, demo=True)
    assert _index_exists(settings) is False
    engine = TantivyEngine(settings.tantivy_dir, writer=True, heap_size=15_000_000)
    try:
        engine.write([Document(key="blog:1", id="1", tenant_id="t", type="blog",
                               title="Kopi")], [])
    finally:
        engine.close()
    assert _index_exists(settings) is True
    meili = settings.model_copy(update={"engine": "meilisearch", "meili_url": "http://m:7700"})
    assert _index_exists(meili) is False  # not ours to look at: waited for


def test_demo_secrets_are_written_whole_and_private_once(tmp_path: Path) -> None:
    (tmp_path / f".secrets.json.{os.getpid()}").write_text("{")  # a killed run's leftover
    first = _demo_secrets(tmp_path)
    path = tmp_path / "secrets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == first
    assert set(first) == {"AWSM_SIGNING_KEYS", "AWSM_JWT_SECRET"}
    assert _demo_secrets(tmp_path) == first  # kept: signed URLs survive restarts
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secrets.json"]
