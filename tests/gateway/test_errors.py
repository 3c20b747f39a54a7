"""``gateway.errors.asgi_endpoint``: a route served directly renders its errors as every
other route does: one JSON shape, never cacheable, no internal detail."""

from __future__ import annotations

import logging

import pytest
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.testclient import TestClient

from awsm.errors import InvalidRequest, ServiceUnavailable
from gateway.errors import asgi_endpoint


def _client(exc: Exception | None) -> TestClient:
    async def endpoint(request: Request) -> Response:
        if exc is not None:
            raise exc
        return Response(request.url.query, media_type="text/plain")

    return TestClient(asgi_endpoint(endpoint), raise_server_exceptions=False)


def test_a_response_passes_through() -> None:
    r = _client(None).get("/x?q=1")
    assert r.status_code == 200 and r.text == "q=1"
    assert _client(None).head("/x?q=1").status_code == 200


@pytest.mark.parametrize("method", ["POST", "DELETE", "OPTIONS"])
def test_other_methods_are_a_405_naming_the_allowed_ones(method: str) -> None:
    r = _client(None).request(method, "/x")
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"
    assert r.json()["error"] == {
        "code": "method_not_allowed",
        "message": "This path does not answer this method; the Allow header lists those it does."}


@pytest.mark.parametrize(("exc", "status", "code", "message"), [
    (InvalidRequest("'limit' must be at most 100."), 400, "invalid_request",
     "'limit' must be at most 100."),
    (ServiceUnavailable(detail="tantivy at /secret/path: gone"), 503, "unavailable",
     ServiceUnavailable.message),
    # Starlette's default phrase, as a sentence like every other message
    (HTTPException(404), 404, "not_found",
     "No resource lives at this path (docs/api.md lists the routes)."),
    (HTTPException(404, "No such image."), 404, "not_found", "No such image."),
])
def test_errors_render_as_json_and_are_not_cacheable(exc: Exception, status: int, code: str,
                                                     message: str) -> None:
    r = _client(exc).get("/x")
    assert r.status_code == status
    assert r.json() == {"error": {"code": code, "message": message}}
    assert r.headers["cache-control"] == "no-store"
    assert "/secret/path" not in r.text


def test_an_unexpected_error_is_a_logged_500_without_detail(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="awsm.gateway"):
        r = _client(KeyError("internal-key-name")).get("/x")
    assert r.status_code == 500
    assert r.json() == {"error": {"code": "internal", "message": "Internal error."}}
    assert "internal-key-name" not in r.text and "Traceback" not in r.text
    assert any(rec.exc_info and "internal-key-name" in repr(rec.exc_info[1])
               for rec in caplog.records)
