"""A table whose rows change without a row event on the stream (pgoutput carries no DDL):
``ALTER TABLE ... TYPE ... USING``, ``VACUUM FULL``, a table dropped and created again.
The indexer notices by the table's storage and rebuilds from the tables, whether it was
streaming at the time or not running. (Found by a CDC audit: a rewrite that made one
tenant's posts drafts left all of them searchable.)"""

from __future__ import annotations

from pathlib import Path

import psycopg

from indexer.startup import rewritten, table_files
from tests.fixtures.fix_stack import (
    TENANT_A,
    Stack,
    make_settings,
    open_indexer,
    seed_tenants,
    wait_for,
)
from tests.indexer.test_visibility_e2e import add_blog

# a rewrite: the column keeps its type, every row is written anew by the USING expression
HIDE_SECRETS = ("ALTER TABLE blogs ALTER COLUMN status TYPE text USING "
                "(CASE WHEN title LIKE 'Rahasia%' THEN 'draft' ELSE status END)")


def test_rewritten_names_the_tables_whose_storage_changed() -> None:
    known = {"blogs": "16500", "pages": "16600", "tenants": "16700"}
    assert rewritten(known, {"blogs": "16501", "pages": "16600", "tenants": "16700"}) \
        == ["blogs"]
    assert rewritten(known, {"blogs": None, "pages": "16600,16601"}) == ["blogs", "pages"]
    assert rewritten(known, known) == []
    assert rewritten({}, known) == []  # not recorded (an older index): nothing to compare
    assert rewritten(known, {"products": "1"}) == []  # newly mapped: read by its rebuild


def test_table_files_follow_rewrites_and_partitions(fresh_db: str) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as db:
        db.execute('CREATE TABLE "Odd Name" (id int PRIMARY KEY)')
        db.execute("CREATE TABLE parts (id int, k int) PARTITION BY RANGE (k)")
        db.execute("CREATE TABLE parts_a PARTITION OF parts FOR VALUES FROM (0) TO (10)")
        before = table_files(db, ("blogs", "Odd Name", "parts", "missing"))
        assert before["missing"] is None and before["blogs"] and before["Odd Name"]
        db.execute("CREATE TABLE parts_b PARTITION OF parts FOR VALUES FROM (10) TO (20)")
        db.execute("VACUUM FULL blogs")
        db.execute("ANALYZE \"Odd Name\"")  # not a rewrite
        after = table_files(db, ("blogs", "Odd Name", "parts", "missing"))
        assert rewritten(before, after) == ["blogs", "parts"]
        # one partition truncated or detached alone: no TRUNCATE of the table is streamed
        db.execute("TRUNCATE parts_b")
        truncated = table_files(db, ("parts",))
        assert rewritten(after, truncated) == ["parts"]
        db.execute("ALTER TABLE parts DETACH PARTITION parts_a")
        assert rewritten(truncated, table_files(db, ("parts",))) == ["parts"]


def test_a_rewrite_under_a_running_indexer_reaches_search(stack: Stack) -> None:
    add_blog(stack, "Rahasia dapur kopi")
    add_blog(stack, "Resep dapur kopi")
    wait_for(lambda: sorted(stack.titles(q="dapur")) == ["Rahasia dapur kopi",
                                                          "Resep dapur kopi"])
    stack.sql(HIDE_SECRETS)
    wait_for(lambda: stack.titles(q="dapur") == ["Resep dapur kopi"])
    add_blog(stack, "Dapur baru sesudahnya")  # the stream goes on after the rebuild
    wait_for(lambda: sorted(stack.titles(q="dapur")) == ["Dapur baru sesudahnya",
                                                          "Resep dapur kopi"])
    assert not stack.failure


def test_a_rewrite_while_the_indexer_was_stopped_rebuilds_at_start(
        fresh_db: str, tmp_path: Path) -> None:
    settings = make_settings(fresh_db, tmp_path)
    with psycopg.connect(fresh_db, autocommit=True) as db:
        seed_tenants(db)
        db.execute("INSERT INTO blogs (tenant_id, title, slug, status, published_at) "
                   "VALUES (%s, 'Rahasia dapur', 'r', 'published', now() - interval '1 day'), "
                   "(%s, 'Resep dapur', 's', 'published', now() - interval '1 day')",
                   (TENANT_A, TENANT_A))
        with open_indexer(fresh_db, settings) as indexer:
            assert indexer.prepare() is True
            indexer.backfill()
            assert len(indexer.engine.keys()) == 2
        with open_indexer(fresh_db, settings) as indexer:
            assert indexer.prepare() is False  # nothing rewritten: resumed
        db.execute(HIDE_SECRETS)
        with open_indexer(fresh_db, settings) as indexer:
            assert indexer.prepare() is True
            indexer.backfill()
            assert len(indexer.engine.keys()) == 1
        with open_indexer(fresh_db, settings) as indexer:
            assert indexer.prepare() is False  # the rebuild recorded the new storage
