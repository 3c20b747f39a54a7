"""pgvector storage of chunk embeddings: one table per model in the ``search`` schema.

Each model gets its own table (``vector(dims)``, HNSW cosine index), registered in
``search.embedding_models``; queries read only the table of the model they embedded
with, so vectors of two models never meet. Filters (tenant, type, category, tags,
locale, published_at) are stored beside each chunk and applied in SQL with pgvector's
iterative index scans, so selective filters still return full pages. All SQL is built
with ``psycopg.sql`` identifiers.
"""

from __future__ import annotations

import hashlib
import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector, register_vector_async
from psycopg import sql

from awsm.errors import ConfigError
from search_svc.chunking import MAX_CHUNKS, Chunk, chunk_head, chunk_window
from search_svc.engines.base import Document, SearchQuery

__all__ = ["ModelTable", "VectorHit", "VectorStore", "semantic_search", "still_holds",
           "table_name_for"]


@dataclass(frozen=True, slots=True)
class ModelTable:
    model_id: str
    table: str
    dimensions: int
    state: str


@dataclass(frozen=True, slots=True)
class VectorHit:
    key: str
    distance: float
    chunk_text: str
    title: str
    url: str
    image: str | None
    published_at: int
    type: str
    category: str | None
    tags: tuple[str, ...]
    locale: str


# pooled connections whose pgvector types are already registered
_REGISTERED: weakref.WeakSet[psycopg.AsyncConnection] = weakref.WeakSet()


def table_name_for(model_id: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", model_id.lower()).strip("_")[:40]
    return f"emb_{slug}_{hashlib.sha1(model_id.encode()).hexdigest()[:8]}"


def _ident(table: str) -> sql.Composable:
    return sql.Identifier("search", table)


# Transaction-scoped advisory lock taken by every write that brings vectors in step:
# the indexer's visibility sync, a rebuild's reconciliation, the embedding worker's
# writes. One such writer at a time, so their row locks never cross (a deadlock would
# abort one, and the indexer would restart its batch or rebuild), and the worker's
# look at the queue and its write are one step as far as the indexer can tell.
VECTOR_WRITES_LOCK = 0x6177736D_76656374  # "awsmvect"


class VectorStore:
    """Writes (indexer side) over one sync connection."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        register_vector(conn)

    def lock_writes(self) -> None:
        """Take ``VECTOR_WRITES_LOCK`` until the transaction ends (call inside one)."""
        self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (VECTOR_WRITES_LOCK,))

    def model_table(self, model_id: str, dimensions: int) -> ModelTable:
        """The table for ``model_id``, created (state ``building``) on first use."""
        row = self.conn.execute(
            "SELECT model_id, table_name, dimensions, state FROM search.embedding_models "
            "WHERE model_id = %s", (model_id,)).fetchone()
        if row is not None:
            if row[2] != dimensions:
                raise ConfigError([
                    f"embedding model {model_id!r} is registered with {row[2]} dimensions but "
                    f"now produces {dimensions}: a changed model needs a new id (or drop "
                    f"search.{row[1]} and its row in search.embedding_models to rebuild)"])
            return ModelTable(*row)
        table = table_name_for(model_id)
        with self.conn.transaction():
            self.conn.execute(sql.SQL(
                "CREATE TABLE IF NOT EXISTS {t} ("
                " doc_key text NOT NULL, chunk integer NOT NULL, tenant_id text NOT NULL,"
                " type text NOT NULL, category text, tags text[] NOT NULL DEFAULT '{{}}',"
                " locale text NOT NULL DEFAULT '', published_at bigint NOT NULL DEFAULT 0,"
                " title text NOT NULL DEFAULT '', url text NOT NULL DEFAULT '', image text,"
                " chunk_text text NOT NULL, content_hash text NOT NULL,"
                " embedding vector({d}) NOT NULL, PRIMARY KEY (doc_key, chunk))"
            ).format(t=_ident(table), d=sql.Literal(dimensions)))
            self.conn.execute(sql.SQL(
                "CREATE INDEX IF NOT EXISTS {i} ON {t} USING hnsw (embedding vector_cosine_ops)"
            ).format(i=sql.Identifier(f"{table}_hnsw"), t=_ident(table)))
            self.conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {i} ON {t} (tenant_id, type)")
                              .format(i=sql.Identifier(f"{table}_tenant"), t=_ident(table)))
            self.conn.execute(
                "INSERT INTO search.embedding_models (model_id, table_name, dimensions) "
                "VALUES (%s, %s, %s) ON CONFLICT (model_id) DO NOTHING",
                (model_id, table, dimensions))
        return ModelTable(model_id, table, dimensions, "building")

    def activate(self, model_id: str) -> None:
        """Make ``model_id`` the live model; retire and drop every other model's table
        (holding ``VECTOR_WRITES_LOCK``: a writer that listed the tables first would
        find one gone)."""
        with self.conn.transaction():
            self.lock_writes()
            old = self.conn.execute(
                "SELECT table_name FROM search.embedding_models WHERE model_id <> %s",
                (model_id,)).fetchall()
            self.conn.execute(
                "UPDATE search.embedding_models SET state = 'active', activated_at = now() "
                "WHERE model_id = %s", (model_id,))
            self.conn.execute("DELETE FROM search.embedding_models WHERE model_id <> %s",
                              (model_id,))
            for (table,) in old:
                self.conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_ident(table)))

    def existing(self, table: str, keys: Sequence[str]) -> dict[str, list[tuple[str, np.ndarray]]]:
        """Per document key, its chunks' (content hash, vector) in chunk order."""
        out: dict[str, list[tuple[str, np.ndarray]]] = {}
        if not keys:
            return out
        rows = self.conn.execute(sql.SQL(
            "SELECT doc_key, content_hash, embedding FROM {} WHERE doc_key = ANY(%s) "
            "ORDER BY doc_key, chunk").format(_ident(table)), (list(keys),)).fetchall()
        for key, digest, vector in rows:
            array = vector.to_numpy() if hasattr(vector, "to_numpy") else vector
            out.setdefault(key, []).append((digest, np.asarray(array, dtype=np.float32)))
        return out

    def blanked(self, table: str, keys: Sequence[str]) -> set[str]:
        """Those of ``keys`` with a chunk whose stored text was blanked
        (``_forget_removed_text``)."""
        if not keys:
            return set()
        return {key for (key,) in self.conn.execute(sql.SQL(
            "SELECT DISTINCT doc_key FROM {} WHERE doc_key = ANY(%s) AND chunk_text = ''"
        ).format(_ident(table)), (list(keys),))}

    def sync_visibility(self, upserts: Sequence[Document], deletes: Sequence[str]) -> None:
        """In every model's table, at once: documents that left the keyword index leave
        the vectors, and the others get the tenant, type, category, tags, locale, date,
        title, url and image they were indexed with. Semantic search filters on these
        columns, so it never shows a row the keyword index no longer holds (unpublished,
        deleted, private, moved to another tenant, rescheduled) while the queue re-embeds
        changed text."""
        if not upserts and not deletes:
            return
        with self.conn.transaction():
            self.lock_writes()
            for (table,) in self.conn.execute(
                    "SELECT table_name FROM search.embedding_models WHERE state <> 'retired'"
            ).fetchall():
                self.delete(table, deletes)
                self.update_metadata(table, upserts)
                self._forget_removed_text(table, upserts)

    def _forget_removed_text(self, table: str, docs: Sequence[Document]) -> None:
        """Blank the stored text of chunks whose text the document no longer holds: a
        semantic hit's snippet is cut from it, and it showed removed text until the queue
        re-embedded the row. Its vector still ranks the row meanwhile."""
        if not docs:
            return
        # each document's texts made once, not once per chunk (a body may be megabytes)
        texts = {doc.key: _shown_texts(doc) for doc in docs}
        stale = [(key, chunk) for key, chunk, text in self.conn.execute(sql.SQL(
            "SELECT doc_key, chunk, chunk_text FROM {} WHERE doc_key = ANY(%s) "
            "AND chunk_text <> ''").format(_ident(table)), (list(texts),)).fetchall()
            if not _holds(texts[key], text)]
        if stale:
            self.conn.execute(sql.SQL(
                "UPDATE {} v SET chunk_text = '' FROM unnest(%s::text[], %s::int[]) "
                "AS s(k, c) WHERE v.doc_key = s.k AND v.chunk = s.c").format(_ident(table)),
                ([k for k, _c in stale], [c for _k, c in stale]))

    # A rebuild of the keyword index (first backfill, ``--reindex``, a lost slot, a
    # TRUNCATE) names no deleted rows: what it indexed is noted in a temporary table, and
    # the vectors are made to match it in SQL before the new index goes live.
    def begin_rebuild(self) -> None:
        """Start noting the documents of a rebuild (``note_rebuilt``)."""
        self.conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS awsm_rebuilt (tenant_id text, type text, "
            "category text, tags text[], locale text, published_at bigint, title text, "
            "url text, image text, doc_key text)")
        self.conn.execute("TRUNCATE awsm_rebuilt")

    def note_rebuilt(self, docs: Sequence[Document]) -> None:
        with self.conn.cursor() as cur, cur.copy(
                "COPY awsm_rebuilt (tenant_id, type, category, tags, locale, published_at, "
                "title, url, image, doc_key) FROM STDIN") as copy:
            for doc in docs:
                copy.write_row((*_meta(doc), doc.key))

    def finish_rebuild(self) -> int:
        """In every model's table, in one transaction: drop the vectors of documents the
        rebuild did not index, give the others the fields they were indexed with.
        Returns how many chunks were dropped."""
        dropped = 0
        columns = ("tenant_id", "type", "category", "tags", "locale", "published_at",
                   "title", "url", "image")
        assign = sql.SQL(", ").join(sql.SQL("{c} = r.{c}").format(c=sql.Identifier(c))
                                    for c in columns)
        changed = sql.SQL(" OR ").join(sql.SQL("v.{c} IS DISTINCT FROM r.{c}").format(
            c=sql.Identifier(c)) for c in columns)
        with self.conn.transaction():
            self.lock_writes()
            self.conn.execute("ANALYZE awsm_rebuilt")  # temporary tables get no autovacuum
            for (table,) in self.conn.execute(
                    "SELECT table_name FROM search.embedding_models WHERE state <> 'retired'"
            ).fetchall():
                cur = self.conn.execute(sql.SQL(
                    "DELETE FROM {t} v WHERE NOT EXISTS "
                    "(SELECT 1 FROM awsm_rebuilt r WHERE r.doc_key = v.doc_key)"
                ).format(t=_ident(table)))
                dropped += max(cur.rowcount, 0)
                self.conn.execute(sql.SQL(
                    "UPDATE {t} v SET {assign} FROM awsm_rebuilt r "
                    "WHERE r.doc_key = v.doc_key AND ({changed})"
                ).format(t=_ident(table), assign=assign, changed=changed))
            self.conn.execute("DROP TABLE awsm_rebuilt")
        return dropped

    def update_metadata(self, table: str, docs: Sequence[Document]) -> None:
        """Refresh the stored filters and display fields without touching vectors."""
        if not docs:
            return
        with self.conn.cursor() as cur:
            cur.executemany(sql.SQL(
                "UPDATE {} SET tenant_id = %s, type = %s, category = %s, tags = %s, locale = %s, "
                "published_at = %s, title = %s, url = %s, image = %s WHERE doc_key = %s"
            ).format(_ident(table)), [(*_meta(doc), doc.key) for doc in docs])

    def replace(self, table: str,
                items: Sequence[tuple[Document, Sequence[Chunk], Sequence[np.ndarray]]]) -> None:
        """Replace every chunk of each document, all in one transaction and one pipeline."""
        if not items:
            return
        rows = [(*_meta(doc), doc.key, c.index, c.text, c.hash, v)
                for doc, chunks, vectors in items
                for c, v in zip(chunks, vectors, strict=True)]
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(sql.SQL("DELETE FROM {} WHERE doc_key = ANY(%s)").format(_ident(table)),
                        ([doc.key for doc, _c, _v in items],))
            cur.executemany(sql.SQL(
                "INSERT INTO {} (tenant_id, type, category, tags, locale, published_at, "
                "title, url, image, doc_key, chunk, chunk_text, content_hash, embedding) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            ).format(_ident(table)), rows)

    def delete(self, table: str, keys: Sequence[str]) -> None:
        if keys:
            self.conn.execute(sql.SQL("DELETE FROM {} WHERE doc_key = ANY(%s)").format(
                _ident(table)), (list(keys),))

    def count(self, table: str, tenant_id: str | None = None) -> int:
        where = sql.SQL("WHERE tenant_id = %s") if tenant_id else sql.SQL("")
        row = self.conn.execute(sql.SQL("SELECT count(*) FROM {} {}").format(_ident(table), where),
                                (tenant_id,) if tenant_id else None).fetchone()
        return int(row[0]) if row else 0


def still_holds(doc: Document, chunk_text: str) -> bool:
    """Whether ``doc`` still holds the part of a stored chunk a snippet is cut from (its
    body window, or its head when the body is empty; ``chunking.chunk_window``)."""
    return _holds(_shown_texts(doc), chunk_text)


def _shown_texts(doc: Document) -> tuple[str, str]:
    """The body as chunks hold it (words one space apart) and the head."""
    return " ".join(doc.body.split()), chunk_head(doc)


def _holds(texts: tuple[str, str], chunk_text: str) -> bool:
    shown = chunk_window(chunk_text)
    return shown in texts[0] or shown in texts[1]


def _meta(doc: Document) -> tuple[Any, ...]:
    return (doc.tenant_id, doc.type, doc.category, list(doc.tags), doc.locale, doc.published_at,
            doc.title, doc.url, doc.image)


def _filters(query: SearchQuery) -> tuple[sql.Composable, list[Any]]:
    conds: list[sql.Composable] = [sql.SQL("tenant_id = %s")]
    args: list[Any] = [query.tenant_id]
    if query.published_before is not None:
        conds.append(sql.SQL("published_at <= %s"))
        args.append(query.published_before)
    for column, values in (("type", query.scope_types), ("type", query.types),
                           ("category", query.categories)):
        if values:
            conds.append(sql.SQL("{} = ANY(%s)").format(sql.Identifier(column)))
            args.append(list(values))
    if query.tags:
        conds.append(sql.SQL("tags && %s::text[]"))
        args.append(list(query.tags))
    if query.locale:
        conds.append(sql.SQL("locale = %s"))
        args.append(query.locale)
    return sql.SQL(" AND ").join(conds), args


async def semantic_search(conn: psycopg.AsyncConnection, table: str, vector: np.ndarray,
                          query: SearchQuery, *, candidates: int) -> list[VectorHit]:
    """The ``candidates`` nearest documents (best chunk each) under the query's filters,
    best first."""
    if conn not in _REGISTERED:  # the type lookup costs four catalog queries
        await register_vector_async(conn)
        _REGISTERED.add(conn)
    where, args = _filters(query)
    stmt = sql.SQL(
        "SELECT doc_key, embedding <=> %s AS d, chunk_text, title, url, image, published_at, "
        "type, category, tags, locale FROM {t} WHERE {w} ORDER BY embedding <=> %s LIMIT %s"
    ).format(t=_ident(table), w=where)
    # Every chunk leads with its document's title and summary, so one document's chunks
    # lie close together and can fill the nearest rows: more rows are read until they
    # hold ``candidates`` documents, at most MAX_CHUNKS a document.
    rows_wanted = candidates
    while True:
        # iterative scans keep walking the HNSW graph until enough rows pass the filters;
        # transaction-local (safe behind a transaction-mode pooler), and pipelined so the
        # settings and the query cost one round trip
        async with conn.transaction(), conn.pipeline():
            await conn.execute("SET LOCAL hnsw.iterative_scan = 'relaxed_order'")
            await conn.execute("SET LOCAL hnsw.ef_search = 100")
            cur = await conn.execute(stmt, [vector, *args, vector, rows_wanted])
        rows = await cur.fetchall()
        best: dict[str, VectorHit] = {}
        for key, dist, text, title, url, image, published, typ, cat, tags, locale in rows:
            if key not in best or dist < best[key].distance:
                best[key] = VectorHit(key, float(dist), text, title, url, image, int(published),
                                      typ, cat, tuple(tags or ()), locale)
        if (len(best) >= candidates or len(rows) < rows_wanted
                or rows_wanted >= candidates * MAX_CHUNKS):
            # equal distances (identical chunks) by key: the same order at every depth
            return sorted(best.values(), key=lambda h: (h.distance, h.key))[:candidates]
        rows_wanted = min(rows_wanted * 4, candidates * MAX_CHUNKS)
