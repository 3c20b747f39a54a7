"""``awsm up --reindex``: the indexer children are asked to rebuild until one has."""

from __future__ import annotations

import time

import psycopg

from gateway.stack import _IndexerSupervisor, backfilled_since


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
