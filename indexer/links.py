"""Values a document takes from other tables: through a link table, many to many
(``TermLink``: AWCMS's posts take their tags and categories from ``awcms_blog_terms``
through ``awcms_blog_post_terms``), or from the row a column points at, many to one
(``Lookup``: a post's ``featured_media_id`` names a media row with its public URL).

Pure: the mapping's description of each, parsing them from the mapping file, and the
SQL that reads a row's values and finds the rows a changed term names. Every name is a plain identifier, quoted with
``psycopg.sql.Identifier``; the mapping is configuration, never SQL text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql

from indexer.mapping_parse import parse_table

__all__ = ["Lookup", "TermLink", "linked_names", "looked_up", "parse_link", "parse_lookup",
           "rows_linked_to"]


@dataclass(frozen=True, slots=True)
class TermLink:
    """A document row's values are the ``name`` of each row of ``table`` (the terms) that
    a row of ``link`` ties to it: ``link.row`` holds the document row's id and
    ``link.term`` the term's ``id``."""

    link: str
    row: str
    term: str
    table: str
    id: str = "id"
    name: str = "name"
    deleted_at: str | None = None  # a deleted term names nothing
    # the term's tenant: a row names only its own tenant's terms (an id is all it takes)
    tenant: str | None = None
    # columns a term must hold one of the values in, e.g. { taxonomy_type = ["tag"] }
    require: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def term_columns(self) -> set[str]:
        """The terms table's columns this link names."""
        return {c for c in (self.id, self.name, self.deleted_at, self.tenant) if c} | {
            column for column, _ in self.require}


@dataclass(frozen=True, slots=True)
class Lookup:
    """A document row's value is ``value`` of the row of ``table`` whose ``id`` the
    document row's ``column`` holds (none when that row is missing or left out)."""

    column: str
    table: str
    value: str
    id: str = "id"
    deleted_at: str | None = None
    tenant: str | None = None  # as TermLink's
    require: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def table_columns(self) -> set[str]:
        """The looked-up table's columns this lookup names."""
        return {c for c in (self.id, self.value, self.deleted_at, self.tenant) if c} | {
            column for column, _ in self.require}


_LINK_REQUIRED = ("link", "row", "term", "table")
_LOOKUP_REQUIRED = ("column", "table", "value")


def _col(alias: sql.Identifier, name: str) -> sql.Composable:
    return sql.SQL("{}.{}").format(alias, sql.Identifier(name))


def _conditions(alias: sql.Identifier, source: TermLink | Lookup,
                doc_tenant: sql.Composable) -> list[sql.Composable]:
    """What leaves a term or looked-up row out: another tenant's, deleted, not required."""
    out: list[sql.Composable] = []
    if source.tenant:
        out.append(sql.SQL("{} = {}").format(_col(alias, source.tenant), doc_tenant))
    if source.deleted_at:
        out.append(sql.SQL("{} IS NULL").format(_col(alias, source.deleted_at)))
    for column, values in source.require:
        out.append(sql.SQL("{}::text = ANY({})").format(_col(alias, column),
                                                        sql.Literal(list(values))))
    return out


def linked_names(link: TermLink, doc_id: sql.Composable,
                 doc_tenant: sql.Composable) -> sql.Composed:
    """An array of the names linked to the document row whose id is ``doc_id`` (and
    tenant ``doc_tenant``), each once, in order."""
    lk, tm = sql.Identifier("awsm_lk"), sql.Identifier("awsm_tm")
    where = [sql.SQL("{} = {}").format(_col(lk, link.row), doc_id),
             sql.SQL("{} IS NOT NULL").format(_col(tm, link.name)),
             *_conditions(tm, link, doc_tenant)]
    return sql.SQL("ARRAY(SELECT DISTINCT {name}::text FROM {link} {lk} JOIN {table} {tm} "
                   "ON {term} = {id} WHERE {where} ORDER BY 1)").format(
        name=_col(tm, link.name), link=sql.Identifier(link.link), lk=lk,
        table=sql.Identifier(link.table), tm=tm, term=_col(lk, link.term),
        id=_col(tm, link.id), where=sql.SQL(" AND ").join(where))


def looked_up(lookup: Lookup, doc_column: sql.Composable,
              doc_tenant: sql.Composable) -> sql.Composed:
    """The value of the row ``doc_column`` (the document row's column) points at."""
    lu = sql.Identifier("awsm_lu")
    where = [sql.SQL("{} = {}").format(_col(lu, lookup.id), doc_column),
             *_conditions(lu, lookup, doc_tenant)]
    return sql.SQL("(SELECT {value}::text FROM {table} {lu} WHERE {where} LIMIT 1)").format(
        value=_col(lu, lookup.value), table=sql.Identifier(lookup.table), lu=lu,
        where=sql.SQL(" AND ").join(where))


def rows_linked_to(link: TermLink, term_type: str) -> sql.Composed:
    """The ids (as text) of the document rows linked to any term whose id is in the one
    parameter, an array of ``term_type``."""
    return sql.SQL("SELECT DISTINCT {row}::text FROM {link} WHERE {term} = ANY({p}::{t}[])"
                   ).format(row=sql.Identifier(link.row), link=sql.Identifier(link.link),
                            term=sql.Identifier(link.term), p=sql.Placeholder(),
                            t=sql.SQL(term_type))


# parsing ---------------------------------------------------------------------

def parse_link(raw: dict[str, Any], where: str, problems: list[str]) -> TermLink | None:
    """A ``{ link = ..., row = ..., term = ..., table = ... }`` table of the mapping file."""
    link: TermLink | None = parse_table(TermLink, _LINK_REQUIRED, raw, where, problems)
    return link


def parse_lookup(raw: dict[str, Any], where: str, problems: list[str]) -> Lookup | None:
    """A ``{ column = ..., table = ..., value = ... }`` table of the mapping file."""
    lookup: Lookup | None = parse_table(Lookup, _LOOKUP_REQUIRED, raw, where, problems)
    return lookup
