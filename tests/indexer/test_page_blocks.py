"""Pages made in AWCMS's visual builder keep their text only in the published Puck
layout (``content_published``; ``content`` NULL): the default mapping's ``body_blocks``
makes those words searchable, and never the layout still being edited."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

from awsm.errors import ConfigError
from indexer.mapping import load_mapping
from indexer.startup import check_columns
from indexer.text import blocks_to_text
from tests.fixtures.fix_stack import TENANT_A, Stack, wait_for


def puck(*texts: str, title: str = "Beranda") -> dict[str, object]:
    """A page as Puck saves it: a hero, then rich text blocks."""
    return {"root": {"props": {"title": title}},
            "content": [{"type": "Hero", "props": {"id": "Hero-1", "title": title,
                                                    "image": "/media/hero.jpg"}},
                        *({"type": "RichText", "props": {"id": f"RichText-{n}", "content": t}}
                          for n, t in enumerate(texts))],
            "zones": {}}


def add_page(stack: Stack, *, content: str | None, published: object,
             editing: object = None, title: str = "Beranda") -> str:
    row = stack.db.execute(
        "INSERT INTO pages (tenant_id, title, slug, content, content_published, "
        "puck_layout_jsonb, status, published_at, page_type) VALUES "
        "(%s, %s, 'beranda', %s, %s, %s, 'published', now() - interval '1 hour', 'landing') "
        "RETURNING id::text",
        (TENANT_A, title, content, Jsonb(published) if published is not None else None,
         Jsonb(editing) if editing is not None else None)).fetchone()
    assert row is not None
    return str(row[0])


def ids(stack: Stack, q: str) -> list[str]:
    return [h["id"] for h in stack.search(q=q)["hits"]]


def test_a_builder_page_is_found_by_the_words_of_its_published_blocks(stack: Stack) -> None:
    page = add_page(stack, content=None,
                    published=puck("<p>Biji <b>zqsangrai</b> pilihan dari Gayo</p>"),
                    editing=puck("Belum terbit: zqrahasia"))
    wait_for(lambda: ids(stack, "zqsangrai") == [page])
    hit = stack.search(q="zqsangrai")["hits"][0]
    assert "<mark>zqsangrai</mark>" in hit["snippet"] and "<b>" not in hit["snippet"]
    assert hit["snippet"].count("Beranda") <= 1  # the title once, not the root's and the hero's
    assert ids(stack, "zqrahasia") == []  # the layout being edited is not published
    assert ids(stack, "RichText") == [] and ids(stack, "hero.jpg") == []  # no ids, no paths
    # republished: the new words in, the old out
    stack.sql("UPDATE pages SET content_published = %s WHERE id = %s",
              Jsonb(puck("Kini dengan zqseduh manual")), page)
    wait_for(lambda: ids(stack, "zqseduh") == [page])
    assert ids(stack, "zqsangrai") == []


def test_a_page_with_content_is_read_from_its_content(stack: Stack) -> None:
    page = add_page(stack, content="<p>Teks zqisi halaman</p>",
                    published=puck("Tata letak zqlayout"))
    wait_for(lambda: ids(stack, "zqisi") == [page])
    assert ids(stack, "zqlayout") == []
    stack.sql("UPDATE pages SET content = '  ' WHERE id = %s", page)  # blank: the blocks
    wait_for(lambda: ids(stack, "zqlayout") == [page])


def test_blocks_keep_words_and_drop_ids_links_and_styles() -> None:
    text = blocks_to_text({
        "root": {"props": {"title": "Kopi: enak & murah"}},
        "content": [{"type": "Button", "props": {"id": "Button-7", "label": "Pesan sekarang",
                                                 "href": "https://kopi.example/pesan",
                                                 "className": "btn-primary"}},
                    {"type": "Link", "props": {"text": "/p/tentang", "caption": "#atas"}},
                    {"type": "Stats", "props": {"value": 42, "done": True, "none": None}}],
        "zones": {"Columns-1:left": [{"type": "Text", "props": {"text": "Kolom &amp; kiri"}}]},
    })
    assert text.split("\n") == ["Kopi: enak & murah", "Pesan sekarang", "Kolom & kiri"]


def test_a_nesting_thousands_deep_is_read_like_any_page() -> None:
    deep: list[object] = []
    inner = deep
    for _ in range(50_000):  # far past Python's recursion limit
        inner.append(inner := [])
    inner.append("dalam")
    assert blocks_to_text(deep) == "dalam"


def test_body_blocks_must_name_a_json_column(fresh_db: str, tmp_path: Path) -> None:
    mapping = tmp_path / "m.toml"
    text = (Path(__file__).resolve().parents[2] / "indexer" /
                        "default_mapping.toml").read_text()
    mapping.write_text(text.replace('body_blocks = "content_published"',
                                    'body_blocks = "excerpt"'))
    assert text != mapping.read_text()
    with psycopg.connect(fresh_db, autocommit=True) as conn, \
            pytest.raises(ConfigError, match="pages.excerpt as body_blocks.*json or jsonb"):
        check_columns(conn, load_mapping(mapping))
