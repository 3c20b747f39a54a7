"""The production keyword engine: a Meilisearch index behind the ``KeywordEngine`` port.

Owns the HTTP conversation through the ``meilisearch`` client: creating the index and
its settings, writing batches and waiting until their tasks ``succeeded``, searching in
one multi-search round trip, build-and-swap with ``swap_indexes``, and translating the
client's errors into ``EngineUnavailable``. Request bodies live in ``meili_query``.

Known differences from the Tantivy adapter (Meilisearch's own rules): the no-AND-match
fallback drops words from the end ("last", which always keeps the first word) rather
than matching any word, and hybrid's keyword side drops the most frequent words first
("frequency"); no stemming; string filters (tenant too) compare case-insensitively,
which is safe for AWCMS's lower-case UUID tenant ids, and facet values that differ only
in case are counted as one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

import meilisearch
from meilisearch.errors import MeilisearchApiError, MeilisearchError
from requests import RequestException

from search_svc.engines.base import FACET_FIELDS, Document, EngineStats, SearchQuery, SearchResult
from search_svc.engines.meili_query import (
    CHECKPOINT_ID,
    INDEX_SETTINGS,
    PRIMARY_KEY,
    document_id,
    quote,
    read_results,
    search_requests,
    to_meili,
)
from search_svc.errors import EngineUnavailable, InvalidQuery
from search_svc.query import parse_query

__all__ = ["MeiliEngine"]

T = TypeVar("T")
_REBUILD_INFIX = "__rebuild_"
_PAGE = 1000


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except MeilisearchError as exc:
        raise EngineUnavailable(detail=f"meilisearch {what}: {exc}") from exc
    except RequestException as exc:
        raise EngineUnavailable(detail=f"meilisearch {what}: {exc}") from exc


class MeiliEngine:
    """``MeiliEngine(url, key, index_uid, writer=...)``; both modes share one index."""

    searches_in_process = False  # each search is an HTTP request to Meilisearch

    def __init__(self, url: str, api_key: str | None, index_uid: str, *, writer: bool,
                 timeout_s: float = 10.0, task_timeout_s: float = 300.0,
                 _shadow: bool = False) -> None:
        self.url, self.index_uid, self.writer_mode = url, index_uid, writer
        self._key, self._timeout_s = api_key, timeout_s
        self._task_timeout_ms = int(task_timeout_s * 1000)
        self._shadow, self._closed = _shadow, False
        self._client = meilisearch.Client(url, api_key, timeout=max(1, round(timeout_s)))
        self._index = self._client.index(index_uid)
        if writer:
            self._ensure_index()
            if not _shadow:
                self._drop_abandoned_rebuilds()

    # tasks and setup ----------------------------------------------------------
    def _wait(self, task_info: Any, what: str) -> None:
        with _translated(what):
            task = self._client.wait_for_task(task_info.task_uid,
                                              timeout_in_ms=self._task_timeout_ms)
        if task.status != "succeeded":
            raise EngineUnavailable(detail=f"meilisearch {what} task {task.uid} "
                                           f"{task.status}: {task.error}")

    def _ensure_index(self) -> None:
        with _translated("create index"):
            info = self._client.create_index(self.index_uid, {"primaryKey": PRIMARY_KEY})
            task = self._client.wait_for_task(info.task_uid,
                                              timeout_in_ms=self._task_timeout_ms)
        if task.status != "succeeded" and (task.error or {}).get("code") != \
                "index_already_exists":
            raise EngineUnavailable(detail=f"meilisearch create index: {task.error}")
        with _translated("settings"):
            info = self._index.update_settings(dict(INDEX_SETTINGS))
        self._wait(info, "settings")

    def _drop_abandoned_rebuilds(self) -> None:
        prefix = self.index_uid + _REBUILD_INFIX
        with _translated("list indexes"):
            indexes = self._client.get_indexes({"limit": 1000})["results"]
            for index in indexes:
                if index.uid.startswith(prefix):
                    self._client.delete_index(index.uid)

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        if self._closed:
            raise EngineUnavailable(detail="engine is closed")
        with _translated(what):
            return fn()

    # writing ----------------------------------------------------------------
    def write(self, upserts: Sequence[Document], deletes: Sequence[str],
              checkpoint: str | None = None) -> None:
        if not self.writer_mode:
            raise EngineUnavailable(detail="this meilisearch engine was opened read-only")
        docs = [to_meili(d) for d in upserts]
        if checkpoint is not None:
            # Same task as the batch: the checkpoint is durable exactly when the batch is.
            docs.append({PRIMARY_KEY: CHECKPOINT_ID, "checkpoint": checkpoint})
        # Deletes and adds are two tasks: a key in both (deleted, then written again in
        # one batch) is only added, so readers never see it missing between the two.
        written = {d.key for d in upserts}
        deletes = [k for k in deletes if k not in written]
        if deletes:
            info = self._call("delete", lambda: self._index.delete_documents(
                [document_id(k) for k in deletes]))
            self._wait(info, "delete")
        if docs:
            info = self._call("add", lambda: self._index.add_documents(docs, PRIMARY_KEY))
            self._wait(info, "add")

    def checkpoint(self) -> str | None:
        try:
            doc = self._call("checkpoint", lambda: self._index.get_document(CHECKPOINT_ID))
        except EngineUnavailable as exc:
            cause = exc.__cause__
            if isinstance(cause, MeilisearchApiError) and cause.code == "document_not_found":
                return None
            raise
        value = dict(doc).get("checkpoint")
        return value if isinstance(value, str) else None

    # reading ----------------------------------------------------------------
    def search(self, query: SearchQuery) -> SearchResult:
        if query.limit < 0 or query.offset < 0 or query.facet_size < 0:
            raise InvalidQuery("limit, offset and facet_size must not be negative")
        unknown = set(query.facets) - set(FACET_FIELDS)
        if unknown:
            raise InvalidQuery(f"unknown facet: {sorted(unknown)[0]}")
        parsed = parse_query(query.text)
        if parsed.reason == "too_short":
            return SearchResult(hits=[], total=0, facets={f: {} for f in query.facets})
        if query.match == "ranking" and not parsed.phrase:
            # Hybrid's keyword side: any word, rarer words first (closest to BM25's OR).
            return self._search(query, parsed, "frequency")
        result = self._search(query, parsed, "all")
        if result.total == 0 and len(parsed.terms) > 1 and not parsed.phrase:
            # No document has every word: let Meilisearch drop words from the end.
            result = self._search(query, parsed, "last")
        return result

    def _search(self, query: SearchQuery, parsed: Any, strategy: str) -> SearchResult:
        requests, skip = search_requests(self.index_uid, query, parsed, strategy)
        response = self._call("search", lambda: self._client.multi_search(requests))
        return read_results(response["results"], query, parsed, skip)

    def keys(self, tenant_id: str | None = None) -> set[str]:
        flt = f"tenant = {quote(tenant_id)}" if tenant_id is not None else "tenant EXISTS"
        out: set[str] = set()
        offset = 0
        while True:
            params: dict[str, Any] = {"fields": ["key"], "limit": _PAGE, "offset": offset,
                                      "filter": flt}
            page = self._call("documents", partial(self._index.get_documents, params))
            out.update(dict(d)["key"] for d in page.results)
            offset += _PAGE
            if offset >= page.total:
                return out

    def stats(self) -> EngineStats:
        stats = self._call("stats", self._index.get_stats)
        checkpoint = self.checkpoint()
        return EngineStats(
            documents=stats.number_of_documents - (checkpoint is not None),
            checkpoint=checkpoint,
            detail={"engine": "meilisearch", "url": self.url, "index": self.index_uid,
                    "indexing": stats.is_indexing},
        )

    # rebuild ----------------------------------------------------------------
    def begin_rebuild(self) -> MeiliEngine:
        if not self.writer_mode:
            raise EngineUnavailable(detail="only the writer can rebuild")
        uid = f"{self.index_uid}{_REBUILD_INFIX}{uuid.uuid4().hex[:8]}"
        return MeiliEngine(self.url, self._key, uid, writer=True, timeout_s=self._timeout_s,
                           task_timeout_s=self._task_timeout_ms / 1000, _shadow=True)

    def swap(self, shadow: object) -> None:
        if not isinstance(shadow, MeiliEngine) or not shadow._shadow or not self.writer_mode:
            raise EngineUnavailable(detail="swap needs a shadow from this engine's begin_rebuild")
        info = self._call("swap", lambda: self._client.swap_indexes(
            [{"indexes": [self.index_uid, shadow.index_uid]}]))
        self._wait(info, "swap")
        # The shadow's uid now names the old documents.
        info = self._call("drop old", lambda: self._client.delete_index(shadow.index_uid))
        self._wait(info, "drop old")
        shadow._closed, shadow._shadow = True, False

    def close(self) -> None:
        if self._shadow and not self._closed:
            # A rebuild abandoned before swap(): nobody will ever serve it.
            try:
                self._client.delete_index(self.index_uid)
            except (MeilisearchError, RequestException):
                pass  # the writer drops abandoned rebuilds when it next opens
        self._closed = True
