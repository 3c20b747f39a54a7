"""Loads the AWCMS-shaped demo (tenants, categories, blogs, pages, products, files, images).

``load_demo`` draws the images under the media root and COPYs every row in one
transaction into the schema of ``gateway/demo/schema.sql``; it never creates or alters
tables and never runs on a database that already holds the demo.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from gateway.demo import catalog
from gateway.demo.images import render_tenant_images
from gateway.demo.rows import DemoRows, build_rows

__all__ = [
    "DemoSummary",
    "DemoAlreadyLoaded",
    "load_demo",
    "demo_queries",
    "AWCMS_TABLES",
    "awcms_tables",
    "is_demo_loaded",
    "is_visible",
]

TABLES = ("tenants", "categories", "blogs", "pages", "products", "files")
SEARCHABLE = ("blogs", "pages", "products")
_JSON_COLUMNS = {"puck_layout_jsonb", "content_published", "images"}


class DemoAlreadyLoaded(RuntimeError):
    """The database already holds a demo tenant; loading twice would collide on ids and slugs."""


@dataclass(frozen=True)
class DemoSummary:
    seed: int
    loaded_at: datetime
    tenants: tuple[str, ...]
    suspended_tenants: tuple[str, ...]
    counts: dict[str, int]  # rows written per table
    visible: dict[str, int]  # rows of blogs/pages/products the public may see at loaded_at
    images: int
    media_root: Path
    # (table, title, published_at) of the row that becomes visible ~2 minutes after load
    scheduled_soon: tuple[str, str, datetime] | None

    @property
    def total_rows(self) -> int:
        return sum(self.counts.values())

    @property
    def total_visible(self) -> int:
        return sum(self.visible.values())

    def __str__(self) -> str:
        return (f"tenants {', '.join(self.tenants)}; {self.total_rows} rows, "
                f"{self.total_visible} of them public; {self.images} images in "
                f"{self.media_root}")


def is_visible(row: dict[str, Any], tenant_status: str, now: datetime) -> bool:
    """AWCMS's public visibility rule (DESIGN.md) evaluated on one row."""
    published_at = row.get("published_at")
    # a product is on sale while "active"; blogs and pages show when "published"
    return (
        row.get("status") in ("published", "active")
        and row.get("deleted_at") is None
        and row.get("is_active", True) is True
        and row.get("is_public", True) is True
        and tenant_status == "active"
        and published_at is not None
        and published_at <= now
    )


# The AWCMS tables the demo schema creates (CREATE TABLE IF NOT EXISTS: one already
# there keeps its own shape)
AWCMS_TABLES = ("tenants", "categories", "blogs", "pages", "products", "files")


def awcms_tables(conn: psycopg.Connection) -> list[str]:
    """Which of ``AWCMS_TABLES``, or of AWCMS's ``awcms_*`` tables (its schema since July
    2026), the database already has, sorted."""
    row = conn.execute(
        "SELECT coalesce(array_agg(t ORDER BY t), '{}') FROM ("
        " SELECT t FROM unnest(%s::text[]) t WHERE to_regclass(t) IS NOT NULL"
        " UNION SELECT c.relname::text FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relname LIKE 'awcms\\_%%' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
        " AND n.nspname NOT IN ('pg_catalog', 'information_schema')) found",
        (list(AWCMS_TABLES),)).fetchone()
    return list(row[0]) if row else []


def is_demo_loaded(conn: psycopg.Connection) -> bool:
    """Whether the demo's tenants are there (False for a tenants table of another shape)."""
    slugs = [spec.slug for spec in catalog.TENANTS]
    try:
        with conn.transaction():
            row = conn.execute("SELECT count(*) FROM tenants WHERE slug = ANY(%s)",
                               (slugs,)).fetchone()
    except psycopg.errors.UndefinedColumn:
        return False
    return bool(row and row[0])


def load_demo(
    conn: psycopg.Connection,
    media_root: Path,
    *,
    seed: int = 7,
    now: datetime | None = None,
) -> DemoSummary:
    """Fill an empty AWCMS schema with the demo; ``now`` pins the clock (tests), default: now."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    media_root = Path(media_root)
    with conn.transaction():
        if is_demo_loaded(conn):
            raise DemoAlreadyLoaded("the demo tenants already exist in this database")
        images = _render_images(media_root, seed)
        rows = build_rows(seed, now, images)
        with conn.cursor() as cur:
            for table in TABLES:
                _copy(cur, table, getattr(rows, table))
    return _summary(rows, seed, now, media_root, sum(len(v) for v in images.values()))


def _render_images(media_root: Path, seed: int) -> dict[str, list[tuple[str, str, int]]]:
    out: dict[str, list[tuple[str, str, int]]] = {}
    for spec in catalog.TENANTS:
        files = render_tenant_images(
            media_root,
            spec.slug,
            spec.name,
            heroes=spec.hero_images,
            products=spec.product_images,
            seed=seed,
            with_logo=spec.slug == "kopi-nusantara",
            with_exif_portrait=spec.slug == "sekolah-harapan",
        )
        out[spec.slug] = [(f.path, f.mime, f.size) for f in files]
    return out


def _copy(cur: psycopg.Cursor[Any], table: str, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    columns = sorted({column for row in rows for column in row})
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(
                [
                    Jsonb(row[c]) if c in _JSON_COLUMNS and row.get(c) is not None else row.get(c)
                    for c in columns
                ]
            )


def _summary(
    rows: DemoRows, seed: int, now: datetime, media_root: Path, images: int
) -> DemoSummary:
    status = {t["id"]: t["status"] for t in rows.tenants}
    visible = {
        table: sum(is_visible(r, status[r["tenant_id"]], now) for r in getattr(rows, table))
        for table in SEARCHABLE
    }
    return DemoSummary(
        seed=seed,
        loaded_at=now,
        tenants=tuple(t["slug"] for t in rows.tenants),
        suspended_tenants=tuple(t["slug"] for t in rows.tenants if t["status"] == "suspended"),
        counts={table: len(getattr(rows, table)) for table in TABLES},
        visible=visible,
        images=images,
        media_root=media_root,
        scheduled_soon=rows.scheduled_soon,
    )


def demo_queries() -> list[tuple[str, str, str]]:
    """(tenant slug, query, what it shows) for the README and smoke tests."""
    return [
        ("kabar-jakarta", "kesehtan", "typo: one edit away from 'kesehatan'"),
        ("kabar-jakarta", "pariwsata", "typo: 'pariwisata' with a missing letter"),
        ("kopi-nusantara", "pemba", "search-as-you-type prefix of 'pembayaran'"),
        ("kopi-nusantara", "kopi gayo", "two words: the Gayo coffee products and stories"),
        ("kopi-nusantara", "pengirman", "typo: 'pengiriman' (shipping pages and posts)"),
        ("kopi-nusantara", "batik tulis", "products and posts about hand-drawn batik"),
        ("kabar-jakarta", "teknolo", "prefix of 'teknologi'"),
        (
            "kabar-jakarta",
            "festival kopi",
            "scheduled post: no hits at load, appears ~2 minutes later",
        ),
        ("devnotes", "cache", "English: caching and CDN posts"),
        ("devnotes", "stale-while-revalidate", "English phrase with hyphens"),
        ("devnotes", "script", "a title containing '<script>': snippet must come back escaped"),
        ("sekolah-harapan", "beasiswa", "Indonesian posts of a bilingual school"),
        ("sekolah-harapan", "scholarship", "the same school's English posts"),
        ("kedai-lama", "kopi", "suspended tenant: always empty, same as an unknown tenant"),
    ]
