"""The declarative source mapping: tables → documents, and the visibility rule.

Loads the TOML mapping (``indexer/default_mapping.toml`` or ``AWSM_MAPPING_FILE``),
validates it, and builds every SQL statement the indexer runs from it with
``psycopg.sql.Identifier`` — the mapping is configuration, never SQL text. Turning a
re-read row into a ``Document`` is ``indexer.documents``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from psycopg import sql

from awsm.errors import ConfigError
from awsm.settings import Settings
from indexer.links import Lookup, TermLink, linked_names, looked_up, parse_link, parse_lookup
from indexer.mapping_parse import (
    parse_name,
    parse_require,
    parse_section,
    parse_strings,
    parse_tenants,
)
from search_svc.tenants import TenantSource

__all__ = [
    "TEXT_FORMATS",
    "URL_FIELD",
    "CategorySource",
    "DocumentSource",
    "Mapping",
    "TenantSource",
    "Visibility",
    "load_mapping",
    "mapping_for",
]

MIN_EPOCH, MAX_EPOCH = -62_135_596_800, 253_402_300_799  # 0001-01-01, 9999-12-31T23:59:59Z
# {column} of the row, or {tenant.column} of its tenant's row (AWCMS links by tenant code)
URL_FIELD = re.compile(r"\{((?:tenant\.)?[A-Za-z_][A-Za-z0-9_]*)\}")
_URL_DOTTED = re.compile(r"\{[^{}]*\.[^{}]*\}")  # meant as a placeholder, surely
TENANT_PREFIX = "tenant."
_SECTIONS = frozenset({"tenants", "categories", "documents"})
_VISIBILITY_KEYS = frozenset({"status", "published_values", "deleted_at", "flags",
                              "published_at_required", "require"})
TEXT_FORMATS = ("html", "text")  # how a body or summary column is read


@dataclass(frozen=True, slots=True)
class Visibility:
    status: str | None = None
    published_values: tuple[str, ...] = ("published",)
    deleted_at: str | None = None
    flags: tuple[str, ...] = ()
    # a row whose published_at is NULL: hidden (a post never published), or shown
    # (AWCMS's products, whose published_at is an optional launch date)
    published_at_required: bool = True
    # other columns a public row must hold one of the listed values in, e.g. AWCMS's
    # text ``visibility`` column: { visibility = ["public"] } (compared as text)
    require: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class CategorySource:
    table: str = "categories"
    id: str = "id"
    name: str = "name"
    deleted_at: str | None = "deleted_at"
    # a category names only its own tenant's documents: a row pointing at another
    # tenant's category (its id is all it takes) must not show that tenant's name
    tenant: str | None = "tenant_id"


@dataclass(frozen=True, slots=True)
class DocumentSource:
    table: str
    type: str
    id: str
    tenant: str
    title: str
    body: str | None = None
    summary: str | None = None
    tags: str | None = None
    category: str | None = None
    locale: str | None = None
    image: str | None = None
    published_at: str | None = None
    url: str = ""
    visibility: Visibility = field(default_factory=Visibility)
    body_format: str = "html"  # "text": the column holds plain text, read as written
    # a json(b) column holding the page as a visual builder saved it: its words are the
    # body of a row whose ``body`` is empty (``indexer.text.blocks_to_text``)
    body_blocks: str | None = None
    summary_format: str = "html"
    # tags, or the category (the first by name), through a link table instead of a column
    tags_link: TermLink | None = None
    category_link: TermLink | None = None
    image_lookup: Lookup | None = None  # the image from the row a column points at

    @property
    def links(self) -> tuple[TermLink, ...]:
        return tuple(link for link in (self.tags_link, self.category_link) if link)

    @property
    def url_columns(self) -> tuple[str, ...]:
        """The url template's placeholders: ``column`` or ``tenant.column``."""
        return tuple(dict.fromkeys(URL_FIELD.findall(self.url)))

    @property
    def tenant_url_columns(self) -> tuple[str, ...]:
        """The tenant table's columns the url template names."""
        return tuple(u.removeprefix(TENANT_PREFIX) for u in self.url_columns
                     if u.startswith(TENANT_PREFIX))

    def columns(self) -> set[str]:
        """Every column of this table the mapping names (checked against the database)."""
        named = {self.id, self.tenant, self.title, *self.visibility.flags,
                 *(u for u in self.url_columns if not u.startswith(TENANT_PREFIX)),
                 *(column for column, _ in self.visibility.require),
                 *((self.image_lookup.column,) if self.image_lookup else ())}
        for opt in (self.body, self.body_blocks, self.summary, self.tags, self.category,
                    self.locale, self.image, self.published_at, self.visibility.status,
                    self.visibility.deleted_at):
            if opt:
                named.add(opt)
        return named


@dataclass(frozen=True, slots=True)
class Mapping:
    tenants: TenantSource
    categories: CategorySource | None
    documents: tuple[DocumentSource, ...]

    def source(self, table: str) -> DocumentSource | None:
        for doc in self.documents:
            if doc.table == table:
                return doc
        return None

    def by_type(self, doc_type: str) -> DocumentSource | None:
        for doc in self.documents:
            if doc.type == doc_type:
                return doc
        return None

    def row_of(self, key: str) -> tuple[DocumentSource, str] | None:
        """The source and row id of a document key (``"<type>:<id>"``), if mapped."""
        doc_type, _, row_id = key.partition(":")
        src = self.by_type(doc_type)
        return (src, row_id) if src is not None else None

    def table_row(self, key: str) -> tuple[str, str] | None:
        """The (table, row id) of a document key, as search.dead_letters names a row."""
        row = self.row_of(key)
        return (row[0].table, row[1]) if row is not None else None

    @property
    def tables(self) -> tuple[str, ...]:
        """Every table whose changes the indexer streams."""
        return tuple(self.keys)

    @property
    def keys(self) -> dict[str, str]:
        """Each streamed table → the column its rows are known by (deletes must carry it;
        a link table's: the document row's id)."""
        keys = {d.table: d.id for d in self.documents}
        keys[self.tenants.table] = self.tenants.id
        if self.categories:
            keys[self.categories.table] = self.categories.id
        for d in self.documents:
            for link in d.links:
                keys.setdefault(link.link, link.row)
                keys.setdefault(link.table, link.id)
            if d.image_lookup:
                keys.setdefault(d.image_lookup.table, d.image_lookup.id)
        return keys

    # SQL -------------------------------------------------------------------
    def select_documents(self, src: DocumentSource, where: sql.Composable) -> sql.Composed:
        """SELECT the document fields of ``src`` plus ``visible`` for rows matching ``where``
        (which refers to the source table as ``d``)."""
        d, t, c = sql.Identifier("d"), sql.Identifier("t"), sql.Identifier("c")

        def col(alias: sql.Identifier, name: str | None) -> sql.Composable:
            return sql.SQL("{}.{}").format(alias, sql.Identifier(name)) if name else sql.NULL

        ten = self.tenants
        # with body_blocks, the body is JSON: a string (the body column's text) or, where
        # that is empty, the builder's saved page
        body = col(d, src.body)
        if src.body_blocks:
            blocks = sql.SQL("{}::jsonb").format(col(d, src.body_blocks))
            body = blocks if not src.body else sql.SQL(
                "CASE WHEN nullif(btrim({0}::text), '') IS NULL THEN {1} "
                "ELSE to_jsonb({0}::text) END").format(body, blocks)
        locale: sql.Composable = col(d, src.locale)
        if ten.locale:
            locale = sql.SQL("coalesce(nullif({}, ''), {})").format(locale, col(t, ten.locale))
        category: sql.Composable = sql.NULL
        join_c: sql.Composable = sql.SQL("")
        if src.category and self.categories:
            cat = self.categories
            category = col(c, cat.name)
            cond = sql.SQL("{} = {}").format(col(c, cat.id), col(d, src.category))
            if cat.tenant:
                cond = sql.SQL("{} AND {} = {}").format(cond, col(c, cat.tenant),
                                                       col(d, src.tenant))
            if cat.deleted_at:
                cond = sql.SQL("{} AND {} IS NULL").format(cond, col(c, cat.deleted_at))
            join_c = sql.SQL(" LEFT JOIN {} c ON {}").format(sql.Identifier(cat.table), cond)
        vis = self._visible(src)
        # clamped to the years 1-9999 every client can represent: 'infinity' (never
        # visible) and dates BC neither fail the cast nor break ISO dates downstream
        published = (sql.SQL(
            "coalesce(least(greatest(extract(epoch FROM {}), {}), {})::bigint, 0)").format(
            col(d, src.published_at), sql.Literal(MIN_EPOCH), sql.Literal(MAX_EPOCH))
            if src.published_at else sql.SQL("0"))
        tags = (sql.SQL("coalesce({}, '{{}}')::text[]").format(col(d, src.tags))
                if src.tags else sql.SQL("'{}'::text[]"))
        image = (looked_up(src.image_lookup, col(d, src.image_lookup.column), col(d, src.tenant))
                 if src.image_lookup else col(d, src.image))
        if src.tags_link:
            tags = linked_names(src.tags_link, col(d, src.id), col(d, src.tenant))
        if src.category_link:
            category = sql.SQL("({})[1]").format(
                linked_names(src.category_link, col(d, src.id), col(d, src.tenant)))
        url_cols = [sql.SQL("{}::text").format(
            col(t, u.removeprefix(TENANT_PREFIX)) if u.startswith(TENANT_PREFIX) else col(d, u))
            for u in src.url_columns]
        fields = [
            sql.SQL("{}::text").format(col(d, src.id)),
            sql.SQL("{}::text").format(col(d, src.tenant)),
            col(d, src.title), body, col(d, src.summary), tags, category,
            locale, image, published, vis, *url_cols,
        ]
        return sql.SQL(
            "SELECT {fields} FROM {table} d LEFT JOIN {tenants} t ON {tid} = {dtid}{join_c}"
            " WHERE {where}"
        ).format(
            fields=sql.SQL(", ").join(fields), table=sql.Identifier(src.table),
            tenants=sql.Identifier(ten.table), tid=col(t, ten.id), dtid=col(d, src.tenant),
            join_c=join_c, where=where,
        )

    def _visible(self, src: DocumentSource) -> sql.Composable:
        d, t = sql.Identifier("d"), sql.Identifier("t")
        v, ten = src.visibility, self.tenants
        parts: list[sql.Composable] = [sql.SQL("{}.{} IS NOT NULL").format(t, sql.Identifier(ten.id))]
        if v.status:
            parts.append(sql.SQL("{}.{}::text = ANY({})").format(
                d, sql.Identifier(v.status), sql.Literal(list(v.published_values))))
        if v.deleted_at:
            parts.append(sql.SQL("{}.{} IS NULL").format(d, sql.Identifier(v.deleted_at)))
        for flag in v.flags:
            parts.append(sql.SQL("{}.{} IS TRUE").format(d, sql.Identifier(flag)))
        for column, values in v.require:  # NULL is none of the values: hidden
            parts.append(sql.SQL("{}.{}::text = ANY({})").format(
                d, sql.Identifier(column), sql.Literal(list(values))))
        if src.published_at:
            # scheduled rows become visible by the database clock, not by a write
            rule = ("{0}.{1} IS NOT NULL AND {0}.{1} <= now()" if v.published_at_required
                    else "({0}.{1} IS NULL OR {0}.{1} <= now())")
            parts.append(sql.SQL(rule).format(d, sql.Identifier(src.published_at)))
        if ten.status:
            parts.append(sql.SQL("{}.{}::text = ANY({})").format(
                t, sql.Identifier(ten.status), sql.Literal(list(ten.active_values))))
        if ten.deleted_at:
            parts.append(sql.SQL("{}.{} IS NULL").format(t, sql.Identifier(ten.deleted_at)))
        return sql.SQL("({})").format(sql.SQL(" AND ").join(parts))


# loading -------------------------------------------------------------------

def _parse_document(raw: dict[str, Any], i: int, problems: list[str]) -> DocumentSource | None:
    where = f"documents[{i}]"
    known = {"table", "type", "id", "tenant", "title", "body", "body_blocks", "summary", "tags",
             "category",
             "locale", "image", "published_at", "url", "visibility", "body_format",
             "summary_format"}
    for key in raw:
        if key not in known:
            problems.append(f"{where}.{key}: unknown key (known: {', '.join(sorted(known))})")
    vis_raw = raw.get("visibility", {})
    if not isinstance(vis_raw, dict):
        problems.append(f"{where}.visibility: expected a table like "
                        "{ status = \"status\", deleted_at = \"deleted_at\" }")
        vis_raw = {}
    # a misspelt key must not pass unnoticed: it would drop a rule, making rows public
    for key in vis_raw:
        if key not in _VISIBILITY_KEYS:
            problems.append(f"{where}.visibility.{key}: unknown key "
                            f"(known: {', '.join(sorted(_VISIBILITY_KEYS))})")
    flags = parse_strings(vis_raw.get("flags", []), f"{where}.visibility.flags", problems)
    for f in flags:
        parse_name(f, f"{where}.visibility.flags", problems)
    dated = vis_raw.get("published_at_required", True)
    if not isinstance(dated, bool):
        problems.append(f"{where}.visibility.published_at_required: expected true or false")
        dated = True
    vis = Visibility(
        published_at_required=dated,
        require=parse_require(vis_raw.get("require", {}), f"{where}.visibility.require", problems),
        status=parse_name(vis_raw.get("status"), f"{where}.visibility.status", problems, True),
        published_values=parse_strings(vis_raw.get("published_values", ["published"]),
                                  f"{where}.visibility.published_values", problems),
        deleted_at=parse_name(vis_raw.get("deleted_at"), f"{where}.visibility.deleted_at", problems, True),
        flags=flags,
    )
    doc_type = raw.get("type")
    if not isinstance(doc_type, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,30}", doc_type):
        problems.append(f"{where}.type: must be a short lower-case word, got {doc_type!r}")
    required = {k: parse_name(raw.get(k), f"{where}.{k}", problems) for k in ("table", "id", "tenant", "title")}
    # tags and category through a link table, the image from the row a column points at
    joined = {k for k in ("tags", "category", "image") if isinstance(raw.get(k), dict)}
    links = {k: parse_link(raw[k], f"{where}.{k}", problems) for k in joined - {"image"}}
    lookup = parse_lookup(raw["image"], f"{where}.image", problems) if "image" in joined else None
    optional = {k: parse_name(raw.get(k), f"{where}.{k}", problems, True)
                for k in ("body", "body_blocks", "summary", "tags", "category", "locale", "image",
                          "published_at")
                if k not in joined}
    url = raw.get("url", "")
    if not isinstance(url, str):
        problems.append(f"{where}.url: must be a string template like '/blogs/{{slug}}'")
        url = ""
    for dotted in _URL_DOTTED.findall(url):
        if not URL_FIELD.fullmatch(dotted):
            problems.append(f"{where}.url: {dotted} is not a placeholder: use {{column}} "
                            "for the row's columns, {tenant.column} for its tenant's")
    formats = {}
    for key in ("body_format", "summary_format"):
        formats[key] = raw.get(key, "html")
        if formats[key] not in TEXT_FORMATS:
            problems.append(f"{where}.{key}: expected \"html\" or \"text\", "
                            f"got {formats[key]!r}")
            formats[key] = "html"
    if any(v is None for v in required.values()) or not isinstance(doc_type, str):
        return None
    return DocumentSource(type=doc_type, url=url, visibility=vis, **formats,
                          tags_link=links.get("tags"), category_link=links.get("category"),
                          image_lookup=lookup,
                          **{k: v for k, v in required.items() if v}, **optional)  # type: ignore[arg-type]


# The demo's tables (gateway/demo/schema.sql) carry a per-row language column, as AWCMS's
# blogs, pages and products do not (its translations live in content_translations).
DEMO_LOCALE_COLUMN = "language"


def mapping_for(settings: Settings) -> Mapping:
    """The mapping of ``settings``: ``AWSM_MAPPING_FILE``, else the default (in demo mode,
    the default with the demo's per-row locale column)."""
    return load_mapping(settings.mapping_file, demo=settings.demo)


def load_mapping(path: Path | None = None, *, demo: bool = False) -> Mapping:
    """Load and validate a mapping file (None: the default, AWCMS's; with ``demo``, the
    demo schema's, which adds each document's ``locale`` column); every problem is
    reported at once."""
    try:
        if path is None:
            text = resources.files("indexer").joinpath("default_mapping.toml").read_text()
        else:
            text = Path(path).read_text(encoding="utf-8")  # what TOML is
        raw = tomllib.loads(text)
        if path is None and demo:
            for doc in raw.get("documents", []):
                doc.setdefault("locale", DEMO_LOCALE_COLUMN)
    except FileNotFoundError as exc:
        raise ConfigError([f"AWSM_MAPPING_FILE: {path} does not exist"]) from exc
    except OSError as exc:  # a directory, no permission
        raise ConfigError([f"AWSM_MAPPING_FILE: {path} cannot be read: "
                           f"{exc.strerror or exc}"]) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:  # TOML is UTF-8 only
        raise ConfigError([f"AWSM_MAPPING_FILE: {path} is not valid TOML: {exc}"]) from exc
    problems: list[str] = [f"{key}: unknown section (known: {', '.join(sorted(_SECTIONS))})"
                           for key in raw if key not in _SECTIONS]
    tenants = parse_tenants(raw, problems)
    categories = parse_section(raw, "categories", CategorySource, problems)
    docs_raw = raw.get("documents", [])
    if not isinstance(docs_raw, list) or not all(isinstance(d, dict) for d in docs_raw):
        problems.append("documents: expected [[documents]] tables")
        docs_raw = []
    if not docs_raw:
        problems.append("documents: the mapping names no document tables")
    docs = [_parse_document(d, i, problems) for i, d in enumerate(docs_raw)]
    types = [d.type for d in docs if d]
    problems += [f"documents: two tables share the document type {t!r}"
                 for t in sorted({t for t in types if types.count(t) > 1})]
    # one table, one document type: a change to a row is read back for the first of its
    # mappings only, so the other's document would outlive the row (a deleted post public)
    tables = [d.table for d in docs if d]
    problems += [f"documents: the table {t!r} is mapped more than once (map it once, as one "
                 f"document type)" for t in sorted({t for t in tables if tables.count(t) > 1})]
    named = {t for _, t in tenants.search_types.names} if tenants.search_types else set()
    problems += [f"tenants.search_types.names: {t!r} is not a document type of this mapping "
                 f"({', '.join(types)})" for t in sorted(named - set(types))]
    if problems:  # each names the file it is in, as every other setting's problem does
        where = f"AWSM_MAPPING_FILE {path}" if path is not None else "the default mapping"
        raise ConfigError([f"{where}: {p}" for p in problems])
    return Mapping(tenants=tenants, categories=categories,
                   documents=tuple(d for d in docs if d))
