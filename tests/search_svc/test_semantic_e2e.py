"""Semantic and hybrid search end to end: real multilingual model, real pgvector."""

from __future__ import annotations

import random
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from awsm.errors import ConfigError
from search_svc.semantic import CONNECTIONS_BUSY, MAX_QUEUED
from search_svc.vectors import VectorStore, table_name_for
from tests.fixtures.fix_stack import (
    TENANT_A,
    TENANT_B,
    Stack,
    insert_blogs_in_one_transaction,
    wait_for,
)

CDN_DOC = ("Jaringan pengiriman konten untuk situs",
           "Menyimpan salinan halaman di server tepi membuat waktu muat turun drastis bagi "
           "pengunjung dari kota mana pun.")
DECOYS = [
    ("Resep rendang daging sapi", "Masak santan dengan rempah hingga kering dan berwarna gelap."),
    ("Jadwal pertandingan sepak bola", "Tim nasional bertanding melawan Thailand pekan depan."),
    ("Tips menabung untuk mahasiswa", "Sisihkan sebagian uang saku setiap bulan ke rekening."),
    ("Wisata pantai di Lombok", "Pasir putih dan air jernih menanti wisatawan di selatan pulau."),
]


def add(stack: Stack, title: str, body: str, *, tenant: str = TENANT_A, table: str = "blogs",
        **cols: object) -> str:
    name_col, body_col = ("name", "description") if table == "products" else ("title", "content")
    # AWCMS sells a product while "active"; blogs and pages show when "published"
    values = {"status": "active" if table == "products" else "published", **cols}
    names = ", ".join(values)
    marks = ", ".join(["%s"] * len(values))
    row = stack.db.execute(
        f"INSERT INTO {table} (tenant_id, {name_col}, slug, {body_col}, published_at, {names}) "
        f"VALUES (%s, %s, 's', %s, now() - interval '1 hour', {marks}) RETURNING id::text",
        [tenant, title, body, *values.values()]).fetchone()
    assert row is not None
    return str(row[0])


def settled(stack: Stack) -> bool:
    worker = stack.indexer.embedding_worker
    if worker is None:
        return False
    with psycopg.connect(stack.settings.database_url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM search.embedding_queue").fetchone()
        live = conn.execute("SELECT count(*) FROM search.embedding_models WHERE state = 'active'"
                            ).fetchone()
    return bool(row and row[0] == 0 and live and live[0] == 1)


def semantic_ready(stack: Stack) -> bool:
    return settled(stack) and stack.search(q="apa saja", mode="semantic")["mode"] == "semantic"


@pytest.fixture
def corpus(semantic_stack: Stack) -> Stack:
    add(semantic_stack, *CDN_DOC)
    for title, body in DECOYS:
        add(semantic_stack, title, body)
    add(semantic_stack, "Mempercepat situs dengan server tepi", "Rahasia tenant lain.", tenant=TENANT_B)
    wait_for(lambda: semantic_ready(semantic_stack), timeout=60)
    return semantic_stack


def test_paraphrase_with_no_shared_words_finds_the_document(corpus: Stack) -> None:
    # the query shares no word with the target; keyword search cannot find it
    q = "bagaimana supaya website terasa kencang"
    assert corpus.search(q=q, mode="keyword")["total"] == 0
    body = corpus.search(q=q, mode="semantic", limit=3)
    assert body["mode"] == "semantic"
    assert body["hits"][0]["title"] == CDN_DOC[0]
    assert body["hits"][0]["matched"] == ["semantic"]


def test_hybrid_is_the_default_and_reports_which_side_matched(corpus: Stack) -> None:
    body = corpus.search(q="rendang santan")
    assert body["mode"] == "hybrid"
    top = body["hits"][0]
    assert top["title"] == "Resep rendang daging sapi" and set(top["matched"]) == {"keyword", "semantic"}
    assert all("matched" in h for h in body["hits"])


def test_a_misspelled_title_word_finds_its_document_first_by_default(corpus: Stack) -> None:
    # the model embeds a word that does not exist and prefers other documents; the
    # keyword side found the one holding the word by its typo: that one comes first
    add(corpus, "Reformasi pemerintahan daerah", "Otonomi, anggaran dan pelayanan publik.")
    wait_for(lambda: settled(corpus) and corpus.search(q="reformasi", mode="keyword")["total"])
    for typo in ("femerintahan", "pemerintahaan", "refornasi"):
        body = corpus.search(q=typo)
        assert body["mode"] == "hybrid"
        assert body["hits"][0]["title"] == "Reformasi pemerintahan daerah", (typo, body["hits"])
        assert "keyword" in body["hits"][0]["matched"]


def test_paging_through_hybrid_results_shows_each_document_once(semantic_stack: Stack) -> None:
    # More documents than the first page's depth on either side (20 keyword hits, 80
    # semantic candidates): each page is fused from lists only as deep as it reaches,
    # and together the pages must be the deepest fusion's list, no document twice.
    rng = random.Random(7)
    words = ["kopi", "arabika", "robusta", "seduh", "giling", "sangrai", "petani", "kebun",
             "gayo", "toraja", "kintamani", "espresso", "tubruk", "susu", "gula", "aren"]
    insert_blogs_in_one_transaction(
        semantic_stack, [" ".join(["kopi", *rng.sample(words, rng.randint(1, 6))])
                         for _ in range(110)])
    wait_for(lambda: settled(semantic_stack)
             and semantic_stack.search(q="kopi", mode="keyword")["total"] == 110, timeout=90)
    for q, extra in (("kopi arabika gayo", {}), ("kopi susu", {"semantic_ratio": "0.5"}),
                     ("seduh", {})):  # (a word in some titles only: short keyword side)
        pages: list[str] = []
        for offset in range(0, 140, 9):
            body = semantic_stack.search(q=q, limit=9, offset=offset, **extra)
            assert body["mode"] == "hybrid"
            pages += [hit["id"] for hit in body["hits"]]
        whole = semantic_stack.search(q=q, limit=100, offset=40, **extra)  # 140 deep
        first = semantic_stack.search(q=q, limit=40, **extra)
        assert pages == [h["id"] for h in first["hits"] + whole["hits"]], q
        assert len(pages) == len(set(pages)) == 110, q


def test_semantic_search_drops_or_moves_a_row_as_soon_as_keyword_search_does(
        corpus: Stack) -> None:
    # the embedding queue may be minutes behind; what semantic search shows must not be
    q = "jaringan pengiriman konten"
    gone = corpus.search(q=q, mode="semantic")["hits"][0]
    assert gone["title"] == CDN_DOC[0]
    corpus.sql("UPDATE blogs SET deleted_at = now() WHERE id = %s", gone["id"])
    wait_for(lambda: corpus.search(q="pengiriman", mode="keyword")["total"] == 0)
    for mode in ("semantic", "hybrid"):  # at once, not when the queue gets to it
        body = corpus.search(q=q, mode=mode)
        assert body["mode"] == mode and body["hits"], body  # the other documents still come
        assert all(h["id"] != gone["id"] for h in body["hits"]), mode
    beach = "pasir putih pantai lombok"
    moved = corpus.search(q=beach, mode="semantic")["hits"][0]
    assert moved["title"] == "Wisata pantai di Lombok"
    corpus.sql("UPDATE blogs SET tenant_id = %s WHERE id = %s", TENANT_B, moved["id"])
    wait_for(lambda: corpus.search(tenant="tech", q="lombok", mode="keyword")["total"])
    body = corpus.search(q=beach, mode="semantic")
    assert body["mode"] == "semantic" and body["hits"], body
    assert all(h["id"] != moved["id"] for h in body["hits"])
    assert moved["id"] in [h["id"] for h in
                           corpus.search(tenant="tech", q=beach, mode="semantic")["hits"]]


def test_semantic_search_has_dropped_a_row_when_keyword_search_starts_to(
        corpus: Stack) -> None:
    # The keyword index was written first and the vectors after it: for that moment a
    # row deleted from keyword results was still a semantic hit. The write to the keyword
    # engine is watched (and then made): by then semantic search must not show the row.
    q = "jaringan pengiriman konten"
    gone = corpus.search(q=q, mode="semantic")["hits"][0]
    key = f"blog:{gone['id']}"
    engine = corpus.indexer.engine
    real_write = engine.write
    shown: list[list[str]] = []

    def write(upserts: Any, deletes: Any, checkpoint: str | None = None) -> None:
        if key in deletes:
            shown.append([h["id"] for h in corpus.search(q=q, mode="semantic")["hits"]])
        real_write(upserts, deletes, checkpoint=checkpoint)

    engine.write = write  # type: ignore[method-assign]
    try:
        corpus.sql("UPDATE blogs SET deleted_at = now() WHERE id = %s", gone["id"])
        wait_for(lambda: corpus.search(q="pengiriman", mode="keyword")["total"] == 0)
    finally:
        engine.write = real_write  # type: ignore[method-assign]
    assert len(shown) == 1 and shown[0] and gone["id"] not in shown[0]


@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
def test_tenant_isolation_and_filters_hold_in_every_mode(corpus: Stack, mode: str) -> None:
    for q in ("mempercepat situs server tepi", "rahasia tenant lain"):
        body = corpus.search(q=q, mode=mode, limit=50)
        assert all(h["title"] != "Mempercepat situs dengan server tepi" for h in body["hits"])
        assert "Rahasia" not in str(body)
    assert corpus.search(q="situs cepat", mode=mode, type="product")["hits"] == []
    other = corpus.search(tenant="tech", q="situs cepat", mode=mode)
    assert [h["title"] for h in other["hits"]] == ["Mempercepat situs dengan server tepi"]


def test_semantic_facets_are_each_counted_without_their_own_filter(corpus: Stack) -> None:
    # semantic mode counted the type facet over candidates already filtered by type: a
    # visitor who picked "blog" saw no other type left to pick, as keyword mode shows
    add(corpus, "Layanan CDN untuk toko daring", "Paket server tepi bulanan.", table="products")
    add(corpus, "Draf layanan CDN", "Belum terbit.", table="products", status="draft")
    wait_for(lambda: semantic_ready(corpus) and corpus.search(
        q="server tepi", mode="semantic", type="product")["total"] == 1, timeout=60)
    body = corpus.search(q="mempercepat situs", mode="semantic", type="blog",
                         facets="type,tags", limit=50)
    assert {h["type"] for h in body["hits"]} == {"blog"}
    assert body["facets"]["type"] == {"blog": 5, "product": 1}, body["facets"]
    both = corpus.search(q="mempercepat situs", mode="semantic", facets="type", limit=50)
    assert both["facets"]["type"] == body["facets"]["type"]  # the draft and tenant B uncounted


def test_an_unknown_tenant_waits_for_the_model_as_a_known_one_does(corpus: Stack) -> None:
    # Unknown keys once shared one query-vector cache: after a first unknown key had
    # asked, a second one's answer came from the cache while a real tenant's needed the
    # model; with the model's queue full, that showed in the body ("busy" or not).
    searcher = corpus.client.app.state.semantic  # type: ignore[attr-defined]
    q = "pertanyaan yang belum pernah ditanyakan siapa pun"
    assert corpus.search(tenant="ghost-one", q=q, mode="semantic")["mode"] == "semantic"
    searcher.max_queued = 0  # every query that needs the model is answered "busy"
    try:
        for tenant in ("ghost-two", "tech", "nobody.example"):
            body = corpus.search(tenant=tenant, q=q, mode="semantic")
            assert body["mode"] == "keyword" and "busy" in body["notice"], tenant
        # the key asked before keeps its own cached vector
        assert corpus.search(tenant="ghost-one", q=q, mode="semantic")["mode"] == "semantic"
    finally:
        searcher.max_queued = MAX_QUEUED


def test_selective_filter_keeping_under_one_percent_still_returns_its_rows(semantic_stack: Stack) -> None:
    s = semantic_stack
    with s.db.cursor() as cur:
        cur.executemany(
            "INSERT INTO blogs (tenant_id, title, slug, content, status, published_at) "
            "VALUES (%s, %s, 's', %s, 'published', now() - interval '1 hour')",
            [(TENANT_A, f"Berita harian nomor {i}", f"Kabar kota hari ke {i} tentang lalu lintas")
             for i in range(220)])
    add(s, "Kopi arabika Gayo 250 gram", "Biji kopi sangrai medium dari Aceh.", table="products")
    wait_for(lambda: semantic_ready(s), timeout=120)
    body = s.search(q="minuman hangat pagi hari", mode="semantic", type="product")
    assert [h["title"] for h in body["hits"]] == ["Kopi arabika Gayo 250 gram"]


def test_updating_only_views_costs_no_write_and_no_model_call(corpus: Stack) -> None:
    worker = corpus.indexer.embedding_worker
    assert worker is not None
    calls = worker.stats.model_calls
    skipped = worker.stats.skipped_unchanged
    engine = corpus.indexer.engine
    row = corpus.db.execute("SELECT id::text FROM blogs WHERE title = %s",
                            (CDN_DOC[0],)).fetchone()
    assert row is not None
    key = f"blog:{row[0]}"
    writes: list[list[str]] = []  # the keys each engine write upserted
    real_write = engine.write

    def noting_write(upserts: Any, deletes: Any, checkpoint: str | None = None) -> None:
        real_write(upserts, deletes, checkpoint=checkpoint)
        writes.append([d.key for d in upserts])

    engine.write = noting_write  # type: ignore[method-assign]  # observed, still the real one
    # views: a column no document holds. The document comes out as it was indexed, so
    # the batch's write carries its checkpoint and nothing else, and nothing is queued
    # for embedding (a view counter would otherwise re-index its row on every page view)
    corpus.sql("UPDATE blogs SET views = views + 7 WHERE title = %s", CDN_DOC[0])
    wait_for(lambda: len(writes) > 0)
    assert writes == [[]]
    # tags: the document changes, the text embedded does not, so it is written and
    # queued, and the worker finds every chunk unchanged
    corpus.sql("UPDATE blogs SET tags = array_append(tags, 'cdn') WHERE title = %s",
               CDN_DOC[0])
    wait_for(lambda: worker.stats.skipped_unchanged > skipped and settled(corpus))
    assert writes == [[], [key]]
    assert corpus.search(q="pengiriman konten", tags="cdn")["total"] == 1
    assert worker.stats.model_calls == calls


def test_unpublish_and_delete_remove_every_chunk(semantic_stack: Stack) -> None:
    s = semantic_stack
    long_body = " ".join(f"Paragraf {i} membahas kebijakan transportasi kota." for i in range(400))
    blog = add(s, "Laporan panjang transportasi", long_body)
    table = table_name_for("use:multilingual-v3")

    def chunks() -> int:
        with psycopg.connect(s.settings.database_url, autocommit=True) as conn:
            row = conn.execute(f"SELECT count(*) FROM search.{table} WHERE doc_key = %s",
                               (f"blog:{blog}",)).fetchone()
        return int(row[0]) if row else 0

    wait_for(lambda: settled(s) and chunks() > 1, timeout=60)
    s.sql("UPDATE blogs SET status = 'draft' WHERE id = %s", blog)
    wait_for(lambda: chunks() == 0)
    s.sql("UPDATE blogs SET status = 'published' WHERE id = %s", blog)
    wait_for(lambda: chunks() > 1)
    s.sql("DELETE FROM blogs WHERE id = %s", blog)
    wait_for(lambda: chunks() == 0)
    assert chunks() == 0 and s.search(q="transportasi", mode="semantic")["total"] == 0


def test_activating_a_new_model_drops_the_old_vectors(fresh_db: str) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        store = VectorStore(conn)
        old = store.model_table("test:old", 3)
        store.activate("test:old")
        new = store.model_table("test:new", 4)
        assert new.state == "building"
        store.activate("test:new")
        models = conn.execute("SELECT model_id, state FROM search.embedding_models").fetchall()
        assert models == [("test:new", "active")]
        exists = conn.execute("SELECT to_regclass(%s)", (f"search.{old.table}",)).fetchone()
        assert exists == (None,)
        with pytest.raises(ConfigError, match="dimensions"):
            store.model_table("test:new", 5)


def test_readiness_shows_the_embedding_backlog_and_model(corpus: Stack) -> None:
    worker = corpus.indexer.embedding_worker
    assert worker is not None
    worker._write_status()
    emb = corpus.client.get("/readyz").json()["checks"]["indexer"]["embeddings"]
    assert emb["model"] == "use:multilingual-v3" and emb["backlog"] == 0 and emb["model_calls"] >= 1
    # counted at the request, not the worker's last status (written between rounds: a
    # slow model's round showed 0 for tens of seconds while 40 documents waited)
    corpus.db.execute(
        "INSERT INTO search.embedding_queue (doc_key, source_table, row_id, enqueued_at) "
        "SELECT 'blog:waiting-' || i, 'blogs', 'waiting-' || i, now() + interval '1 hour' "
        "FROM generate_series(1, 3) i")
    try:
        emb = corpus.client.get("/readyz").json()["checks"]["indexer"]["embeddings"]
        assert emb["backlog"] == 3
    finally:
        corpus.db.execute("DELETE FROM search.embedding_queue WHERE doc_key LIKE 'blog:waiting-%'")


def test_a_changed_body_reuses_the_vectors_of_unchanged_chunks(fresh_db: str) -> None:
    import numpy as np

    from search_svc.chunking import chunk_document
    from search_svc.engines.base import Document

    with psycopg.connect(fresh_db, autocommit=True) as conn:
        store = VectorStore(conn)
        t = store.model_table("test:reuse", 3)
        doc = Document(key="blog:1", id="1", tenant_id="t", type="blog", title="a", body="b c")
        chunks = chunk_document(doc, model_id="test:reuse", max_tokens=64)
        store.replace(t.table, [(doc, chunks, [np.array([1, 0, 0], dtype=np.float32)])])
        got = store.existing(t.table, ["blog:1", "blog:2"])
        assert list(got) == ["blog:1"]
        digest, vector = got["blog:1"][0]
        assert digest == chunks[0].hash and vector.tolist() == [1.0, 0.0, 0.0]



def test_a_rebuild_leaves_only_what_it_indexed_with_the_fields_it_indexed(fresh_db: str) -> None:
    import numpy as np

    from search_svc.chunking import chunk_document
    from search_svc.engines.base import Document

    def doc(n: int, tenant: str = "t1", **fields: object) -> Document:
        return Document(key=f"blog:{n}", id=str(n), tenant_id=tenant, type="blog",
                        title=f"judul {n}", body="isi", **fields)  # type: ignore[arg-type]

    with psycopg.connect(fresh_db, autocommit=True) as conn:
        store = VectorStore(conn)
        tables = [store.model_table(model, 3).table for model in ("test:a", "test:b")]
        for table in tables:  # an active and a building model: both are kept in step
            store.replace(table, [(d, chunk_document(d, model_id="m", max_tokens=64),
                                   [np.array([1, 0, 0], dtype=np.float32)])
                                  for d in (doc(1), doc(2), doc(3))])
        store.begin_rebuild()
        store.note_rebuilt([doc(1), doc(2, tenant="t2", tags=("baru",), published_at=99)])
        store.note_rebuilt([doc(4)])  # indexed, not embedded yet: nothing to keep in step
        assert store.finish_rebuild() == 2  # blog:3, in each table
        for table in tables:
            rows = conn.execute(f"SELECT doc_key, tenant_id, tags, published_at, title "
                                f"FROM search.{table} ORDER BY doc_key").fetchall()
            assert rows == [("blog:1", "t1", [], 0, "judul 1"),
                            ("blog:2", "t2", ["baru"], 99, "judul 2")]
        store.begin_rebuild()  # a second rebuild in the same session starts empty
        assert store.finish_rebuild() == 4


_ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)
_PARAMS = st.dictionaries(
    st.sampled_from(["q", "type", "category", "tags", "tag", "locale", "sort", "limit",
                     "offset", "facets", "semantic_ratio", "tenant"]),
    _ANY_TEXT | st.sampled_from(["kopi", "0", "-1", "1e309", "nan", "id", "blog,page", ""]),
    max_size=6)


@given(params=_PARAMS, mode=st.sampled_from(["keyword", "semantic", "hybrid"]))
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_any_parameter_values_in_any_mode_are_answered_or_refused_never_500(
        corpus: Stack, params: dict[str, str], mode: str) -> None:
    # what a hostile-input fuzz of every mode found (a NUL in locale reached SQL in
    # semantic mode; a CJK tenant broke the Cache-Tag header), as a property
    r = corpus.client.get("/v1/search", params={"tenant": "kopi", **params, "mode": mode})
    assert r.status_code in (200, 400), (params, r.text)
    body = r.json()
    if r.status_code == 400:
        assert body["error"]["code"] == "invalid_query"
        return
    assert all(value.isascii() for value in r.headers.values())
    assert not any(h["title"] == "Mempercepat situs dengan server tepi" for h in body["hits"])
    assert "Rahasia" not in str(body)  # the other tenant's row, in no field of any hit


def test_a_truncated_table_leaves_semantic_search_with_the_keyword_index(corpus: Stack) -> None:
    # a TRUNCATE names no rows: the indexer rebuilds the keyword index from the tables,
    # and the vectors of documents the rebuild no longer holds must go with them
    product = add(corpus, "Kopi arabika Gayo 250 gram", "Biji kopi sangrai medium dari Aceh.",
                  table="products")
    wait_for(lambda: semantic_ready(corpus) and corpus.search(
        q="biji kopi sangrai", mode="semantic", type="product")["total"] == 1, timeout=60)
    corpus.sql("TRUNCATE blogs")
    wait_for(lambda: corpus.indexer.engine.keys() == {f"product:{product}"})
    for mode in ("semantic", "hybrid"):  # at once, not when the queue gets to it
        for tenant in ("kopi", "tech"):
            body = corpus.search(tenant=tenant, q="jaringan pengiriman konten server tepi",
                                 mode=mode, limit=50)
            assert body["mode"] == mode
            assert [h["id"] for h in body["hits"]] == ([product] if tenant == "kopi" else []), \
                (mode, tenant, body["hits"])
    table = table_name_for("use:multilingual-v3")
    with psycopg.connect(corpus.settings.database_url, autocommit=True) as conn:
        row = conn.execute(f"SELECT array_agg(DISTINCT doc_key) FROM search.{table}").fetchone()
    assert row is not None and row[0] == [f"product:{product}"]


def test_a_facet_value_longer_than_a_filter_is_cut_alike_in_every_mode(corpus: Stack) -> None:
    # the keyword index kept a tag's first 512 characters (what a filter may hold) while
    # the vector store kept all of it: semantic mode showed a facet value no filter
    # could send back, and a filter by the keyword facet's value found nothing there
    long_tag = "label-" + "y" * 700
    add(corpus, "Mesin sangrai kopi rumahan", "Alat sangrai kecil untuk biji kopi di dapur.",
        tags=[long_tag, "alat"])
    wait_for(lambda: semantic_ready(corpus) and corpus.search(
        q="alat sangrai", mode="semantic", tags="alat")["total"] == 1, timeout=60)
    shown = {mode: corpus.search(q="mesin sangrai kopi rumahan", mode=mode,
                                 facets="tags", limit=50)["facets"]["tags"]
             for mode in ("keyword", "semantic")}
    assert long_tag[:512] in shown["keyword"] and long_tag[:512] in shown["semantic"], shown
    assert not any(len(value) > 512 for values in shown.values() for value in values)
    for mode in ("keyword", "semantic", "hybrid"):
        body = corpus.search(q="alat sangrai kopi", mode=mode, tags=long_tag[:512])
        assert [h["title"] for h in body["hits"]] == ["Mesin sangrai kopi rumahan"], mode


def test_a_vector_table_held_by_a_lock_answers_in_keyword_mode_not_never(corpus: Stack) -> None:
    # REINDEX, VACUUM FULL or an ALTER of the vector table (or a database that stops
    # answering mid-query) left every semantic and hybrid request, the default mode,
    # waiting on the query for as long as it took, while keyword search could answer
    from concurrent.futures import ThreadPoolExecutor

    table = table_name_for("use:multilingual-v3")
    with psycopg.connect(corpus.settings.database_url) as locker, \
            ThreadPoolExecutor(2) as pool:
        locker.execute(f"LOCK TABLE search.{table} IN ACCESS EXCLUSIVE MODE")
        answers = [pool.submit(corpus.search, q="resep rendang santan", mode=mode)
                   for mode in ("hybrid", "semantic")]
        try:
            bodies = [a.result(timeout=15) for a in answers]
        finally:
            locker.rollback()
    for body in bodies:
        assert body["mode"] == "keyword", body
        assert body["notice"] == "semantic search is not available (its database is not answering)"
        assert [h["title"] for h in body["hits"]] == ["Resep rendang daging sapi"]
    wait_for(lambda: corpus.search(q="resep rendang santan")["mode"] == "hybrid", timeout=30)


def test_every_connection_in_use_is_this_requests_fallback_not_an_outage(
        corpus: Stack) -> None:
    # no connection within the budget, though the database answers: under load (200
    # connections) it turned semantic search off for every tenant for 5 s, saying
    # "its database is not answering", and most requests of the replica went keyword
    assert corpus.search(q="resep rendang santan", mode="semantic")["mode"] == "semantic"
    portal, pool = corpus.client.portal, corpus.client.app.state.read_pool  # type: ignore[attr-defined]
    assert portal is not None
    held = [portal.call(pool.getconn) for _ in range(8)]
    try:
        body = corpus.search(q="resep rendang santan", mode="semantic")
    finally:
        for conn in held:
            portal.call(pool.putconn, conn)
    assert body["mode"] == "keyword", body
    assert body["notice"] == f"semantic search is not available ({CONNECTIONS_BUSY})"
    assert [h["title"] for h in body["hits"]] == ["Resep rendang daging sapi"]
    # connections back: semantic at once, not after a spell off
    assert corpus.search(q="resep rendang santan", mode="semantic")["mode"] == "semantic"


def test_vectors_left_by_a_model_turned_off_follow_the_keyword_index(
        fresh_db: str, tmp_path: Any) -> None:
    # AWSM_EMBEDDER=none skipped every vector write: rows hidden, deleted or moved while
    # it was off stayed in the old model's table, and came back in semantic results
    # for good once the model was turned on again (nothing re-queued them)
    import numpy as np

    from search_svc.chunking import chunk_document
    from tests.fixtures.fix_stack import make_settings, open_indexer, seed_tenants

    with psycopg.connect(fresh_db, autocommit=True) as conn:
        seed_tenants(conn)
        ids = [r[0] for r in conn.execute(
            "INSERT INTO blogs (tenant_id, title, slug, status, published_at) "
            "SELECT %s, 'Artikel ' || i, 'a-' || i, 'published', now() - interval '1 day' "
            "FROM generate_series(1, 3) i ORDER BY i RETURNING id::text", (TENANT_A,))]
        settings = make_settings(fresh_db, tmp_path, embedder="none")
        with open_indexer(fresh_db, settings) as indexer:
            indexer.prepare()
            indexer.backfill()
            docs = indexer.reader.documents_for({"blogs": set(ids)})[0]
        store = VectorStore(conn)  # vectors an earlier model left
        table = store.model_table("test:earlier", 3).table
        store.activate("test:earlier")
        store.replace(table, [(d, chunk_document(d, model_id="m", max_tokens=64),
                               [np.array([1, 0, 0], dtype=np.float32)]) for d in docs])
        conn.execute("UPDATE blogs SET status = 'draft' WHERE id = %s", (ids[0],))
        conn.execute("UPDATE blogs SET tenant_id = %s WHERE id = %s", (TENANT_B, ids[1]))

        def vectors() -> list[tuple[str, str]]:
            return conn.execute(f"SELECT doc_key, tenant_id FROM search.{table} "
                                "ORDER BY doc_key").fetchall()

        with open_indexer(fresh_db, settings) as indexer:  # still off
            indexer.prepare()
            indexer.write_documents({"blogs": {ids[0], ids[1]}})
            assert sorted(vectors()) == sorted([(f"blog:{ids[1]}", TENANT_B),
                                                (f"blog:{ids[2]}", TENANT_A)])
            conn.execute("DELETE FROM blogs WHERE id = %s", (ids[2],))
            indexer.backfill()  # a rebuild names no deleted rows: reconciled in SQL
            assert vectors() == [(f"blog:{ids[1]}", TENANT_B)]
        queued = {r[0] for r in conn.execute("SELECT doc_key FROM search.embedding_queue")}
        assert f"blog:{ids[1]}" in queued  # re-embedded once a model is on again


def test_text_removed_from_a_row_leaves_its_semantic_snippet_at_once(fresh_db: str) -> None:
    # a semantic hit's snippet is cut from the stored chunk text: removed text (an
    # account number) was shown until the queue re-embedded the row, ~30 s behind a
    # 58-document backlog in a helper's run
    import numpy as np

    from search_svc.chunking import chunk_document
    from search_svc.engines.base import Document
    from search_svc.vectors import still_holds

    secret = "nomor rekening pribadi 1234-5678-9999"
    before = Document(key="blog:1", id="1", tenant_id="t", type="blog", title="Kopi",
                      body=f"{secret} lalu resep kopi tubruk")
    other = Document(key="blog:2", id="2", tenant_id="t", type="blog", title="Teh",
                     body="resep teh tarik")
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        store = VectorStore(conn)
        table = store.model_table("test:snippets", 3).table
        store.replace(table, [(d, chunk_document(d, model_id="m", max_tokens=64),
                               [np.array([1, 0, 0], dtype=np.float32)]) for d in (before, other)])
        after = Document(key="blog:1", id="1", tenant_id="t", type="blog", title="Kopi",
                         body="lalu resep   kopi tubruk")
        store.sync_visibility([after, other], [])
        rows = conn.execute(f"SELECT doc_key, chunk_text FROM search.{table} "
                            "ORDER BY doc_key").fetchall()
        assert rows == [("blog:1", ""), ("blog:2", "Teh\nresep teh tarik")]  # vector kept
    assert still_holds(after, "Kopi\nlalu resep kopi") and not still_holds(after, secret)
    headless = Document(key="page:1", id="1", tenant_id="t", type="page", title="Profil",
                        summary="alamat rumah kami")
    assert still_holds(headless, "Profil — alamat rumah kami")
    assert not still_holds(Document(key="page:1", id="1", tenant_id="t", type="page",
                                    title="Profil"), "Profil — alamat rumah kami")


def test_a_summary_of_several_paragraphs_leaves_the_snippet_to_the_body(
        semantic_stack: Stack) -> None:
    # the summary keeps its paragraph breaks (``html_to_text``), and the first line
    # break of a chunk was taken for the end of its head: the snippet began with the
    # summary's second paragraph, and once the row changed at all (its tags) the chunk's
    # text was taken for text the row no longer held and blanked, the model's vectors
    # left alone: the snippet was the title for good
    blog = add(semantic_stack, "Panduan menyeduh kopi",
               "<p>Isi tulisan tentang menggiling biji kopi dengan gilingan tangan.</p>",
               excerpt="<p>Baris pertama ringkasan.</p><p>Baris kedua ringkasan.</p>")
    wait_for(lambda: semantic_ready(semantic_stack), timeout=60)

    def snippet() -> str:
        hits = semantic_stack.search(q="menggiling biji kopi", mode="semantic")["hits"]
        assert hits and hits[0]["id"] == blog, hits
        return str(hits[0]["snippet"])

    first = snippet()
    semantic_stack.sql("UPDATE blogs SET tags = ARRAY['kopi'] WHERE id = %s", blog)
    wait_for(lambda: settled(semantic_stack) and semantic_stack.search(
        q="menggiling biji kopi", mode="semantic", tags="kopi")["total"] == 1, timeout=60)
    after = snippet()
    assert [first[:11], after[:11]] == ["Isi tulisan"] * 2, (first, after)
    table = table_name_for("use:multilingual-v3")
    stored = semantic_stack.db.execute(
        f"SELECT chunk_text FROM search.{table} WHERE doc_key = %s", (f"blog:{blog}",)).fetchall()
    assert stored == [("Panduan menyeduh kopi — Baris pertama ringkasan. Baris kedua "
                       "ringkasan.\nIsi tulisan tentang menggiling biji kopi dengan gilingan "
                       "tangan.",)]


def test_a_row_the_keyword_engine_rejects_is_out_of_semantic_search_too(
        semantic_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    # parked by the indexer (the engine could not convert it) yet embedded by the
    # worker, which reads the row well: semantic search showed what keyword search did not
    from tests.indexer.test_hostile_rows import _refusing

    _refusing(monkeypatch, "Racun")
    bad = add(semantic_stack, "Racun tikus untuk gudang beras",
              "Cara mengusir tikus dari gudang penyimpanan beras.")
    add(semantic_stack, "Gudang beras yang bersih", "Menjaga gudang beras tetap kering.")
    wait_for(lambda: semantic_ready(semantic_stack), timeout=60)
    parked = semantic_stack.db.execute("SELECT row_id FROM search.dead_letters").fetchall()
    assert parked == [(bad,)]
    for mode in ("semantic", "hybrid"):
        titles = [h["title"] for h in semantic_stack.search(
            q="mengusir tikus dari gudang beras", mode=mode)["hits"]]
        assert "Gudang beras yang bersih" in titles and not any("Racun" in t for t in titles)
