"""Source tables of legal but less common shapes stream like AWCMS's own: a partitioned
table, a table whose name needs quoting, a fixed-width key."""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg
import pytest

from tests.fixtures.fix_stack import TENANT_A, seed_tenants, streaming_indexer, wait_for


def _mapping(tmp_path: Path, table: str) -> Path:
    path = tmp_path / "m.toml"
    path.write_text(f"""
[[documents]]
table = "{table}"
type = "note"
id = "id"
tenant = "tenant_id"
title = "title"
visibility = {{ status = "status" }}
""")
    return path


def _note(conn: psycopg.Connection, table: str, row_id: object, title: str,
          status: str = "published") -> None:
    conn.execute(f'INSERT INTO "{table}" (id, tenant_id, title, status) VALUES (%s, %s, %s, %s)',
                 (row_id, TENANT_A, title, status))


def test_changes_to_a_partitioned_table_reach_the_index(fresh_db: str, tmp_path: Path) -> None:
    # Without publish_via_partition_root each change comes as the partition's
    # (notes_low, notes_high), which no mapping names: the backfill indexed the table,
    # then every insert, unpublish and delete was dropped and the index went stale.
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        seed_tenants(conn)
        conn.execute("CREATE TABLE notes (id bigint PRIMARY KEY, tenant_id uuid, title text, "
                     "status text) PARTITION BY RANGE (id)")
        conn.execute("CREATE TABLE notes_low PARTITION OF notes FOR VALUES FROM (0) TO (100)")
        conn.execute("CREATE TABLE notes_high PARTITION OF notes FOR VALUES FROM (100) TO (200)")
        _note(conn, "notes", 1, "sebelum")
        with streaming_indexer(fresh_db, tmp_path, _mapping(tmp_path, "notes")) as indexer:
            assert indexer.engine.keys() == {"note:1"}
            _note(conn, "notes", 150, "sesudah")
            wait_for(lambda: indexer.engine.keys() == {"note:1", "note:150"}, timeout=10)
            conn.execute("UPDATE notes SET status = 'draft' WHERE id = 150")
            conn.execute("DELETE FROM notes WHERE id = 1")
            wait_for(lambda: indexer.engine.keys() == set(), timeout=10)


def test_a_table_whose_name_needs_quoting_is_checked_and_streamed(
        fresh_db: str, tmp_path: Path) -> None:
    # Every query quotes the mapped name ("Notes", as Prisma and many ORMs create them),
    # but the start-up checks looked it up unquoted, folded to notes: "mapping names
    # table 'Notes', which does not exist" for a table that does.
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        seed_tenants(conn)
        conn.execute('CREATE TABLE "Notes" (id bigint PRIMARY KEY, tenant_id uuid, '
                     'title text, status text)')
        _note(conn, "Notes", 1, "sebelum")
        with streaming_indexer(fresh_db, tmp_path, _mapping(tmp_path, "Notes")) as indexer:
            assert indexer.engine.keys() == {"note:1"}
            conn.execute('DELETE FROM "Notes" WHERE id = 1')
            wait_for(lambda: indexer.engine.keys() == set(), timeout=10)


def test_a_deleted_row_with_a_fixed_width_key_leaves_the_index(
        fresh_db: str, tmp_path: Path) -> None:
    # A char(n) key streams padded ('ab      ') but reads back unpadded (::text trims
    # it): a hard delete, known only by the streamed key, deleted "note:ab      " and
    # left "note:ab" searchable for good.
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        seed_tenants(conn)
        conn.execute("CREATE TABLE notes (id char(8) PRIMARY KEY, tenant_id uuid, "
                     "title text, status text)")
        _note(conn, "notes", "ab", "sebelum")
        with streaming_indexer(fresh_db, tmp_path, _mapping(tmp_path, "notes")) as indexer:
            assert indexer.engine.keys() == {"note:ab"}
            _note(conn, "notes", "cd", "sesudah")
            wait_for(lambda: indexer.engine.keys() == {"note:ab", "note:cd"}, timeout=10)
            conn.execute("DELETE FROM notes")
            wait_for(lambda: indexer.engine.keys() == set(), timeout=10)


@pytest.mark.parametrize(("key", "warned"), [("PRIMARY KEY (org, id)", True),
                                              ("PRIMARY KEY (id), UNIQUE (org, id)", False)])
def test_an_id_unique_only_with_another_column_is_warned_of_at_start(
        fresh_db: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, key: str,
        warned: bool) -> None:
    # (org, id) as the key and id as the mapped id: two orgs' rows were one document,
    # one of them never searchable, and nothing said so
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        seed_tenants(conn)
        conn.execute("CREATE TABLE notes (org text, id int, tenant_id uuid, title text, "
                     f"status text, {key})")
        with caplog.at_level(logging.WARNING, logger="awsm.indexer"), \
                streaming_indexer(fresh_db, tmp_path, _mapping(tmp_path, "notes")):
            pass
    said = [r.getMessage() for r in caplog.records if "unique index" in r.getMessage()]
    assert len(said) == warned and all(m.startswith("notes.id, ") for m in said)
