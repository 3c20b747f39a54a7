"""Meilisearch request bodies and response reading for ``MeiliEngine`` (pure, no I/O).

Owns: index settings (searchable order title > summary > body, Meilisearch's typo rule,
filterable/sortable attributes), document and primary-key encoding, filter expressions
with quoted values (never user syntax), disjunctive-facet multi-search requests, exact
totals through page/hitsPerPage, and turning hits into ``Hit`` records with our own
escaped snippets (Meilisearch's ``_formatted`` does not escape HTML).

Filtered values are stored and compared in forms Meilisearch's own normalisation
(trim, Unicode compatibility decomposition, lowercase; facet values cut at 468 bytes on
the indexing side only) leaves alone: the tenant as a hash (``tenant_value``), so ids
that differ only in case or width are never one tenant, and facet values cut to a length
both sides agree on (``facet_value``).

Searched text is sent folded by ``search_svc.query.analyze`` (``title_f`` …), the fold
the query already has: Meilisearch only lowercases and strips marks, so "Straße" would
never meet the query's "strasse", nor "Łódź" its "lodz". The raw fields are for display
and snippets only.
"""

from __future__ import annotations

import base64
import hashlib
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from search_svc.engines.base import (
    FACET_FIELDS,
    MAX_FACET_SIZE,
    Document,
    Hit,
    SearchQuery,
    SearchResult,
)
from search_svc.errors import EngineUnavailable
from search_svc.matching import TermMatcher, term_matcher
from search_svc.query import ParsedQuery, analyze
from search_svc.snippets import best_snippet, holds_every_term

__all__ = [
    "CHECKPOINT_ID",
    "INDEX_SETTINGS",
    "MAX_PAYLOAD_BYTES",
    "MAX_RESULT_WINDOW",
    "PRIMARY_KEY",
    "document_id",
    "facet_value",
    "filters",
    "payloads",
    "quote",
    "read_results",
    "search_requests",
    "tenant_value",
    "to_meili",
]

PRIMARY_KEY = "pk"
# Lives in the index itself so it moves with swap_indexes and is written in the same
# task as the batch it follows; it has no tenant, so no tenant filter ever matches it.
# Never a valid base64 document_id (21 characters: no base64 text is 1 longer than a
# multiple of 4), so it cannot collide with one. Its version names the document format:
# an index written in an older one (``__awsm_checkpoint``, raw tenant ids; ``_v02``,
# words split at combining marks, as Tantivy's SCHEMA_VERSION 5) has no checkpoint
# under this id, so the indexer rebuilds it.
CHECKPOINT_ID = "__awsm_checkpoint_v03"
MAX_RESULT_WINDOW = 10_000  # hits past this are not returned (a page is cut there)
# Totals are counted up to this: Meilisearch warns that above 20,000 a search can take
# seconds, and no page past MAX_RESULT_WINDOW can be read anyway (docs/api.md).
MAX_TOTAL_HITS = 10_000
# Meilisearch refuses request bodies over 100 MB (its default http payload limit); a
# write is sent in parts under this many bytes of JSON.
MAX_PAYLOAD_BYTES = 90_000_000
# Meilisearch indexes the first 65,535 words of an attribute: the folded (searched)
# copies are cut there, the texts shown at 1,000,000 characters, so one document stays
# far under the payload limit (three texts of at most 6 MB of JSON each, three folded
# copies of 65,535 words of at most 64 folded characters).
MAX_TEXT_CHARS = 1_000_000
MAX_INDEXED_WORDS = 65_535
# Meilisearch cuts an indexed facet value at 468 bytes but compares a filter's value
# whole; values are cut shorter on both sides (and at the Tantivy adapter's 512 chars).
MAX_FACET_BYTES = 400
MAX_FACET_CHARS = 512

_FIELDS = ["key", "id", "type", "title", "summary", "body", "category", "tags", "locale",
           "image", "url", "published_at"]

SEARCHED = (("title", "title_f"), ("summary", "summary_f"), ("body", "body_f"))
MAX_ID_BYTES = 511  # Meilisearch's limit on a document id

INDEX_SETTINGS: dict[str, Any] = {
    # attribute order is the attribute ranking rule: title above summary above body
    "searchableAttributes": [folded for _, folded in SEARCHED],
    "filterableAttributes": ["tenant", "type", "category", "tags", "locale", "published_at"],
    "sortableAttributes": ["published_at"],
    "displayedAttributes": ["*"],
    # "sort" first: with sort=published_at the date decides; without a sort it is inert
    "rankingRules": ["sort", "words", "typo", "proximity", "attribute", "exactness"],
    "typoTolerance": {"enabled": True, "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9}},
    "faceting": {"maxValuesPerFacet": MAX_FACET_SIZE, "sortFacetValuesBy": {"*": "count"}},
    "pagination": {"maxTotalHits": MAX_TOTAL_HITS},
}


def document_id(key: str) -> str:
    """Meilisearch ids allow only ``[A-Za-z0-9_-]``, at most 511 bytes; our keys contain
    ``:``. A key too long for base64 within that limit (a long text primary key) gets its
    SHA-256 instead; the key itself is stored beside it."""
    encoded = base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")
    if len(encoded) <= MAX_ID_BYTES:
        return encoded
    return "_h" + hashlib.sha256(key.encode()).hexdigest()


def tenant_value(tenant_id: str) -> str:
    """The tenant as stored and filtered: Meilisearch compares filter strings after
    trimming, compatibility-normalising and lowercasing both sides, so "ABC", "abc" and
    "ａｂｃ" would be one tenant; a hex digest has one form."""
    return hashlib.sha256(tenant_id.encode()).hexdigest()


def facet_value(value: str) -> str:
    """A type, category, tag or locale as stored and filtered: at most 512 characters
    (as the Tantivy adapter keeps), cut where Meilisearch's form of it (compatibility
    decomposed and lowercased, which can triple a Hangul syllable's bytes) stays
    within 400 UTF-8 bytes, well inside its 468."""
    value = value[:MAX_FACET_CHARS]
    size = 0
    for i, char in enumerate(value):
        size += len(unicodedata.normalize("NFKD", char).lower().encode())
        if size > MAX_FACET_BYTES:
            return value[:i]
    return value


def to_meili(doc: Document) -> dict[str, Any]:
    out: dict[str, Any] = {
        PRIMARY_KEY: document_id(doc.key), "key": doc.key, "id": doc.id,
        "tenant": tenant_value(doc.tenant_id), "type": facet_value(doc.type),
        "title": doc.title[:MAX_TEXT_CHARS], "summary": doc.summary[:MAX_TEXT_CHARS],
        "body": doc.body[:MAX_TEXT_CHARS],
        "category": facet_value(doc.category) if doc.category else doc.category,
        # empty facet values are left out, as in the Tantivy index
        "tags": list(dict.fromkeys(facet_value(t) for t in doc.tags if t)),
        "locale": facet_value(doc.locale) if doc.locale else None,
        "image": doc.image, "url": doc.url,
        "published_at": int(doc.published_at),
    }
    for raw, folded in SEARCHED:
        out[folded] = " ".join(analyze(out[raw])[:MAX_INDEXED_WORDS])
    return out


def payloads(documents: Iterable[dict[str, Any]],
             limit: int = MAX_PAYLOAD_BYTES) -> Iterator[bytes]:
    """JSON arrays of ``documents`` in order, each under ``limit`` bytes where a single
    document allows (UTF-8, as orjson writes it: no ``\\uXXXX`` sixfold escapes)."""
    part: list[bytes] = []
    size = 2
    for doc in documents:
        encoded = orjson.dumps(doc)
        if part and size + len(encoded) + 1 > limit:
            yield b"[" + b",".join(part) + b"]"
            part, size = [], 2
        part.append(encoded)
        size += len(encoded) + 1
    if part:
        yield b"[" + b",".join(part) + b"]"


def quote(value: str) -> str:
    """A filter string literal: double-quoted, with ``\\`` and ``"`` escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def filters(q: SearchQuery, *, without: str | None = None) -> list[str]:
    """AND-ed filter expressions; values are always quoted literals."""
    out = [f"tenant = {quote(tenant_value(q.tenant_id))}"]
    if q.scope_types is not None:
        scope = dict.fromkeys(quote(facet_value(v)) for v in q.scope_types)
        out.append(f"type IN [{', '.join(scope)}]")
    for facet in FACET_FIELDS:
        values = q.facet_filter(facet)
        if values and facet != without:
            literals = dict.fromkeys(quote(facet_value(v)) for v in values)
            out.append(f"{facet} IN [{', '.join(literals)}]")
    if q.published_before is not None:
        out.append(f"published_at <= {int(q.published_before)}")
    return out


def _page(limit: int, offset: int) -> tuple[dict[str, int], int]:
    """page/hitsPerPage (exact totals) covering [offset, offset+limit), and how many
    leading hits of that page to skip: the smallest page size from ``limit`` up whose
    one page holds the whole range (about 3.5 x limit at most), so a deep unaligned
    page never fetches every hit before it."""
    limit = min(limit, MAX_RESULT_WINDOW - offset)  # a page across the window is cut there
    if limit <= 0:
        return {"page": 1, "hitsPerPage": 0}, 0
    last = offset + limit - 1
    per_page = next(n for n in range(limit, offset + limit + 1) if offset // n == last // n)
    return {"page": offset // per_page + 1, "hitsPerPage": per_page}, offset % per_page


def search_requests(index_uid: str, q: SearchQuery, parsed: ParsedQuery,
                    strategy: str) -> tuple[list[dict[str, Any]], int]:
    """Multi-search queries: the main one (hits, total, facets without a filter of their
    own), then one per facet that has its own filter, counted without it (disjunctive)."""
    requested = [f for f in dict.fromkeys(q.facets) if f in FACET_FIELDS]
    page, skip = _page(q.limit, q.offset)
    base: dict[str, Any] = {"indexUid": index_uid, "q": parsed.text,
                            "matchingStrategy": strategy}
    # showRankingScoreDetails: a search cut short by searchCutoffMs says so only there
    # (hits past the cutoff carry a "skipped" rule; the response has no flag of its own)
    main = {**base, **page, "filter": filters(q), "attributesToRetrieve": _FIELDS,
            "showRankingScore": True, "showRankingScoreDetails": True,
            "facets": [f for f in requested if not q.filters(f)]}
    if q.sort == "published_at":
        main["sort"] = ["published_at:desc"]
    queries = [main]
    for facet in requested:
        if q.filters(facet):
            queries.append({**base, "page": 1, "hitsPerPage": 0,
                            "filter": filters(q, without=facet), "facets": [facet]})
    return queries, skip


def _texts(raw: dict[str, Any]) -> list[str]:
    return [raw.get("body") or "", raw.get("summary") or "", raw.get("title") or ""]


def _hit(raw: dict[str, Any], parsed: ParsedQuery, matcher: TermMatcher) -> Hit:
    snippet = best_snippet(_texts(raw), parsed.terms,
                           prefix_last=parsed.prefix_last, exact=parsed.phrase,
                           matcher=matcher)
    return Hit(
        key=raw["key"], id=raw["id"], type=raw["type"], title=raw.get("title") or "",
        url=raw.get("url") or "", snippet=snippet, image=raw.get("image"),
        published_at=int(raw.get("published_at") or 0),
        score=float(raw.get("_rankingScore") or 0.0), category=raw.get("category"),
        tags=tuple(raw.get("tags") or ()), locale=raw.get("locale") or "",
    )


def read_results(results: list[dict[str, Any]], q: SearchQuery, parsed: ParsedQuery,
                 skip: int) -> SearchResult:
    main = results[0]
    facets: dict[str, dict[str, int]] = {}
    for result in results:
        for name, counts in (result.get("facetDistribution") or {}).items():
            pairs = sorted(((str(k), int(v)) for k, v in counts.items()),
                           key=lambda kv: (-kv[1], kv[0]))
            facets[name] = dict(pairs[: q.facet_size])
    # Meilisearch matches no stems: its hits hold the words as typed or typo variants
    matcher = term_matcher(parsed.terms, prefix_last=parsed.prefix_last, exact=parsed.phrase,
                           stemmed=())
    if "totalHits" not in main:  # estimatedTotalHits: not a page/hitsPerPage answer
        raise EngineUnavailable(detail="meilisearch answered without totalHits")
    page = main.get("hits", [])[skip:skip + q.limit]
    return SearchResult(
        hits=[_hit(raw, parsed, matcher) for raw in page],
        total=int(main["totalHits"]),
        facets={f: facets.get(f, {}) for f in q.facets},
        first_hit_complete=q.match == "ranking" and bool(page) and holds_every_term(
            _texts(page[0]), parsed.terms, prefix_last=parsed.prefix_last, exact=parsed.phrase,
            matcher=matcher),
        degraded=any("skipped" in (raw.get("_rankingScoreDetails") or {}) for raw in page),
    )
