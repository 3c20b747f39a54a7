"""The AWCMS-shaped demo corpus, loaded into the real embedded PostgreSQL."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from PIL import Image

from gateway.demo.corpus import DemoAlreadyLoaded, demo_queries, load_demo

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
VISIBLE_SQL = """
    SELECT count(*) FROM {table} r JOIN tenants t ON t.id = r.tenant_id
    WHERE r.status = {shown} AND r.deleted_at IS NULL {flags}
      AND t.status = 'active' AND t.deleted_at IS NULL AND r.published_at <= %(now)s
"""
# (status shown, flags): AWCMS products are on sale while "active" and have no
# is_active / is_public
_RULES = {"blogs": ("'published'", "AND r.is_active AND r.is_public"),
          "pages": ("'published'", "AND r.is_active AND r.is_public"),
          "products": ("'active'", "")}


@pytest.fixture(scope="module")
def demo(pg_server, tmp_path_factory: pytest.TempPathFactory):
    """One demo load shared by the module's read-only tests (a load takes most of a second)."""
    name = "demo_corpus"
    with psycopg.connect(pg_server.url(), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE awsm_template")
    try:
        with psycopg.connect(pg_server.url(name)) as conn:
            summary = load_demo(conn, tmp_path_factory.mktemp("demo") / "media", now=NOW)
            conn.commit()
            yield conn, summary
    finally:
        with psycopg.connect(pg_server.url(), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def _visible(conn: psycopg.Connection, table: str, now: datetime) -> int:
    shown, flags = _RULES[table]
    sql = VISIBLE_SQL.format(table=table, shown=shown, flags=flags)
    return conn.execute(sql, {"now": now}).fetchone()[0]



def test_load_demo_fills_every_table(demo) -> None:
    conn, summary = demo
    for table, expected in summary.counts.items():
        assert expected > 0
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == expected
    assert 150 <= summary.total_rows - summary.counts["files"] <= 400
    assert len(summary.tenants) == 5
    domains = {r[0] for r in conn.execute("SELECT domain FROM tenants")}
    assert domains == {f"{slug}.localhost" for slug in summary.tenants}
    assert {r[0] for r in conn.execute("SELECT DISTINCT language FROM blogs")} == {"id", "en"}
    assert (
        conn.execute("SELECT count(*) FROM categories WHERE deleted_at IS NOT NULL").fetchone()[0]
        == 1
    )


def test_summary_counts_match_the_visibility_rule_in_sql(demo) -> None:
    conn, summary = demo
    for table in ("blogs", "pages", "products"):
        assert summary.visible[table] == _visible(conn, table, NOW) > 0


@pytest.mark.parametrize("table", ["blogs", "pages", "products"])
def test_every_hostile_visibility_kind_is_present(demo, table: str) -> None:
    conn, _ = demo
    shown = _RULES[table][0]
    kinds = {
        "draft": "status = 'draft'",
        "archived": "status = 'archived'",
        "soft_deleted": f"status = {shown} AND deleted_at IS NOT NULL",
        "inactive": "status = 'published' AND NOT is_active",
        "scheduled": f"status = {shown} AND published_at > %(now)s",
        "past": f"status = {shown} AND published_at <= %(now)s",
    }
    if table == "products":
        kinds["inactive"] = "status = 'out_of_stock'"
    else:
        kinds["private"] = "status = 'published' AND NOT is_public"
    for kind, where in kinds.items():
        count = conn.execute(
            f"SELECT count(*) FROM {table} WHERE {where}", {"now": NOW}
        ).fetchone()[0]
        assert count >= 1, kind


def test_suspended_tenant_has_published_rows_that_are_never_visible(demo) -> None:
    conn, summary = demo
    assert summary.suspended_tenants == ("kedai-lama",)
    for table in ("blogs", "pages", "products"):
        published = conn.execute(
            f"SELECT count(*) FROM {table} r JOIN tenants t ON t.id = r.tenant_id "
            f"WHERE t.status = 'suspended' AND r.status = {_RULES[table][0]} "
            "AND r.deleted_at IS NULL "
            "AND r.published_at <= %s",
            (NOW,),
        ).fetchone()[0]
        assert published >= 1, table


def test_a_row_becomes_visible_two_minutes_after_load(demo) -> None:
    conn, summary = demo
    table, title, at = summary.scheduled_soon
    assert at == NOW + timedelta(minutes=2)
    assert _visible(conn, table, NOW + timedelta(minutes=3)) == summary.visible[table] + 1
    assert (
        conn.execute(f"SELECT published_at FROM {table} WHERE title = %s", (title,)).fetchone()[0]
        == at
    )


def test_some_bodies_are_larger_than_toast_threshold(demo) -> None:
    conn, _ = demo
    big = conn.execute("SELECT count(*) FROM blogs WHERE octet_length(content) > 8192").fetchone()[
        0
    ]
    assert big >= 3
    assert conn.execute(
        "SELECT count(*) FROM blogs WHERE puck_layout_jsonb IS NOT NULL"
    ).fetchone()[0]
    assert conn.execute(
        "SELECT count(*) FROM pages WHERE content IS NULL AND content_published IS NOT NULL"
    ).fetchone()[0]
    assert conn.execute("SELECT count(*) FROM pages WHERE parent_id IS NOT NULL").fetchone()[0]


def test_products_carry_price_sku_stock_and_images(demo) -> None:
    conn, _ = demo
    rows = conn.execute("SELECT price, sku, stock, images, featured_image FROM products").fetchall()
    assert all(price > 0 and sku and stock >= 0 for price, sku, stock, _, _ in rows)
    assert all(images and featured == images[0] for _, _, _, images, featured in rows)


def test_referenced_images_exist_and_decode(demo) -> None:
    conn, summary = demo
    paths = {
        r[0]
        for r in conn.execute("SELECT featured_image FROM blogs WHERE featured_image IS NOT NULL")
    }
    paths |= {p for (imgs,) in conn.execute("SELECT images FROM products") for p in imgs}
    paths |= {r[0] for r in conn.execute("SELECT file_path FROM files")}
    assert len(paths) >= 30
    modes = set()
    orientations = set()
    for rel in paths:
        assert not rel.startswith("/") and rel.split("/")[0] in summary.tenants
        with Image.open(summary.media_root / rel) as image:
            image.load()
            modes.add((image.format, image.mode))
            orientations.add(image.getexif().get(0x0112))
    assert ("PNG", "RGBA") in modes
    assert 6 in orientations
    with Image.open(summary.media_root / "kopi-nusantara/hero-1.jpg") as hero:
        assert hero.size == (1600, 1067)


def _dump(conn: psycopg.Connection) -> list:
    return [
        conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
        for table in ("tenants", "categories", "blogs", "pages", "products", "files")
    ]


def test_load_demo_is_deterministic_for_a_seed(demo, fresh_db: str, tmp_path: Path) -> None:
    conn, summary = demo
    with psycopg.connect(fresh_db) as twin:
        again = load_demo(twin, tmp_path / "media", now=NOW)
        twin.commit()
        assert again == dataclasses.replace(summary, media_root=tmp_path / "media")
        assert _dump(twin) == _dump(conn)
    for path in summary.media_root.rglob("*.*"):
        copy = tmp_path / "media" / path.relative_to(summary.media_root)
        assert (
            hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(copy.read_bytes()).digest()
        )


def test_loading_twice_is_refused_before_touching_anything(demo, tmp_path: Path) -> None:
    conn, summary = demo
    with pytest.raises(DemoAlreadyLoaded):
        load_demo(conn, tmp_path / "media", now=NOW)
    assert not (tmp_path / "media").exists()
    assert conn.execute("SELECT count(*) FROM blogs").fetchone()[0] == summary.counts["blogs"]


def test_demo_queries_point_at_words_of_visible_content(demo) -> None:
    conn, _ = demo
    queries = demo_queries()
    assert {"kesehtan", "pemba"} <= {q for _, q, _ in queries}
    words_by_tenant: dict[str, set[str]] = {}
    for slug, text in conn.execute(
        "SELECT t.slug, b.title || ' ' || coalesce(b.content, '') FROM blogs b "
        "JOIN tenants t ON t.id = b.tenant_id WHERE t.status = 'active' AND b.status = 'published' "
        "AND b.deleted_at IS NULL AND b.is_public AND b.is_active AND b.published_at <= %s",
        (NOW,),
    ):
        words_by_tenant.setdefault(slug, set()).update(re.findall(r"\w+", text.lower()))
    assert "kesehatan" in words_by_tenant["kabar-jakarta"]
    assert any(w.startswith("pemba") for w in words_by_tenant["kopi-nusantara"])
    assert "kedai-lama" not in words_by_tenant
