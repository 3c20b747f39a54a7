"""An index written with an older Tantivy schema keeps answering while its successor is
built: the writer leaves the pointer alone until the backfill's swap, and readers query
the old index with the fields it has (no stemmed or per-letter typo fields)."""

from __future__ import annotations

import json
from pathlib import Path

import tantivy

from search_svc.engines import generations as gen
from search_svc.engines.base import Document, SearchQuery
from search_svc.engines.tantivy import TOKENIZER, TantivyEngine
from search_svc.engines.tantivy_query import SCHEMA_VERSION
from search_svc.query import analyze, parse_query

TENANT = "t1"


def _schema_2() -> object:
    """The fields of schema 2 (before stemmed and per-letter typo fields)."""
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("key", stored=True, tokenizer_name="raw", index_option="basic")
    for name in ("tenant", "type", "category", "tags", "locale"):
        sb.add_text_field(name, fast=True, tokenizer_name="raw", index_option="basic")
    for name in ("title", "summary", "body"):
        sb.add_text_field(name, tokenizer_name=TOKENIZER, index_option="position")
    sb.add_text_field("content", tokenizer_name=TOKENIZER, index_option="basic")
    sb.add_integer_field("published_at", indexed=True, fast=True)
    sb.add_bytes_field("src", stored=True)
    return sb.build()


def _old_index(root: Path, title: str) -> str:
    """A live generation of schema 2 holding one document, as a release before 4 left it."""
    name = gen.new_generation(root)
    index = tantivy.Index(_schema_2(), str(root / name))
    index.register_tokenizer(
        TOKENIZER, tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build())
    writer = index.writer(heap_size=15_000_000, num_threads=1)
    words = " ".join(analyze(title))
    src = {"id": "1", "type": "blog", "title": title, "summary": "", "body": "",
           "category": None, "tags": [], "locale": "id", "image": None, "url": "/blog/1",
           "published_at": 0}
    document = tantivy.Document()
    document.add_text("key", "blog:1")
    document.add_text("tenant", TENANT)
    document.add_text("type", "blog")
    document.add_text("title", words)
    document.add_text("content", words)
    document.add_integer("published_at", 0)
    document.add_bytes("src", json.dumps(src).encode())
    writer.add_document(document)
    writer.commit()
    writer.wait_merging_threads()
    gen.write_json_durably(root / gen.POINTER, {"generation": name, "schema_version": 2})
    return name


def _q(text: str) -> SearchQuery:
    return SearchQuery(tenant_id=TENANT, text=parse_query(text).text)


def test_an_old_schema_keeps_answering_until_the_rebuild_swaps(tmp_path: Path) -> None:
    root = tmp_path / "tantivy"
    root.mkdir()
    old = _old_index(root, "Rumah makan Padang")
    reader = TantivyEngine(root, writer=False)
    try:
        # every query shape runs on the old fields: exact, typo, prefix, phrase
        for text in ("rumah", "rumha ", "pad", '"rumah makan"'):
            assert [h.key for h in reader.search(_q(text)).hits] == ["blog:1"], text
        writer = TantivyEngine(root, writer=True, heap_size=15_000_000)
        try:
            # the upgraded writer starts empty and unpublished: the indexer backfills...
            assert writer.checkpoint() is None
            assert gen.read_pointer(root) == {"generation": old, "schema_version": 2}
            # ... while visitors still get the old index's answers
            assert reader.search(_q("rumah")).total == 1
            shadow = writer.begin_rebuild()
            shadow.write([Document(key="blog:2", id="2", tenant_id=TENANT, type="blog",
                                   title="Rumah adat", body="", url="/blog/2")], [],
                         checkpoint="0/1")
            writer.swap(shadow)
        finally:
            writer.close()
        pointer = gen.read_pointer(root)
        assert pointer is not None and pointer["schema_version"] == SCHEMA_VERSION
        assert not (root / old).exists()
        assert [h.key for h in reader.search(_q("rumah")).hits] == ["blog:2"]
    finally:
        reader.close()
