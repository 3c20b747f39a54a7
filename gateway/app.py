"""The composition root: one ASGI app that mounts the search and media routers.

Builds the engine reader, database pools and services from one ``Settings`` and wires
them together; nothing below imports this module. Production can run the same app per
service (``awsm serve``) behind a CDN; the embedded stack runs it with the indexer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from types import MappingProxyType
from typing import Any

import psycopg
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import Counter, Gauge, Histogram
from psycopg_pool import AsyncConnectionPool
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from awsm.db import open_async_pool, unreachable
from awsm.settings import Settings
from awsm.text import CONTROL_CHARS
from gateway.errors import asgi_endpoint, error_response, install_error_handlers
from gateway.health import build_health_router
from indexer.mapping import mapping_for
from media_svc.api import build_router as build_media_router
from search_svc.api import SearchService, search_endpoint
from search_svc.api import build_router as build_search_router
from search_svc.engines import open_engine
from search_svc.engines.base import KeywordEngine
from search_svc.tenants import TenantResolver

__all__ = ["create_app"]

log = logging.getLogger("awsm.gateway")


REQUESTS = Counter("awsm_http_requests_total", "HTTP requests", ["route", "status"])
LATENCY = Histogram("awsm_http_request_seconds", "HTTP request latency", ["route"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
TENANTS_READ_AGE = Gauge("awsm_tenants_read_age_seconds",
                         "Seconds since this API process last read the tenants table")


class _Metrics:
    """Request count and latency per route template, as plain ASGI (Starlette's
    ``BaseHTTPMiddleware`` costs a task and a stream copy per request). Starlette's own
    routes (``/docs``, ``/openapi.json``) set no ``route`` in the scope, only the
    endpoint: ``paths`` names them; ``route`` names every request (a direct route)."""

    def __init__(self, app: ASGIApp, paths: Mapping[object, str] = MappingProxyType({}),
                 route: str | None = None) -> None:
        self.app, self.paths, self.route = app, paths, route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            name = self.route or getattr(scope.get("route"), "path", None) or \
                self.paths.get(scope.get("endpoint"), "unmatched")
            REQUESTS.labels(name, str(status)).inc()
            LATENCY.labels(name).observe(time.perf_counter() - started)


class _Cors(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered in our JSON error shape
    (``no-store``) instead of its plain-text body."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        refused = bytes(response.body).decode().removeprefix("Disallowed CORS ")
        headers = {k: v for k, v in response.headers.items()
                   if k.lower().startswith("access-control-") or k.lower() == "vary"}
        return error_response(400, "cors_refused",
                              f"This cross-origin request is not allowed ({refused}).", headers)


# Route patterns match up to a trailing newline ("$" in Starlette's compiled regexes), so
# "/v1/search%0A" or ".../hero.jpg%0A" would be served as a second URL for one resource
# (a second CDN entry, one per signed image variant). No resource of ours has a control
# character in its path: refused for every path, before routing.
_CONTROL_REFUSED: ASGIApp = error_response(
    400, "invalid_request", "The path holds a control character.")
# "/v1%2Fsearch", "/v1/searc%68": one more URL for a direct route, past CDN and WAF rules
# written for its one spelling
_ENCODED_REFUSED: ASGIApp = error_response(
    400, "invalid_request", "The path is percent-encoded: write it plainly (/v1/search).")


class _Gateway(FastAPI):
    """FastAPI, with the requests for a path in ``direct`` handed straight to its own
    ASGI app, past the layers FastAPI and Starlette run per request (exception,
    telemetry and body-limit middlewares, router, dependency solving): ~0.2 ms of a
    ~2.8 ms search on 2 cores when the process was idle (a request's arrival to the
    handler: 0.33 ms through them, 0.12 ms direct). A direct app brings its own metrics,
    CORS, 405s and error rendering; its route is declared to FastAPI for OpenAPI only."""

    direct: Mapping[str, ASGIApp] = MappingProxyType({})
    # counted as unmatched, as any path no route serves; create_app adds CORS
    control_refused: ASGIApp = _Metrics(_CONTROL_REFUSED, route="unmatched")
    encoded_refused: ASGIApp = _Metrics(_ENCODED_REFUSED, route="unmatched")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if CONTROL_CHARS.search(scope["path"]) is not None:
                await self.control_refused(scope, receive, send)
                return
            app = self.direct.get(scope["path"])
            if app is not None:
                raw = scope.get("raw_path")
                if raw is not None and raw != scope["path"].encode():
                    app = self.encoded_refused
                await app(scope, receive, send)
                return
            if scope["path"] in _OPERATOR_PATHS:
                send = _no_store(send)
        await super().__call__(scope, receive, send)


# The operators' pages, which set no Cache-Control of their own: a CDN applying a default
# TTL (Fastly's hour) would cache them, /metrics' counters included
_OPERATOR_PATHS = frozenset({"/docs", "/openapi.json", "/metrics"})


def _no_store(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            if not any(k.lower() == b"cache-control" for k, _ in headers):
                message = {**message, "headers": [*headers, (b"cache-control", b"no-store")]}
        await send(message)
    return sending


async def _open_pool(url: str, name: str, *, max_size: int = 8) -> AsyncConnectionPool:
    pool = await open_async_pool(url, max_size=max_size, wait=False)
    reason = await unreachable(url)
    if reason is not None:
        log.error("the database of %s cannot be reached yet (%s): search answers 503 and "
                  "/readyz says so until it can; retrying in the background", name, reason)
    return pool


_ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}}}},
}


def _openapi_with_our_errors(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with the 422 ``{"detail": [...]}`` it declares for every route
    with parameters replaced by what the API sends instead: a 400 in the one error shape
    (``gateway.errors``), declared for every operation that takes parameters."""
    if app.openapi_schema is None:
        schema = FastAPI.openapi(app)
        invalid = {"description": "Invalid request (the JSON error shape)",
                   "content": {"application/json": {
                       "schema": {"$ref": "#/components/schemas/Error"}}}}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                ref = responses.get("422", {}).get("content", {}).get(
                    "application/json", {}).get("schema", {}).get("$ref", "")
                validation = ref.endswith("/HTTPValidationError")  # not a 422 we send
                if validation:
                    del responses["422"]
                if validation or operation.get("parameters"):
                    responses.setdefault("400", invalid)
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        schemas["Error"] = _ERROR_SCHEMA
        # the upload declares it (media_svc.api): a Supabase JWT
        schema["components"].setdefault("securitySchemes", {})["bearerAuth"] = {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        app.openapi_schema = schema
    return app.openapi_schema


class _LazyPool:
    """Holds the pool opened in the lifespan so routers can be built before start-up."""

    def __init__(self) -> None:
        self.pool: AsyncConnectionPool | None = None

    def _opened(self) -> AsyncConnectionPool:
        if self.pool is None:  # none configured (e.g. AWSM_DEMO=1 awsm serve without one):
            # what an unreachable database raises, so search is a 503 and /readyz says so
            raise psycopg.OperationalError("no database is configured (AWSM_DATABASE_URL)")
        return self.pool

    @property
    def connect_failing(self) -> bool:  # none configured: as a database that cannot be reached
        return self.pool is None or bool(getattr(self.pool, "connect_failing", False))

    # what awsm.db.connection_within asks of a pool
    @property
    def timeout(self) -> float:
        return self._opened().timeout

    async def getconn(self, timeout: float | None = None) -> psycopg.AsyncConnection[Any]:
        return await self._opened().getconn(timeout=timeout)

    async def putconn(self, conn: psycopg.AsyncConnection[Any]) -> None:
        await self._opened().putconn(conn)


def create_app(settings: Settings, *, engine: KeywordEngine | None = None) -> FastAPI:
    mapping = mapping_for(settings)
    if not settings.jwt_secret:
        log.info("AWSM_JWT_SECRET is not set: uploads (POST /v1/media) are off here "
                 "(503 auth_not_configured); search and images are served")
    engine = engine or open_engine(settings, writer=False)
    # health: /readyz's own connection. On the read pool a probe waited behind the
    # searches holding all 8 (a load test at 200 connections: 97 % of probes 503), and a
    # load balancer would take every loaded replica out at once.
    read_pool, primary_pool, health = _LazyPool(), _LazyPool(), _LazyPool()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Started without waiting for the databases: media needs none, and search answers
        # 503 (and /readyz says why) until they can be reached, instead of a crash loop.
        if settings.query_database_url:
            name = "AWSM_DATABASE_READ_URL" if settings.database_read_url else "AWSM_DATABASE_URL"
            read_pool.pool = await _open_pool(settings.query_database_url, name)
            health.pool = await open_async_pool(settings.query_database_url, max_size=1,
                                                wait=False)
        if settings.database_url and settings.database_url != settings.query_database_url:
            primary_pool.pool = await _open_pool(settings.database_url, "AWSM_DATABASE_URL",
                                                 max_size=2)
        try:
            yield
        finally:
            await tenants.close()
            for holder in (read_pool, primary_pool, health):
                if holder.pool is not None:
                    await holder.pool.close()
            engine.close()

    app = _Gateway(
        # no 307 from "/v1/search/" to "/v1/search": its Location would be built from the
        # Host header, and a CDN could cache it; a wrong path is a plain JSON 404
        redirect_slashes=False,
        # /docs alone: ReDoc and the OAuth2 redirect page were served too, undocumented
        redoc_url=None, swagger_ui_oauth2_redirect_url=None,
        title="awsm", version="0.1.0", lifespan=lifespan,
        description="Search and media for AWCMS: keyword search over published content, "
                    "signed on-the-fly image transforms, health and metrics.",
    )
    install_error_handlers(app)
    app.openapi = lambda: _openapi_with_our_errors(app)  # type: ignore[method-assign]
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    # browsers on AWCMS sites call search directly; credentials are never needed
    cors: dict[str, Any] = {"allow_origins": origins, "allow_methods": ["GET", "HEAD"],
                            "allow_headers": ["If-None-Match"], "expose_headers": ["ETag"],
                            "max_age": 86400}
    if origins:
        app.add_middleware(_Cors, **cors)
    tenants = TenantResolver(read_pool, mapping.tenants,  # type: ignore[arg-type]
                             ttl_s=settings.tenant_cache_ttl_s)
    TENANTS_READ_AGE.set_function(tenants.read_age)
    semantic = None
    if settings.embedder != "none":
        from search_svc.embedding import open_embedder
        from search_svc.semantic import SemanticSearcher

        semantic = SemanticSearcher(lambda: open_embedder(settings), read_pool)
    app.state.semantic = semantic  # for operators' tools and tests
    app.state.read_pool = read_pool
    search = search_endpoint(SearchService(settings, engine, tenants, semantic=semantic),
                             frozenset(src.type for src in mapping.documents))
    app.include_router(build_search_router(search))
    # GET and HEAD (CDNs and monitors check a URL with it), with the middlewares above
    direct: ASGIApp = asgi_endpoint(search, methods=("GET", "HEAD"))
    if origins:
        direct = _Cors(direct, **cors)
        # a browser reads this 400 as what it is, not as a CORS failure
        app.control_refused = _Metrics(_Cors(_CONTROL_REFUSED, **cors), route="unmatched")
        app.encoded_refused = _Metrics(_Cors(_ENCODED_REFUSED, **cors), route="unmatched")
    app.direct = {"/v1/search": _Metrics(direct, route="/v1/search")}
    app.include_router(build_health_router(
        settings, engine, health,  # type: ignore[arg-type]
        primary_pool if settings.database_url != settings.query_database_url else None))  # type: ignore[arg-type]
    app.include_router(build_media_router(settings))

    app.add_middleware(_Metrics, paths={r.endpoint: r.path for r in app.routes
                                        if isinstance(r, Route)})
    return app
