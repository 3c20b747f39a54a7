"""Meilisearch request bodies and response reading for ``MeiliEngine`` (pure, no I/O).

Owns: index settings (searchable order title > summary > body, Meilisearch's typo rule,
filterable/sortable attributes), document and primary-key encoding, filter expressions
with quoted values (never user syntax), disjunctive-facet multi-search requests, exact
totals through page/hitsPerPage, and turning hits into ``Hit`` records with our own
escaped snippets (Meilisearch's ``_formatted`` does not escape HTML).

Searched text is sent folded by ``search_svc.query.analyze`` (``title_f`` …), the fold
the query already has: Meilisearch only lowercases and strips marks, so "Straße" would
never meet the query's "strasse", nor "Łódź" its "lodz". The raw fields are for display
and snippets only.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from search_svc.engines.base import FACET_FIELDS, Document, Hit, SearchQuery, SearchResult
from search_svc.errors import EngineUnavailable
from search_svc.matching import TermMatcher, term_matcher
from search_svc.query import ParsedQuery, analyze
from search_svc.snippets import best_snippet, holds_every_term

__all__ = [
    "CHECKPOINT_ID",
    "INDEX_SETTINGS",
    "MAX_RESULT_WINDOW",
    "PRIMARY_KEY",
    "document_id",
    "filters",
    "quote",
    "read_results",
    "search_requests",
    "to_meili",
]

PRIMARY_KEY = "pk"
# Lives in the index itself so it moves with swap_indexes and is written in the same
# task as the batch it follows; it has no tenant, so no tenant filter ever matches it.
# Never a valid base64 document_id (17 characters), so it cannot collide with one.
CHECKPOINT_ID = "__awsm_checkpoint"
MAX_RESULT_WINDOW = 10_000  # offset + limit beyond this returns the total but no hits
MAX_TOTAL_HITS = 100_000  # exhaustive totals (and facets) are counted up to this

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
    "faceting": {"maxValuesPerFacet": 100, "sortFacetValuesBy": {"*": "count"}},
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


def to_meili(doc: Document) -> dict[str, Any]:
    out: dict[str, Any] = {
        PRIMARY_KEY: document_id(doc.key), "key": doc.key, "id": doc.id,
        "tenant": doc.tenant_id, "type": doc.type, "title": doc.title,
        "summary": doc.summary, "body": doc.body, "category": doc.category,
        # empty facet values are left out, as in the Tantivy index
        "tags": [t for t in dict.fromkeys(doc.tags) if t], "locale": doc.locale or None,
        "image": doc.image, "url": doc.url,
        "published_at": int(doc.published_at),
    }
    for raw, folded in SEARCHED:
        out[folded] = " ".join(analyze(out[raw]))
    return out


def quote(value: str) -> str:
    """A filter string literal: double-quoted, with ``\\`` and ``"`` escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def filters(q: SearchQuery, *, without: str | None = None) -> list[str]:
    """AND-ed filter expressions; values are always quoted literals."""
    out = [f"tenant = {quote(q.tenant_id)}"]
    for facet, values in (("type", q.types), ("category", q.categories), ("tags", q.tags),
                          ("locale", (q.locale,) if q.locale else ())):
        if values and facet != without:
            out.append(f"{facet} IN [{', '.join(quote(v) for v in values)}]")
    if q.published_before is not None:
        out.append(f"published_at <= {int(q.published_before)}")
    return out


def _page(limit: int, offset: int) -> tuple[dict[str, int], int]:
    """page/hitsPerPage (exact totals) covering [offset, offset+limit), and how many
    leading hits of that page to skip: the smallest page size from ``limit`` up whose
    one page holds the whole range (about 3.5 x limit at most), so a deep unaligned
    page never fetches every hit before it."""
    if limit == 0 or offset + limit > MAX_RESULT_WINDOW:
        return {"page": 1, "hitsPerPage": 0}, 0
    last = offset + limit - 1
    per_page = next(n for n in range(limit, offset + limit + 1) if offset // n == last // n)
    return {"page": offset // per_page + 1, "hitsPerPage": per_page}, offset % per_page


def search_requests(index_uid: str, q: SearchQuery, parsed: ParsedQuery,
                    strategy: str) -> tuple[list[dict[str, Any]], int]:
    """Multi-search queries: the main one (hits, total, facets without a filter of their
    own), then one per facet that has its own filter, counted without it (disjunctive)."""
    own = {"type": q.types, "category": q.categories, "tags": q.tags,
           "locale": (q.locale,) if q.locale else ()}
    requested = [f for f in dict.fromkeys(q.facets) if f in FACET_FIELDS]
    page, skip = _page(q.limit, q.offset)
    base: dict[str, Any] = {"indexUid": index_uid, "q": parsed.text,
                            "matchingStrategy": strategy}
    main = {**base, **page, "filter": filters(q), "attributesToRetrieve": _FIELDS,
            "showRankingScore": True,
            "facets": [f for f in requested if not own[f]]}
    if q.sort == "published_at":
        main["sort"] = ["published_at:desc"]
    queries = [main]
    for facet in requested:
        if own[facet]:
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
    )
