"""The production keyword engine: a Meilisearch index behind the ``KeywordEngine`` port.

Owns the HTTP conversation with Meilisearch's documented API, over one keep-alive
connection pool (``httpx``): creating the index and its settings, writing batches in
parts under the payload limit and waiting until each task ``succeeded``, searching in
one ``/multi-search`` round trip, build-and-swap with ``/swap-indexes``, and turning
every failure (refused, unreachable, timed out, an answer of an unexpected shape) into
``EngineUnavailable``. Request bodies live in ``meili_query``.

Known differences from the Tantivy adapter (Meilisearch's own rules): the no-AND-match
fallback, and hybrid's keyword side, drop words from the end ("last", which always
keeps the first word) rather than matching any word; words past the tenth of a query
are ignored; no stemming; facet values that differ only in case, accents or width are
counted as one and a filter's value matches them all (Meilisearch lowercases and
compatibility-decomposes both sides); ``total`` counts up to 10,000.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
import orjson

from awsm.errors import ConfigError
from search_svc.engines.base import (
    Document,
    EngineStats,
    SearchQuery,
    SearchResult,
    convert_each,
)
from search_svc.engines.meili_query import (
    CHECKPOINT_ID,
    INDEX_SETTINGS,
    PRIMARY_KEY,
    document_id,
    payloads,
    quote,
    read_results,
    search_requests,
    tenant_value,
    to_meili,
)
from search_svc.errors import EngineUnavailable
from search_svc.query import RANKING_MAX_TERMS, parse_query

__all__ = ["API_KEY_ACTIONS", "MIN_VERSION", "MeiliEngine", "MeiliError", "api_key"]

log = logging.getLogger("awsm.meili")

_REBUILD_INFIX = "__rebuild_"
_PAGE = 1000
# Filter strings unescape "\\" since v1.4; before v1.16 the typo rule's word lengths
# (minWordSizeForTypos) were counted in UTF-8 bytes (meilisearch#5594), so a
# three-letter Cyrillic or Thai word got a typo that Tantivy's rule never gives.
MIN_VERSION = (1, 16)
_DONE = ("succeeded", "failed", "canceled")
_READ_POSTS = ("/multi-search", "/documents/fetch")  # POSTs that change nothing


class MeiliError(EngineUnavailable):
    """Meilisearch refused a request or a task; ``code`` is its error code, if any."""

    def __init__(self, what: str, message: str, code: str = "") -> None:
        super().__init__(detail=f"meilisearch {what}: {message}")
        self.code = code


# What ``awsm serve`` asks of Meilisearch: searches, the index's stats and its
# checkpoint document (/readyz). Not the master key, which Meilisearch's docs keep for
# managing keys: a compromised API replica would hold the whole instance.
API_KEY_ACTIONS = ["search", "documents.get", "stats.get"]


def api_key(url: str, master_key: str, index_uid: str, timeout_s: float = 10.0) -> str:
    """An API key for ``awsm serve`` on ``index_uid`` (``API_KEY_ACTIONS``, no expiry):
    the one made before, found by its name, or a new one. Needs a key that manages
    keys (the master key)."""
    name = f"awsm api ({index_uid})"
    http = _Http(url, master_key, timeout_s)
    try:
        offset = 0
        while True:
            page = http("GET", f"/keys?offset={offset}&limit={_PAGE}", "keys")
            for key in _field(page, "results", "keys"):
                if (isinstance(key, dict) and key.get("name") == name
                        and key.get("actions") == API_KEY_ACTIONS
                        and key.get("indexes") == [index_uid] and key.get("expiresAt") is None):
                    return str(_field(key, "key", "keys"))
            offset += _PAGE
            if offset >= int(_field(page, "total", "keys")):
                break
        made = http("POST", "/keys", "create key", {
            "name": name, "actions": API_KEY_ACTIONS, "indexes": [index_uid],
            "expiresAt": None,
            "description": "awsm serve: search, stats and the checkpoint of this index"})
        return str(_field(made, "key", "create key"))
    finally:
        http.close()


class _Http:
    """JSON over one pooled client (thread-safe; the API searches from worker threads).
    Bodies are sent as UTF-8 (orjson), not ``\\uXXXX`` escapes six bytes a character."""

    def __init__(self, url: str, api_key: str | None, timeout_s: float) -> None:
        headers = {"Content-Type": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.client = httpx.Client(base_url=url.rstrip("/"), headers=headers,
                                   timeout=timeout_s, follow_redirects=False)

    def __call__(self, method: str, path: str, what: str, body: Any = None,
                 content: bytes | None = None) -> Any:
        if body is not None:
            content = orjson.dumps(body)
        # a read may be sent again when the server closed a kept-alive connection as it
        # went out; a write may not (it may have been queued)
        tries = 2 if method == "GET" or path.endswith(_READ_POSTS) else 1
        for attempt in range(tries):
            try:
                response = self.client.request(method, path, content=content)
                break
            except httpx.RemoteProtocolError as exc:
                if attempt + 1 == tries:
                    raise MeiliError(what, f"{type(exc).__name__}: {exc}") from exc
            except (httpx.HTTPError, httpx.InvalidURL, RuntimeError) as exc:  # Runtime: closed
                raise MeiliError(what, f"{type(exc).__name__}: {exc}") from exc
        try:
            answer = orjson.loads(response.content) if response.content else None
        except orjson.JSONDecodeError:
            answer = None
        if response.status_code >= 400:
            error = answer if isinstance(answer, dict) else {}
            raise MeiliError(what, f"HTTP {response.status_code}: "
                                   f"{error.get('message') or response.text[:200]}",
                             str(error.get("code") or ""))
        if not isinstance(answer, (dict, list)):
            raise MeiliError(what, f"unexpected answer (HTTP {response.status_code})")
        return answer

    def close(self) -> None:
        self.client.close()


def _field(answer: Any, name: str, what: str) -> Any:
    """``answer[name]``, or a ``MeiliError`` for an answer of another shape."""
    if not isinstance(answer, dict) or name not in answer:
        raise MeiliError(what, f"answer without {name!r}")
    return answer[name]


class MeiliEngine:
    """``MeiliEngine(url, key, index_uid, writer=...)``; both modes share one index."""

    searches_in_process = False  # each search is an HTTP request to Meilisearch

    def __init__(self, url: str, api_key: str | None, index_uid: str, *, writer: bool,
                 timeout_s: float = 10.0, task_timeout_s: float = 300.0,
                 _shadow: bool = False) -> None:
        self.url, self.index_uid, self.writer_mode = url, index_uid, writer
        self._key, self._timeout_s, self._task_timeout_s = api_key, timeout_s, task_timeout_s
        self._shadow, self._closed = _shadow, False
        self._pending: list[int] = []  # tasks given up on: waited for before the next write
        self._http = _Http(url, api_key, timeout_s)
        self._path = f"/indexes/{index_uid}"
        if writer:
            try:
                if not _shadow:
                    self._check_version()
                self._ensure_index()
            except BaseException:
                self._http.close()
                raise

    # tasks and setup ----------------------------------------------------------
    def _task(self, answer: Any, what: str) -> None:
        """Wait for the task ``answer`` enqueued until it succeeded. One still running
        after ``task_timeout_s`` is not sent again by a retry: the next write first waits
        for it (Meilisearch goes on with it either way)."""
        uid = int(_field(answer, "taskUid", what))
        task = self._await(uid, what)
        if task["status"] != "succeeded":
            error = task.get("error") or {}
            raise MeiliError(what, f"task {uid} {task['status']}: {error.get('message')}",
                             str(error.get("code") or ""))

    def _await(self, uid: int, what: str) -> dict[str, Any]:
        """The task once done. Given up on (its deadline passed, or the polls failed: a
        timeout, a restart), it is noted, and the next write waits for it first."""
        deadline = time.monotonic() + self._task_timeout_s
        delay = 0.005
        try:
            while True:
                task = self._call("GET", f"/tasks/{uid}", what)
                status = _field(task, "status", what)
                if status in _DONE:
                    return dict(task)
                if time.monotonic() >= deadline:
                    raise MeiliError(what, f"task {uid} still {status} after "
                                           f"{self._task_timeout_s:g} s")
                time.sleep(delay)
                delay = min(delay * 2, 0.25)
        except EngineUnavailable:
            if uid not in self._pending:
                self._pending.append(uid)
            raise

    def _settle_pending(self) -> None:
        while self._pending:
            try:
                task = self._await(self._pending[0], "earlier task")
            except MeiliError as exc:
                if exc.code != "task_not_found":
                    raise
                # pruned from the task list (or the server's data is new): nothing to
                # wait for; the write that follows carries the documents again
                self._pending.pop(0)
                continue
            if task["status"] != "succeeded":
                log.warning("meilisearch task %s, given up on earlier, ended %s: %s",
                            task.get("uid"), task["status"], task.get("error"))
            self._pending.pop(0)

    def _check_version(self) -> None:
        version = str(_field(self._http("GET", "/version", "version"), "pkgVersion", "version"))
        try:
            found = tuple(int(p) for p in version.split("-")[0].split(".")[:2])
        except ValueError:
            return  # a build with another version scheme: let the requests tell
        if found < MIN_VERSION:
            raise ConfigError([f"Meilisearch at {self.url} is version {version}; awsm needs "
                               f"{'.'.join(map(str, MIN_VERSION))} or later."])

    def _ensure_index(self) -> None:
        answer = self._http("POST", "/indexes", "create index",
                            {"uid": self.index_uid, "primaryKey": PRIMARY_KEY})
        try:
            self._task(answer, "create index")
        except MeiliError as exc:
            if exc.code != "index_already_exists":
                raise
        self._task(self._http("PATCH", f"{self._path}/settings", "settings",
                              dict(INDEX_SETTINGS)), "settings")

    def _drop_abandoned_rebuilds(self) -> None:
        """Shadows of rebuilds that never swapped (a crash): dropped when the next rebuild
        starts, which only the indexer holding the replication slot does."""
        prefix = self.index_uid + _REBUILD_INFIX
        abandoned: list[str] = []
        offset = 0
        while True:  # every page: a server with over 1,000 indexes hid shadows past the first
            page = _field(self._http("GET", f"/indexes?offset={offset}&limit={_PAGE}",
                                     "list indexes"), "results", "list indexes")
            abandoned += [uid for index in page
                          if (uid := str(index.get("uid", ""))).startswith(prefix)]
            if len(page) < _PAGE:
                break
            offset += _PAGE
        for uid in abandoned:  # after listing: dropping one shifts the pages
            self._task(self._http("DELETE", f"/indexes/{uid}", "drop rebuild"), "drop rebuild")

    def _call(self, method: str, path: str, what: str, body: Any = None,
              content: bytes | None = None) -> Any:
        if self._closed:
            raise EngineUnavailable(detail="engine is closed")
        return self._http(method, path, what, body, content)

    # writing ----------------------------------------------------------------
    def write(self, upserts: Sequence[Document], deletes: Sequence[str],
              checkpoint: str | None = None) -> None:
        if not self.writer_mode:
            raise EngineUnavailable(detail="this meilisearch engine was opened read-only")
        self._settle_pending()
        docs = convert_each(upserts, to_meili)
        if checkpoint is not None:
            # In the last part: the checkpoint is durable exactly when the batch is.
            docs.append({PRIMARY_KEY: CHECKPOINT_ID, "checkpoint": checkpoint})
        # Deletes and adds are separate tasks: a key in both (deleted, then written again
        # in one batch) is only added, so readers never see it missing between the two.
        written = {d.key for d in upserts}
        deletes = [k for k in deletes if k not in written]
        if deletes:
            self._task(self._call("POST", f"{self._path}/documents/delete-batch", "delete",
                                  [document_id(k) for k in deletes]), "delete")
        for part in payloads(docs):
            # one part at a time: a failed task does not stop the ones queued after it,
            # so the checkpoint must not be queued before the parts it follows succeeded
            self._task(self._call("POST", f"{self._path}/documents?primaryKey={PRIMARY_KEY}",
                                  "add", content=part), "add")

    def checkpoint(self) -> str | None:
        try:
            doc = self._call("GET", f"{self._path}/documents/{CHECKPOINT_ID}", "checkpoint")
        except MeiliError as exc:
            if exc.code == "document_not_found":
                return None
            raise
        value = doc.get("checkpoint") if isinstance(doc, dict) else None
        return value if isinstance(value, str) else None

    # reading ----------------------------------------------------------------
    def search(self, query: SearchQuery) -> SearchResult:
        query.check()
        ranking = query.match == "ranking"
        # hybrid's keyword side: every word counts for the first hit's completeness and
        # the snippet, though Meilisearch itself reads the first ten
        parsed = parse_query(query.text, max_terms=RANKING_MAX_TERMS) if ranking \
            else parse_query(query.text)
        if parsed.reason == "too_short":
            return SearchResult(hits=[], total=0, facets={f: {} for f in query.facets})
        if ranking and not parsed.phrase:
            # Hybrid's keyword side: every word, then fewer, dropped from the end.
            # Not "frequency" (the index's most frequent words dropped first, closer to
            # BM25's OR): its frequencies are the whole index's, so which of this
            # tenant's documents matched, and their total, moved with other tenants'.
            return self._search(query, parsed, "last")
        result = self._search(query, parsed, "all")
        if result.total == 0 and len(parsed.terms) > 1 and not parsed.phrase:
            # No document has every word: let Meilisearch drop words from the end.
            result = self._search(query, parsed, "last")
        return result

    def _search(self, query: SearchQuery, parsed: Any, strategy: str) -> SearchResult:
        requests, skip = search_requests(self.index_uid, query, parsed, strategy)
        answer = self._call("POST", "/multi-search", "search", {"queries": requests})
        try:
            return read_results(_field(answer, "results", "search"), query, parsed, skip)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise MeiliError("search", f"unexpected answer: {type(exc).__name__}: {exc}") \
                from exc

    def keys(self, tenant_id: str | None = None) -> set[str]:
        flt = f"tenant = {quote(tenant_value(tenant_id))}" if tenant_id is not None \
            else "tenant EXISTS"
        out: set[str] = set()
        offset = 0
        while True:
            page = self._call("POST", f"{self._path}/documents/fetch", "documents",
                              {"fields": ["key"], "limit": _PAGE, "offset": offset,
                               "filter": flt})
            try:
                out.update(str(d["key"]) for d in _field(page, "results", "documents"))
                total = int(_field(page, "total", "documents"))
            except (KeyError, TypeError, ValueError) as exc:
                raise MeiliError("documents", f"unexpected answer: {exc!r}") from exc
            offset += _PAGE
            if offset >= total:
                return out

    def stats(self) -> EngineStats:
        stats = self._call("GET", f"{self._path}/stats", "stats")
        checkpoint = self.checkpoint()
        try:
            documents = int(_field(stats, "numberOfDocuments", "stats"))
        except (TypeError, ValueError) as exc:
            raise MeiliError("stats", f"unexpected answer: {exc!r}") from exc
        return EngineStats(
            documents=documents - (checkpoint is not None),
            checkpoint=checkpoint,
            detail={"engine": "meilisearch", "url": self.url, "index": self.index_uid,
                    "indexing": bool(stats.get("isIndexing"))},
        )

    # rebuild ----------------------------------------------------------------
    def begin_rebuild(self) -> MeiliEngine:
        if not self.writer_mode:
            raise EngineUnavailable(detail="only the writer can rebuild")
        self._drop_abandoned_rebuilds()
        uid = f"{self.index_uid}{_REBUILD_INFIX}{uuid.uuid4().hex[:8]}"
        return MeiliEngine(self.url, self._key, uid, writer=True, timeout_s=self._timeout_s,
                           task_timeout_s=self._task_timeout_s, _shadow=True)

    def swap(self, shadow: object) -> None:
        if not isinstance(shadow, MeiliEngine) or not shadow._shadow or not self.writer_mode:
            raise EngineUnavailable(detail="swap needs a shadow from this engine's begin_rebuild")
        self._settle_pending()
        self._task(self._call("POST", "/swap-indexes", "swap",
                              [{"indexes": [self.index_uid, shadow.index_uid]}]), "swap")
        # The shadow's uid now names the old documents; the swap is done whatever
        # becomes of dropping them (a leftover is dropped when the next rebuild begins).
        shadow._shadow = False
        try:
            self._task(self._call("DELETE", f"/indexes/{shadow.index_uid}", "drop old"),
                       "drop old")
        except EngineUnavailable as exc:
            log.warning("meilisearch: the index swapped out (%s) was not dropped: %s",
                        shadow.index_uid, exc)
        shadow.close()

    def close(self) -> None:
        if self._closed:
            return
        if self._shadow:
            # A rebuild abandoned before swap(): nobody will ever serve it.
            try:
                self._http("DELETE", self._path, "drop rebuild")
            except EngineUnavailable:
                pass  # the next rebuild drops abandoned ones
        self._closed = True
        self._http.close()
