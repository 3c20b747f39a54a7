"""The keyword engine port: the records that cross it and the small interface.

The indexer writes ``Document`` records through ``KeywordEngine.write``; the search API
reads through ``KeywordEngine.search``. Adapters (``tantivy.py``, ``meili.py``) are the
only modules that import an engine library; they translate its errors into
``EngineUnavailable`` / ``InvalidQuery`` at this edge. The index only ever holds
documents the public may see (the indexer decides); ``SearchQuery.tenant_id`` is always
set by the server, never taken from the client.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol, TypeVar

from search_svc.errors import InvalidQuery

__all__ = [
    "FACET_FIELDS",
    "MAX_FACET_SIZE",
    "Document",
    "DocumentsRejected",
    "EngineStats",
    "Hit",
    "KeywordEngine",
    "SearchQuery",
    "SearchResult",
    "convert_each",
]

FACET_FIELDS = ("type", "category", "tags", "locale")
# values counted per facet at most: Meilisearch's maxValuesPerFacet, which it would
# apply without a word
MAX_FACET_SIZE = 100


@dataclass(frozen=True, slots=True)
class Document:
    """One searchable document, built by the indexer from one visible source row."""

    key: str  # "<type>:<source id>", unique in an index; the engine's primary key
    id: str  # the source row's primary key
    tenant_id: str
    type: str  # blog | page | product | ...
    title: str
    body: str = ""
    summary: str = ""
    tags: tuple[str, ...] = ()
    category: str | None = None
    locale: str = ""
    image: str | None = None
    url: str = ""
    published_at: int = 0  # unix seconds, UTC


@dataclass(frozen=True, slots=True)
class SearchQuery:
    tenant_id: str
    text: str = ""  # already normalised by search_svc.query
    types: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    locale: str | None = None
    sort: Literal["relevance", "published_at"] = "relevance"
    limit: int = 20
    offset: int = 0
    facets: tuple[str, ...] = ()
    published_before: int | None = None  # second guard for scheduled rows (unix s)
    facet_size: int = 20
    # "visitor": every word first, then any word, with typo and prefix matches (a search
    # box). "ranking": BM25 over any word, exact and stemmed, expansions only when that
    # finds nothing: an order worth fusing with the semantic list (hybrid mode).
    match: Literal["visitor", "ranking"] = "visitor"
    # The only types the tenant lets the public search (a search setting of its own;
    # None: every type; never empty). Unlike ``types`` (the visitor's filter) it bounds
    # every facet count too, the type facet's included.
    scope_types: tuple[str, ...] | None = None

    def check(self) -> None:
        """Raise ``InvalidQuery`` for a query no engine answers the same way: negative
        bounds, an unknown facet, more facet values than every engine counts."""
        if self.limit < 0 or self.offset < 0 or self.facet_size < 0:
            raise InvalidQuery("limit, offset and facet_size must not be negative")
        if self.facet_size > MAX_FACET_SIZE:
            raise InvalidQuery(f"facet_size must be at most {MAX_FACET_SIZE}")
        unknown = set(self.facets) - set(FACET_FIELDS)
        if unknown:
            raise InvalidQuery(f"unknown facet: {sorted(unknown)[0]}")

    def facet_filter(self, facet: str) -> tuple[str, ...]:
        """The visitor's filter values on ``facet`` (one of ``FACET_FIELDS``)."""
        if facet == "locale":
            return (self.locale,) if self.locale else ()
        return {"type": self.types, "category": self.categories, "tags": self.tags}[facet]

    def filters(self, facet: str) -> bool:
        """Whether the visitor filtered on ``facet``."""
        return bool(self.facet_filter(facet))

    def without_filter(self, facet: str) -> SearchQuery:
        """This query without the visitor's own filter on ``facet`` (what that facet is
        counted over); the tenant, its ``scope_types`` and the visibility stay."""
        cleared = {"type": {"types": ()}, "category": {"categories": ()},
                   "tags": {"tags": ()}, "locale": {"locale": None}}[facet]
        return replace(self, **cleared)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Hit:
    key: str
    id: str
    type: str
    title: str
    url: str
    snippet: str  # HTML-escaped text with <mark> tags only
    image: str | None
    published_at: int
    score: float
    category: str | None = None
    tags: tuple[str, ...] = ()
    locale: str = ""


@dataclass(frozen=True, slots=True)
class SearchResult:
    hits: list[Hit]
    total: int
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    # ``match="ranking"`` only: the first hit matches every query word (as typed, by stem,
    # prefix or within its typo budget), which is what hybrid trusts the keyword side on
    first_hit_complete: bool = False
    # the engine stopped early (Meilisearch's searchCutoffMs): hits may be missing
    degraded: bool = False


@dataclass(frozen=True, slots=True)
class EngineStats:
    documents: int
    checkpoint: str | None
    detail: dict[str, object] = field(default_factory=dict)


class DocumentsRejected(Exception):
    """Documents an engine could not put into its own form (a value it cannot hold, or
    a bug of ours), raised by ``write`` before it wrote anything: the indexer parks
    those rows and writes the rest, so one document never holds the stream back."""

    def __init__(self, errors: dict[str, Exception]) -> None:
        key, exc = next(iter(errors.items()))
        super().__init__(f"{len(errors)} document(s) rejected; {key}: {exc!r}")
        self.errors = errors


_Converted = TypeVar("_Converted")


def convert_each(docs: Sequence[Document],
                 convert: Callable[[Document], _Converted]) -> list[_Converted]:
    """``convert`` applied to every document; ``DocumentsRejected`` naming each one it
    failed on (by key) when any failed."""
    out: list[_Converted] = []
    errors: dict[str, Exception] = {}
    for doc in docs:
        try:
            out.append(convert(doc))
        except Exception as exc:  # noqa: BLE001 - whatever it was, it is this document's
            errors[doc.key] = exc
    if errors:
        raise DocumentsRejected(errors)
    return out


class KeywordEngine(Protocol):
    """What the indexer and the search API need from a keyword engine."""

    # search() only computes, in this process (no network, no waiting on another
    # process): the API may call it on its event loop instead of a worker thread
    searches_in_process: bool

    def write(self, upserts: Sequence[Document], deletes: Sequence[str],
              checkpoint: str | None = None) -> None:
        """Replace ``upserts`` whole, delete ``deletes`` (absent keys are fine), and record
        ``checkpoint``; return only once all of it is durable. ``DocumentsRejected``
        when some upserts cannot be converted; then nothing was written."""

    def checkpoint(self) -> str | None:
        """The checkpoint recorded by the last durable ``write``, or None."""

    def search(self, query: SearchQuery) -> SearchResult:
        """Hits, total and facet counts for one tenant's visible documents."""

    def keys(self, tenant_id: str | None = None) -> set[str]:
        """Every document key held (optionally of one tenant): for checks and tests."""

    def stats(self) -> EngineStats:
        """Document count and checkpoint, for health and status."""

    def begin_rebuild(self) -> KeywordEngine:
        """A fresh, empty shadow index to fill while this one keeps serving."""

    def swap(self, shadow: KeywordEngine) -> None:
        """Make ``shadow`` the live index atomically; readers switch on their next query."""

    def close(self) -> None:
        """Release files, writers and connections."""
