"""Tantivy's stemmed fields, the ``match="ranking"`` query shape and the schema upgrade."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from search_svc.engines.base import Document, SearchQuery
from search_svc.engines.generations import POINTER
from search_svc.engines.tantivy import TantivyEngine
from search_svc.query import parse_query
from search_svc.semantic import keyword_side

T = "11111111-1111-1111-1111-111111111111"


def doc(n: int, title: str, body: str = "", locale: str = "id") -> Document:
    return Document(key=f"blog:{n}", id=str(n), tenant_id=T, type="blog", title=title,
                    body=body, locale=locale, url=f"/blog/{n}")


def keys(engine: TantivyEngine, text: str, match: str = "visitor") -> list[str]:
    query = SearchQuery(tenant_id=T, text=parse_query(text).text)
    if match == "ranking":
        query = keyword_side(query, text, 20)
    return [h.key for h in engine.search(query).hits]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[TantivyEngine]:
    e = TantivyEngine(tmp_path / "idx", writer=True, heap_size=15_000_000)
    yield e
    e.close()


@pytest.mark.parametrize("match", ["visitor", "ranking"])
def test_indonesian_affixes_find_the_root_form(engine: TantivyEngine, match: str) -> None:
    engine.write([doc(1, "Layanan pengiriman paket"), doc(2, "Resep sambal")], [])
    for text in ("dikirim ", "mengirimkan ", "kiriman "):
        assert keys(engine, text, match) == ["blog:1"], text


@pytest.mark.parametrize("match", ["visitor", "ranking"])
def test_english_documents_get_the_english_stemmer(engine: TantivyEngine, match: str) -> None:
    engine.write([doc(1, "Caching pages at the edge", locale="en"),
                  doc(2, "Resep sambal", locale="id")], [])
    assert keys(engine, "cached ", match) == ["blog:1"]


def test_the_exact_word_outranks_a_stemmed_match(engine: TantivyEngine) -> None:
    engine.write([doc(1, "Jadwal kiriman", "paket kiriman kiriman"),
                  doc(2, "Jadwal pengiriman", "paket pengiriman pengiriman")], [])
    for match in ("visitor", "ranking"):
        assert keys(engine, "pengiriman ", match) == ["blog:2", "blog:1"]


def test_ranking_is_any_word_by_weight_without_expansions(engine: TantivyEngine) -> None:
    engine.write([doc(1, "Rumah makan Padang"), doc(2, "Rumah sakit umum"),
                  doc(3, "Rumeh tua"), doc(4, "Pantai Kuta")], [])
    # visitors: every word first; ranking: any word, the one holding both first
    assert keys(engine, "rumah sakit ") == ["blog:2"]
    ranked = keys(engine, "rumah sakit ", "ranking")
    assert ranked[0] == "blog:2" and set(ranked) == {"blog:1", "blog:2"}  # no "rumeh"


def test_ranking_falls_back_to_typos_and_prefixes_when_no_word_matches(
        engine: TantivyEngine) -> None:
    engine.write([doc(1, "Rumah makan Padang"), doc(2, "Jakarta Selatan")], [])
    assert keys(engine, "rumha ", "ranking") == ["blog:1"]
    assert keys(engine, "jak", "ranking") == ["blog:2"]


def test_ranking_keeps_words_past_the_tenth(engine: TantivyEngine) -> None:
    engine.write([doc(1, "Borobudur"), doc(2, "Prambanan")], [])
    text = "satu dua tiga empat lima enam tujuh delapan sembilan sepuluh borobudur "
    assert keys(engine, text) == []  # the search box reads ten words
    assert keys(engine, text, "ranking") == ["blog:1"]


def test_an_index_of_an_older_schema_starts_empty_for_a_backfill(tmp_path: Path) -> None:
    root = tmp_path / "idx"
    e = TantivyEngine(root, writer=True, heap_size=15_000_000)
    e.write([doc(1, "Rumah makan")], [], checkpoint="0/1")
    e.close()
    pointer = json.loads((root / POINTER).read_text())
    (root / POINTER).write_text(json.dumps({**pointer, "schema_version": 2}))
    e = TantivyEngine(root, writer=True, heap_size=15_000_000)
    try:
        assert e.checkpoint() is None and e.stats().documents == 0  # the indexer backfills
        # the old generation stays live (readers use it) until the new one is written
        assert json.loads((root / POINTER).read_text())["generation"] == pointer["generation"]
        e.write([doc(1, "Pengiriman paket")], [], checkpoint="0/2")
        assert keys(e, "dikirim ") == ["blog:1"]
        assert json.loads((root / POINTER).read_text())["generation"] == \
            e.stats().detail["generation"]
        assert [p.name for p in root.iterdir() if p.is_dir()] == [e.stats().detail["generation"]]
    finally:
        e.close()


def test_a_stem_match_is_what_the_snippet_marks(engine: TantivyEngine) -> None:
    engine.write([doc(1, "Jadwal paket", "Paket Anda dikirim besok pagi."),
                  doc(2, "Kirim paket", "Ongkos kirim gratis.")], [])
    hits = {h.key: h.snippet for h in engine.search(
        SearchQuery(tenant_id=T, text=parse_query("kirim ").text)).hits}
    assert "<mark>dikirim</mark>" in hits["blog:1"]  # found by its stem alone
    assert "<mark>kirim</mark>" in hits["blog:2"]
    # a misspelling has no stem in the index: its typo variants are marked, not stems
    hits = {h.key: h.snippet for h in engine.search(
        SearchQuery(tenant_id=T, text=parse_query("kirin ").text)).hits}
    assert "<mark>kirim</mark>" in hits["blog:2"]
