"""The embedding worker: keeps the live model's vector table equal to the visible documents.

Runs beside the streaming loop, never in it: the indexer only enqueues document keys
(``search.embedding_queue``, durable before the slot is confirmed), so keyword freshness
never waits on a model. Each round re-reads the queued rows, chunks them, and calls the
model only for chunks whose content hash is new — an update of ``views`` or a replayed
change costs no model call. A row that keeps failing is parked in
``search.dead_letters`` after ``MAX_ATTEMPTS``, out of semantic search, and shown in the
indexer's status.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import psycopg
from psycopg import sql

from awsm.db import connect
from indexer.mapping import DocumentSource, Mapping
from indexer.reader import RowReader, parked_rows, unpark_rows
from search_svc.chunking import Chunk, chunk_document
from search_svc.embedding import Embedder
from search_svc.engines.base import Document
from search_svc.vectors import ModelTable, VectorStore

__all__ = ["EmbeddingStats", "EmbeddingWorker", "enqueue", "requeue_all"]

log = logging.getLogger("awsm.embeddings")
MAX_ATTEMPTS = 5
BATCH_DOCS = 64
Ready = tuple[Document, Sequence[Chunk], Sequence[np.ndarray]]  # chunks and their vectors


def enqueue(conn: psycopg.Connection, keys: Sequence[tuple[str, str, str]]) -> None:
    """Queue (doc_key, source_table, row_id) for (re)embedding; newer requests win."""
    if not keys:
        return
    rows = list({key: (key, table, row_id) for key, table, row_id in keys}.values())
    # one statement, its entries locked in key order (COLLATE "C", whatever the server's
    # encoding), the order every other locker of queue entries uses (no deadlock)
    conn.execute(
        "INSERT INTO search.embedding_queue (doc_key, source_table, row_id) "
        "SELECT k, t, r FROM unnest(%s::text[], %s::text[], %s::text[]) AS u(k, t, r) "
        "ORDER BY k COLLATE \"C\" "
        "ON CONFLICT (doc_key) DO UPDATE SET enqueued_at = clock_timestamp(), attempts = 0",
        ([k for k, _t, _r in rows], [t for _k, t, _r in rows], [r for _k, _t, r in rows]))


def requeue_all(conn: psycopg.Connection) -> None:
    """Mark every queued document as queued again now, for a rebuild that is about to
    bring the vectors in step with the rows (in the same transaction, holding
    ``VECTOR_WRITES_LOCK``): a document the worker is embedding from an older read then
    keeps no vectors (``EmbeddingWorker._write``), even one whose row is gone and never
    queued again. A retry's later time is kept."""
    conn.execute(
        "UPDATE search.embedding_queue q SET enqueued_at = greatest(q.enqueued_at, "
        "clock_timestamp()) FROM (SELECT doc_key FROM search.embedding_queue "
        "ORDER BY doc_key COLLATE \"C\" FOR UPDATE) AS k WHERE q.doc_key = k.doc_key")


@dataclass
class EmbeddingStats:
    model_calls: int = 0
    embedded_chunks: int = 0
    skipped_unchanged: int = 0
    deleted: int = 0
    parked: int = 0
    rate: float = 0.0  # chunks per second over the last round that embedded anything


class _EmbeddingReader(RowReader):
    """The worker's re-reads: a row it cannot read leaves semantic search (a delete),
    and is parked only when the indexer has not parked it. The indexer re-reads every
    row it queues and parks the one it cannot read: parked again here, one failure
    counted two attempts in ``search.dead_letters``. (A row the indexer read well and
    that fails since, read by a model's build, is still parked here.)"""

    def park(self, src: DocumentSource, row_id: str, exc: BaseException) -> None:
        if not parked_rows(self.conn, [(src.table, row_id)]):
            super().park(src, row_id, exc)


class EmbeddingWorker:
    def __init__(self, mapping: Mapping, embedder: Embedder, dsn: str,
                 key_types: dict[str, str], *, slot_name: str = "",
                 max_attempts: int = MAX_ATTEMPTS, backoff_s: float = 2.0,
                 on_written: Callable[[Sequence[Document], Sequence[str]], list[str]] | None
                 = None) -> None:
        self.mapping, self.embedder, self.slot_name = mapping, embedder, slot_name
        # told what each round wrote (documents, deletes): the indexer must not take a
        # row as unchanged because it last wrote it so, when the vectors come from a
        # newer read of it; returns the keys the indexer has otherwise, read again here
        # (the indexer may have read the row back as it had it, and will not again)
        self.on_written = on_written
        self.max_attempts, self.backoff_s = max_attempts, backoff_s
        self.conn = connect(dsn)
        self.store = VectorStore(self.conn)
        self.reader = _EmbeddingReader(mapping, self.conn, key_types)
        self.stats = EmbeddingStats()
        self.table: ModelTable | None = None

    # lifecycle ---------------------------------------------------------------
    def prepare(self) -> ModelTable:
        """Register the model's table; a new model starts a rebuild beside the live one."""
        self.table = self.store.model_table(self.embedder.model_id, self.embedder.dimensions)
        if self.table.state == "building":
            log.info("embedding model %s is new: queueing every document", self.table.model_id)
            self.enqueue_all()
        return self.table

    def enqueue_all(self) -> None:
        self.enqueue_all_sql(self.conn, self.mapping)

    @staticmethod
    def enqueue_all_sql(conn: psycopg.Connection, mapping: Mapping) -> None:
        for src in mapping.documents:
            # in key order: ON CONFLICT waits on entries the indexer's enqueue holds, and
            # both must wait in one order (no deadlock)
            conn.execute(sql.SQL(
                "INSERT INTO search.embedding_queue (doc_key, source_table, row_id) "
                "SELECT {prefix} || {id}::text, {table_name}, {id}::text FROM {table} "
                "ORDER BY ({prefix} || {id}::text) COLLATE \"C\" "
                "ON CONFLICT (doc_key) DO NOTHING"
            ).format(prefix=sql.Literal(f"{src.type}:"), id=sql.Identifier(src.id),
                     table_name=sql.Literal(src.table), table=sql.Identifier(src.table)))

    def run(self, stop: threading.Event, idle_wait: float = 0.2) -> None:
        self.prepare()
        last_status = 0.0
        while not stop.is_set():
            done = self.run_once()
            if done < BATCH_DOCS:  # what could be claimed is done: the build may be too
                self._maybe_activate()
            if done == 0 or time.monotonic() - last_status > 2.0:
                self._write_status()  # backlog and rate stay visible during long builds
                last_status = time.monotonic()
            if done == 0:
                stop.wait(idle_wait)

    def backlog(self) -> int:
        row = self.conn.execute("SELECT count(*) FROM search.embedding_queue").fetchone()
        return int(row[0]) if row else 0

    def _maybe_activate(self) -> None:
        """A new model goes live once every queued document has its vectors: what the
        build queued is done, and what is queued now is edits since, which it keeps up
        with as it does for a live model. (Waiting for an empty queue instead, a site
        with steady edits could keep the old model for as long as they went on.)"""
        assert self.table is not None
        if self.table.state == "building" and not self._queued_without_vectors():
            self.store.activate(self.table.model_id)
            self.table = ModelTable(self.table.model_id, self.table.table,
                                    self.table.dimensions, "active")
            log.info("embedding model %s is live", self.table.model_id)

    def _queued_without_vectors(self) -> bool:
        assert self.table is not None
        row = self.conn.execute(sql.SQL(
            "SELECT EXISTS (SELECT 1 FROM search.embedding_queue q WHERE NOT EXISTS "
            "(SELECT 1 FROM {} v WHERE v.doc_key = q.doc_key))"
        ).format(sql.Identifier("search", self.table.table))).fetchone()
        return bool(row and row[0])

    # one round -----------------------------------------------------------------
    def run_once(self) -> int:
        """Process one batch of the queue; returns how many keys it handled."""
        assert self.table is not None
        claimed = self.conn.execute(
            "SELECT doc_key, source_table, row_id, enqueued_at, attempts "
            "FROM search.embedding_queue WHERE enqueued_at <= clock_timestamp() "
            "ORDER BY enqueued_at LIMIT %s", (BATCH_DOCS,)).fetchall()
        if not claimed:
            return 0
        keys: dict[str, set[str]] = {}
        for _key, table, row_id, _at, _n in claimed:
            keys.setdefault(table, set()).add(row_id)
        upserts, deletes = self.reader.documents_for(keys)
        # parked or not, the indexer's to clear (a later change reads the row again):
        # kept, the set grew by a row for every row that could not be read
        self.reader.take_parked()
        upserts = self._not_parked(upserts)
        live = {d.key for d in upserts}
        deletes = sorted(set(deletes) | {k for k, *_ in claimed if k not in live})
        failed, unchanged, ready = self._embed(upserts)
        changed = self._write({k: at for k, _t, _r, at, _n in claimed}, failed, deletes,
                              unchanged, ready)
        if self.on_written is not None:
            behind = set(self.on_written([d for d in [*unchanged, *(doc for doc, *_ in ready)]
                                          if d.key not in changed], deletes))
            enqueue(self.conn, [(k, t, r) for k, t, r, _a, _n in claimed if k in behind])
        for key, table, row_id, at, attempts in claimed:
            if key in failed and key not in changed:  # a newer request starts afresh
                self._record_failure(key, table, row_id, at, attempts + 1, failed[key])
        return len(claimed)

    def _not_parked(self, docs: list[Document]) -> list[Document]:
        """``docs`` less the rows the indexer parked (a document the keyword engine
        rejected reads well here): out of keyword search, out of semantic search too."""
        rows = {d.key: row for d in docs if (row := self.mapping.table_row(d.key)) is not None}
        parked = parked_rows(self.conn, list(rows.values()))
        return [d for d in docs if rows.get(d.key) not in parked] if parked else docs

    def _embed(self, docs: Sequence[Document]) -> tuple[dict[str, str], list[Document],
                                                        list[Ready]]:
        """Vectors for ``docs`` (the model is called for changed chunks only): returns
        {key: error} for those that failed, those whose text is unchanged, and the rest
        with their chunks and vectors. Writes nothing."""
        assert self.table is not None
        table = self.table.table
        plans: list[tuple[Document, list[Chunk], dict[str, np.ndarray]]] = []
        to_embed: dict[str, str] = {}
        unchanged: list[Document] = []
        existing = self.store.existing(table, [d.key for d in docs])
        # text blanked while the row held other text (``VectorStore.sync_visibility``),
        # and the row holds the stored text again (an edit undone before the queue came
        # round): written again from the vectors stored, with no model call; left alone,
        # a semantic hit would show its title for a snippet until the text changed (a
        # document with no text at all has one chunk of none: nothing to write again)
        blanked = self.store.blanked(table, list(existing))
        for doc in docs:
            chunks = chunk_document(doc, model_id=self.embedder.model_id,
                                    max_tokens=self.embedder.max_tokens)
            stored = existing.get(doc.key, [])
            if ([c.hash for c in chunks] == [digest for digest, _v in stored]
                    and (doc.key not in blanked or not any(c.text for c in chunks))):
                unchanged.append(doc)  # same text: no model call
                continue
            known = dict(stored)
            plans.append((doc, chunks, known))
            for c in chunks:
                if c.hash not in known:
                    to_embed[c.hash] = c.text
        self.stats.skipped_unchanged += len(unchanged)
        vectors: dict[str, np.ndarray] = {}
        failed: dict[str, str] = {}
        if to_embed:
            started = time.perf_counter()
            try:
                vectors = self._call_model(list(to_embed.items()))
            except Exception as exc:  # a model failure on the batch: retry doc by doc
                log.warning("embedding batch failed (%s); retrying one document at a time", exc)
                for doc, chunks, known in plans:
                    try:
                        vectors.update(self._call_model(
                            [(c.hash, c.text) for c in chunks if c.hash not in known]))
                    except Exception as one:
                        failed[doc.key] = f"{type(one).__name__}: {one}"[:500]
            elapsed = time.perf_counter() - started
            self.stats.rate = len(vectors) / elapsed if elapsed > 0 else 0.0
        ready: list[Ready] = []
        for doc, chunks, known in plans:
            if doc.key in failed:
                continue
            rows = [known[c.hash] if c.hash in known else vectors.get(c.hash) for c in chunks]
            if any(v is None for v in rows):
                failed[doc.key] = "missing vector"
                continue
            ready.append((doc, chunks, rows))  # type: ignore[arg-type]
        return failed, unchanged, ready

    def _write(self, claimed: dict[str, datetime], failed: dict[str, str],
               deletes: Sequence[str], unchanged: Sequence[Document],
               ready: Sequence[Ready]) -> set[str]:
        """One transaction, holding ``VECTOR_WRITES_LOCK``: drop ``deletes``, write what
        was read before the model ran, except for the documents queued again since (a
        change the indexer applied meanwhile, an unpublish or a move to another tenant,
        would be undone until the queue came round to them again), and dequeue the
        claimed entries but the failed and re-queued ones. The indexer queues a document
        before it brings its vectors in step under the same lock, so its change lands
        either before this look at the queue (skipped here) or after this write (it
        corrects it). Returns the keys queued again since the claim."""
        assert self.table is not None
        with self.conn.transaction():
            self.store.lock_writes()
            # the entries, locked in key order, as the indexer's enqueue locks them
            entries = self.conn.execute(
                "SELECT doc_key, enqueued_at, source_table, row_id FROM search.embedding_queue "
                "WHERE doc_key = ANY(%s) ORDER BY doc_key COLLATE \"C\" FOR UPDATE",
                (sorted(claimed),)).fetchall()
            queued: dict[str, datetime] = {k: at for k, at, _t, _r in entries}
            changed = {k for k, at in queued.items() if at > claimed[k]}
            self.store.delete(self.table.table, deletes)
            self.stats.deleted += len(deletes)
            self.store.update_metadata(self.table.table,
                                       [d for d in unchanged if d.key not in changed])
            self.store.replace(self.table.table,
                               [item for item in ready if item[0].key not in changed])
            done = sorted(k for k in queued if k not in failed and k not in changed)
            if done:
                self.conn.execute("DELETE FROM search.embedding_queue WHERE doc_key = ANY(%s)",
                                  (done,))
                # parked once, in step now: /readyz counts what is still skipped
                unpark_rows(self.conn, [(t, r) for k, _a, t, r in entries if k in done],
                            embedding=True)
        return changed

    def _call_model(self, items: list[tuple[str, str]]) -> dict[str, np.ndarray]:
        matrix = self.embedder.embed_documents([text for _h, text in items])
        if matrix.shape != (len(items), self.embedder.dimensions):
            raise ValueError(f"model returned shape {matrix.shape}, expected "
                             f"({len(items)}, {self.embedder.dimensions})")
        if not np.isfinite(matrix).all():  # pgvector refuses NaN and infinity: the whole
            raise ValueError("model returned a non-finite vector")  # write would fail
        self.stats.model_calls += 1
        self.stats.embedded_chunks += len(items)
        return {h: matrix[i] for i, (h, _t) in enumerate(items)}

    def _record_failure(self, key: str, table: str, row_id: str, claimed_at: datetime,
                        attempts: int, error: str) -> None:
        """Retry later, or park after ``max_attempts``: only the entry as claimed. One the
        indexer queued again meanwhile (an edit, even after ``_write``) is a new request
        and keeps its own time and a fresh count. A parked document's vectors go with it:
        they were made of the text before the change that fails (the edit may be the one
        that took a paragraph out), and would show it for as long as it stays parked."""
        assert self.table is not None
        if attempts >= self.max_attempts:
            with self.conn.transaction():
                self.store.lock_writes()  # as in ``_write``: the lock, then the entry
                gone = self.conn.execute(
                    "DELETE FROM search.embedding_queue WHERE doc_key = %s AND enqueued_at = %s",
                    (key, claimed_at)).rowcount
                if gone:
                    self.store.delete(self.table.table, [key])
                    self.conn.execute(
                        "INSERT INTO search.dead_letters (source_table, row_id, error, attempts) "
                        "VALUES (%s, %s, %s, %s) ON CONFLICT (source_table, row_id) DO UPDATE "
                        "SET error = excluded.error, attempts = excluded.attempts, "
                        "last_seen = now()", (table, row_id, f"embedding: {error}", attempts))
            if gone:
                self.stats.parked += 1
                log.error("parked %s after %d failed embedding attempts: %s", key, attempts,
                          error)
        else:
            self.conn.execute(
                "UPDATE search.embedding_queue SET attempts = %s, "
                "enqueued_at = clock_timestamp() + make_interval(secs => %s) "
                "WHERE doc_key = %s AND enqueued_at = %s",
                (attempts, min(60.0, self.backoff_s * 2 ** (attempts - 1)), key, claimed_at))

    def _write_status(self) -> None:
        if not self.slot_name:
            return
        self.conn.execute(
            "UPDATE search.indexer_status SET embedding_backlog = %s, embedded_chunks = %s, "
            "model_calls = %s, embedding_model = %s, embedding_rate = %s WHERE slot_name = %s",
            (self.backlog(), self.stats.embedded_chunks, self.stats.model_calls,
             self.embedder.model_id, self.stats.rate, self.slot_name))

    def close(self) -> None:
        self.conn.close()
