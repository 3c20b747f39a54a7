from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from awsm.errors import ConfigError
from indexer.changes import Batch, add_record
from indexer.mapping import load_mapping, row_to_document
from indexer.pgoutput import Begin, Change, Commit
from indexer.text import html_to_text


def test_html_to_text_drops_markup_scripts_and_decodes_entities() -> None:
    html = "<h1>Judul</h1><p>Kopi &amp; teh<br>enak</p><script>alert(1)</script><style>p{}</style>"
    assert html_to_text(html) == "Judul\nKopi & teh\nenak"
    assert html_to_text("plain text") == "plain text"
    assert html_to_text("<p>a</p><p>b</p>") == "a\nb"


@given(st.text(max_size=300))
def test_html_to_text_never_raises_and_never_leaves_tags(value: str) -> None:
    out = html_to_text(value)
    assert "<script" not in out.lower() or "<script" in value.lower()


def test_default_mapping_covers_awcms_tables() -> None:
    m = load_mapping(None)
    assert [d.table for d in m.documents] == ["blogs", "pages", "products"]
    blogs = m.source("blogs")
    assert blogs is not None and blogs.visibility.flags == ("is_active", "is_public")
    products = m.by_type("product")
    assert products is not None and products.title == "name"
    assert m.tables[-2:] == ("tenants", "categories")


def test_row_to_document_fills_url_template_and_skips_invisible_rows() -> None:
    src = load_mapping(None).source("blogs")
    assert src is not None
    row = ("id1", "t1", "<b>Judul</b>", "<p>isi</p>", None, ["a", ""], "Kat", "id", None, 5, True,
           "judul-1")
    doc = row_to_document(src, row)
    assert doc is not None
    assert (doc.key, doc.url, doc.title, doc.body, doc.tags) == (
        "blog:id1", "/blogs/judul-1", "Judul", "isi", ("a",))
    assert row_to_document(src, row[:10] + (False,) + row[11:]) is None


@pytest.mark.parametrize("text, problem", [
    ("[[documents]]\ntable = 'x; drop'\ntype='blog'\nid='id'\ntenant='t'\ntitle='t'", "not a valid"),
    ("[[documents]]\ntable = 'blogs'\ntype='Blog Post'\nid='id'\ntenant='t'\ntitle='t'", "type"),
    ("[[documents]]\ntable = 'blogs'\ntype='blog'\nid='id'\ntenant='t'\ntitle='t'\ncolour='red'", "unknown key"),
    ("tenants = 1\n", "documents"),
    ("not toml [", "not valid TOML"),
])
def test_bad_mapping_files_are_clear_config_errors(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    assert problem in str(err.value)


def test_batch_coalesces_repeated_changes_and_maps_related_tables() -> None:
    m = load_mapping(None)
    b = Batch()
    add_record(b, m, Begin(1, 0, 1))
    for _ in range(3):
        add_record(b, m, Change("update", "public", "blogs", {"id": "a"}))
    add_record(b, m, Change("delete", "public", "pages", {"id": "p"}, {"id": "p"}))
    add_record(b, m, Change("update", "public", "tenants", {"id": "t"}))
    add_record(b, m, Change("update", "public", "categories", {"id": "c"}))
    add_record(b, m, Change("insert", "public", "files", {"id": "f"}))
    assert not b.ready  # never act on a transaction before its commit
    add_record(b, m, Commit(10, 20, 0))
    assert b.ready and b.end_lsn == 20 and b.changes == 7
    assert b.rows == {"blogs": {"a"}, "pages": {"p"}}
    assert b.tenants == {"t"} and b.categories == {"c"}
