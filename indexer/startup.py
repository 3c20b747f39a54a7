"""What the indexer reads of the database and the index at start: whether the mapping
fits the tables (``check_columns``), which database the stream comes from
(``database_source``), and the checkpoint an index carries (``IndexerState``), which
together decide between resuming from the slot and rebuilding (``resume_or_rebuild``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import psycopg
from psycopg import sql

from awsm.db import HIDING_ROWS_SQL, refused
from awsm.errors import ConfigError
from awsm.settings import Settings
from indexer.mapping import DocumentSource, Mapping
from indexer.pgoutput import format_lsn, parse_lsn
from indexer.replication import (
    check_replica_identity,
    check_slot_free,
    ensure_publication,
    ensure_slot,
    slot_info,
)
from search_svc.engines.base import KeywordEngine

__all__ = ["IndexerState", "check_columns", "check_row_security", "database_source",
           "resume_or_rebuild", "rewritten", "table_files", "table_oids"]

log = logging.getLogger("awsm.indexer")


@dataclass
class IndexerState:
    """The checkpoint an engine write carries: what the index holds is durable up to
    ``lsn``, scheduled rows were looked for up to ``scheduled_until``, and it was built
    from ``source``."""

    lsn: int = 0
    scheduled_until: float = 0.0  # database epoch seconds already scanned for due rows
    source: str = ""  # "<system identifier>/<database>" the index was built from
    # each streamed table's storage (``table_files``) as the index last read it whole;
    # empty: not known (an index written before it was recorded)
    files: dict[str, str | None] = field(default_factory=dict)

    def dump(self) -> str:
        return json.dumps({"lsn": format_lsn(self.lsn), "scheduled_until": self.scheduled_until,
                           "source": self.source, "files": self.files})

    @classmethod
    def load(cls, text: str | None) -> IndexerState | None:
        if not text:
            return None
        try:
            raw = json.loads(text)
            files = raw.get("files") or {}
            return cls(parse_lsn(raw["lsn"]), float(raw.get("scheduled_until", 0.0)),
                       str(raw.get("source", "")),
                       {str(k): None if v is None else str(v) for k, v in files.items()})
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


def table_files(conn: psycopg.Connection, tables: tuple[str, ...]) -> dict[str, str | None]:
    """Each table's storage: the file nodes of its partitions (itself when it has none);
    None for a table that does not exist. They change when a table's rows change without
    a row event on the stream: a rewrite (``ALTER TABLE ... TYPE ... USING``, ``VACUUM
    FULL``, ``CLUSTER``, pg_repack), a table dropped and created again, a partition
    attached or detached. (And on TRUNCATE, which the stream does carry.)"""
    rows = conn.execute(
        "SELECT t, coalesce((SELECT string_agg(pg_relation_filenode(p.relid)::text, ',' "
        "ORDER BY p.relid::oid::bigint) FROM pg_partition_tree(r) p WHERE p.isleaf), "
        "pg_relation_filenode(r)::text) "
        "FROM unnest(%s::text[]) t, LATERAL to_regclass(quote_ident(t)) r",
        (list(tables),)).fetchall()
    return {str(t): files for t, files in rows}


def table_oids(conn: psycopg.Connection, tables: tuple[str, ...]) -> dict[int, str]:
    """The OID of each of ``tables`` that exists (OID → name): how the stream knows a
    table whatever it was named at a change (``Decoder``)."""
    rows = conn.execute("SELECT r::oid::bigint, t FROM unnest(%s::text[]) t, "
                        "LATERAL to_regclass(quote_ident(t)) r WHERE r IS NOT NULL",
                        (list(tables),)).fetchall()
    return {int(oid): str(t) for oid, t in rows}


def rewritten(known: dict[str, str | None], now: dict[str, str | None]) -> list[str]:
    """The tables whose storage is not what the index last read (``table_files``); none
    when it was not recorded."""
    return sorted(t for t, files in now.items() if t in known and known[t] != files)


def database_source(conn: psycopg.Connection) -> str:
    """The database the stream comes from: the server's system identifier and the
    database's name. A logical copy (pg_dump and restore) or another server has another;
    physical copies (base backups, disk snapshots, promoted replicas) keep it, and with
    their slot a replay re-reads current rows, so resuming is right for them. Empty, so
    never compared, where the role may not read the control data."""
    try:
        row = conn.execute("SELECT system_identifier::text || '/' || current_database() "
                           "FROM pg_control_system()").fetchone()
    except psycopg.errors.InsufficientPrivilege:
        return ""
    return str(row[0]) if row else ""


def _type_problems(src: DocumentSource, types: dict[str, str]) -> list[str]:
    """The document columns whose type the re-read's SQL cannot use as mapped (it would
    fail on every batch, a restart loop, instead of once here with the column named)."""
    checks: list[tuple[str, str, str, Callable[[str], bool]]] = [
        (flag, "a visibility flag", "boolean", lambda t: t == "boolean")
        for flag in src.visibility.flags]
    if src.published_at:
        checks.append((src.published_at, "published_at", "a timestamp or date",
                       lambda t: t.startswith(("timestamp", "date"))))
    if src.body_blocks:
        checks.append((src.body_blocks, "body_blocks", "json or jsonb",
                       lambda t: t in ("json", "jsonb")))
    if src.tags:  # text holding array literals casts row by row (a bad one is parked)
        checks.append((src.tags, "tags", "an array or text", lambda t: t.endswith("[]")
                       or t.startswith(("text", "character"))))
    return [f"mapping uses {src.table}.{column} as {role}, which must be {kind}; it is {typ}"
            for column, role, kind, ok in checks
            if (typ := types.get(column)) is not None and not ok(typ)]


def check_columns(conn: psycopg.Connection, mapping: Mapping) -> dict[str, str]:
    """Every table and column the mapping names must exist (one ``ConfigError`` lists
    all that do not), and the role must read all their rows (``check_row_security``).
    Returns the SQL types of the document tables' keys, tenant and
    category columns (``"<table>"``, ``"<table>.tenant"``, ``"<table>.category"``) and of
    the columns a changed term or image row is traced back through (a link table's term
    column, a document table's image column: ``"<table>.<column>"``), which the re-reads
    cast their parameters to."""
    wanted: dict[str, set[str]] = {}
    for src in mapping.documents:
        wanted[src.table] = src.columns()
    ten = mapping.tenants
    wanted[ten.table] = {c for c in (ten.id, ten.slug, ten.domain, ten.status, ten.deleted_at,
                                     ten.locale) if c}
    for src in mapping.documents:  # {tenant.column} in a url template
        wanted[ten.table].update(src.tenant_url_columns)
    if ten.domains:  # read by the API, which resolves ?tenant=<host> with it
        dom = ten.domains
        wanted.setdefault(dom.table, set()).update(
            c for c in (dom.tenant, dom.host, dom.status, dom.deleted_at) if c)
    for switch in ten.search_switches:  # read by the API too
        wanted.setdefault(switch.table, set()).update(switch.columns())
    if ten.search_types:  # read by the API too
        wanted.setdefault(ten.search_types.table, set()).update(ten.search_types.columns())
    if mapping.categories:
        cat = mapping.categories
        wanted[cat.table] = {c for c in (cat.id, cat.name, cat.deleted_at, cat.tenant) if c}
    links = [link for src in mapping.documents for link in src.links]
    for link in links:
        wanted.setdefault(link.link, set()).update((link.row, link.term))
        wanted.setdefault(link.table, set()).update(link.term_columns())
    for src in mapping.documents:
        if src.image_lookup:
            wanted.setdefault(src.image_lookup.table, set()).update(
                src.image_lookup.table_columns())
    problems = []
    key_types: dict[str, str] = {}
    for table, cols in wanted.items():
        rows = conn.execute(
            # the type, and the type under a domain over it (what the SQL works on)
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), format_type(CASE "
            "WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END, NULL) "
            "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
            "WHERE a.attrelid = to_regclass(quote_ident(%s)) AND a.attnum > 0 "
            "AND NOT a.attisdropped", (table,)
        ).fetchall()
        have: dict[str, str] = {name: typ for name, typ, _base in rows}
        if not have:
            problems.append(f"mapping names table {table!r}, which does not exist")
            continue
        problems += [f"mapping names column {table}.{c}, which does not exist"
                     for c in sorted(cols - have.keys())]
        base = {name: typ for name, _typ, typ in rows}
        for src in mapping.documents:
            if src.table == table:
                problems += _type_problems(src, base)
                key_types[table] = have.get(src.id, "text")
                key_types[f"{table}.tenant"] = have.get(src.tenant, "text")
                if src.category:
                    key_types[f"{table}.category"] = have.get(src.category, "text")
                if src.image_lookup:  # a changed image row's documents are looked up by it
                    column = src.image_lookup.column
                    key_types[f"{table}.{column}"] = have.get(column, "text")
        for link in links:  # a changed term's rows are looked up by its id
            if link.link == table:
                key_types[f"{table}.{link.term}"] = have.get(link.term, "text")
        problems += [f"mapping uses {table}.{switch.enabled} as a search switch, which must "
                     f"be boolean; it is {typ}" for switch in ten.search_switches
                     if switch.table == table and (typ := base.get(switch.enabled, "boolean"))
                     != "boolean"]
        st = ten.search_types
        if st and st.table == table and not (typ := base.get(st.column, "text[]")).endswith("[]"):
            problems.append(f"mapping uses {table}.{st.column} as the types a tenant's search "
                            f"may show, which must be an array of text; it is {typ}")
    if problems:
        raise ConfigError(problems)
    check_row_security(conn, tuple(wanted))
    return key_types


def check_row_security(conn: psycopg.Connection, tables: tuple[str, ...]) -> None:
    """The indexer must read every row of the mapped tables: one whose row-level security
    applies to this role (AWCMS forces it on its content tables, filtered by a tenant
    setting) shows it only some rows, and a re-read that does not find a row takes its
    document out of search. So such a table is a start-up error naming the fix."""
    hidden = [row[0] for row in conn.execute(
        HIDING_ROWS_SQL, ([sql.Identifier(t).as_string(conn) for t in dict.fromkeys(tables)],))]
    if hidden:
        role = conn.execute("SELECT current_user::text").fetchone()
        raise ConfigError([
            f"table {table!r} has row-level security that applies to role "
            f"{role[0] if role else '?'}: the indexer would see only the rows its policies "
            "show, and take every other row out of search. Connect as a role with "
            "BYPASSRLS (on Supabase: postgres), or ALTER ROLE ... BYPASSRLS."
            for table in hidden])


def check_one_environment(conn: psycopg.Connection, slot: str) -> None:
    """The ``search`` schema (vectors, embedding queue, dead letters) is one indexer's:
    refuse to start beside another whose slot is still in this database. A second
    mapping's rebuild would drop the first's vectors and dead letters, and its
    visibility rule would write vectors the first one's API serves. Two that both
    streamed before (set up when the docs allowed it) are warned of, not stopped."""
    rows = conn.execute(
        "SELECT s.slot_name FROM search.indexer_status s JOIN pg_replication_slots r "
        "ON r.slot_name = s.slot_name AND r.database = current_database() "
        "WHERE s.slot_name <> %s ORDER BY 1", (slot,)).fetchall()
    if not rows:
        return
    other = str(rows[0][0])
    if slot_info(conn, slot) is not None:  # made before: both streamed already
        log.warning("this database's search schema is shared with the indexer of "
                    "replication slot %r: one awsm environment per database (docs/"
                    "indexer.md); each one's rebuilds drop the other's vectors and dead "
                    "letters, and its visibility rule writes vectors the other serves",
                    other)
        return
    raise ConfigError([
        f"this database's search schema belongs to the indexer of replication slot "
        f"{other!r} (AWSM_SLOT_NAME is {slot!r}): one awsm environment per database. "
        f"Point this one at a database of its own, set AWSM_SLOT_NAME={other}, or, if "
        f"that environment is gone for good, drop its slot: SELECT "
        f"pg_drop_replication_slot('{other}')"])


def _unique_alone(conn: psycopg.Connection, table: str, column: str) -> bool:
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = "
        "i.indrelid AND a.attnum = i.indkey[0] WHERE i.indrelid = to_regclass(quote_ident(%s))"
        " AND i.indisunique AND i.indnkeyatts = 1 AND i.indpred IS NULL AND a.attname = %s)",
        (table, column)).fetchone()
    return bool(row and row[0])


def resume_or_rebuild(conn: psycopg.Connection, settings: Settings, mapping: Mapping,
                      engine: KeywordEngine) -> tuple[IndexerState, bool]:
    """Ensure the publication and the slot; the state to stream from, and whether the
    index must be rebuilt (no checkpoint, a new slot, or another database's index)."""
    saved = IndexerState.load(engine.checkpoint())
    check_one_environment(conn, settings.slot_name)
    try:
        check_replica_identity(conn, mapping.keys)
        for src in mapping.documents:
            if not _unique_alone(conn, src.table, src.id):
                log.warning("%s.%s, the column the mapping keys its documents by, has no "
                            "unique index of its own (a key of several columns): rows that "
                            "share a value are one document, the last read wins. Map a "
                            "column that is unique alone as id.", src.table, src.id)
        # a slot another process holds is refused before its publication is touched
        slot = check_slot_free(conn, settings.slot_name)
        ensure_publication(conn, settings.publication_name, mapping.tables, settings.slot_name)
        if saved is not None and (slot is None or slot.wal_status == "lost"):
            # A new slot streams nothing of what happened before it: the index must
            # be rebuilt. Said durably before the slot exists, or a crash before the
            # rebuild's swap would resume the old index from the new slot.
            engine.write([], [], checkpoint="")
            saved = None
        created = ensure_slot(conn, settings.slot_name)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise refused(exc, "this database role cannot set up logical replication",
                      "The indexer needs a role with the REPLICATION attribute that owns "
                      "the mapped tables; on Supabase, connect as postgres over the "
                      "direct connection.") from exc
    source = database_source(conn)
    files = table_files(conn, mapping.tables)
    if saved is not None and saved.source and source and saved.source != source:
        # e.g. a data directory reused against another server or a restored copy
        # whose slot has the same name: its stream says nothing of this index
        log.warning("the index was built from database %s, this is %s: rebuilding it",
                    saved.source, source)
    elif saved is not None and (tables := rewritten(saved.files, files)):
        log.warning("%s rewritten while the indexer was not running (ALTER TABLE, VACUUM "
                    "FULL, CLUSTER): its rows changed without row events; rebuilding",
                    ", ".join(tables))
    elif saved is not None and not created:
        return replace(saved, source=source, files=files), False
    return IndexerState(source=source, files=files), True
