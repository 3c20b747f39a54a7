"""Renders every error as one JSON shape: ``{"error": {"code": ..., "message": ...}}``.

The only place exceptions become HTTP responses. Internal detail is logged, never
sent; errors are never cacheable.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from awsm.errors import AwsmError

__all__ = ["asgi_endpoint", "error_response", "install_error_handlers"]

log = logging.getLogger("awsm.gateway")

_STATUS_CODES = {
    400: "invalid_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict",
    413: "payload_too_large", 415: "unsupported_media_type", 422: "unprocessable",
    429: "too_many_requests", 503: "unavailable",
}
NO_STORE = {"Cache-Control": "no-store"}


def error_response(status: int, code: str, message: str,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers={**NO_STORE, **(headers or {})})


FAILURE_LOG_EVERY_S = 10.0


class _FailureLog:
    """Logs a failure answered with a 5xx once per error code every ``every_s`` seconds,
    with how many like it were not logged: an outage (the database or the engine gone)
    fails every request, and one log line each would bury the rest at high traffic."""

    def __init__(self, every_s: float = FAILURE_LOG_EVERY_S) -> None:
        self.every_s = every_s
        self._last: dict[str, tuple[float, int]] = {}  # code -> (logged at, not logged)

    def __call__(self, code: str, message: str) -> None:
        now = time.monotonic()
        logged_at, quiet = self._last.get(code, (-self.every_s, 0))
        if now - logged_at < self.every_s:
            self._last[code] = (logged_at, quiet + 1)
            return
        self._last[code] = (now, 0)
        if quiet:
            message += f" ({quiet} more {code} since the last such line)"
        log.error("%s", message)


_log_failure = _FailureLog()


async def _awsm_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AwsmError)
    if exc.status >= 500:
        _log_failure(exc.code, f"{request.method} {request.url.path} failed: "
                               f"{exc.detail or exc}")
    return error_response(exc.status, exc.code, exc.public_message, exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body"))
        parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
    return error_response(400, "invalid_request", "; ".join(parts) or "The request is not valid.")


_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allow(value: str) -> str:
    """A 405's ``Allow``, naming HEAD beside GET. Each of our GET routes also answers HEAD
    through a twin route (hidden from OpenAPI), but Starlette's 405 names the methods of
    the first route whose path matched only: ``Allow: GET`` for /healthz, /readyz,
    /metrics and /v1/img, which do answer HEAD. In one order, not a set's."""
    methods = {m.strip().upper() for m in value.split(",") if m.strip()}
    if methods & {"GET", "HEAD"}:
        methods |= {"GET", "HEAD"}
    return ", ".join(sorted(methods, key=lambda m: (
        _METHOD_ORDER.index(m) if m in _METHOD_ORDER else len(_METHOD_ORDER), m)))


# Starlette's own "Not Found" and "Method Not Allowed", as sentences like every other
# error's message
_SENTENCES = {
    404: "No resource lives at this path (docs/api.md lists the routes).",
    405: "This path does not answer this method; the Allow header lists those it does.",
}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    if message == HTTPStatus(exc.status_code).phrase:  # Starlette's default, a phrase
        message = _SENTENCES.get(exc.status_code, message)
    headers = dict(exc.headers or {})
    if exc.status_code == 405 and "Allow" in headers:
        headers["Allow"] = _allow(headers["Allow"])
    return error_response(exc.status_code, code, message, headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal", "Internal error.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AwsmError, _awsm_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


def asgi_endpoint(endpoint: Callable[[Request], Awaitable[Response]],
                  methods: tuple[str, ...] = ("GET", "HEAD")) -> ASGIApp:
    """``endpoint`` as a bare ASGI app for ``methods`` (others: a 405 naming them), its
    errors rendered by the same handlers as the app's routes: for a route the gateway
    serves directly (``gateway.app``)."""
    allow = {"Allow": ", ".join(methods)}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            if request.method not in methods:
                raise StarletteHTTPException(405, headers=allow)
            response: Response = await endpoint(request)
        except AwsmError as exc:
            response = await _awsm_error(request, exc)
        except StarletteHTTPException as exc:
            response = await _http_error(request, exc)
        except Exception as exc:  # noqa: BLE001 - rendered as a 500 and logged, as elsewhere
            response = await _unexpected(request, exc)
        await response(scope, receive, send)

    return app
