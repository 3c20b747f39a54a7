"""The gateway's app as composed, with no database configured: the refusals that come
before any route (control characters in a path) and search without a database."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from awsm.errors import ConfigError
from awsm.settings import load_settings
from gateway.app import create_app


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = load_settings({}, data_dir=str(tmp_path),
                             signing_keys="k1:first-secret-0123456789abcdef")
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("path", [
    "/v1/search%0A?tenant=kopi&q=kopi", "/v1/search%0D?tenant=kopi&q=kopi",
    "/v1/search%00", "/healthz%0A", "/readyz%0A", "/metrics%0A", "/docs%09",
    "/openapi.json%0A", "/v1/img/sig/w_100/a.jpg%0A", "/v1/search%7F", "/%0A",
    # C1 controls (U+0080-U+009F; U+0085 is a line break to some parsers): a 404 before
    "/healthz%C2%85", "/v1/search%C2%85?tenant=kopi&q=kopi", "/v1/img/sig/w_100/a%C2%9F.jpg",
    "/healthz%C2%80",
])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_control_character_in_any_path_is_a_400_before_routing(
        client: TestClient, path: str, method: str) -> None:
    # Starlette's route patterns match before a trailing newline: "/healthz%0A" was
    # served as /healthz, "/v1/search%0A" as a second URL (a second CDN entry) for a search
    r = client.request(method, path)
    assert r.status_code == 400 and r.headers["cache-control"] == "no-store"
    if method == "GET":
        assert r.json() == {"error": {"code": "invalid_request",
                                      "message": "The path holds a control character."}}


@pytest.mark.parametrize("path", ["/v1%2Fsearch", "/v1%2fsearch", "/v1/searc%68",
                                  "/%761/search", "/v1/%73earch"])
def test_a_percent_encoded_spelling_of_the_search_path_is_refused(client: TestClient,
                                                                  path: str) -> None:
    # each was served as /v1/search: one more URL (and CDN entry) for one search, past
    # CDN and WAF rules written for its one spelling
    r = client.get(f"{path}?tenant=kopi&q=kopi")
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_request"), r.text
    assert r.headers["cache-control"] == "no-store"
    assert client.get("/v1/search?tenant=kopi&q=kopi").status_code != 400


def test_a_browser_on_an_allowed_origin_reads_the_refusal(tmp_path: Path) -> None:
    # sent before routing, it once bypassed CORS: the page saw a CORS failure, not a 400
    site = "https://kopi.example"
    settings = load_settings({}, data_dir=str(tmp_path), cors_origins=site,
                             signing_keys="k1:first-secret-0123456789abcdef")
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        for path in ("/v1/search%0A?tenant=kopi&q=kopi", "/healthz%0A"):
            r = c.get(path, headers={"Origin": site})
            assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"
            assert r.headers["access-control-allow-origin"] == site
        other = c.get("/v1/search%0A", headers={"Origin": "https://evil.example"})
        assert other.status_code == 400 and "access-control-allow-origin" not in other.headers


def test_origins_are_written_as_browsers_send_them_or_refused(tmp_path: Path) -> None:
    # compared as exact strings, "https://Kopi.example/" and ":443" allowed nobody,
    # and nothing said so
    settings = load_settings({}, data_dir=str(tmp_path),
                             cors_origins="https://Kopi.example/, https://teh.example:443",
                             signing_keys="k1:first-secret-0123456789abcdef")
    assert settings.cors_origins == "https://kopi.example,https://teh.example"
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        for site in ("https://kopi.example", "https://teh.example"):
            r = c.get("/healthz", headers={"Origin": site})
            assert r.headers["access-control-allow-origin"] == site
    for bad in ("kopi.example", "https://kopi.example/app", "ftp://kopi.example",
                "https://kopi.example:99999", "https://user@kopi.example",
                "https://b\u00fccher.example"):
        with pytest.raises(ConfigError, match="AWSM_CORS_ORIGINS"):
            load_settings({"AWSM_CORS_ORIGINS": bad})


def test_refused_paths_are_counted(client: TestClient) -> None:
    def refused() -> float:
        for line in client.get("/metrics").text.splitlines():
            if line.startswith('awsm_http_requests_total{route="unmatched",status="400"}'):
                return float(line.split()[-1])
        return 0.0

    before = refused()
    client.get("/v1/search%0A?tenant=kopi&q=kopi")
    assert refused() == before + 1


def test_the_same_paths_without_the_control_character_are_served(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/v1/search?tenant=kopi&q=kopi").status_code == 503  # no database


def test_search_without_a_database_is_a_503_and_readyz_says_why(client: TestClient) -> None:
    # e.g. AWSM_DEMO=1 awsm serve with no AWSM_DATABASE_URL: was a logged 500
    r = client.get("/v1/search?tenant=kopi&q=kopi")
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert r.json()["error"]["code"] == "unavailable" and "AWSM_" not in r.text
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == {"ok": False, "error": "OperationalError"}


def test_the_upload_is_described_as_it_is_called(client: TestClient) -> None:
    # /docs can "Try it out": the raw body, the bearer token and the errors sent
    spec = client.get("/openapi.json").json()
    upload = spec["paths"]["/v1/media"]["post"]
    assert list(upload["requestBody"]["content"]) == ["application/octet-stream"]
    assert upload["security"] == [{"bearerAuth": []}]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    error = {"$ref": "#/components/schemas/Error"}
    for status in ("400", "401", "403", "408", "413", "415", "422"):
        assert upload["responses"][status]["content"]["application/json"]["schema"] == error
    assert "srcset" in upload["responses"]["201"]["content"]["application/json"]["schema"][
        "properties"]
    # FastAPI's own validation 422 is declared nowhere: a bad parameter is our 400
    assert "HTTPValidationError" not in str(spec)


def test_an_outage_is_logged_once_in_a_while_not_once_a_request(
        client: TestClient, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # with the database gone every search fails: a line each would flood the logs, and
    # none at all would hide the outage. The app's one failure log is shared by the
    # process: forget what earlier tests logged, so this outage's first line is due.
    from gateway import errors

    monkeypatch.setattr(errors._log_failure, "_last", {})
    with caplog.at_level("ERROR", logger="awsm.gateway"):
        for _ in range(5):
            assert client.get("/v1/search?tenant=kopi&q=kopi").status_code == 503
    failed = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert len(failed) == 1 and failed[0].startswith("GET /v1/search failed: "), failed


def test_the_failure_log_says_how_many_it_left_out(caplog: pytest.LogCaptureFixture) -> None:
    from gateway.errors import _FailureLog

    failure_log = _FailureLog(every_s=0.2)
    with caplog.at_level("ERROR", logger="awsm.gateway"):
        for _ in range(3):
            failure_log("engine_unavailable", "GET /v1/search failed: down")
        failure_log("unavailable", "GET /v1/search failed: no database")  # its own code
        time.sleep(0.25)
        failure_log("engine_unavailable", "GET /v1/search failed: still down")
    assert [r.getMessage() for r in caplog.records] == [
        "GET /v1/search failed: down", "GET /v1/search failed: no database",
        "GET /v1/search failed: still down (2 more engine_unavailable since the last such "
        "line)"]


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/docs", "/openapi.json",
                                  "/v1/img/sig/w_100/a.jpg"])
def test_a_405_names_head_beside_get_as_every_get_route_answers_it(
        client: TestClient, path: str) -> None:
    # each GET route has a HEAD twin, but the 405 named only the first route's methods:
    # "Allow: GET" on /healthz, /readyz, /metrics and /v1/img (and "HEAD, GET" on /docs)
    assert client.head(path).status_code != 405
    for method in ("PUT", "OPTIONS", "DELETE"):
        r = client.request(method, path)
        assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
        assert r.headers["allow"] == "GET, HEAD", (method, path)
    assert client.put("/v1/media").headers["allow"] == "POST"


def test_healthz_is_never_cached(client: TestClient) -> None:
    # a CDN or proxy answering /healthz from its cache would hide a dead process
    for method in ("GET", "HEAD"):
        r = client.request(method, "/healthz")
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert client.get("/healthz").json() == {"status": "ok"}


def test_every_get_route_answers_head(client: TestClient) -> None:
    # a 405's Allow names HEAD beside GET (gateway/errors.py) on the strength of this
    spec = client.get("/openapi.json").json()
    gets = [path for path, ops in spec["paths"].items() if "get" in ops]
    assert {"/healthz", "/readyz", "/metrics", "/v1/search"} <= set(gets)
    for path in gets:
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        assert client.head(concrete).status_code != 405, path


def test_operator_pages_are_never_cached_and_redoc_is_not_served(client: TestClient) -> None:
    # no Cache-Control: a CDN applying a default TTL kept /metrics and the API description
    for path in ("/docs", "/openapi.json", "/metrics"):
        r = client.get(path)
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store", path
    for path in ("/redoc", "/docs/oauth2-redirect"):
        assert client.get(path).status_code == 404, path
    assert client.get("/healthz").headers["cache-control"] == "no-store"  # its own, kept


def test_a_search_that_fails_counts_no_semantic_fallback(client: TestClient) -> None:
    # counted before the tenant was read: a 503 showed as a semantic request answered in
    # keyword mode (awsm_search_semantic_fallbacks_total)
    def fallbacks() -> float:
        text = client.get("/metrics").text
        found = re.search(r'^awsm_search_semantic_fallbacks_total\{reason="not_live"\} (\S+)$',
                          text, re.M)
        return float(found.group(1)) if found else 0.0

    before = fallbacks()
    assert client.get("/v1/search?tenant=kopi&q=kopi&mode=semantic").status_code == 503
    assert fallbacks() == before
