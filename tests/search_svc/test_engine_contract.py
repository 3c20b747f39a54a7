"""One contract every keyword engine passes (Tantivy always; Meilisearch with a server).

Each test gets a fresh, empty index through the ``backend`` fixture: a writer engine,
a way to open a second (reader) instance on the same index, and a way to reopen.
"""

from __future__ import annotations

import html
import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from search_svc.engines.base import Document, KeywordEngine, SearchQuery
from search_svc.errors import InvalidQuery
from search_svc.query import parse_query

MEILI_URL = os.environ.get("AWSM_TEST_MEILI_URL")
T1, T2 = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"


@dataclass
class Backend:
    writer: KeywordEngine
    open_reader: Callable[[], KeywordEngine]
    reopen_writer: Callable[[], KeywordEngine]


def _tantivy(tmp_path: Path) -> Iterator[Backend]:
    from search_svc.engines.tantivy import TantivyEngine

    root = tmp_path / "tantivy"
    opened: list[KeywordEngine] = []

    def open_(writer: bool) -> KeywordEngine:
        engine = TantivyEngine(root, writer=writer, heap_size=15_000_000)
        opened.append(engine)
        return engine

    backend = Backend(open_(True), lambda: open_(False), lambda: None)  # type: ignore[arg-type,return-value]

    def reopen() -> KeywordEngine:
        backend.writer.close()
        backend.writer = open_(True)
        return backend.writer

    backend.reopen_writer = reopen
    yield backend
    for engine in opened:
        engine.close()


def _meili() -> Iterator[Backend]:
    import httpx

    from search_svc.engines.meili import MeiliEngine

    name = f"awsm_test_{uuid.uuid4().hex[:12]}"
    key = os.environ.get("AWSM_TEST_MEILI_KEY")

    def open_(writer: bool) -> KeywordEngine:
        return MeiliEngine(MEILI_URL or "", key, name, writer=writer)

    backend = Backend(open_(True), lambda: open_(False), lambda: None)  # type: ignore[arg-type,return-value]

    def reopen() -> KeywordEngine:
        backend.writer.close()
        backend.writer = open_(True)
        return backend.writer

    backend.reopen_writer = reopen
    yield backend
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(base_url=MEILI_URL or "", headers=headers) as client:
        for index in client.get("/indexes", params={"limit": 1000}).json()["results"]:
            if index["uid"].startswith(name):
                client.delete(f"/indexes/{index['uid']}")


@pytest.fixture(params=["tantivy", "meilisearch"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "tantivy":
        yield from _tantivy(tmp_path)
    elif not MEILI_URL:
        pytest.skip("Meilisearch contract runs only when AWSM_TEST_MEILI_URL is set")
    else:
        yield from _meili()


def doc(n: int | str, title: str, body: str = "", *, tenant: str = T1, type: str = "blog",
        **kw: object) -> Document:
    return Document(key=f"{type}:{n}", id=str(n), tenant_id=tenant, type=type, title=title,
                    body=body, url=f"/{type}/{n}", **kw)  # type: ignore[arg-type]


def q(text: str = "", tenant: str = T1, **kw: object) -> SearchQuery:
    return SearchQuery(tenant_id=tenant, text=parse_query(text).text if text else "",
                       **kw)  # type: ignore[arg-type]


def keys_of(engine: KeywordEngine, query: SearchQuery) -> list[str]:
    return [h.key for h in engine.search(query).hits]


# writes ---------------------------------------------------------------------
def test_upsert_replace_and_delete_by_key(backend: Backend) -> None:
    w = backend.writer
    w.write([doc(1, "Rumah makan"), doc(2, "Kota tua"), doc(3, "Pantai indah")], [])
    assert w.stats().documents == 3 and w.keys() == {"blog:1", "blog:2", "blog:3"}
    w.write([doc(1, "Gunung berapi"), doc(1, "Gunung berapi lagi")], [])
    assert w.stats().documents == 3
    hits = w.search(q("gunung")).hits
    assert [(h.key, h.title) for h in hits] == [("blog:1", "Gunung berapi lagi")]
    assert w.search(q("rumah")).total == 0
    w.write([], ["blog:2", "blog:404"])
    assert w.stats().documents == 2 and w.keys() == {"blog:1", "blog:3"}
    assert w.search(q("kota")).total == 0


def test_hit_carries_the_document_fields(backend: Backend) -> None:
    d = doc(7, "Soto Betawi", "Kuah santan", category="Kuliner", tags=("jakarta", "soto"),
            locale="id", image="/img/soto.jpg", published_at=1_700_000_000, type="product")
    backend.writer.write([d], [])
    (hit,) = backend.writer.search(q("soto")).hits
    assert (hit.key, hit.id, hit.type, hit.title, hit.url, hit.image, hit.published_at,
            hit.category, hit.tags, hit.locale) == (
        "product:7", "7", "product", "Soto Betawi", "/product/7", "/img/soto.jpg",
        1_700_000_000, "Kuliner", ("jakarta", "soto"), "id")
    assert hit.score > 0


# isolation and filters -------------------------------------------------------
def test_tenant_isolation_in_hits_totals_and_facets(backend: Backend) -> None:
    backend.writer.write(
        [doc(i, f"Berita rumah {i}", tenant=T1, tags=("t1tag",), category="A") for i in range(3)]
        + [doc(10 + i, f"Berita rumah {i}", tenant=T2, tags=("t2tag",), category="B",
               type="page") for i in range(4)], [])
    for text in ("rumah", "", "berita rumah", "rumha"):
        res = backend.writer.search(q(text, facets=("type", "category", "tags", "locale")))
        assert res.total == 3 and {h.key for h in res.hits} == {"blog:0", "blog:1", "blog:2"}
        assert res.facets["tags"] == {"t1tag": 3} and res.facets["category"] == {"A": 3}
        assert res.facets["type"] == {"blog": 3}
    assert backend.writer.keys(T2) == {f"page:{10 + i}" for i in range(4)}
    assert backend.writer.search(q("rumah", tenant="33333333-0000-0000-0000-000000000000")).total == 0


def test_filters_by_type_category_tags_locale(backend: Backend) -> None:
    backend.writer.write([
        doc(1, "Nasi goreng", category="Kuliner", tags=("pedas", "murah"), locale="id"),
        doc(2, "Fried rice", category="Food", tags=("spicy",), locale="en"),
        doc(3, "Nasi uduk", category="Kuliner", tags=("murah",), locale="id", type="page"),
        doc(4, "Nasi kuning", category="Sarapan", locale="id", type="product"),
    ], [])
    w = backend.writer
    assert set(keys_of(w, q(types=("page", "product")))) == {"page:3", "product:4"}
    assert set(keys_of(w, q("nasi", categories=("Kuliner",)))) == {"blog:1", "page:3"}
    assert set(keys_of(w, q(tags=("pedas", "spicy")))) == {"blog:1", "blog:2"}
    assert set(keys_of(w, q(locale="en"))) == {"blog:2"}
    assert keys_of(w, q("nasi", types=("blog",), tags=("murah",), locale="id")) == ["blog:1"]
    assert w.search(q("nasi", categories=("Nope",))).total == 0


def test_published_before_guard(backend: Backend) -> None:
    backend.writer.write([doc(1, "Jadwal rilis", published_at=1000),
                          doc(2, "Jadwal rilis baru", published_at=2000)], [])
    assert keys_of(backend.writer, q("jadwal", published_before=1500)) == ["blog:1"]
    assert backend.writer.search(q("jadwal", published_before=2000)).total == 2


# matching ----------------------------------------------------------------------
def test_typo_budget_by_word_length(backend: Backend) -> None:
    backend.writer.write([doc(1, "Kota"), doc(2, "Rumah"), doc(3, "Pemerintahan")], [])
    w = backend.writer
    # a trailing space ends the word: no prefix matching, typos only
    assert w.search(q("kote ")).total == 0  # under 5: exact only
    assert keys_of(w, q("kota ")) == ["blog:1"]
    assert keys_of(w, q("rumeh ")) == ["blog:2"]  # 1 typo at 5
    assert w.search(q("rxmeh ")).total == 0  # 2 typos at 5
    assert keys_of(w, q("pemxrintahxn ")) == ["blog:3"]  # 2 typos at 9+
    assert w.search(q("pxmxrintahxn ")).total == 0  # 3 typos


def test_a_typo_on_the_first_letter_counts_two(backend: Backend) -> None:
    # Meilisearch's rule: "mumah" is two typos from "rumah" (5 letters: one allowed);
    # "femerintahan" is two from "pemerintahan" (9+: allowed, as its only typo)
    backend.writer.write([doc(1, "Rumah"), doc(2, "Pemerintahan")], [])
    w = backend.writer
    assert w.search(q("mumah ")).total == 0
    assert w.search(q("mumah")).total == 0  # nor as a prefix
    assert keys_of(w, q("femerintahan ")) == ["blog:2"]
    assert keys_of(w, q("emerintahan ")) == ["blog:2"]  # first letter dropped
    assert keys_of(w, q("epmerintahan ")) == ["blog:2"]  # first two letters swapped
    assert keys_of(w, q("xpemerintahan ")) == ["blog:2"]  # a letter inserted before
    assert keys_of(w, q("femerin")) == []  # 7 letters typed: one typo, not on the first
    assert keys_of(w, q("femerintah")) == ["blog:2"]  # 10 typed: a prefix with that typo
    assert w.search(q("femerintahxn ")).total == 0  # and one more typo is too many


def test_prefix_matches_the_last_word_only(backend: Backend) -> None:
    backend.writer.write([doc(1, "Rumah makan Padang"), doc(2, "Jakarta Selatan")], [])
    w = backend.writer
    assert keys_of(w, q("jak")) == ["blog:2"]
    assert w.search(q("jak ")).total == 0
    assert keys_of(w, q("rumah mak")) == ["blog:1"]
    assert w.search(q("rum mak ")).total == 0  # a completed word is never a prefix


def test_every_word_must_match_then_any_word(backend: Backend) -> None:
    backend.writer.write([doc(1, "Rumah makan Padang"), doc(2, "Rumah sakit umum"),
                          doc(3, "Pantai Kuta")], [])
    w = backend.writer
    assert keys_of(w, q("rumah sakit")) == ["blog:2"]
    assert set(keys_of(w, q("rumah zzyzzx "))) == {"blog:1", "blog:2"}  # AND empty: OR


def test_accents_and_case_fold(backend: Backend) -> None:
    backend.writer.write([doc(1, "Café Crème"), doc(2, "NAÏVE Straße")], [])
    assert keys_of(backend.writer, q("cafe creme")) == ["blog:1"]
    assert keys_of(backend.writer, q("CAFÉ")) == ["blog:1"]
    assert keys_of(backend.writer, q("naive")) == ["blog:2"]
    # letters no Unicode decomposition folds: the document must be folded as the query is
    backend.writer.write([doc(3, "Jalan-jalan di Łódź"), doc(4, "Fußball di Þórshöfn")], [])
    for text, key in (("straße", "blog:2"), ("strasse", "blog:2"), ("Łódź", "blog:3"),
                      ("lodz", "blog:3"), ("fussball", "blog:4"), ("Þórshöfn", "blog:4")):
        assert keys_of(backend.writer, q(text)) == [key], text


def test_combining_marks_are_accents_not_word_breaks(backend: Backend) -> None:
    # Arabic harakat are marks on their letter: "بسم الله" as typed finds the vocalised
    # text (an Indonesian site quoting the Quran), and the snippet marks whole words
    backend.writer.write([doc(1, "Doa", "Membaca بِسْمِ اللَّهِ sebelum makan"),
                          doc(2, "Cafe\u0301 di Bandung")], [])
    (hit,) = backend.writer.search(q("بسم الله")).hits
    assert hit.key == "blog:1" and marks_in(hit.snippet) == ["بِسْمِ", "اللَّهِ"]
    (hit,) = backend.writer.search(q("cafe")).hits
    assert marks_in(hit.snippet) == ["Cafe\u0301"]


def test_a_soft_hyphen_inside_a_word_does_not_hide_it(backend: Backend) -> None:
    # "&shy;" in AWCMS's HTML is decoded to U+00AD: the visitor reads (and types) one word
    backend.writer.write([doc(1, "Berita", "Kantor pe\u00admerintahan daerah")], [])
    (hit,) = backend.writer.search(q("pemerintahan")).hits
    assert marks_in(hit.snippet) == ["pe\u00admerintahan"]


def marks_in(snippet: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r"<mark>(.*?)</mark>", snippet)]


def test_title_outranks_summary_outranks_body(backend: Backend) -> None:
    filler = "lorem ipsum dolor sit amet " * 3
    backend.writer.write([
        doc(1, "Lorem ipsum", filler + "borobudur", summary="Tentang candi"),
        doc(2, "Candi borobudur", filler + "amet", summary="Tentang candi"),
        doc(3, "Dolor sit", filler + "amet", summary="Tentang borobudur"),
    ], [])
    assert keys_of(backend.writer, q("borobudur")) == ["blog:2", "blog:3", "blog:1"]


def test_a_typo_in_the_title_outranks_one_in_the_body(backend: Backend) -> None:
    backend.writer.write([doc(1, "Adat istiadat", "tentang rumah adat di desa"),
                          doc(2, "Rumah adat", "tentang adat istiadat di desa")], [])
    assert keys_of(backend.writer, q("rumeh ")) == ["blog:2", "blog:1"]


def test_sort_by_published_at_newest_first(backend: Backend) -> None:
    backend.writer.write([doc(i, "Pengumuman", published_at=1000 + (i * 37) % 11)
                          for i in range(8)], [])
    hits = backend.writer.search(q("pengumuman", sort="published_at")).hits
    assert [h.published_at for h in hits] == sorted((h.published_at for h in hits),
                                                    reverse=True)
    assert len(hits) == 8


def test_pagination_and_exact_totals(backend: Backend) -> None:
    backend.writer.write([doc(i, f"Artikel {i}", published_at=i) for i in range(25)], [])
    w = backend.writer
    pages = [w.search(q("artikel", sort="published_at", limit=10, offset=o)) for o in (0, 10, 20)]
    assert [p.total for p in pages] == [25, 25, 25]
    assert [len(p.hits) for p in pages] == [10, 10, 5]
    seen = [h.key for p in pages for h in p.hits]
    assert len(set(seen)) == 25 and seen[0] == "blog:24"
    assert w.search(q("artikel", limit=10, offset=30)).hits == []
    assert w.search(q("artikel", limit=0)).total == 25


def test_a_page_across_the_result_window_is_cut_there(backend: Backend,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # (10,000 in production: patched small, so 25 documents reach past it)
    from search_svc.engines import meili_query, tantivy_query
    for module in (meili_query, tantivy_query):
        monkeypatch.setattr(module, "MAX_RESULT_WINDOW", 12)
    backend.writer.write([doc(i, f"Artikel {i}", published_at=i) for i in range(25)], [])
    w = backend.writer
    cut = w.search(q("artikel", sort="published_at", limit=10, offset=5))
    assert cut.total == 25
    assert [h.key for h in cut.hits] == [f"blog:{i}" for i in range(19, 12, -1)]  # 6th-12th
    past = w.search(q("artikel", sort="published_at", limit=10, offset=12))
    assert past.total == 25 and past.hits == []


def test_disjunctive_facets(backend: Backend) -> None:
    backend.writer.write([
        doc(1, "Resep sambal", category="Kuliner", tags=("pedas",)),
        doc(2, "Resep rendang", category="Kuliner", tags=("pedas", "daging"), type="page"),
        doc(3, "Resep es teh", category="Minuman", tags=("manis",)),
        doc(4, "Resep kopi", category="Minuman", tags=("manis",), type="product"),
    ], [])
    res = backend.writer.search(q("resep", types=("blog",), facets=("type", "category", "tags")))
    assert res.total == 2
    # each facet ignores its own filter but honours the others
    assert res.facets["type"] == {"blog": 2, "page": 1, "product": 1}
    assert res.facets["category"] == {"Kuliner": 1, "Minuman": 1}
    assert res.facets["tags"] == {"pedas": 1, "manis": 1}
    res = backend.writer.search(q("resep", categories=("Kuliner",), facets=("category",),
                                  facet_size=1))
    assert res.facets == {"category": {"Kuliner": 2}}


@pytest.mark.parametrize("bounds", [{"limit": -1}, {"offset": -1}, {"facet_size": -1},
                                    {"facet_size": 101}, {"facets": ("views",)}])
def test_a_query_out_of_bounds_is_refused_the_same_by_every_engine(
        backend: Backend, bounds: dict[str, object]) -> None:
    # Meilisearch counts at most 100 values a facet (maxValuesPerFacet) without a word
    backend.writer.write([doc(1, "Resep kopi", tags=tuple(f"t{i}" for i in range(120)))], [])
    with pytest.raises(InvalidQuery):
        backend.writer.search(q("resep", **bounds))
    assert len(backend.writer.search(q("resep", facets=("tags",), facet_size=100)
                                     ).facets["tags"]) == 100


def test_the_tenants_type_scope_bounds_hits_totals_and_every_facet(backend: Backend) -> None:
    # a tenant that lets the public search only some types (AWCMS's search settings):
    # another type is neither found nor counted, not even by the type facet, which
    # ignores the visitor's own type filter but never the scope
    backend.writer.write([
        doc(1, "Resep sambal", category="Kuliner", published_at=1),
        doc(2, "Resep rendang", category="Kuliner", type="page", published_at=2),
        doc(3, "Resep kopi", category="Minuman", type="product", published_at=3),
    ], [])
    w = backend.writer
    for text, sort in (("resep", "relevance"), ("resepp", "relevance"), ("", "published_at")):
        res = w.search(q(text, sort=sort, scope_types=("blog", "product"),
                         facets=("type", "category")))
        assert (res.total, {h.key for h in res.hits}) == (2, {"blog:1", "product:3"}), text
        assert res.facets == {"type": {"blog": 1, "product": 1},
                              "category": {"Kuliner": 1, "Minuman": 1}}, text
    res = w.search(q("resep", scope_types=("blog",), types=("page",), facets=("type",)))
    assert (res.total, res.hits, res.facets) == (0, [], {"type": {"blog": 1}})
    res = w.search(q("resep", scope_types=("page", "blog"), types=("page", "product")))
    assert [h.key for h in res.hits] == ["page:2"]


def test_facet_counts_are_exact_over_many_values_and_writes(backend: Backend) -> None:
    # Tantivy counts facet values per segment (a write is a segment until merged) and
    # keeps each segment's top 1,000: a value short of that in one segment lost its
    # count there ("hot" counted 500 of 502)
    for part in range(3):
        docs = []
        for i in range(3000):
            tags = (f"t{part}-{i % 1500}",)
            if (part == 2 and i < 500) or (part < 2 and i == 7):
                tags += ("hot",)
            docs.append(doc(f"{part}-{i}", "Catatan harian", tags=tags))
        backend.writer.write(docs, [])
    res = backend.writer.search(q("catatan", facets=("tags",), facet_size=1, limit=0))
    assert res.total == 9000 and res.facets["tags"] == {"hot": 502}


# output safety -------------------------------------------------------------------
def test_snippet_is_escaped_and_marked(backend: Backend) -> None:
    body = 'Awas <script>alert("x")</script> di halaman rumah <b>kami</b>.'
    backend.writer.write([doc(1, "Peringatan <img src=x onerror=alert(1)>", body)], [])
    (hit,) = backend.writer.search(q("rumah")).hits
    assert "<mark>rumah</mark>" in hit.snippet
    assert "&lt;script&gt;" in hit.snippet
    assert not re.search(r"<(?!/?mark>)", hit.snippet)
    assert html.unescape(re.sub(r"</?mark>", "", hit.snippet)) == body
    assert hit.title == "Peringatan <img src=x onerror=alert(1)>"  # plain; the API escapes


@pytest.mark.parametrize("text", [
    '"', '""', '"rumah', 'rumah"', "title:rumah", "rumah AND OR NOT", "(rumah", "rumah)",
    "rumah~2", "rumah^10", "*", "ru*", "-rumah", "+rumah", "[a TO z]", "{}", "\\", "'; --",
    "a" * 10_000, "rumah " * 2000, "😀🏠 rumah 🇮🇩", "\u0000\u200b\u202e", "ｒｕｍａｈ",
    "١٢٣ رومه", "日本語のテキスト", "\ud800", "%00", "filter = tenant",
])
def test_hostile_query_text_never_raises(backend: Backend, text: str) -> None:
    backend.writer.write([doc(1, "Rumah")], [])
    for sent in (text, parse_query(text).text):
        res = backend.writer.search(SearchQuery(tenant_id=T1, text=sent, facets=("tags",)))
        # nothing but the one document, counted as returned
        assert res.total == len(res.hits) and all(h.key == "blog:1" for h in res.hits)


def test_too_short_query_is_empty(backend: Backend) -> None:
    backend.writer.write([doc(1, "A b c")], [])
    res = backend.writer.search(q("a", facets=("type",)))
    assert res.total == 0 and res.hits == [] and res.facets == {"type": {}}


# processes, rebuild, checkpoints -----------------------------------------------
def test_reader_sees_writer_commits(backend: Backend) -> None:
    backend.writer.write([doc(1, "Awal")], [])
    reader = backend.open_reader()
    assert keys_of(reader, q("awal")) == ["blog:1"]
    backend.writer.write([doc(2, "Berikutnya")], ["blog:1"], checkpoint="0/2")
    assert keys_of(reader, q("berikutnya")) == ["blog:2"]
    assert reader.search(q("awal")).total == 0
    assert reader.checkpoint() == "0/2" and reader.stats().documents == 1


def test_rebuild_then_swap(backend: Backend) -> None:
    backend.writer.write([doc(1, "Lama"), doc(2, "Lama juga")], [], checkpoint="0/1")
    reader = backend.open_reader()
    shadow = backend.writer.begin_rebuild()
    assert shadow.stats().documents == 0 and shadow.checkpoint() is None
    shadow.write([doc(3, "Baru")], [], checkpoint="0/9")
    assert keys_of(reader, q("lama")) != [] and reader.search(q("baru")).total == 0
    backend.writer.swap(shadow)
    for engine in (backend.writer, reader):
        assert engine.keys() == {"blog:3"}
        assert engine.checkpoint() == "0/9"
    backend.writer.write([doc(4, "Sesudah swap")], [])
    assert reader.keys() == {"blog:3", "blog:4"}
    assert backend.reopen_writer().keys() == {"blog:3", "blog:4"}


def test_abandoned_rebuild_leaves_the_live_index(backend: Backend) -> None:
    backend.writer.write([doc(1, "Tetap")], [])
    shadow = backend.writer.begin_rebuild()
    shadow.write([doc(2, "Buang")], [])
    shadow.close()
    assert backend.writer.keys() == {"blog:1"}
    assert backend.reopen_writer().keys() == {"blog:1"}


def test_checkpoint_round_trip_across_reopen(backend: Backend) -> None:
    assert backend.writer.checkpoint() is None
    backend.writer.write([doc(1, "Satu")], [], checkpoint="0/16B3748")
    backend.writer.write([doc(2, "Dua")], [])  # no checkpoint: the last one stands
    assert backend.writer.checkpoint() == "0/16B3748"
    reopened = backend.reopen_writer()
    assert reopened.checkpoint() == "0/16B3748" and reopened.stats().checkpoint == "0/16B3748"
    assert reopened.keys() == {"blog:1", "blog:2"}


def test_read_only_engine_refuses_writes(backend: Backend) -> None:
    from search_svc.errors import EngineUnavailable

    reader = backend.open_reader()
    with pytest.raises(EngineUnavailable):
        reader.write([doc(1, "x")], [])


def test_documents_are_replaced_whole(backend: Backend) -> None:
    backend.writer.write([doc(1, "Judul", "isi lama", tags=("a",), category="X")], [])
    backend.writer.write([replace(doc(1, "Judul", "isi baru"), tags=(), category=None)], [])
    res = backend.writer.search(q("judul", facets=("tags", "category")))
    assert res.facets == {"tags": {}, "category": {}}
    assert backend.writer.search(q("lama ")).total == 0


def test_tantivy_reader_waits_for_the_index_to_exist(tmp_path: Path) -> None:
    from search_svc.engines.tantivy import TantivyEngine
    from search_svc.errors import EngineUnavailable

    reader = TantivyEngine(tmp_path / "idx", writer=False)
    with pytest.raises(EngineUnavailable):
        reader.search(q("apa"))
    writer = TantivyEngine(tmp_path / "idx", writer=True, heap_size=15_000_000)
    writer.write([doc(1, "Apa kabar")], [], checkpoint="7")
    assert keys_of(reader, q("apa")) == ["blog:1"] and reader.checkpoint() == "7"
    assert sorted(p.name for p in (tmp_path / "idx").iterdir())[0] == "CURRENT"
    writer.close()
    reader.close()


def test_tantivy_swap_removes_the_old_generation(tmp_path: Path) -> None:
    from search_svc.engines.tantivy import TantivyEngine

    writer = TantivyEngine(tmp_path / "idx", writer=True, heap_size=15_000_000)
    shadow = writer.begin_rebuild()
    assert len(list((tmp_path / "idx").glob("gen-*"))) == 2
    writer.swap(shadow)
    assert len(list((tmp_path / "idx").glob("gen-*"))) == 1
    writer.close()


def test_checkpoint_only_write(backend: Backend) -> None:
    backend.writer.write([doc(1, "Isi")], [])
    backend.writer.write([], [], checkpoint="0/AA")
    assert backend.writer.checkpoint() == "0/AA" and backend.writer.stats().documents == 1


def test_other_tenants_documents_never_change_a_tenants_results(backend: Backend) -> None:
    import random

    rng = random.Random(7)
    vocab = ["rumah", "makan", "padang", "jakarta", "pemerintahan", "kota", "berita",
             "sekolah", "pantai", "gunung", "kopi", "teh", "resep", "wisata", "budaya"]
    cats, tags = ["A", "B", "C"], ["x", "y", "z", "w"]

    def corpus(tenant: str, n: int, start: int) -> list[Document]:
        return [doc(start + i, " ".join(rng.choices(vocab, k=3)),
                    " ".join(rng.choices(vocab, k=20)), tenant=tenant,
                    type=rng.choice(["blog", "page"]), category=rng.choice(cats),
                    tags=tuple(rng.sample(tags, 2)), locale=rng.choice(["id", "en"]),
                    published_at=rng.randint(0, 100)) for i in range(n)]

    def typo(word: str) -> str:
        i = rng.randrange(len(word))
        return word[:i] + "q" + word[i + 1:]

    queries = []
    for _ in range(40):
        words = rng.choices(vocab, k=rng.randint(1, 3))
        words = [typo(w) if rng.random() < 0.3 else w for w in words]
        text = " ".join(words)
        text = text[:-2] if rng.random() < 0.3 else text + rng.choice(["", " "])
        queries.append(q(text, facets=("type", "category", "tags", "locale"), limit=100,
                         types=("blog",) if rng.random() < 0.3 else (),
                         tags=("x",) if rng.random() < 0.3 else (),
                         # hybrid's keyword side: other tenants may move the order alone
                         match="ranking" if rng.random() < 0.3 else "visitor"))

    def snapshot() -> list[tuple[int, set[str], dict[str, dict[str, int]]]]:
        out = []
        for query in queries:
            res = backend.writer.search(query)
            out.append((res.total, {h.key for h in res.hits}, res.facets))
        return out

    backend.writer.write(corpus(T1, 40, 0), [])
    before = snapshot()
    assert any(total for total, _, _ in before)
    backend.writer.write(corpus(T2, 60, 1000), [])
    assert snapshot() == before


def test_tantivy_failed_commit_is_unavailable_never_silent(tmp_path: Path) -> None:
    import shutil

    from search_svc.engines.tantivy import TantivyEngine
    from search_svc.errors import EngineUnavailable

    writer = TantivyEngine(tmp_path / "idx", writer=True, heap_size=15_000_000)
    writer.write([doc(1, "Satu")], [])
    for generation in (tmp_path / "idx").glob("gen-*"):
        shutil.rmtree(generation)  # the disk goes away under the writer
    for n in (2, 3):
        with pytest.raises(EngineUnavailable):
            writer.write([doc(n, "Dua")], [], checkpoint=str(n))
    writer.close()


def test_tantivy_rebuild_commits_once_into_one_segment(tmp_path: Path) -> None:
    """A rebuild's chunks are committed together (at its checkpoint or at swap), so it
    goes live as one segment, not one per chunk: every segment repeats the term
    dictionary a typo query walks."""
    from search_svc.engines.tantivy import TantivyEngine

    writer = TantivyEngine(tmp_path / "idx", writer=True, heap_size=15_000_000,
                           rebuild_heap_size=60_000_000)
    reader = TantivyEngine(tmp_path / "idx", writer=False)
    for n in range(3):  # the streaming writer commits each batch: a segment apiece
        writer.write([doc(n, f"Lama {n}")], [])
    assert writer.stats().detail["segments"] == 3
    shadow = writer.begin_rebuild()
    for chunk in range(5):
        shadow.write([doc(100 * chunk + i, f"Baru pemerintahan {i}") for i in range(50)], [])
    assert reader.search(q("baru")).total == 0  # not live before the swap
    writer.swap(shadow)  # no checkpoint write: swap commits the chunks
    assert reader.search(q("pemerintahan")).total == 250
    assert reader.search(q("pemerintahn")).total == 250  # typo automaton over one segment
    assert reader.stats().detail["segments"] == 1
    assert reader.keys() == {f"blog:{100 * c + i}" for c in range(5) for i in range(50)}
    writer.write([doc(999, "Sesudah swap")], [], checkpoint="0/5")  # streams on
    assert reader.search(q("sesudah")).total == 1 and reader.checkpoint() == "0/5"
    writer.close()
    reader.close()


def test_tantivy_rebuild_that_lost_its_writes_never_goes_live(tmp_path: Path) -> None:
    import shutil

    from search_svc.engines.tantivy import TantivyEngine
    from search_svc.errors import EngineUnavailable

    writer = TantivyEngine(tmp_path / "idx", writer=True, heap_size=15_000_000)
    writer.write([doc(1, "Tetap")], [], checkpoint="0/1")
    shadow = writer.begin_rebuild()
    shadow.write([doc(2, "Buang")], [])  # not committed yet
    live = {p.name for p in (tmp_path / "idx").glob("gen-*")} - {shadow._generation}
    gone = tmp_path / "idx" / str(shadow._generation)
    while gone.exists():  # its disk goes away (tantivy may be writing a file meanwhile)
        shutil.rmtree(gone, ignore_errors=True)
    with pytest.raises(EngineUnavailable):
        writer.swap(shadow)
    with pytest.raises(EngineUnavailable):  # and stays refused: never a partial rebuild
        shadow.write([doc(3, "Lagi")], [], checkpoint="0/9")
    assert {p.name for p in (tmp_path / "idx").glob("gen-*")} >= live
    assert writer.keys() == {"blog:1"} and writer.checkpoint() == "0/1"
    shadow.close()
    writer.close()


# hybrid's keyword side ---------------------------------------------------------
def _ranking(text: str) -> SearchQuery:
    from search_svc.semantic import keyword_side

    return keyword_side(q(), text, 20)


def test_ranking_says_whether_its_first_hit_holds_every_word(backend: Backend) -> None:
    backend.writer.write([
        doc(1, "Reformasi pemerintahan daerah", "Otonomi dan anggaran"),
        doc(2, "Anggaran sekolah", "Dana bantuan pendidikan"),
        doc(3, "Resep rendang", "Daging sapi dan santan"),
    ], [])
    w = backend.writer
    assert w.search(_ranking("reformasi daerah")).first_hit_complete  # title words as typed
    assert w.search(_ranking("femerintahan")).first_hit_complete  # only a misspelling found it
    assert w.search(_ranking("reformasi otonomi")).first_hit_complete  # across title and body
    assert not w.search(_ranking("anggaran rendang")).first_hit_complete  # no document has both
    assert not w.search(_ranking("zyxwvu")).first_hit_complete  # nothing found
    # the search box's own query never reports it (only hybrid asks)
    assert not w.search(q("reformasi daerah")).first_hit_complete
