"""An index written with an older Tantivy schema keeps answering while its successor is
built: the writer leaves the pointer alone until the backfill's swap, and readers query
the old index with the fields it has (no stemmed or per-letter typo fields)."""

from __future__ import annotations

import json
from pathlib import Path

import tantivy

from search_svc.engines import generations as gen
from search_svc.engines.base import Document, SearchQuery
from search_svc.engines.tantivy import (
    DOCSTORE_BLOCKSIZE,
    TOKENIZER,
    TantivyEngine,
    _to_tantivy,
)
from search_svc.engines.tantivy_query import SCHEMA_VERSION, build_schema
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


def _blocksize(root: Path, name: str) -> object:
    meta = gen.read_json(root / name / "meta.json") or {}
    return dict(meta.get("index_settings") or {}).get("docstore_blocksize")


def test_new_generations_store_documents_in_small_blocks(tmp_path: Path) -> None:
    engine = TantivyEngine(tmp_path, writer=True, heap_size=15_000_000)
    try:
        doc = Document(key="blog:1", id="1", tenant_id=TENANT, type="blog", title="Kopi susu")
        engine.write([doc], [], "c1")  # commits rewrite meta.json: the setting stays
        live = str((gen.read_pointer(tmp_path) or {})["generation"])
        assert _blocksize(tmp_path, live) == DOCSTORE_BLOCKSIZE
        shadow = engine.begin_rebuild()
        shadow.write([doc], [], "c2")
        engine.swap(shadow)
        rebuilt = str((gen.read_pointer(tmp_path) or {})["generation"])
        assert rebuilt != live and _blocksize(tmp_path, rebuilt) == DOCSTORE_BLOCKSIZE
        assert engine.search(_q("kopi")).hits[0].title == "Kopi susu"
    finally:
        engine.close()


def test_an_index_written_with_other_blocks_is_left_as_it_is(tmp_path: Path) -> None:
    # a live generation as a release before DOCSTORE_BLOCKSIZE wrote it: tantivy's default
    name = gen.new_generation(tmp_path)
    schema, _ = build_schema(TOKENIZER)
    index = tantivy.Index(schema, str(tmp_path / name))
    index.register_tokenizer(
        TOKENIZER, tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build())
    writer = index.writer(heap_size=15_000_000, num_threads=1)
    writer.add_document(_to_tantivy(Document(key="blog:1", id="1", tenant_id=TENANT,
                                             type="blog", title="Kopi susu")))
    writer.commit()
    writer.wait_merging_threads()
    del writer
    gen.write_json_durably(tmp_path / gen.POINTER,
                           {"generation": name, "schema_version": SCHEMA_VERSION})
    default = _blocksize(tmp_path, name)
    assert default not in (None, DOCSTORE_BLOCKSIZE)
    engine = TantivyEngine(tmp_path, writer=True, heap_size=15_000_000)
    try:
        assert engine.search(_q("kopi")).total == 1
        engine.write([], ["blog:1"], "c1")
        assert _blocksize(tmp_path, name) == default
        assert engine.search(_q("kopi")).total == 0
    finally:
        engine.close()


def test_an_empty_live_index_of_another_release_is_not_edited(tmp_path: Path) -> None:
    # a live generation without segments (never written, or every document deleted) may
    # be held by another process's writer that has not committed yet: editing its
    # meta.json could drop that commit, so only generations created here get the setting
    name = gen.new_generation(tmp_path)
    schema, _ = build_schema(TOKENIZER)
    tantivy.Index(schema, str(tmp_path / name))  # tantivy's defaults, no segments
    gen.write_json_durably(tmp_path / gen.POINTER,
                           {"generation": name, "schema_version": SCHEMA_VERSION})
    default = _blocksize(tmp_path, name)
    engine = TantivyEngine(tmp_path, writer=True, heap_size=15_000_000)
    try:
        assert _blocksize(tmp_path, name) == default != DOCSTORE_BLOCKSIZE
        engine.write([Document(key="blog:1", id="1", tenant_id=TENANT, type="blog",
                               title="Kopi susu")], [], "c1")
        assert engine.search(_q("kopi")).total == 1
    finally:
        engine.close()
