"""Rows no editor should write but a database will hold: none may stop the indexer, hold
back other rows, or break search. (Found by a hostile-row audit of the stack.)"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from search_svc.engines import tantivy as tantivy_engine
from search_svc.engines.base import Document
from tests.fixtures.fix_stack import (
    TENANT_A,
    Stack,
    make_settings,
    open_indexer,
    seed_tenants,
    wait_for,
)
from tests.indexer.test_visibility_e2e import add_blog


def test_dates_out_of_any_clients_range_index_and_serve(stack: Stack) -> None:
    # 'infinity' failed the epoch cast (the indexer died and replayed the batch forever,
    # a draft row included); a date BC made every search showing it a 500
    add_blog(stack, "Draf tanpa akhir", status="draft", published_at="infinity")
    add_blog(stack, "Terbit tanpa akhir waktu", published_at="infinity")
    add_blog(stack, "Purba minus waktu", published_at="-infinity")
    add_blog(stack, "Purba sebelum masehi", published_at="4713-01-01 00:00:00+00 BC")
    add_blog(stack, "Purba tahun satu", published_at="0001-01-01 00:00:00+01")
    add_blog(stack, "Artikel biasa sesudahnya")
    wait_for(lambda: stack.titles(q="sesudahnya") == ["Artikel biasa sesudahnya"])
    assert not stack.failure
    body = stack.search(q="purba", sort="published_at")
    assert body["total"] == 3
    assert {h["published_at"] for h in body["hits"]} == {"0001-01-01T00:00:00Z"}
    assert stack.titles(q="akhir") == []  # 'infinity' never comes


def test_a_row_the_select_cannot_read_is_parked_and_the_rest_go_through(stack: Stack) -> None:
    # tags turned into text under a running indexer: the '::text[]' cast fails for one
    # row's value, which used to fail (and replay) the whole batch forever
    stack.sql("ALTER TABLE blogs ALTER COLUMN tags DROP DEFAULT")
    stack.sql("ALTER TABLE blogs ALTER COLUMN tags TYPE text USING array_to_string(tags, ',')")
    bad = add_blog(stack, "Label rusak satu", tags="a,b")
    add_blog(stack, "Label baik dua", tags="{baik}")
    add_blog(stack, "Label baik tiga", tags="{baik}")
    wait_for(lambda: sorted(stack.titles(q="label")) == ["Label baik dua", "Label baik tiga"])
    assert not stack.failure
    parked = stack.db.execute("SELECT row_id, error FROM search.dead_letters "
                              "WHERE source_table = 'blogs'").fetchall()
    assert [r[0] for r in parked] == [bad] and "malformed array literal" in parked[0][1]
    assert stack.client.get("/readyz").json()["checks"]["indexer"]["parked_rows"] == 1


def test_json_nested_deeper_than_python_reads_is_parked_not_a_crash_loop(
        stack: Stack) -> None:
    # PostgreSQL keeps jsonb nested thousands deep; Python's loader stops near 1,000
    # with a RecursionError, which restarted the indexer every 30 s for every tenant
    deep = "[" * 3000 + '"w"' + "]" * 3000
    for title, blocks in (("Halaman dalam sekali", deep), ("Halaman biasa sesudahnya", None)):
        stack.sql("INSERT INTO pages (tenant_id, title, slug, content_published, status, "
                  "published_at) VALUES (%s, %s, %s, %s::jsonb, 'published', "
                  "now() - interval '1 day')", TENANT_A, title, title.lower(), blocks)
    wait_for(lambda: stack.titles(q="sesudahnya") == ["Halaman biasa sesudahnya"])
    assert not stack.failure
    assert stack.titles(q="dalam") == []
    parked = stack.db.execute("SELECT error FROM search.dead_letters "
                              "WHERE source_table = 'pages'").fetchall()
    assert len(parked) == 1 and "recursion" in parked[0][0].lower()


def test_a_backfill_parks_the_row_it_cannot_read_and_indexes_the_rest(
        fresh_db: str, tmp_path: Path) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        seed_tenants(conn)
        conn.execute("ALTER TABLE blogs ALTER COLUMN tags DROP DEFAULT")
        conn.execute("ALTER TABLE blogs ALTER COLUMN tags TYPE text")
        conn.execute(
            "INSERT INTO blogs (tenant_id, title, slug, status, published_at, tags) "
            "SELECT %s, 'Isi ' || i, 'isi-' || i, 'published', now() - interval '1 day', "
            "CASE WHEN i = 7 THEN 'a,b' ELSE '{ok}' END FROM generate_series(1, 12) i",
            (TENANT_A,))
    settings = make_settings(fresh_db, tmp_path, backfill_chunk_rows=5)
    with open_indexer(fresh_db, settings) as indexer:
        indexer.prepare()
        assert indexer.backfill() == 11
        assert len(indexer.engine.keys(TENANT_A)) == 11
        parked = indexer.conn.execute("SELECT count(*) FROM search.dead_letters").fetchone()
        assert parked == (1,)


def test_a_table_whose_rows_all_fail_is_an_error_not_an_empty_search(
        fresh_db: str, tmp_path: Path) -> None:
    # when most rows fail alike, the table or the mapping is wrong, not a few rows:
    # parking them all would silently empty the table's search
    with open_indexer(fresh_db, make_settings(fresh_db, tmp_path)) as indexer:
        with psycopg.connect(fresh_db, autocommit=True) as conn:
            seed_tenants(conn)
            indexer.prepare()
            conn.execute("ALTER TABLE blogs ALTER COLUMN tags DROP DEFAULT")
            conn.execute("ALTER TABLE blogs ALTER COLUMN tags TYPE text")
            ids = [r[0] for r in conn.execute(
                "INSERT INTO blogs (tenant_id, title, slug, status, published_at, tags) "
                "SELECT %s, 'Isi ' || i, 'isi-' || i, 'published', now(), 'a,b' "
                "FROM generate_series(1, 30) i RETURNING id::text", (TENANT_A,))]
        with pytest.raises(RuntimeError, match="30 of 30 rows fail the same re-read"):
            indexer.documents_for({"blogs": set(ids)})
        assert indexer.conn.execute("SELECT count(*) FROM search.dead_letters").fetchone() == (0,)


def _refusing(monkeypatch: pytest.MonkeyPatch, word: str) -> None:
    """The Tantivy engine's conversion fails for documents whose title holds ``word``,
    as the stem memo's KeyError did for a document (a bug of ours) until it was fixed:
    every other document converts as before."""
    convert = tantivy_engine._to_tantivy

    def refusing(doc: Document) -> object:
        if word in doc.title:
            raise KeyError("stem memo")
        return convert(doc)

    monkeypatch.setattr(tantivy_engine, "_to_tantivy", refusing)


def _published_blogs(db: str, count: int, title_prefix_sql: str) -> None:
    """The tenants and ``count`` published blogs titled ``<title_prefix_sql> || i``."""
    with psycopg.connect(db, autocommit=True) as conn:
        seed_tenants(conn)
        conn.execute(
            "INSERT INTO blogs (tenant_id, title, slug, status, published_at) "
            f"SELECT %s, {title_prefix_sql} || i, 'isi-' || i, 'published', "
            "now() - interval '1 day' FROM generate_series(1, %s) i", (TENANT_A, count))


def test_a_document_the_engine_rejects_is_parked_and_the_rest_go_through(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    # a conversion error failed the whole batch: the indexer crash-looped on it and held
    # the slot for every tenant (a bulk import's 120th post did it)
    old = add_blog(stack, "Resep lama yang benar")
    wait_for(lambda: stack.titles(q="resep") == ["Resep lama yang benar"])
    _refusing(monkeypatch, "Racun")
    stack.sql("UPDATE blogs SET title = 'Resep Racun baru' WHERE id = %s", old)
    add_blog(stack, "Resep sehat dua")
    wait_for(lambda: stack.titles(q="resep") == ["Resep sehat dua"])
    assert not stack.failure
    parked = stack.db.execute("SELECT row_id, error FROM search.dead_letters "
                              "WHERE source_table = 'blogs'").fetchall()
    assert [r[0] for r in parked] == [old] and "stem memo" in parked[0][1]
    assert stack.client.get("/readyz").json()["checks"]["indexer"]["parked_rows"] == 1
    monkeypatch.undo()  # fixed: the row's next change indexes it ...
    stack.sql("UPDATE blogs SET content = 'diperbaiki' WHERE id = %s", old)
    wait_for(lambda: sorted(stack.titles(q="resep")) == ["Resep Racun baru", "Resep sehat dua"])
    # ... and it is parked no longer (/readyz counted it for good)
    assert stack.client.get("/readyz").json()["checks"]["indexer"]["parked_rows"] == 0


def test_a_backfill_parks_the_documents_the_engine_rejects(
        fresh_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _published_blogs(fresh_db, 12, "CASE WHEN i IN (3, 9) THEN 'Racun ' ELSE 'Isi ' END")
    _refusing(monkeypatch, "Racun")
    with open_indexer(fresh_db, make_settings(fresh_db, tmp_path, backfill_chunk_rows=5)) \
            as indexer:
        indexer.prepare()
        assert indexer.backfill() == 10
        assert len(indexer.engine.keys(TENANT_A)) == 10
        assert indexer.conn.execute(
            "SELECT count(*) FROM search.dead_letters").fetchone() == (2,)
        indexer.conn.execute("INSERT INTO search.dead_letters (source_table, row_id, error) "
                             "VALUES ('blogs', 'gone', 'embedding: model failed')")
        monkeypatch.undo()  # fixed: a rebuild reads every row again
        assert indexer.backfill() == 12
        assert indexer.conn.execute(  # the embedding worker's own entries are its own
            "SELECT row_id FROM search.dead_letters").fetchall() == [("gone",)]


def test_an_engine_rejecting_most_documents_is_an_error_not_an_empty_search(
        fresh_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _published_blogs(fresh_db, 30, "'Racun '")
    _refusing(monkeypatch, "Racun")
    with open_indexer(fresh_db, make_settings(fresh_db, tmp_path)) as indexer:
        indexer.prepare()
        with pytest.raises(RuntimeError, match="rejects 30 of 30 documents"):
            indexer.backfill()
        assert indexer.conn.execute(
            "SELECT count(*) FROM search.dead_letters").fetchone() == (0,)
