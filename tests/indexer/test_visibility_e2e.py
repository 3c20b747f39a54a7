"""Each AWCMS change becomes visible (or invisible) through the public search API."""

from __future__ import annotations

from typing import Any

import pytest

from awsm.errors import ConfigError
from tests.fixtures.fix_stack import (
    TENANT_A,
    TENANT_B,
    Stack,
    insert_blogs_in_one_transaction,
    wait_for,
)


def add_blog(stack: Stack, title: str, *, tenant: str = TENANT_A, body: str = "isi artikel",
             **cols: object) -> str:
    values = {"status": "published", "published_at": "now()", **cols}
    names = ", ".join(values)
    placeholders = ", ".join("now() - interval '1 minute'" if v == "now()" else "%s"
                             for v in values.values())
    args = [v for v in values.values() if v != "now()"]
    row = stack.db.execute(
        f"INSERT INTO blogs (tenant_id, title, slug, content, {names}) "
        f"VALUES (%s, %s, %s, %s, {placeholders}) RETURNING id::text",
        [tenant, title, title.lower().replace(" ", "-"), body, *args],
    ).fetchone()
    assert row is not None
    return str(row[0])


def test_insert_update_and_hard_delete_reach_search(stack: Stack) -> None:
    blog = add_blog(stack, "Panduan seduh kopi tubruk")
    wait_for(lambda: stack.titles(q="tubruk") == ["Panduan seduh kopi tubruk"])
    stack.sql("UPDATE blogs SET title = 'Panduan seduh kopi vietnam drip' WHERE id = %s", blog)
    wait_for(lambda: stack.titles(q="vietnam") == ["Panduan seduh kopi vietnam drip"])
    assert stack.titles(q="tubruk") == []
    stack.sql("DELETE FROM blogs WHERE id = %s", blog)
    wait_for(lambda: stack.search(q="vietnam")["total"] == 0)


def test_unpublish_soft_delete_and_private_rows_leave_every_index(stack: Stack) -> None:
    a = add_blog(stack, "Resep rendang padang", tags=["resep"])
    b = add_blog(stack, "Resep soto betawi", tags=["resep"])
    add_blog(stack, "Resep rahasia draft", status="draft", tags=["resep"])
    add_blog(stack, "Resep rahasia privat", is_public=False, tags=["resep"])
    add_blog(stack, "Resep rahasia nonaktif", is_active=False, tags=["resep"])
    add_blog(stack, "Resep rahasia terhapus", deleted_at="2024-01-01", tags=["resep"])
    wait_for(lambda: stack.search(q="resep")["total"] == 2)
    body = stack.search(q="resep", facets="tags,type")
    assert body["facets"] == {"tags": {"resep": 2}, "type": {"blog": 2}}
    assert "rahasia" not in str(body).lower()
    assert stack.search(q="rahasia", facets="tags,type") | {"took_ms": 0} == \
        stack.search(q="rahasia", tenant="nope", facets="tags,type") | {"took_ms": 0}
    stack.sql("UPDATE blogs SET status = 'draft' WHERE id = %s", a)
    wait_for(lambda: stack.titles(q="resep") == ["Resep soto betawi"])
    body = stack.search(q="resep", facets="tags,type")
    assert (body["total"], body["facets"]) == (1, {"tags": {"resep": 1}, "type": {"blog": 1}})
    assert "rendang" not in str(body).lower()
    stack.sql("UPDATE blogs SET deleted_at = now() WHERE id = %s", b)
    wait_for(lambda: stack.search(q="resep")["total"] == 0)
    body = stack.search(q="resep", facets="tags,type")
    assert (body["hits"], body["facets"]) == ([], {"tags": {}, "type": {}})


def test_tenant_isolation_and_suspension(stack: Stack) -> None:
    add_blog(stack, "Festival kopi Jakarta")
    add_blog(stack, "Festival kopi Bandung", tenant=TENANT_B)
    wait_for(lambda: stack.search(tenant="tech", q="festival")["total"] == 1)
    assert stack.titles(q="festival") == ["Festival kopi Jakarta"]
    assert stack.titles(tenant="kopi.localhost", q="festival") == ["Festival kopi Jakarta"]
    stack.sql("UPDATE tenants SET status = 'suspended' WHERE id = %s", TENANT_A)
    wait_for(lambda: stack.indexer.engine.keys(TENANT_A) == set())
    # suspended and unknown tenants answer exactly like an active tenant's search with no
    # hits: the same body (but took_ms) and the same ETag
    answers = [stack.client.get("/v1/search", params={"tenant": tenant, "q": "jakarta",
                                                      "facets": "type,tags"})
               for tenant in ("kopi", "nope", "tech")]  # suspended, unknown, active
    bodies = [r.json() | {"took_ms": 0} for r in answers]
    assert bodies[0] == bodies[1] == bodies[2]
    assert bodies[0]["hits"] == [] and bodies[0]["total"] == 0
    assert len({r.headers["etag"] for r in answers}) == 1
    stack.sql("UPDATE tenants SET status = 'active' WHERE id = %s", TENANT_A)
    wait_for(lambda: stack.titles(q="festival") == ["Festival kopi Jakarta"])


def test_category_rename_updates_documents(stack: Stack) -> None:
    row = stack.db.execute(
        "INSERT INTO categories (tenant_id, name, slug) VALUES (%s, 'Minuman', 'minuman') "
        "RETURNING id::text", (TENANT_A,)).fetchone()
    assert row is not None
    add_blog(stack, "Es kopi susu gula aren", category_id=row[0])
    wait_for(lambda: stack.search(q="aren", facets="category")["facets"]["category"] == {"Minuman": 1})
    stack.sql("UPDATE categories SET name = 'Minuman Dingin' WHERE id = %s", row[0])
    wait_for(lambda: stack.search(q="aren", facets="category")["facets"]["category"]
             == {"Minuman Dingin": 1})
    assert stack.search(q="aren", category="Minuman Dingin")["total"] == 1
    assert stack.search(q="aren", category="Minuman")["total"] == 0  # the old name is gone
    # a soft-deleted category leaves its posts visible, uncategorised
    stack.sql("UPDATE categories SET deleted_at = now() WHERE id = %s", row[0])
    wait_for(lambda: stack.search(q="aren", facets="category")["facets"]["category"] == {})
    assert stack.titles(q="aren") == ["Es kopi susu gula aren"]
    assert stack.search(q="aren", category="Minuman Dingin")["total"] == 0


def test_another_tenants_category_names_no_document(stack: Stack) -> None:
    # categories.id is all a row needs to point at one; the join must not hand tenant
    # B's category name to tenant A's visitors (hits, facets, filters)
    row = stack.db.execute(
        "INSERT INTO categories (tenant_id, name, slug) VALUES (%s, 'Rahasia Tech', 'rt') "
        "RETURNING id::text", (TENANT_B,)).fetchone()
    assert row is not None
    add_blog(stack, "Kopi dengan kategori tetangga", category_id=row[0])
    wait_for(lambda: stack.titles(q="tetangga") == ["Kopi dengan kategori tetangga"])
    body = stack.search(q="tetangga", facets="category")
    assert body["facets"]["category"] == {}
    assert stack.search(q="tetangga", category="Rahasia Tech")["total"] == 0
    # moved to tenant A, the category names it (a change of the category re-reads it)
    stack.sql("UPDATE categories SET tenant_id = %s WHERE id = %s", TENANT_A, row[0])
    wait_for(lambda: stack.search(q="tetangga", facets="category")["facets"]["category"]
             == {"Rahasia Tech": 1})


def test_a_tenant_whose_key_changes_takes_its_documents_out(stack: Stack) -> None:
    # Without a foreign key nothing cascades: the rows still name the old id, which no
    # tenant has now. The change carries the old id (the key changed), and the rows
    # that name it must be re-read too, not only those of the new id.
    stack.sql("ALTER TABLE blogs DROP CONSTRAINT blogs_tenant_id_fkey")
    add_blog(stack, "Kedai kopi tanpa induk")
    wait_for(lambda: stack.titles(q="induk") == ["Kedai kopi tanpa induk"])
    stack.sql("UPDATE tenants SET id = '33333333-3333-3333-3333-333333333333' WHERE id = %s",
              TENANT_A)
    wait_for(lambda: stack.indexer.engine.keys(TENANT_A) == set(), timeout=10)
    assert stack.indexer.engine.keys(TENANT_A) == set()
    assert stack.search(q="induk")["total"] == 0  # nor under the tenant's new id


def test_archived_and_soft_deleted_tenants_leave_search(stack: Stack) -> None:
    add_blog(stack, "Pameran batik Solo", tenant=TENANT_B)
    wait_for(lambda: stack.search(tenant="tech", q="batik")["total"] == 1)
    for change, undo in (("status = 'archived'", "status = 'active'"),
                         ("deleted_at = now()", "deleted_at = NULL")):
        stack.sql(f"UPDATE tenants SET {change} WHERE id = %s", TENANT_B)
        wait_for(lambda: stack.indexer.engine.keys(TENANT_B) == set())
        for key in ("tech", "tech.localhost"):
            body = stack.search(tenant=key, q="batik", facets="type")
            assert (body["total"], body["hits"], body["facets"]) == (0, [], {"type": {}})
        stack.sql(f"UPDATE tenants SET {undo} WHERE id = %s", TENANT_B)
        wait_for(lambda: stack.titles(tenant="tech", q="batik") == ["Pameran batik Solo"])


def test_scheduled_row_appears_at_published_at_without_a_write(stack: Stack) -> None:
    stack.db.execute(
        "INSERT INTO blogs (tenant_id, title, slug, content, status, published_at) VALUES "
        "(%s, 'Pengumuman promo lebaran', 'promo', 'diskon', 'published', now() + interval '4 seconds')",
        (TENANT_A,))
    add_blog(stack, "Marker artikel biasa")
    wait_for(lambda: stack.search(q="marker")["total"] == 1)
    # not yet: it is scheduled (indexed, to go live without a write, but nowhere to be seen)
    body = stack.search(q="lebaran", facets="type,tags")
    assert (body["total"], body["hits"], body["facets"]) == (0, [], {"type": {}, "tags": {}})
    assert stack.search(sort="published_at", limit=100)["total"] == 1  # the marker alone
    wait_for(lambda: stack.titles(q="lebaran") == ["Pengumuman promo lebaran"])


def test_an_active_product_without_a_launch_date_is_on_sale_a_dateless_post_is_not(
        stack: Stack) -> None:
    # AWCMS's products carry published_at as an optional launch date and sell while
    # "active": every one without a date was hidden. A published post without a date
    # stays hidden, and a product with a future date waits for it.
    stack.sql("INSERT INTO products (tenant_id, name, slug, description, status, published_at) "
              "VALUES (%s, 'Gilingan kopi manual', 'gilingan', 'baja', 'active', NULL), "
              "(%s, 'Gilingan kopi listrik', 'gilingan-2', 'baja', 'active', "
              "now() + interval '1 day')", TENANT_A, TENANT_A)
    add_blog(stack, "Gilingan kopi tanpa tanggal", published_at=None)
    add_blog(stack, "Gilingan kopi bertanggal")  # committed last: the others are read by then
    # by title: "gilingan bertanggal" finds the product alone by its first word meanwhile
    wait_for(lambda: stack.titles(q="bertanggal") == ["Gilingan kopi bertanggal"])
    shown = stack.search(q="gilingan", limit=50)
    assert sorted(h["title"] for h in shown["hits"]) == ["Gilingan kopi bertanggal",
                                                         "Gilingan kopi manual"]
    assert shown["total"] == 2  # neither the dateless post nor the product not yet launched
    stack.sql("UPDATE products SET status = 'out_of_stock' WHERE slug = 'gilingan'")
    wait_for(lambda: stack.search(q="gilingan")["total"] == 1)
    assert stack.titles(q="gilingan") == ["Gilingan kopi bertanggal"]


def test_large_toasted_body_survives_an_update_that_leaves_it_unchanged(stack: Stack) -> None:
    body = "kalimat panjang tentang jaringan pengiriman konten " * 400 + " ujungnyaunik"
    blog = add_blog(stack, "Artikel sangat panjang", body=body)
    wait_for(lambda: stack.search(q="ujungnyaunik")["total"] == 1)
    # pgoutput omits the unchanged TOAST column; the re-read keeps the body searchable
    stack.sql("UPDATE blogs SET views = views + 1, title = 'Artikel sangat panjang sekali' "
              "WHERE id = %s", blog)
    wait_for(lambda: stack.titles(q="sekali") == ["Artikel sangat panjang sekali"])
    assert stack.search(q="ujungnyaunik")["total"] == 1


def test_a_change_made_while_its_table_had_another_name_is_not_lost(stack: Stack) -> None:
    # pgoutput names a relation as it was named at the change: under "blogs_tmp" the
    # unpublish matched no mapped table, was dropped, and the slot confirmed past it
    blog = add_blog(stack, "Rahasia sementara")
    wait_for(lambda: stack.titles(q="rahasia") == ["Rahasia sementara"])
    with stack.db.transaction():
        stack.sql("ALTER TABLE blogs RENAME TO blogs_tmp")
        stack.sql("UPDATE blogs_tmp SET status = 'draft' WHERE id = %s", blog)
        stack.sql("ALTER TABLE blogs_tmp RENAME TO blogs")
    add_blog(stack, "Penanda sesudah ganti nama")
    wait_for(lambda: stack.titles(q="penanda") == ["Penanda sesudah ganti nama"])
    assert stack.titles(q="rahasia") == []


def test_a_delete_made_while_the_replica_identity_left_out_the_id_is_not_lost(
        stack: Stack) -> None:
    # such a delete carries only the index's columns: it was dropped without a word and
    # the deleted row stayed searchable. The start-up check refuses that identity; one
    # changed and changed back while streaming leaves a delete to rebuild for.
    blog = add_blog(stack, "Dihapus tanpa jejak")
    wait_for(lambda: stack.titles(q="jejak") == ["Dihapus tanpa jejak"])
    stack.sql("CREATE UNIQUE INDEX blogs_tenant_slug ON blogs (tenant_id, slug)")
    with stack.db.transaction():
        stack.sql("ALTER TABLE blogs REPLICA IDENTITY USING INDEX blogs_tenant_slug")
        stack.sql("DELETE FROM blogs WHERE id = %s", blog)
        stack.sql("ALTER TABLE blogs REPLICA IDENTITY DEFAULT")
    add_blog(stack, "Penanda sesudah hapus")
    wait_for(lambda: stack.titles(q="penanda") == ["Penanda sesudah hapus"])
    assert stack.titles(q="jejak") == []


def test_a_replica_identity_that_leaves_out_the_id_stops_the_stream_with_the_fix(
        stack: Stack) -> None:
    blog = add_blog(stack, "Dihapus tanpa kunci")
    wait_for(lambda: stack.titles(q="kunci") == ["Dihapus tanpa kunci"])
    stack.sql("CREATE UNIQUE INDEX blogs_tenant_slug ON blogs (tenant_id, slug)")
    stack.sql("ALTER TABLE blogs REPLICA IDENTITY USING INDEX blogs_tenant_slug")
    stack.sql("DELETE FROM blogs WHERE id = %s", blog)
    wait_for(lambda: stack.failure)
    error = stack.failure.pop()  # nothing confirmed: a restart replays the delete
    assert isinstance(error, ConfigError) and "leaves out 'id'" in str(error)
    assert "REPLICA IDENTITY" in str(error)


def test_truncate_empties_that_table_from_search_and_the_stream_goes_on(stack: Stack) -> None:
    # a TRUNCATE carries no keys: the indexer rebuilds from the tables and swaps
    luwak = add_blog(stack, "Sejarah kopi luwak", published_at="2024-05-01T00:00:00Z")
    add_blog(stack, "Sejarah kopi gayo", tenant=TENANT_B)
    stack.sql("INSERT INTO products (tenant_id, name, slug, description, status, published_at) "
              "VALUES (%s, 'Biji kopi sejarah panjang', 'biji-kopi', 'sangrai medium', "
              "'active', now() - interval '1 minute')", TENANT_A)
    wait_for(lambda: stack.search(q="sejarah")["total"] == 2)
    stack.sql("TRUNCATE blogs")
    wait_for(lambda: stack.titles(q="sejarah") == ["Biji kopi sejarah panjang"])
    assert stack.search(tenant="tech", q="sejarah")["total"] == 0
    assert not any(k.startswith("blog") for k in stack.indexer.engine.keys())
    add_blog(stack, "Sejarah kopi toraja")
    wait_for(lambda: sorted(stack.titles(q="sejarah")) ==
             ["Biji kopi sejarah panjang", "Sejarah kopi toraja"])
    # the same row as before, to the letter: the index it was written to is gone, so it
    # is written again (not taken for a document the index still holds)
    add_blog(stack, "Sejarah kopi luwak", published_at="2024-05-01T00:00:00Z", id=luwak)
    wait_for(lambda: sorted(stack.titles(q="sejarah")) ==
             ["Biji kopi sejarah panjang", "Sejarah kopi luwak", "Sejarah kopi toraja"])


def test_columns_added_and_dropped_under_a_running_slot(stack: Stack) -> None:
    # pgoutput carries no DDL, only a new Relation message before the next row; columns
    # are selected by name on re-read, so other columns may come and go
    blog = add_blog(stack, "Kopi tubruk pagi")
    wait_for(lambda: stack.titles(q="tubruk") == ["Kopi tubruk pagi"])
    stack.sql("ALTER TABLE blogs ADD COLUMN reading_minutes integer DEFAULT 3")
    stack.sql("UPDATE blogs SET title = 'Kopi tubruk sore', reading_minutes = 5 WHERE id = %s",
              blog)
    wait_for(lambda: stack.titles(q="tubruk") == ["Kopi tubruk sore"])
    stack.sql("ALTER TABLE blogs DROP COLUMN reading_minutes")
    later = add_blog(stack, "Kopi tubruk malam")
    wait_for(lambda: len(stack.titles(q="tubruk")) == 2)
    assert sorted(stack.titles(q="tubruk")) == ["Kopi tubruk malam", "Kopi tubruk sore"]
    assert stack.indexer.engine.keys() == {f"blog:{blog}", f"blog:{later}"}
    parked = stack.db.execute("SELECT count(*) FROM search.dead_letters").fetchone()
    assert parked == (0,) and not stack.failure  # no row refused, the stream goes on


def test_a_bulk_transaction_is_written_in_parts_and_arrives_whole(stack: Stack) -> None:
    # a bulk import in one transaction: re-read and written a slice at a time (never
    # whole in memory, nor one engine request), the checkpoint only with the last part
    writes: list[tuple[int, int, bool]] = []
    engine = stack.indexer.engine
    real = engine.write

    def counted(upserts: Any, deletes: Any, checkpoint: str | None = None) -> None:
        if upserts or deletes:
            writes.append((len(upserts), len(deletes), checkpoint is not None))
        real(upserts, deletes, checkpoint=checkpoint)

    stack.indexer.write_docs = 100
    engine.write = counted  # type: ignore[method-assign]
    insert_blogs_in_one_transaction(stack, [f"Katalog impor nomor {i}" for i in range(450)],
                                    content="impor massal")
    wait_for(lambda: stack.search(q="impor", limit=1)["total"] == 450)
    assert sum(n for n, _, _ in writes) == 450
    assert [n for n, _, _ in writes] == [100, 100, 100, 100, 50]
    assert [last for _, _, last in writes] == [False] * 4 + [True]
    with stack.db.transaction():
        stack.sql("UPDATE blogs SET status = 'draft' WHERE content = 'impor massal'")
    wait_for(lambda: stack.search(q="impor", limit=1)["total"] == 0)
    assert [d for _, d, _ in writes[5:]] == [100, 100, 100, 100, 50]


def test_a_bulk_transaction_of_long_texts_is_cut_by_characters_too(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    # Meilisearch refuses a payload over 100 MB: a part also ends at WRITE_CHARS
    import indexer.worker

    monkeypatch.setattr(indexer.worker, "WRITE_CHARS", 10_000)
    sizes: list[int] = []
    engine = stack.indexer.engine
    real = engine.write

    def counted(upserts: Any, deletes: Any, checkpoint: str | None = None) -> None:
        if upserts:
            sizes.append(sum(len(d.body) for d in upserts))
        real(upserts, deletes, checkpoint=checkpoint)

    engine.write = counted  # type: ignore[method-assign]
    insert_blogs_in_one_transaction(stack, [f"Naskah panjang {i}" for i in range(30)],
                                    content="panjang " * 400)  # 3,200 characters each
    wait_for(lambda: stack.search(q="naskah", limit=1)["total"] == 30)
    assert len(sizes) == 8 and max(sizes) <= 10_000 + 3_200, sizes
