"""The search API: ``GET /v1/search`` in keyword, semantic or hybrid mode.

Thin on purpose: parse (``params.py``) → resolve the tenant server-side → ask the
engine port in a worker thread → shape JSON → caching headers (``caching.py``).
The tenant always comes from the server's lookup; an unknown or suspended tenant gets
the same empty payload as a search with no hits.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import orjson
from fastapi import APIRouter, Request, Response
from prometheus_client import Counter
from starlette.concurrency import run_in_threadpool

from awsm.settings import Settings
from search_svc.caching import cache_tags, etag_for, etag_matches, public_cache_control
from search_svc.engines.base import Hit, KeywordEngine, SearchQuery, SearchResult
from search_svc.errors import InvalidQuery
from search_svc.params import OPENAPI_PARAMETERS, SearchParams, parse_search_params
from search_svc.query import parse_query
from search_svc.semantic import (
    CANDIDATES_PER_HIT,
    MAX_FUSION_WINDOW,
    NOT_LIVE,
    REASON_LABELS,
    SemanticSearcher,
    SemanticUnavailable,
    fuse_hybrid_page,
    fusion_depths,
    keyword_side,
    semantic_text,
    vector_hit_to_hit,
)
from search_svc.tenants import TenantResolver, host_form
from search_svc.vectors import VectorHit

__all__ = ["Endpoint", "SearchService", "build_router", "raw_query_params", "search_endpoint"]


FALLBACKS = Counter("awsm_search_semantic_fallbacks_total",
                    "Semantic or hybrid requests answered in keyword mode, by reason", ["reason"])


def _fallback(reason: str) -> str:
    """Count a semantic or hybrid request answered in keyword mode; its notice."""
    FALLBACKS.labels(REASON_LABELS.get(reason, "other")).inc()
    return f"semantic search is not available ({reason})"


INCOMPLETE = "the results may be incomplete: the search engine stopped early"


def raw_query_params(request: Request) -> dict[str, list[str]]:
    """The query string decoded strictly: bytes that are not UTF-8 are a 400, not mojibake."""
    try:
        # bytes sent raw (not %-encoded) are decoded as strictly as escaped ones
        raw = request.scope.get("query_string", b"").decode("utf-8")
        return parse_qs(raw, keep_blank_values=True, strict_parsing=False,
                        encoding="utf-8", errors="strict", max_num_fields=64)
    except UnicodeDecodeError:
        raise InvalidQuery("The query string is not valid UTF-8.") from None
    except ValueError:
        raise InvalidQuery("The query string has too many parameters.") from None


@functools.lru_cache(maxsize=8192)  # a page's dates recur; datetime formatting: ~4 us each
def _iso(ts: int) -> str | None:
    if not ts:
        return None
    try:
        return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
    except (ValueError, OverflowError, OSError):
        return None  # outside years 1-9999 (the indexer clamps; an older index may not)


def _hit_json(hit: Hit) -> dict[str, Any]:
    return {
        "id": hit.id, "type": hit.type, "title": hit.title, "url": hit.url,
        "snippet": hit.snippet, "image": hit.image, "published_at": _iso(hit.published_at),
        "score": round(hit.score, 4), "category": hit.category, "tags": list(hit.tags),
        "locale": hit.locale,
    }


NO_TENANT = "awsm:no-tenant"  # no tenant id has this form (ids are uuids or plain keys)


def _count_facets(hits: list[VectorHit], facets: tuple[str, ...]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for name in facets:
        counts: dict[str, int] = {}
        for h in hits:
            values = h.tags if name == "tags" else (getattr(h, name),)
            for v in values:
                if v:
                    counts[v] = counts.get(v, 0) + 1
        out[name] = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:20])
    return out


class SearchService:
    def __init__(self, settings: Settings, engine: KeywordEngine, tenants: TenantResolver,
                 clock: Callable[[], float] = time.time,
                 semantic: SemanticSearcher | None = None) -> None:
        self.settings, self.engine, self.tenants, self.clock = settings, engine, tenants, clock
        self.semantic = semantic

    async def _mode(self, params: SearchParams, text: str) -> tuple[str, str | None]:
        """The mode to run and, when it differs from the one asked for, why (the reason,
        not yet counted: ``_fallback`` once the request will be answered)."""
        if params.mode == "keyword" or not text or params.sort == "published_at":
            # keyword whatever the model's state (nothing to embed, or a listing by date):
            # never wait on ready(), which may wait a second for an unreachable database
            return "keyword", None
        ready = self.semantic is not None and await self.semantic.ready()
        if params.mode in (None, "hybrid", "semantic") and ready:
            return params.mode or "hybrid", None
        if params.mode in ("semantic", "hybrid"):
            return "keyword", self.semantic.reason if self.semantic else NOT_LIVE
        return "keyword", None

    async def search(self, params: SearchParams) -> dict[str, Any]:
        """The response payload."""
        parsed = parse_query(params.q)
        base: dict[str, Any] = {
            "query": parsed.text, "hits": [], "total": 0,
            "facets": {f: {} for f in params.facets}, "limit": params.limit,
            "offset": params.offset, "sort": params.sort,
        }
        if params.tenant is None:
            raise InvalidQuery("'tenant' is required: give the site's slug or domain.")
        # decided before the tenant is known: the payload must not differ for unknown tenants
        mode, unavailable = await self._mode(params, parsed.text)
        base["mode"] = mode
        tenant_id = await self.tenants.resolve(params.tenant)  # a 503 counts no fallback
        if unavailable:
            base["notice"] = _fallback(unavailable)
        # the types the tenant lets the public search (from the same read; None: all)
        scope = self.tenants.scope(tenant_id) if tenant_id is not None else None
        if parsed.reason is not None and not (params.sort == "published_at" and not parsed.text):
            base["reason"] = parsed.reason
            return base
        # An unknown or suspended tenant is searched as a tenant without documents, so the
        # answer costs what a search that finds nothing does: no shortcut a timing (or
        # took_ms) could tell apart from an active tenant's empty result.
        query = SearchQuery(
            tenant_id=tenant_id or NO_TENANT, text=parsed.text, types=params.types,
            categories=params.categories, tags=params.tags, locale=params.locale,
            sort=params.sort, limit=params.limit, offset=params.offset, facets=params.facets,
            published_before=int(self.clock()), scope_types=scope,
        )
        if mode != "keyword":
            try:
                base.update(await self._semantic(mode, params, parsed.text, query))
                return base
            except SemanticUnavailable as exc:  # e.g. the database went away: keyword results
                base.update(mode="keyword", notice=_fallback(str(exc)))
        # An in-process engine (Tantivy) searches on the event loop, not a worker
        # thread: a few ms of CPU, mostly Python holding the GIL anyway, while the
        # hand-off to a thread and back cost 0.3-1.0 ms a request on 2 cores
        # (bench/search_keyword.py: API mean 3.6-3.7 ms inline, 4.0-5.4 ms pooled).
        # One that waits on a server (Meilisearch) keeps the pool.
        result: SearchResult = (
            self.engine.search(query) if self.engine.searches_in_process
            else await run_in_threadpool(self.engine.search, query))
        base.update(hits=[_hit_json(h) for h in result.hits], total=result.total,
                    facets={f: result.facets.get(f, {}) for f in params.facets})
        if result.degraded:  # cached briefly, as any answer with a notice
            base["notice"] = INCOMPLETE
        return base

    async def _semantic(self, mode: str, params: SearchParams, text: str,
                        query: SearchQuery) -> dict[str, Any]:
        """Hits, total and facets of a semantic or hybrid page."""
        assert self.semantic is not None and params.tenant is not None
        scope = params.tenant
        if mode == "semantic":
            window = min(params.offset + params.limit, MAX_FUSION_WINDOW)
            semantic = replace(query, text=semantic_text(params.q))
            # each facet counted without its own filter, over the candidates found without it
            own = [f for f in dict.fromkeys(params.facets) if semantic.filters(f)]
            vhits, *unfiltered = await self.semantic.search_each(
                [semantic, *(semantic.without_filter(f) for f in own)],
                candidates=window * CANDIDATES_PER_HIT, scope=scope)
            facets = _count_facets(vhits, params.facets)
            for facet, found in zip(own, unfiltered, strict=True):
                facets[facet] = _count_facets(found, (facet,))[facet]
            page = vhits[params.offset:params.offset + params.limit]
            return {"hits": [{**_hit_json(vector_hit_to_hit(v, text)), "matched": ["semantic"]}
                             for v in page],
                    "total": len(vhits), "facets": facets}
        hits, candidates = fusion_depths(params.offset, params.limit)
        result, vhits = await asyncio.gather(
            run_in_threadpool(self.engine.search, keyword_side(query, params.q, hits)),
            self.semantic.search(replace(query, text=semantic_text(params.q)),
                                 candidates=candidates, scope=scope))
        fused_page, fused_total = fuse_hybrid_page(
            result.hits, vhits, text, params.semantic_ratio, offset=params.offset,
            limit=params.limit, confident=result.first_hit_complete)
        return {"hits": [{**_hit_json(h), "matched": matched} for h, matched in fused_page],
                "total": max(result.total, fused_total),
                "facets": {f: result.facets.get(f, {}) for f in params.facets},
                **({"notice": INCOMPLETE} if result.degraded else {})}


Endpoint = Callable[[Request], Awaitable[Response]]


def search_endpoint(service: SearchService,
                    types: frozenset[str] | None = None) -> Endpoint:
    """``GET /v1/search`` (and HEAD) as a plain ``Request -> Response`` function, which
    the gateway serves directly (``gateway.app``); ``build_router`` declares it.
    ``types``: the mapping's document types, the only ones given a cache tag."""
    s = service.settings

    async def search(request: Request) -> Response:
        """Keyword, semantic or hybrid search over one site's published public content:
        typo tolerance, prefix matching on the last word, filters, facets and
        highlighted snippets. Unknown or repeated parameters are a 400; see docs/api.md.
        """
        started = time.perf_counter()
        params = parse_search_params(raw_query_params(request))
        payload = await service.search(params)
        # one serialisation: the ETag covers the results, took_ms is appended after
        # orjson: ~10x json.dumps on a 20-hit page (~40 us a request); compact UTF-8
        results = orjson.dumps(payload)
        etag = etag_for(results)
        headers = {
            "ETag": etag,
            "Cache-Control": public_cache_control(
                s.search_max_age_s, s.search_s_maxage_s, s.search_stale_while_revalidate_s,
                degraded="notice" in payload),
        }
        if params.tenant is not None:
            # tagged by the key the client gave (slug or domain) in the form a domain is
            # looked up in (no final dot, punycode), so the spellings that name one tenant
            # share its tag; identical for unknown tenants, so headers reveal nothing the
            # body does not
            # a type no document has matches nothing and gets no tag of its own: tagged
            # as asked, 20 long ones made ~32 kB of headers (a 502 at nginx's 4-8 kB)
            tags = cache_tags(host_form(params.tenant),
                              [t for t in params.types if types is None or t in types])
            headers["Cache-Tag"] = tags
            headers["Surrogate-Key"] = tags.replace(",", " ")
        # a list header: several field lines are one list (RFC 9110 5.3), not the first
        if etag_matches(",".join(request.headers.getlist("if-none-match")), etag):
            return Response(status_code=304, headers=headers)
        took = round((time.perf_counter() - started) * 1000, 2)
        body = results[:-1] + f',"took_ms":{took}}}'.encode()
        return Response(body, media_type="application/json", headers=headers)

    return search


def build_router(endpoint: Endpoint) -> APIRouter:
    """The search route as OpenAPI declares it (HEAD is served too, not documented)."""
    router = APIRouter(tags=["search"])
    router.add_api_route("/v1/search", endpoint, methods=["GET"],
                         summary="Search one site's published content",
                         openapi_extra={"parameters": OPENAPI_PARAMETERS})
    return router
