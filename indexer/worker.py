"""The indexer loop: backfill, then stream changes into the keyword engine.

Order of one batch: fold decoded records into affected keys (``changes.py``) → map
tenant/category changes to document keys → re-read current rows on the primary →
build documents (``RowReader``) → one durable engine write carrying the
LSN → confirm the slot. The slot never moves past what the engine holds, so a crash
at any point only replays (writes are idempotent whole-document replaces).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import psycopg
from psycopg import sql

from awsm.db import apply_migrations, connect, ensure_pgvector
from awsm.errors import ConfigError
from awsm.settings import Settings
from indexer.changes import Batch, add_record, key_slices
from indexer.embeddings import EmbeddingWorker, enqueue, requeue_all
from indexer.links import rows_linked_to
from indexer.mapping import DocumentSource, Mapping
from indexer.pgoutput import DecodeError, Decoder, format_lsn, parse_lsn
from indexer.reader import RowReader
from indexer.replication import (
    ReplicationStream,
    check_replica_identity,
    emit_heartbeat,
    ensure_publication,
)
from indexer.startup import (
    IndexerState,
    check_columns,
    database_source,
    resume_or_rebuild,
    rewritten,
    table_files,
    table_oids,
)
from indexer.status import write_status
from indexer.written import WrittenDigests
from search_svc.embedding import Embedder
from search_svc.engines.base import Document, KeywordEngine
from search_svc.vectors import VectorStore

__all__ = ["BackfillStopped", "Indexer", "IndexerState"]

log = logging.getLogger("awsm.indexer")
_SCHEDULE_OVERLAP_S = 5.0
READ_SLICE_KEYS = 1000  # rows re-read per query
WRITE_DOCS = 5000  # documents per engine write, at most (``Indexer.write_docs``) ...
WRITE_CHARS = 16_000_000  # ... and characters of text (~2.6 kB a document in Tantivy)
# pgoutput gives 32-bit xids; widen them with the epoch of the snapshot's xmax
_INVISIBLE_XIDS = """
WITH s AS (SELECT pg_current_snapshot() AS snap),
     r AS (SELECT pg_snapshot_xmax(snap)::text::bigint AS xmax FROM s)
SELECT count(*) FROM unnest(%s::bigint[]) AS t(x), s, r
WHERE NOT pg_visible_in_snapshot(
    ((((r.xmax >> 32) - CASE WHEN t.x > (r.xmax & 4294967295) THEN 1 ELSE 0 END) << 32)
     | t.x)::text::xid8, s.snap)
"""


class BackfillStopped(Exception):
    """A stop came during a backfill: its rebuild was dropped, the live index is as it was
    (the next start backfills again)."""


class Indexer:
    def __init__(self, settings: Settings, mapping: Mapping, engine: KeywordEngine,
                 dsn: str) -> None:
        self.settings, self.mapping, self.engine, self.dsn = settings, mapping, engine, dsn
        self.conn: psycopg.Connection = connect(dsn)
        self.state = IndexerState()
        self.stream: ReplicationStream | None = None
        self.documents_written = 0
        self._vectors: VectorStore | None = None  # with embeddings: their tables
        self._key_types: dict[str, str] = {}
        self.reader = RowReader(mapping, self.conn, self._key_types)
        self.embeddings_enabled = settings.embedder != "none"
        # vectors kept in step with the keyword index: with a model, or with none while
        # an earlier model's vectors remain (turned on again, they must not hold rows
        # hidden meanwhile); decided in prepare()
        self.vectors_kept = self.embeddings_enabled
        self.embedding_worker: EmbeddingWorker | None = None
        self.write_docs = WRITE_DOCS
        self._written = WrittenDigests()
        self._last_status = 0.0

    # start-up ------------------------------------------------------------
    def prepare(self) -> bool:
        """Apply awsm's migrations (the ``search`` schema; pgvector when embedding), check
        the mapping against the database, ensure publication and slot.
        Returns True when a full backfill is needed."""
        applied = apply_migrations(self.conn)
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
        if self.embeddings_enabled:
            ensure_pgvector(self.conn)
        self.vectors_kept = self.embeddings_enabled or bool(self.conn.execute(
            "SELECT EXISTS (SELECT 1 FROM search.embedding_models)").fetchone()[0])  # type: ignore[index]
        self.load_column_types()
        self.state, rebuild = resume_or_rebuild(self.conn, self.settings, self.mapping,
                                                self.engine)
        return rebuild

    def load_column_types(self) -> None:
        """Check the mapping against the tables and note the key columns' types, which
        re-reads cast their parameters to (``ConfigError`` listing what is missing)."""
        self._key_types.update(check_columns(self.conn, self.mapping))

    # backfill --------------------------------------------------------------
    def backfill(self, stop: threading.Event | None = None) -> int:
        """Index every visible row into a shadow index and swap it in; ``stop`` set
        between two pages drops the rebuild (``BackfillStopped``), so a signal during a
        long backfill stops the indexer at once, not when a supervisor's patience ends."""
        started = self._db_now()
        files = table_files(self.conn, self.mapping.tables)  # before reading them
        lsn_row = self.conn.execute(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
            (self.settings.slot_name,),
        ).fetchone()
        shadow = self.engine.begin_rebuild()
        self.reader.take_parked()  # from here on: what this rebuild parks
        vectors = self._vector_store() if self.vectors_kept else None
        if vectors is not None:
            vectors.begin_rebuild()
        total = 0
        for src in self.mapping.documents:
            table_total = 0
            for docs in self.visible_documents(src):
                if stop is not None and stop.is_set():
                    shadow.close()  # an abandoned rebuild's files (or index) go with it
                    log.info("backfill stopped after %d documents", total + table_total)
                    raise BackfillStopped
                self._progress()  # a rebuild while streaming (a TRUNCATE) takes minutes
                if parked := self.reader.write(shadow, docs, []):
                    docs = [d for d in docs if d.key not in parked]
                if vectors is not None:
                    vectors.note_rebuilt(docs)
                table_total += len(docs)
                log.info("backfill %s: %d documents so far", src.table, table_total)
            total += table_total
        self.state = IndexerState(parse_lsn(lsn_row[0]) if lsn_row and lsn_row[0] else 0,
                                  started - _SCHEDULE_OVERLAP_S,
                                  self.state.source or database_source(self.conn), files)
        shadow.write([], [], checkpoint=self.state.dump())
        if vectors is not None:
            # every document, whatever its model (the worker skips unchanged chunks),
            # queued before the swap, so a crash after it cannot leave them unqueued
            EmbeddingWorker.enqueue_all_sql(self.conn, self.mapping)
            # before the swap: semantic search never shows a row the new index lacks
            with self.conn.transaction():
                vectors.lock_writes()
                requeue_all(self.conn)
                dropped = vectors.finish_rebuild()
            if dropped:
                log.info("backfill: dropped %d chunks of documents no longer indexed", dropped)
        self.engine.swap(shadow)
        self.reader.unpark_all_but(self.reader.take_parked())
        self._written.clear()  # what the old index held says nothing of the new one
        self.documents_written += total
        self._write_status("streaming", backfilled=True)
        log.info("backfill done: %d documents", total)
        return total

    def visible_documents(self, src: DocumentSource) -> Iterator[list[Document]]:
        """The documents the visibility rules allow from ``src``, in pages of
        ``AWSM_BACKFILL_CHUNK_ROWS`` (``RowReader.visible_documents``)."""
        return self.reader.visible_documents(src, self.settings.backfill_chunk_rows)

    # streaming ---------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        if self.prepare():
            try:
                self.backfill(stop)
            except BackfillStopped:
                self._write_status("stopped")
                return
        stream = ReplicationStream(self.dsn, self.settings.slot_name,
                                   self.settings.publication_name)
        stream.open()
        self.stream = stream  # set once open: whoever sees it sees the slot held
        log.info("streaming from slot %s at %s", self.settings.slot_name, format_lsn(self.state.lsn))
        if self.embeddings_enabled:
            threading.Thread(target=self._run_embeddings, args=(stop,), name="embeddings",
                             daemon=True).start()
        self._write_status("streaming")
        decoder, batch = Decoder(table_oids(self.conn, self.mapping.tables)), Batch()
        next_heartbeat = next_schedule = time.monotonic()
        try:
            while not stop.is_set():
                for _start, payload in stream.read(timeout=0.05,
                                                   max_messages=self.settings.batch_max_changes):
                    try:
                        record = decoder.decode(payload)
                    except DecodeError as exc:
                        raise RuntimeError(f"cannot decode pgoutput message: {exc}") from exc
                    add_record(batch, self.mapping, record, stream.wal_end)
                if batch.ready:
                    self.apply(batch)
                    batch = Batch()
                now = time.monotonic()
                if now >= next_schedule:
                    self.publish_due()
                    next_schedule = now + self.settings.schedule_interval_s
                if now >= next_heartbeat:
                    self.check_tables()
                    emit_heartbeat(self.conn)
                    next_heartbeat = now + self.settings.heartbeat_interval_s
        finally:
            stream.close()
            self._write_status("stopped")

    def apply(self, batch: Batch) -> None:
        """Make the engine match the current rows behind ``batch``, then confirm it."""
        if not batch.empty:
            self.wait_visible(batch.xids)
            if batch.keyless:
                # refused (nothing confirmed) while the identity still leaves the id out
                check_replica_identity(self.conn, {t: self.mapping.keys[t]
                                                   for t in sorted(batch.keyless)})
                log.warning("%s: rows were deleted while the replica identity left out "
                            "their id, so the stream cannot say which; rebuilding",
                            ", ".join(sorted(batch.keyless)))
            if batch.truncated or batch.keyless:
                self.backfill()  # a TRUNCATE carries no keys: rebuild from the tables
            self.write_documents(self.affected_keys(batch), end_lsn=batch.end_lsn)
        else:
            self.state.lsn = batch.end_lsn
        assert self.stream is not None
        self.stream.confirm(batch.end_lsn)
        self._write_status("streaming", commit_us=batch.last_commit_us)

    def check_tables(self) -> None:
        """Rebuild from the tables when one was rewritten since the index last read it
        (``table_files``): its rows changed without a row event on the stream."""
        files = table_files(self.conn, self.mapping.tables)
        if tables := rewritten(self.state.files, files):
            if gone := [t for t in tables if files[t] is None]:
                log.warning("%s dropped or renamed", ", ".join(gone))
            else:
                log.warning("%s rewritten (ALTER TABLE, VACUUM FULL, CLUSTER): its rows "
                            "changed without row events; rebuilding", ", ".join(tables))
            self.load_column_types()  # a table or column dropped or renamed: say so
            # a table dropped and created again is another table, not in the publication
            ensure_publication(self.conn, self.settings.publication_name,
                               self.mapping.tables, self.settings.slot_name)
            self.backfill()

    def wait_visible(self, xids: set[int], timeout_s: float = 10.0) -> None:
        """Wait until a fresh snapshot sees every transaction of the batch.

        The walsender may send a commit before the committing backend has left the
        proc array, so a re-read in that instant misses the row and would index it as
        deleted — then confirm it. Re-reads start only once the commits are visible."""
        if not xids:
            return
        deadline = time.monotonic() + timeout_s
        delay = 0.0005
        while True:
            row = self.conn.execute(_INVISIBLE_XIDS, (sorted(xids),)).fetchone()
            if row is None or row[0] == 0:
                return
            if time.monotonic() > deadline:
                # not confirmed: the supervisor restarts us and the slot replays the batch
                raise RuntimeError(f"{row[0]} committed transaction(s) still invisible "
                                   f"after {timeout_s}s")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def affected_keys(self, batch: Batch) -> dict[str, set[str]]:
        keys = {table: set(ids) for table, ids in batch.rows.items()}
        for src in self.mapping.documents:
            if batch.tenants:
                keys.setdefault(src.table, set()).update(
                    self._ids_where(src, src.tenant, batch.tenants, "tenant"))
            if batch.categories and src.category:
                keys.setdefault(src.table, set()).update(
                    self._ids_where(src, src.category, batch.categories, "category"))
            for link in src.links:
                if terms := batch.related.get(link.table):
                    kind = self._key_types.get(f"{link.link}.{link.term}", "text")
                    keys.setdefault(src.table, set()).update(
                        r[0] for r in self.conn.execute(rows_linked_to(link, kind), (list(terms),)))
            if src.image_lookup and (ids := batch.related.get(src.image_lookup.table)):
                column = src.image_lookup.column
                keys.setdefault(src.table, set()).update(self._ids_where(src, column, ids, column))
        return keys

    def _ids_where(self, src: DocumentSource, column: str, values: set[str], kind: str) -> list[str]:
        query = sql.SQL("SELECT {id}::text FROM {table} WHERE {col} = ANY({p}::{t}[])").format(
            id=sql.Identifier(src.id), table=sql.Identifier(src.table),
            col=sql.Identifier(column), p=sql.Placeholder(),
            t=sql.SQL(self._key_types.get(f"{src.table}.{kind}", "text")))
        return [r[0] for r in self.conn.execute(query, (list(values),))]

    def documents_for(self, keys: dict[str, set[str]]) -> tuple[list[Document], list[str]]:
        return self.reader.documents_for(keys)

    def publish_due(self) -> int:
        """Re-read rows whose ``published_at`` passed since the last scan (overlapping windows):
        scheduled content appears with no write to its row."""
        now = self._db_now()
        since = (self.state.scheduled_until or now) - _SCHEDULE_OVERLAP_S
        keys: dict[str, set[str]] = {}
        for src in self.mapping.documents:
            if not src.published_at:
                continue
            query = sql.SQL(
                "SELECT {id}::text FROM {table} WHERE {p} > to_timestamp(%s) AND {p} <= now()"
            ).format(id=sql.Identifier(src.id), table=sql.Identifier(src.table),
                     p=sql.Identifier(src.published_at))
            ids = {r[0] for r in self.conn.execute(query, (since,))}
            if ids:
                keys[src.table] = ids
        self.state.scheduled_until = now
        if not keys:
            return 0
        return self.write_documents(keys)

    def write_documents(self, keys: dict[str, set[str]], *, end_lsn: int | None = None) -> int:
        """Re-read ``keys`` and write their documents, at most ``write_docs`` documents or
        ``WRITE_CHARS`` characters of text at a time: a bulk import or update in one
        transaction never sits in memory whole, nor goes to the engine as one request
        (Meilisearch refuses payloads over 100 MB). Only the last write carries the
        checkpoint (with ``end_lsn``), so a crash part way replays the whole batch.
        Returns how many documents were upserted."""
        upserts: list[Document] = []
        digests: list[bytes] = []
        deletes: list[str] = []
        chars = written = 0
        mark = self._written.mark()  # before the reads
        for part in key_slices(keys, min(READ_SLICE_KEYS, self.write_docs)):
            self._progress()
            more, gone = self.documents_for(part)
            deletes += gone
            # a document as this process last wrote it is left alone: a view counter
            # would otherwise cost a full re-index of its row on every page view
            more, more_digests = self._written.changed(more)
            for doc, d in zip(more, more_digests, strict=True):  # the text cap counted
                upserts.append(doc)                              # document by document
                digests.append(d)
                chars += len(doc.title) + len(doc.summary) + len(doc.body)
                if len(upserts) + len(deletes) >= self.write_docs or chars >= WRITE_CHARS:
                    written += self._write(upserts, deletes, None, digests, mark)
                    upserts, digests, deletes, chars = [], [], [], 0
            if len(upserts) + len(deletes) >= self.write_docs:
                written += self._write(upserts, deletes, None, digests, mark)
                upserts, digests, deletes, chars = [], [], [], 0
        if end_lsn is not None:
            self.state.lsn = end_lsn
        return written + self._write(upserts, deletes, self.state.dump(), digests, mark)

    def _progress(self) -> None:
        if self.stream is not None:  # streaming: the stream's keepalive goes on
            self.stream.progress()

    def _write(self, upserts: list[Document], deletes: list[str],
               checkpoint: str | None, digests: list[bytes], mark: int) -> int:
        # Vectors first: semantic search hides a row no later than keyword search does
        # (the other way round, a deleted row stayed in semantic results for the
        # moment between the two writes). Both are durable before the slot moves.
        # Rows parked before and readable now are parked no longer, before they are
        # queued (the embedding worker skips parked rows); those the re-reads just
        # parked stay, and those the engine rejects below are parked again.
        self.reader.unpark([*deletes, *(d.key for d in upserts)], self.reader.take_parked())
        self._queue_embeddings(upserts, deletes)
        # forgotten first: a write that fails part way may have changed any of them
        self._written.forget([*deletes, *(d.key for d in upserts)])
        if parked := self.reader.write(self.engine, upserts, deletes, checkpoint):
            self._queue_embeddings([], parked)  # out of semantic search too
            kept = [(u, d) for u, d in zip(upserts, digests, strict=True)
                    if u.key not in parked]
            upserts, digests = [u for u, _ in kept], [d for _, d in kept]
            deletes = [*deletes, *parked]
            self.reader.take_parked()  # parked for good: not this write's to clear
        self._written.note(upserts, digests, deletes, mark)
        self.documents_written += len(upserts) + len(deletes)
        return len(upserts)

    def _queue_embeddings(self, upserts: list[Document], deletes: list[str]) -> None:
        if not self.vectors_kept:
            return
        items = [(d.key, src.table, d.id) for d in upserts
                 if (src := self.mapping.by_type(d.type)) is not None]
        items += [(key, row[0].table, row[1]) for key in deletes
                  if (row := self.mapping.row_of(key)) is not None]
        # queued first: the embedding worker then never writes over the change below
        # what it read before it (``EmbeddingWorker._write``)
        enqueue(self.conn, items)
        # what semantic search may show follows the keyword index now; only re-embedding
        # changed text waits for the queue
        self._vector_store().sync_visibility(upserts, deletes)

    def _vector_store(self) -> VectorStore:
        if self._vectors is None:
            self._vectors = VectorStore(self.conn)
        return self._vectors

    # status -----------------------------------------------------------------
    def _db_now(self) -> float:
        row = self.conn.execute("SELECT extract(epoch FROM now())::float8").fetchone()
        assert row is not None
        return float(row[0])

    def _write_status(self, state: str, *, backfilled: bool = False, commit_us: int = 0,
                      error: str | None = None) -> None:
        now = time.monotonic()
        if state == "streaming" and not backfilled and not error and now - self._last_status < 0.5:
            return
        self._last_status = now
        write_status(self.conn, self.settings.slot_name, state, lsn=self.state.lsn,
                     commit_us=commit_us, error=error, backfilled=backfilled,
                     documents_written=self.documents_written)

    def _run_embeddings(self, stop: threading.Event) -> None:
        """The embedding worker's thread: loads the model here, so keyword indexing never
        waits for it, and restarts the worker after a failure instead of dying."""
        from search_svc.embedding import open_embedder

        try:
            embedder = open_embedder(self.settings)
        except Exception as exc:  # weights or package missing: nothing a retry changes
            log.error("embedding is off, the model did not load: %s", exc)
            self.record_error(exc)  # keyword indexing goes on; /readyz shows the error
            return
        while not stop.is_set():
            worker: EmbeddingWorker | None = None
            try:  # connecting too: a refused connection is retried like a lost one
                worker = self.embedding_worker = self.new_embedding_worker(embedder)
                worker.run(stop)
            except ConfigError as exc:
                # retrying cannot help (e.g. a model whose dimensions changed): keyword
                # indexing goes on, the error stays in the status for the operator
                log.error("embedding stopped: %s", exc)
                self.record_error(exc)
                return
            except Exception as exc:
                log.exception("embedding worker failed; restarting in 5 s")
                self.record_error(exc)
                stop.wait(5)
            finally:
                if worker is not None:
                    worker.close()

    def new_embedding_worker(self, embedder: Embedder) -> EmbeddingWorker:
        """Its writes come from its own reads, newer than this thread's may be: what it
        wrote otherwise is read as changed next time (``WrittenDigests.invalidate``)."""
        return EmbeddingWorker(self.mapping, embedder, self.dsn, dict(self._key_types),
                               slot_name=self.settings.slot_name,
                               on_written=self._written.invalidate)

    def record_error(self, exc: BaseException) -> None:
        try:
            self._write_status("error", error=f"{type(exc).__name__}: {exc}"[:1000])
        except psycopg.Error:
            log.warning("could not record the indexer error in search.indexer_status")

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
        self.conn.close()

