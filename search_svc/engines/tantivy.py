"""The embedded keyword engine: an on-disk Tantivy index behind the ``KeywordEngine`` port.

Owns the schema, turning ``Document``/``SearchQuery`` records into Tantivy documents and
queries, the generation pointer (build-and-swap), checkpoints, and translating tantivy's
errors into ``EngineUnavailable``. One process writes (the indexer), any number read
(API replicas) and pick up commits on their next query. Text is folded in Python by
``search_svc.query.analyze`` before it reaches Tantivy, so index, queries and snippets
share one analyzer; no user text ever goes through Tantivy's query parser.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Sequence
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson
import tantivy

from search_svc.engines import generations as gen
from search_svc.engines.base import (
    Document,
    EngineStats,
    SearchQuery,
    SearchResult,
    convert_each,
)
from search_svc.engines.tantivy_query import (
    SCHEMA_VERSION,
    STEM_FIELDS,
    QueryBuilder,
    build_schema,
    initial_field,
)
from search_svc.errors import EngineUnavailable
from search_svc.query import analyze
from search_svc.stemming import language_for, stem_text

__all__ = ["TantivyEngine"]

TOKENIZER = "awsm_folded"
CHECKPOINT_FILE = "awsm-checkpoint.json"
_RAW_MAX = 512  # filter values longer than this are cut (Tantivy terms are bounded)
_TANTIVY_ERRORS = (ValueError, OSError, RuntimeError)
# A rebuild writes into one writer with this much indexing memory (tantivy allocates it
# as documents arrive, up to this cap) and commits once, at its end: every commit and
# every full arena ends a segment, and each segment repeats the term dictionary that
# typo and prefix automata walk. One segment instead of seven halved the engine's
# query time on bench/search_keyword.py's 100k-document corpus (~2.6 kB of arena per
# document there: 300 MB kept 95k documents in one segment, 50 MB made six).
REBUILD_HEAP_SIZE = 1_000_000_000
# Stored documents are compressed in blocks, and reading one hit's document decompresses
# its whole block: with tantivy's default 16 kB blocks a page of 20 hits spent ~0.25 ms
# on reads (~11 us each, 1.4 kB documents of bench/search_keyword.py's corpus); with
# 4 kB blocks ~7 us each, for a store 12 % larger. tantivy-py does not expose the
# setting: a generation this process creates (first start, schema upgrade, rebuild) gets
# it in its meta.json before its writer opens, and tantivy keeps it there at every
# commit. An index created before keeps 16 kB until rebuilt (another process's writer
# may hold it: its meta.json is never edited).
DOCSTORE_BLOCKSIZE = 4096


def _analyzer() -> Any:
    # The text is already folded to space-separated words; whitespace splitting keeps
    # Tantivy's tokens identical to search_svc.query.analyze (no second, different fold).
    return tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build()


def _to_tantivy(doc: Document) -> tantivy.Document:
    out = tantivy.Document()
    out.add_text("key", doc.key)
    out.add_text("tenant", doc.tenant_id)
    out.add_text("type", doc.type[:_RAW_MAX])
    if doc.category:
        out.add_text("category", doc.category[:_RAW_MAX])
    for tag in dict.fromkeys(doc.tags):
        if tag:
            out.add_text("tags", tag[:_RAW_MAX])
    if doc.locale:
        out.add_text("locale", doc.locale[:_RAW_MAX])
    words = [analyze(t) for t in (doc.title, doc.summary, doc.body)]
    texts = [" ".join(w) for w in words]
    for name, text in zip(("title", "summary", "body"), texts, strict=True):
        out.add_text(name, text)
    out.add_text("content", " ".join(texts))
    every_word = words[0] + words[1] + words[2]
    for field, field_words in (("title", words[0]), ("content", every_word)):
        # each distinct word once, in the field of its first letter (doc ids only:
        # neither order nor repeats count); sorted, the letters come in runs
        for letter, run in groupby(sorted(set(field_words)), key=itemgetter(0)):
            part = initial_field(field, letter)
            if part is not None:
                out.add_text(part, " ".join(run))
    language = language_for(doc.locale)
    if language is not None:
        out.add_text(STEM_FIELDS[language], stem_text(every_word, language))
    out.add_integer("published_at", int(doc.published_at))
    src = {
        "id": doc.id, "type": doc.type, "title": doc.title, "summary": doc.summary,
        "body": doc.body, "category": doc.category, "tags": list(doc.tags),
        "locale": doc.locale, "image": doc.image, "url": doc.url,
        "published_at": int(doc.published_at),
    }
    out.add_bytes("src", orjson.dumps(src))  # read back with orjson.loads
    return out


def _set_docstore_blocksize(path: Path) -> bool:
    """Give a new index, without segments yet, ``DOCSTORE_BLOCKSIZE``; whether it changed."""
    meta = gen.read_json(path / "meta.json")
    settings = meta.get("index_settings") if meta else None
    if meta is None or meta.get("segments") or not isinstance(settings, dict) \
            or settings.get("docstore_blocksize") in (None, DOCSTORE_BLOCKSIZE):
        return False  # written to already, or a meta.json of another shape: left alone
    gen.write_json_durably(path / "meta.json", {
        **meta, "index_settings": {**settings, "docstore_blocksize": DOCSTORE_BLOCKSIZE}})
    return True


class TantivyEngine:
    """``TantivyEngine(root, writer=True)`` in the indexer, ``writer=False`` in the API."""

    searches_in_process = True

    def __init__(self, root: Path | str, *, writer: bool, heap_size: int = 50_000_000,
                 rebuild_heap_size: int = REBUILD_HEAP_SIZE,
                 _generation: str | None = None) -> None:
        self.root = Path(root)
        self.writer_mode = writer
        self._heap_size = heap_size
        self._rebuild_heap_size = rebuild_heap_size
        self._lock = threading.RLock()
        self._index: Any = None
        self._writer: Any = None
        self._builder: QueryBuilder | None = None
        self._generation: str | None = None
        self._pointer_stat: gen.StatKey | None = None
        self._meta_stat: gen.StatKey | None = None
        # as strings: every search stats both, and joining Paths cost more than the stat
        self._pointer_path = str(self.root / gen.POINTER)
        self._meta_path = ""
        self._checkpoint: str | None = None
        self._closed = False
        self._shadow = _generation is not None
        self._unpublished = False  # the writer's generation is not the pointer's yet
        self._uncommitted = False  # a shadow's writes wait for its checkpoint or swap
        self._lost_writes = False  # ... and a failed write dropped them: unusable
        self._writer_lock: int | None = None
        try:
            if _generation is not None:  # a shadow built by begin_rebuild()
                self._open_generation(_generation, create=True, fresh=True)
            elif writer:
                self._writer_lock = gen.lock_writer(self.root)
                self._open_live_writer()
            elif gen.read_pointer(self.root) is not None:
                self._refresh()
            # else: the indexer has not created the index yet; queries report the
            # engine unavailable until it has, then pick it up.
        except _TANTIVY_ERRORS as exc:  # BlockingIOError (our writer lock) is an OSError
            self._release_writer_lock()
            detail = f"tantivy index at {self.root}: {exc}"
            # tantivy's writer lock, or ours: one writer per index
            if isinstance(exc, BlockingIOError) or "LockBusy" in str(exc):
                detail = (f"the index under {self.root} is being written by another indexer "
                          "(a running `awsm up` or `awsm indexer`); stop it first, or rebuild "
                          "through it with `awsm up --reindex`")
            raise EngineUnavailable(detail=detail) from exc

    def _release_writer_lock(self) -> None:
        if self._writer_lock is not None:
            os.close(self._writer_lock)
            self._writer_lock = None

    # opening ---------------------------------------------------------------
    def _open_live_writer(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        pointer = gen.read_pointer(self.root)
        if pointer is None:
            # First start: an empty generation; its missing checkpoint tells the indexer
            # to backfill (into a shadow it swaps in). Unpublished meanwhile: readers
            # answer "no index yet" (503), not an empty result, until the swap, and a
            # first backfill that was interrupted is not taken for an index next time.
            name = gen.new_generation(self.root)
            self._open_generation(name, create=True, fresh=True)
            self._unpublished = True
            gen.remove_generations(self.root, keep={name})
        elif pointer.get("schema_version") != SCHEMA_VERSION:
            # An index written with another schema (an upgrade): write to a new, empty
            # generation, which makes the indexer backfill (into a shadow it swaps in),
            # and leave the pointer alone meanwhile, so readers keep answering from the
            # old index instead of an empty one.
            live = str(pointer["generation"])
            name = gen.new_generation(self.root)
            self._open_generation(name, create=True, fresh=True)
            self._unpublished = True
            gen.remove_generations(self.root, keep={name, live})
        else:
            self._open_generation(str(pointer["generation"]), create=True)
            gen.remove_generations(self.root, keep={self._generation or ""})

    def _open_generation(self, name: str, *, create: bool, fresh: bool = False) -> None:
        """Open generation ``name``; ``fresh``: one this process has just created, which
        nobody else writes to yet (so its meta.json may be edited)."""
        path = self.root / name
        # stat before the reader loads: a commit in between then makes the next search
        # reload once more, where a stat taken after would hide it until the next commit
        meta_path = str(path / "meta.json")
        meta_stat = gen.stat_key(meta_path)
        if create:
            schema, _ = build_schema(TOKENIZER)
            index = tantivy.Index(schema, str(path), reuse=True)
            if fresh and _set_docstore_blocksize(path):
                index = tantivy.Index.open(str(path))
        else:
            index = tantivy.Index.open(str(path))
        index.register_tokenizer(TOKENIZER, _analyzer())
        index.config_reader(reload_policy="Manual")
        self._index, self._generation = index, name
        # an index from an older schema (served while its successor is built) is
        # queried with the fields it has
        self._builder = QueryBuilder(index.schema,
                                     fields=None if create else gen.schema_fields(path))
        self._meta_stat, self._meta_path = meta_stat, meta_path
        if self.writer_mode:
            self._writer = index.writer(heap_size=self._writer_heap_size(), num_threads=1)
        self._checkpoint = self._stored_checkpoint()

    def _publish_pointer(self, name: str) -> None:
        gen.write_json_durably(self.root / gen.POINTER,
                               {"generation": name, "schema_version": SCHEMA_VERSION})
        self._pointer_stat = gen.stat_key(self._pointer_path)

    def _refresh(self) -> None:
        """Readers: follow the pointer, then reload when the live index changed (two
        ``stat`` calls when nothing did)."""
        if self.writer_mode:
            return
        pointer_stat = gen.stat_key(self._pointer_path)
        if pointer_stat != self._pointer_stat or self._index is None:
            for attempt in (1, 2):
                pointer = gen.read_pointer(self.root)
                if pointer is None:
                    raise EngineUnavailable(detail=f"no tantivy index under {self.root} yet")
                name = str(pointer["generation"])
                if name == self._generation:
                    break
                try:
                    self._open_generation(name, create=False)
                    break
                except _TANTIVY_ERRORS:
                    if attempt == 2:
                        raise
                    # swapped again and removed while we opened it: follow the pointer
            self._pointer_stat = pointer_stat
        meta_stat = gen.stat_key(self._meta_path)
        if meta_stat != self._meta_stat:
            self._index.reload()
            self._meta_stat = meta_stat

    def _searcher(self) -> Any:
        if self._closed:
            raise EngineUnavailable(detail="engine is closed")
        with self._lock:
            try:
                self._refresh()
            except _TANTIVY_ERRORS as exc:
                raise EngineUnavailable(detail=f"tantivy reload: {exc}") from exc
            return self._index.searcher()

    # writing ---------------------------------------------------------------
    def write(self, upserts: Sequence[Document], deletes: Sequence[str],
              checkpoint: str | None = None) -> None:
        if not self.writer_mode:
            raise EngineUnavailable(detail="this tantivy engine was opened read-only")
        self._refuse_if_lost()
        if self._writer is None:
            with self._lock:
                self._recreate_writer()
            if self._writer is None:
                raise EngineUnavailable(detail="no tantivy writer (a commit failed)")
        docs = list(zip((d.key for d in upserts), convert_each(upserts, _to_tantivy),
                        strict=True))
        with self._lock:
            try:
                for key in deletes:
                    self._writer.delete_documents_by_term("key", key)
                for key, doc in docs:  # delete-then-add in one commit replaces the key
                    self._writer.delete_documents_by_term("key", key)
                    self._writer.add_document(doc)
                if self._shadow and checkpoint is None:
                    # Nobody reads a rebuild before swap() and an interrupted one is
                    # started over, so a commit here would buy nothing but a segment
                    # (REBUILD_HEAP_SIZE): the write with the checkpoint, or swap(),
                    # commits.
                    self._uncommitted = True
                    return
                self._writer.commit()
                self._uncommitted = False
            except _TANTIVY_ERRORS as exc:
                self._lost_writes = self._uncommitted  # they went with the failed writer
                self._recreate_writer()
                raise EngineUnavailable(detail=f"tantivy commit: {exc}") from exc
            self._after_commit(checkpoint)

    def _after_commit(self, checkpoint: str | None) -> None:
        if checkpoint is not None:
            # After the commit: a crash in between replays the batch (idempotent).
            assert self._generation is not None
            gen.write_json_durably(self.root / self._generation / CHECKPOINT_FILE,
                                   {"checkpoint": checkpoint})
            self._checkpoint = checkpoint
        if self._unpublished:  # written to directly rather than rebuilt: it is live now
            assert self._generation is not None
            self._publish_pointer(self._generation)
            gen.remove_generations(self.root, keep={self._generation})
            self._unpublished = False
        self._index.reload()

    def _commit_rebuild(self) -> None:
        """Commit a rebuild's writes that no checkpoint has committed yet (swap)."""
        self._refuse_if_lost()
        if not self._uncommitted:
            return
        try:
            self._writer.commit()
        except _TANTIVY_ERRORS as exc:
            self._lost_writes = True
            self._recreate_writer()
            raise EngineUnavailable(detail=f"tantivy commit: {exc}") from exc
        self._uncommitted = False
        self._after_commit(None)

    def _refuse_if_lost(self) -> None:
        if self._lost_writes:
            raise EngineUnavailable(detail="this rebuild lost uncommitted documents to a "
                                           "failed write; start the rebuild over")

    def _writer_heap_size(self) -> int:
        return self._rebuild_heap_size if self._shadow else self._heap_size

    def _recreate_writer(self) -> None:
        # After a failed commit tantivy's writer silently drops later documents.
        self._writer = None
        try:
            self._writer = self._index.writer(heap_size=self._writer_heap_size(),
                                              num_threads=1)
        except _TANTIVY_ERRORS:
            self._writer = None  # the next write() reports the engine unavailable

    def _stored_checkpoint(self) -> str | None:
        if self._generation is None:
            return None
        stored = gen.read_json(self.root / self._generation / CHECKPOINT_FILE) or {}
        value = stored.get("checkpoint")
        return value if isinstance(value, str) else None

    def checkpoint(self) -> str | None:
        if self.writer_mode:
            return self._checkpoint
        self._searcher()  # follow the pointer; the file is written after each commit
        return self._stored_checkpoint()

    # reading ---------------------------------------------------------------
    def search(self, query: SearchQuery) -> SearchResult:
        query.check()
        searcher = self._searcher()
        assert self._builder is not None
        try:
            return self._builder.run(searcher, query)
        except _TANTIVY_ERRORS as exc:
            raise EngineUnavailable(detail=f"tantivy search: {exc}") from exc

    def keys(self, tenant_id: str | None = None) -> set[str]:
        searcher = self._searcher()
        assert self._builder is not None
        try:
            return self._builder.keys(searcher, tenant_id)
        except _TANTIVY_ERRORS as exc:
            raise EngineUnavailable(detail=f"tantivy keys: {exc}") from exc

    def stats(self) -> EngineStats:
        searcher = self._searcher()
        return EngineStats(
            documents=searcher.num_docs,
            checkpoint=self._checkpoint if self.writer_mode else self._stored_checkpoint(),
            detail={"engine": "tantivy", "path": str(self.root),
                    "generation": self._generation, "segments": searcher.num_segments},
        )

    # rebuild ---------------------------------------------------------------
    def begin_rebuild(self) -> TantivyEngine:
        if not self.writer_mode:
            raise EngineUnavailable(detail="only the writer can rebuild")
        return TantivyEngine(self.root, writer=True, heap_size=self._heap_size,
                             rebuild_heap_size=self._rebuild_heap_size,
                             _generation=gen.new_generation(self.root))

    def swap(self, shadow: object) -> None:
        if not isinstance(shadow, TantivyEngine) or shadow.root != self.root \
                or not self.writer_mode or shadow._generation is None:
            raise EngineUnavailable(detail="swap needs a shadow from this engine's begin_rebuild")
        with self._lock, shadow._lock:
            shadow._commit_rebuild()
            old = self._generation
            self._publish_pointer(shadow._generation)
            self._writer = None  # releases the old generation's writer lock
            self._index = shadow._index
            self._builder, self._generation = shadow._builder, shadow._generation
            self._checkpoint, self._meta_stat = shadow._checkpoint, shadow._meta_stat
            self._meta_path = shadow._meta_path
            shadow._index = shadow._writer = None
            shadow._closed, shadow._shadow = True, False
            self._recreate_writer()  # with the streaming heap, not the rebuild's
            self._unpublished = False
            gen.remove_generations(self.root, keep={self._generation or ""} - {old or ""})

    def close(self) -> None:
        with self._lock:
            if self._writer is not None:
                try:
                    self._writer.wait_merging_threads()
                except _TANTIVY_ERRORS:
                    pass  # merges are an optimisation; committed data is safe
            self._writer = self._index = None
            self._closed = True
            self._release_writer_lock()
            if self._shadow and self._generation:
                # A rebuild abandoned before swap(): nobody will ever point at it.
                shutil.rmtree(self.root / self._generation, ignore_errors=True)
