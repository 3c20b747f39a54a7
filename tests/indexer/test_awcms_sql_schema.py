"""AWCMS's current schema (the ``awcms_*`` tables of its ``sql/`` migrations), indexed with
the mapping shipped in ``docs/mappings/awcms-sql.toml`` and searched through the API:
private and unlisted posts never become searchable, the plain-text body keeps its words,
links carry the tenant code, a tenant is found by each of its live host names, and
row-level security that would hide rows from the indexer stops it at start."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import psycopg
import pytest

from awsm.db import open_async_pool
from awsm.errors import ConfigError
from indexer.check import compare_index
from indexer.mapping import load_mapping
from indexer.startup import check_columns
from search_svc.tenants import TenantResolver
from tests.fixtures.fix_stack import Stack, make_settings, open_indexer, running_stack, wait_for

MAPPING = Path(__file__).resolve().parents[2] / "docs" / "mappings" / "awcms-sql.toml"
TENANT = "33333333-3333-3333-3333-333333333333"
OTHER = "44444444-4444-4444-4444-444444444444"

# The columns of sql/002, sql/008, sql/035, sql/046 and sql/064 the mapping reads, with
# their types, checks and row-level security (forced, filtered by a tenant setting as
# AWCMS does)
SCHEMA = """
CREATE TABLE awcms_tenants (
  id uuid PRIMARY KEY, tenant_code text NOT NULL UNIQUE, tenant_name text NOT NULL,
  status text NOT NULL DEFAULT 'active', default_locale text NOT NULL DEFAULT 'id',
  CHECK (status IN ('active', 'inactive', 'suspended')));
CREATE TABLE awcms_tenant_domains (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES awcms_tenants (id),
  hostname text NOT NULL, normalized_hostname text NOT NULL,
  status text NOT NULL DEFAULT 'pending_verification', deleted_at timestamptz,
  CHECK (status IN ('pending_verification', 'active', 'suspended', 'failed')));
CREATE TABLE awcms_tenant_modules (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES awcms_tenants (id),
  module_key text NOT NULL, enabled boolean NOT NULL DEFAULT true,
  CONSTRAINT awcms_tenant_modules_tenant_module_key UNIQUE (tenant_id, module_key));
CREATE TABLE awcms_site_search_settings (
  tenant_id uuid PRIMARY KEY REFERENCES awcms_tenants (id),
  enabled boolean NOT NULL DEFAULT true, enabled_resource_types text[],
  suggestions_enabled boolean NOT NULL DEFAULT true);
"""
CONTENT = """
CREATE TABLE {table} (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES awcms_tenants (id),
  title text NOT NULL, slug text NOT NULL, excerpt text, content_text text NOT NULL,
  status text NOT NULL DEFAULT 'draft', visibility text NOT NULL DEFAULT 'public',
  locale text NOT NULL DEFAULT 'id', published_at timestamptz, deleted_at timestamptz,
  featured_media_id uuid,
  CHECK (status IN ('draft', 'review', 'scheduled', 'published', 'archived')),
  CHECK (visibility IN ('public', 'private', 'unlisted')));
"""
TERMS = """
CREATE TABLE awcms_blog_terms (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES awcms_tenants (id),
  taxonomy_type text NOT NULL, name text NOT NULL, deleted_at timestamptz,
  CHECK (taxonomy_type IN ('category', 'tag', 'channel', 'topic')));
CREATE TABLE awcms_news_media_objects (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES awcms_tenants (id),
  public_url text NOT NULL, status text NOT NULL DEFAULT 'pending_upload',
  deleted_at timestamptz);
CREATE TABLE awcms_blog_post_terms (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES awcms_tenants (id),
  post_id uuid NOT NULL REFERENCES awcms_blog_posts (id),
  term_id uuid NOT NULL REFERENCES awcms_blog_terms (id),
  CONSTRAINT awcms_blog_post_terms_unique UNIQUE (post_id, term_id));
"""
# what docs/mappings/awcms-sql.toml asks of AWCMS: a link's delete must say its post
LINK_IDENTITY = ("ALTER TABLE awcms_blog_post_terms "
                 "REPLICA IDENTITY USING INDEX awcms_blog_post_terms_unique")
TENANT_TABLES = ("awcms_blog_posts", "awcms_blog_pages", "awcms_tenant_domains",
                 "awcms_blog_terms", "awcms_blog_post_terms", "awcms_news_media_objects",
                 "awcms_tenant_modules", "awcms_site_search_settings")
ROW_SECURITY = """
ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
CREATE POLICY {table}_tenant_isolation ON {table}
  USING (tenant_id = current_setting('app.current_tenant_id', true)::uuid);
"""


def _create_schema(conn: psycopg.Connection, *, link_identity: bool = True) -> None:
    conn.execute(SCHEMA)
    for table in ("awcms_blog_posts", "awcms_blog_pages"):
        conn.execute(CONTENT.format(table=table))
    conn.execute(TERMS)
    if link_identity:
        conn.execute(LINK_IDENTITY)
    for table in TENANT_TABLES:
        conn.execute(ROW_SECURITY.format(table=table))
    conn.execute("INSERT INTO awcms_tenants (id, tenant_code, tenant_name) VALUES "
                 "(%s, 'kopi:nusantara', 'Kopi Nusantara'), (%s, 'lain', 'Lain')",
                 (TENANT, OTHER))
    conn.execute(
        "INSERT INTO awcms_tenant_domains (tenant_id, hostname, normalized_hostname, status, "
        "deleted_at) VALUES (%(t)s, 'Kopi.Example', 'kopi.example', 'active', NULL), "
        "(%(t)s, 'www.kopi.example', 'www.kopi.example', 'active', NULL), "
        "(%(t)s, 'baru.example', 'baru.example', 'pending_verification', NULL), "
        "(%(t)s, 'lama.example', 'lama.example', 'active', now()), "
        "(%(o)s, 'lain.example', 'lain.example', 'active', NULL)", {"t": TENANT, "o": OTHER})


def _new_id(conn: psycopg.Connection, insert: str, params: tuple[object, ...]) -> str:
    """The id of the row ``insert`` (ending ``RETURNING id::text``) adds."""
    row = conn.execute(insert, params).fetchone()
    assert row is not None
    return str(row[0])


def _post(conn: psycopg.Connection, slug: str, text: str, *, visibility: str = "public",
          status: str = "published", table: str = "awcms_blog_posts",
          tenant: str = TENANT) -> str:
    # published a day ago: out of the indexer's recurring look for rows just due, which
    # would re-read it and so hide a change the stream failed to pass on
    return _new_id(
        conn, f"INSERT INTO {table} (tenant_id, title, slug, excerpt, content_text, status, "
        "visibility, published_at) VALUES (%s, %s, %s, 'ringkasan', %s, %s, %s, "
        "now() - interval '1 day') RETURNING id::text",
        (tenant, slug, slug, text, status, visibility))


def _hits(stack: Stack, tenant: str = "kopi:nusantara") -> dict[str, tuple[str, str]]:
    body = stack.search(tenant=tenant, q="tubruk")
    return {f"{hit['type']}:{hit['id']}": (hit["url"], hit["snippet"]) for hit in body["hits"]}


def test_the_mapping_keeps_private_posts_out_and_links_by_tenant_code(
        fresh_db: str, tmp_path: Path) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        _create_schema(conn)
        public = _post(conn, "seduh-manual", "cara seduh kopi tubruk dengan <script> & gula")
        private = _post(conn, "seduh-rahasia", "catatan seduh kopi tubruk", visibility="private")
        _post(conn, "seduh-tautan", "kopi tubruk lewat tautan", visibility="unlisted")
        _post(conn, "seduh-draf", "draf kopi tubruk", status="draft")
        page = _post(conn, "tentang", "tentang kopi tubruk kami", table="awcms_blog_pages")
    with running_stack(fresh_db, tmp_path, mapping_file=MAPPING) as stack:
        # the API's reader may open the index a moment before the backfill is swapped in
        hits = wait_for(lambda: _hits(stack) or None, timeout=10)
        assert hits.keys() == {f"blog:{public}", f"page:{page}"}
        # the tenant's code in the link, percent-encoded like any value
        assert hits[f"blog:{public}"][0] == "/blog/kopi%3Anusantara/seduh-manual"
        assert hits[f"page:{page}"][0] == "/blog/kopi%3Anusantara/pages/tentang"
        # plain text: "<script>" is a word of the post, not markup that hides the rest
        assert "&lt;script&gt; &amp; gula" in hits[f"blog:{public}"][1]
        # each live host name finds the tenant; one pending verification or deleted never
        for host in ("kopi.example", "WWW.Kopi.Example"):
            assert _hits(stack, host) == hits, host
        for host in ("baru.example", "lama.example", "lain.example"):
            assert stack.search(tenant=host, q="tubruk")["hits"] == [], host

        # made private, then public again: out of search and back
        stack.sql("UPDATE awcms_blog_posts SET visibility = 'private' WHERE id = %s", public)
        wait_for(lambda: _hits(stack).keys() == {f"page:{page}"}, timeout=10)
        stack.sql("UPDATE awcms_blog_posts SET visibility = 'public' WHERE id = %s", private)
        wait_for(lambda: f"blog:{private}" in _hits(stack), timeout=10)
        # `awsm check` reads the same rules: the index holds exactly what they allow
        diff = compare_index(stack.indexer, settle_s=0.2)
        assert diff.matches and (diff.allowed, diff.indexed) == (2, 2), diff
        # a new tenant code re-links the tenant's documents
        stack.sql("UPDATE awcms_tenants SET tenant_code = 'kopi' WHERE id = %s", TENANT)
        wait_for(lambda: _hits(stack, "kopi").get(f"blog:{private}", ("",))[0]
                 == "/blog/kopi/seduh-rahasia", timeout=10)
        stack.sql("UPDATE awcms_tenants SET status = 'suspended' WHERE id = %s", TENANT)
        wait_for(lambda: stack.indexer.engine.keys() == set(), timeout=10)
        assert stack.search(tenant="kopi.example", q="tubruk")["hits"] == []


def _term(conn: psycopg.Connection, name: str, kind: str, *, tenant: str = TENANT,
          deleted: bool = False) -> str:
    return _new_id(conn, "INSERT INTO awcms_blog_terms (tenant_id, taxonomy_type, name, "
                   "deleted_at) VALUES (%s, %s, %s, CASE WHEN %s THEN now() END) "
                   "RETURNING id::text", (tenant, kind, name, deleted))


def _link(conn: psycopg.Connection, post: str, *terms: str) -> None:
    for term in terms:
        conn.execute("INSERT INTO awcms_blog_post_terms (tenant_id, post_id, term_id) "
                     "VALUES (%s, %s, %s)", (TENANT, post, term))


def _terms(stack: Stack) -> tuple[str | None, list[str], dict[str, dict[str, int]]]:
    """The post's category and tags, and the facet counts over every public post."""
    body = stack.search(tenant="kopi:nusantara", q="tubruk", type="blog",
                        facets="tags,category")
    hit = next(h for h in body["hits"] if h["url"].endswith("/seduh-manual"))
    return hit["category"], hit["tags"], body["facets"]


def test_tags_and_categories_come_through_the_link_table_and_follow_its_changes(
        fresh_db: str, tmp_path: Path) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        _create_schema(conn)
        post = _post(conn, "seduh-manual", "cara seduh kopi tubruk")
        hidden = _post(conn, "seduh-rahasia", "kopi tubruk rahasia", visibility="private")
        seduh, alat = _term(conn, "Seduh", "category"), _term(conn, "Alat", "category")
        kopi, tubruk = _term(conn, "kopi", "tag"), _term(conn, "tubruk", "tag")
        _link(conn, post, seduh, alat, kopi, tubruk,
              _term(conn, "lama", "tag", deleted=True),  # a deleted tag names nothing
              _term(conn, "asing", "tag", tenant=OTHER),  # nor another tenant's
              _term(conn, "Berita", "channel"))  # nor a term of another taxonomy
        _link(conn, hidden, _term(conn, "rahasia", "tag"))  # a private post's: no count
    with running_stack(fresh_db, tmp_path, mapping_file=MAPPING) as stack:
        wait_for(lambda: stack.search(tenant="kopi:nusantara", q="tubruk")["hits"], timeout=10)
        # several categories: the first by name
        assert _terms(stack) == ("Alat", ["kopi", "tubruk"], {
            "tags": {"kopi": 1, "tubruk": 1}, "category": {"Alat": 1}})

        stack.sql("UPDATE awcms_blog_terms SET name = 'tubruk asli' WHERE id = %s", tubruk)
        wait_for(lambda: _terms(stack)[1] == ["kopi", "tubruk asli"], timeout=10)
        stack.sql("DELETE FROM awcms_blog_post_terms WHERE term_id = %s", kopi)
        wait_for(lambda: _terms(stack)[1] == ["tubruk asli"], timeout=10)
        stack.sql("UPDATE awcms_blog_terms SET deleted_at = now() WHERE id = %s", alat)
        wait_for(lambda: _terms(stack)[0] == "Seduh", timeout=10)
        _link(stack.db, post, kopi)
        wait_for(lambda: _terms(stack) == ("Seduh", ["kopi", "tubruk asli"], {
            "tags": {"kopi": 1, "tubruk asli": 1}, "category": {"Seduh": 1}}), timeout=10)


def _media(conn: psycopg.Connection, url: str, *, tenant: str = TENANT,
           status: str = "attached") -> str:
    return _new_id(conn, "INSERT INTO awcms_news_media_objects (tenant_id, public_url, status) "
                   "VALUES (%s, %s, %s) RETURNING id::text", (tenant, url, status))


def test_the_image_comes_from_the_media_row_the_post_names(fresh_db: str, tmp_path: Path) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        _create_schema(conn)
        posts = {slug: _post(conn, slug, f"kopi tubruk {slug}")
                 for slug in ("foto", "asing", "unggah", "tanpa")}
        photo = _media(conn, "https://cdn.example/kopi.jpg")
        for slug, media in (("foto", photo),
                            ("asing", _media(conn, "https://cdn.example/x.jpg", tenant=OTHER)),
                            ("unggah", _media(conn, "https://cdn.example/y.jpg",
                                              status="pending_upload"))):
            conn.execute("UPDATE awcms_blog_posts SET featured_media_id = %s WHERE id = %s",
                         (media, posts[slug]))

    def images(stack: Stack) -> dict[str, str | None]:
        hits = stack.search(tenant="kopi:nusantara", q="tubruk")["hits"]
        return {h["title"]: h["image"] for h in hits}

    with running_stack(fresh_db, tmp_path, mapping_file=MAPPING) as stack:
        wait_for(lambda: len(images(stack)) == 4, timeout=10)
        # another tenant's media, one not uploaded yet, or none: no image
        assert images(stack) == {"foto": "https://cdn.example/kopi.jpg", "asing": None,
                                 "unggah": None, "tanpa": None}
        # the media row changes, the post does not: its documents follow
        stack.sql("UPDATE awcms_news_media_objects SET public_url = %s WHERE id = %s",
                  "https://cdn.example/kopi-2.jpg", photo)
        wait_for(lambda: images(stack)["foto"] != "https://cdn.example/kopi.jpg", timeout=10)
        assert images(stack)["foto"] == "https://cdn.example/kopi-2.jpg"
        stack.sql("UPDATE awcms_news_media_objects SET deleted_at = now() WHERE id = %s", photo)
        wait_for(lambda: images(stack)["foto"] != "https://cdn.example/kopi-2.jpg", timeout=10)
        assert images(stack) == dict.fromkeys(posts)  # a deleted media row: no image at all


def test_a_link_table_whose_deletes_would_not_name_the_post_fails_at_start(
        fresh_db: str, tmp_path: Path) -> None:
    # its primary key is its own id: a deleted link would not say whose tag it was
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        _create_schema(conn, link_identity=False)
        with open_indexer(fresh_db, make_settings(fresh_db, tmp_path), MAPPING) as indexer:
            with pytest.raises(ConfigError, match="'awcms_blog_post_terms'.*'post_id'.*"
                                                  "REPLICA IDENTITY USING INDEX"):
                indexer.prepare()
        conn.execute(LINK_IDENTITY)
        with open_indexer(fresh_db, make_settings(fresh_db, tmp_path), MAPPING) as indexer:
            assert indexer.prepare() is True


def _problems(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            check_columns(conn, load_mapping(MAPPING))
        except ConfigError as exc:
            return str(exc)
    return ""


def test_row_level_security_that_hides_rows_from_the_indexer_stops_it_at_start(
        fresh_db: str, plain_role: tuple[str, str], tmp_path: Path) -> None:
    # AWCMS's roles see only the rows of the tenant their setting names, none without
    # one: the indexer would have found no row and taken every document out of search.
    name, url = plain_role
    with psycopg.connect(fresh_db, autocommit=True) as admin:
        _create_schema(admin)
        _post(admin, "seduh", "kopi tubruk")
        admin.execute(f"GRANT USAGE ON SCHEMA search TO {name}")
        admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public, search TO {name}")
        with open_indexer(url, make_settings(url, tmp_path), MAPPING) as indexer:
            with pytest.raises(ConfigError) as err:
                indexer.prepare()
        message = str(err.value)
        assert "'awcms_blog_posts' has row-level security" in message
        for table in TENANT_TABLES:
            assert f"'{table}' has row-level security" in message, table
        assert "'awcms_tenants'" not in message
        assert f"role {name}" in message and "BYPASSRLS" in message

        admin.execute(f"ALTER ROLE {name} BYPASSRLS")
        assert _problems(url) == ""
        admin.execute(f"ALTER ROLE {name} NOBYPASSRLS")
        # the owner is exempt from its table's policies unless they are forced
        for table in TENANT_TABLES:
            admin.execute(f"ALTER TABLE {table} OWNER TO {name}")
            admin.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        assert _problems(url) == ""
        admin.execute("ALTER TABLE awcms_blog_pages FORCE ROW LEVEL SECURITY")
        assert "'awcms_blog_pages' has row-level security" in _problems(url)
        assert "awcms_blog_posts" not in _problems(url)


def test_the_api_says_when_row_security_hides_host_names_from_its_role(
        fresh_db: str, plain_role: tuple[str, str], caplog: pytest.LogCaptureFixture) -> None:
    # AWCMS forces it on awcms_tenant_domains (not on awcms_tenants): a read role without
    # BYPASSRLS finds tenants by code but no host, which would otherwise go unexplained
    name, url = plain_role
    with psycopg.connect(fresh_db, autocommit=True) as admin:
        _create_schema(admin)
        admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {name}")

    async def resolve(url: str) -> tuple[str | None, str | None]:
        pool = await open_async_pool(url, timeout=5.0)
        resolver = TenantResolver(pool, load_mapping(MAPPING).tenants)
        try:
            return await resolver.resolve("kopi.example"), await resolver.resolve("kopi:nusantara")
        finally:
            await resolver.close()
            await pool.close()

    with caplog.at_level(logging.WARNING, logger="awsm.search"):
        assert asyncio.run(resolve(url)) == (None, TENANT)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    # the two search switches too: a switch it cannot see would leave search on
    assert len(warnings) == 3
    for warning, table in zip(sorted(warnings), ("awcms_site_search_settings",
                                                 "awcms_tenant_domains",
                                                 "awcms_tenant_modules"), strict=True):
        assert f"'{table}' has row-level security" in warning and "BYPASSRLS" in warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="awsm.search"):  # a superuser sees all
        assert asyncio.run(resolve(fresh_db)) == (TENANT, TENANT)
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


def test_a_tenant_that_turned_site_search_off_is_answered_as_an_unknown_one(
        fresh_db: str, tmp_path: Path) -> None:
    # AWCMS serves no public search for a tenant whose site_search module is disabled or
    # whose own search settings say off (a missing row: on): the same payload as an
    # unknown tenant, by code or host, and no other tenant's search changes with it.
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        _create_schema(conn)
        post = _post(conn, "seduh", "kopi tubruk")
        _post(conn, "lain", "kopi tubruk", tenant=OTHER)
    with running_stack(fresh_db, tmp_path, mapping_file=MAPPING,
                       tenant_cache_ttl_s=0.2) as stack:
        hits = wait_for(lambda: _hits(stack) or None, timeout=10)
        assert hits.keys() == {f"blog:{post}"}
        unknown = stack.search(tenant="tak-dikenal", q="tubruk")

        def searchable(tenant: str) -> bool:
            body = stack.search(tenant=tenant, q="tubruk")
            if body["hits"]:
                return True
            assert body == unknown | {"took_ms": body["took_ms"]}, body
            return False

        def switched(off: bool, *tenants: str) -> None:
            for tenant in tenants:
                wait_for(lambda t=tenant: searchable(t) is not off, timeout=10)

        wait_for(lambda: searchable("lain"), timeout=10)
        # another module off, or another tenant's search off: nothing changes here
        stack.sql("INSERT INTO awcms_tenant_modules (tenant_id, module_key, enabled) "
                  "VALUES (%s, 'comments', false), (%s, 'site_search', false)", TENANT, OTHER)
        switched(True, "lain")
        assert searchable("kopi:nusantara") and searchable("kopi.example")
        stack.sql("INSERT INTO awcms_tenant_modules (tenant_id, module_key, enabled) "
                  "VALUES (%s, 'site_search', true)", TENANT)
        stack.sql("UPDATE awcms_tenant_modules SET enabled = false "
                  "WHERE tenant_id = %s AND module_key = 'site_search'", TENANT)
        switched(True, "kopi:nusantara", "kopi.example")
        stack.sql("UPDATE awcms_tenant_modules SET enabled = true WHERE tenant_id = %s", TENANT)
        switched(False, "kopi:nusantara", "kopi.example")
        # the tenant's own search settings: off, then on again
        stack.sql("INSERT INTO awcms_site_search_settings (tenant_id, enabled) "
                  "VALUES (%s, false)", TENANT)
        switched(True, "kopi:nusantara", "www.kopi.example")
        stack.sql("UPDATE awcms_site_search_settings SET enabled = true WHERE tenant_id = %s",
                  TENANT)
        switched(False, "kopi:nusantara", "www.kopi.example")
        assert not searchable("lain")
        # search off is no suspension: the documents stay indexed, ready to be found
        assert len(stack.indexer.engine.keys(OTHER)) == 1


def test_a_search_setting_the_api_could_not_read_fails_at_start(fresh_db: str) -> None:
    # the API reads the search settings with every tenants read: a missing table, a
    # switch that is no boolean or types that are no array would fail each of them (every
    # search a 503), found only then
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        _create_schema(conn)
        assert _problems(fresh_db) == ""
        conn.execute("ALTER TABLE awcms_site_search_settings "
                     "ALTER COLUMN enabled TYPE text USING enabled::text, "
                     "ALTER COLUMN enabled_resource_types TYPE text")
        conn.execute("DROP TABLE awcms_tenant_modules")
        problems = _problems(fresh_db)
    assert "names table 'awcms_tenant_modules', which does not exist" in problems
    assert ("uses awcms_site_search_settings.enabled as a search switch, which must be "
            "boolean; it is text") in problems
    assert ("uses awcms_site_search_settings.enabled_resource_types as the types a tenant's "
            "search may show, which must be an array of text; it is text") in problems


def test_a_tenants_search_shows_only_the_types_its_search_settings_allow(
        fresh_db: str, tmp_path: Path) -> None:
    # AWCMS's enabled_resource_types: NULL (or no row) every type, an array only those
    # (blog_post, blog_page), an empty one nothing; in hits, totals and facet counts
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        _create_schema(conn)
        post = _post(conn, "seduh", "kopi tubruk")
        page = _post(conn, "tentang", "tentang kopi tubruk", table="awcms_blog_pages")
    with running_stack(fresh_db, tmp_path, mapping_file=MAPPING,
                       tenant_cache_ttl_s=0.2) as stack:
        both = {f"blog:{post}", f"page:{page}"}
        wait_for(lambda: _hits(stack).keys() == both, timeout=10)
        unknown = stack.search(tenant="tak-dikenal", q="tubruk", facets="type")

        def shown(tenant: str = "kopi:nusantara", **params: str) -> tuple[set[str], dict]:
            body = stack.search(tenant=tenant, q="tubruk", facets="type", **params)
            assert body["total"] == len(body["hits"])
            return {f"{h['type']}:{h['id']}" for h in body["hits"]}, body["facets"]["type"]

        def allow(types: str | None, expected: tuple[set[str], dict]) -> None:
            stack.sql("UPDATE awcms_site_search_settings SET enabled_resource_types = %s "
                      "WHERE tenant_id = %s", types, TENANT)
            wait_for(lambda: shown() == expected, timeout=10)

        stack.sql("INSERT INTO awcms_site_search_settings (tenant_id) VALUES (%s)", TENANT)
        assert shown() == (both, {"blog": 1, "page": 1})
        allow("{blog_post}", ({f"blog:{post}"}, {"blog": 1}))
        assert shown("kopi.example") == ({f"blog:{post}"}, {"blog": 1})
        # a filter for a type the tenant does not show finds nothing; the facet still
        # counts what it does show, never the other
        assert shown(type="page") == (set(), {"blog": 1})
        allow("{blog_page,forum_thread}", ({f"page:{page}"}, {"page": 1}))
        allow(None, (both, {"blog": 1, "page": 1}))
        allow("{}", (set(), {}))
        body = stack.search(tenant="kopi:nusantara", q="tubruk", facets="type")
        assert body == unknown | {"took_ms": body["took_ms"]}
        # the indexed documents are untouched: showing them again is a settings change
        assert stack.indexer.engine.keys(TENANT) == both
