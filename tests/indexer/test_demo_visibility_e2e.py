"""The whole demo corpus (every table, every hostile visibility kind: drafts, private,
inactive, soft-deleted, scheduled rows, deleted categories, a suspended tenant), indexed
by the real indexer and read through the public API, against the AWCMS visibility rules
written out in SQL: the same documents, totals and facet counts, and no hidden row found
by searching for its own title."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from gateway.demo.corpus import load_demo
from tests.fixtures.fix_stack import Stack, running_stack, wait_for

# the rules of DESIGN.md / the default mapping, independent of the mapping code
_ROWS = """
SELECT %(type)s, r.id::text, r.{title}, c.name, coalesce(r.tags, '{{}}'),
       (r.status = {shown} AND r.deleted_at IS NULL {flags}
        AND r.published_at <= now() AND t.status = 'active' AND t.deleted_at IS NULL)
FROM {table} r JOIN tenants t ON t.id = r.tenant_id
LEFT JOIN categories c ON c.id = r.category_id AND c.deleted_at IS NULL
WHERE t.slug = %(slug)s
"""
# a product is on sale while "active" and has no is_active / is_public (AWCMS's schema)
_TABLES = (("blog", "blogs", "title", "'published'", "AND r.is_active AND r.is_public"),
           ("page", "pages", "title", "'published'", "AND r.is_active AND r.is_public"),
           ("product", "products", "name", "'active'", ""))


def _rows(db: psycopg.Connection, slug: str) -> tuple[dict[tuple[str, str], tuple], list[tuple]]:
    """(visible {(type, id): (title, category, tags)}, hidden [(type, id, title)])."""
    visible, hidden = {}, []
    for type_, table, title, shown, flags in _TABLES:
        sql = _ROWS.format(table=table, title=title, shown=shown, flags=flags)
        for t, id_, name, category, tags, shown in db.execute(sql, {"type": type_, "slug": slug}):
            if shown:
                visible[(t, id_)] = (name, category, sorted(set(tags)))
            else:
                hidden.append((t, id_, name))
    return visible, hidden


def _listing(stack: Stack, slug: str) -> tuple[list[dict[str, Any]], int, dict[str, dict]]:
    """Every hit of the tenant's newest-first listing, its total and its facets."""
    hits: list[dict[str, Any]] = []
    first: dict[str, Any] | None = None
    while True:
        body = stack.search(tenant=slug, sort="published_at", limit=100, offset=len(hits),
                            facets="type,category,tags")
        first = first or body
        hits += body["hits"]
        if len(body["hits"]) < 100:
            return hits, first["total"], first["facets"]


def _assert_facet(shown: dict[str, int], expected: Counter[str], name: str) -> None:
    # bounded: the largest counts, every one exact, no value the public cannot see
    assert len(shown) == min(len(expected), 20), (name, shown, expected)
    for value, count in shown.items():
        assert expected[value] == count, (name, value, count, expected[value])


def test_the_demo_corpus_searches_exactly_as_the_visibility_rules_say(
        fresh_db: str, tmp_path: Path) -> None:
    with psycopg.connect(fresh_db) as conn:
        # loaded as of 5 minutes ago: the row scheduled 2 minutes after load is live, the
        # next scheduled ones are minutes away, none goes live while this test reads
        summary = load_demo(conn, tmp_path / "media",
                            now=datetime.now(UTC) - timedelta(minutes=5))
        conn.commit()
    with running_stack(fresh_db, tmp_path) as stack:
        wait_for(lambda: stack.db.execute(
            "SELECT backfilled_at FROM search.indexer_status WHERE slot_name = %s",
            (stack.settings.slot_name,)).fetchone() not in (None, (None,)), timeout=60)
        assert summary.suspended_tenants
        checked_hidden = 0
        for slug in summary.tenants:
            before, hidden = _rows(stack.db, slug)
            hits, total, facets = _listing(stack, slug)
            after, _ = _rows(stack.db, slug)
            assert before == after, "a scheduled row went live during the check"
            if slug in summary.suspended_tenants:
                assert not before and hidden  # it has rows; none may show
            got = {(h["type"], h["id"]): (h["title"], h["category"], sorted(h["tags"]))
                   for h in hits}
            assert len(got) == len(hits) == total == len(before), slug
            assert got == before, slug
            _assert_facet(facets["type"], Counter(t for t, _ in before), "type")
            _assert_facet(facets["category"],
                          Counter(c for _, c, _ in before.values() if c), "category")
            _assert_facet(facets["tags"],
                          Counter(tag for _, _, tags in before.values() for tag in tags), "tags")
            shown_titles = {title for title, _, _ in before.values()}
            for type_, id_, title in hidden:  # searched for by its own words
                body = stack.search(tenant=slug, q=" ".join(title.split()[:4]), limit=100)
                assert id_ not in {h["id"] for h in body["hits"]}, (slug, type_, title)
                if title not in shown_titles:  # (a draft may share a live row's title)
                    assert title not in {h["title"] for h in body["hits"]}, (slug, type_, title)
                checked_hidden += 1
        assert checked_hidden >= 20  # drafts, private, inactive, deleted, scheduled, suspended
