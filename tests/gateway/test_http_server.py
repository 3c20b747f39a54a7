"""The HTTP protocol awsm runs uvicorn with, over real sockets: a request head that is
too large or too slow (slowloris) is refused and its connection freed, and normal
keep-alive traffic is untouched."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import orjson
import pytest
import uvicorn

from awsm.settings import load_settings
from gateway.http_server import guarded_protocol, uvicorn_options

TIMEOUT_S, MAX_HEAD = 1.0, 4096


async def _app(scope, receive, send):  # type: ignore[no-untyped-def]
    assert scope["type"] == "http"
    if scope["path"] == "/read":  # a route that reads the body before it answers
        while (await receive()).get("more_body"):
            pass
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(_app, http=guarded_protocol(TIMEOUT_S, MAX_HEAD),
                            log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield sock.getsockname()[1]
    server.should_exit = True
    thread.join(10)


def _connect(port: int) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port), timeout=5)
    return conn


def _read_all(conn: socket.socket) -> bytes:
    """Everything until the server closes the connection."""
    out = b""
    while chunk := conn.recv(65536):
        out += chunk
    return out


def _get(path: str = "/", extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode()


def test_keep_alive_requests_are_answered(port: int) -> None:
    with _connect(port) as conn:
        for _ in range(3):
            conn.sendall(_get())
            reply = conn.recv(65536)
            assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"ok")
            time.sleep(TIMEOUT_S / 2)  # idle between requests is the keep-alive's business


@pytest.mark.parametrize("sent", [b"GARBAGE\r\n\r\n", b"GET /v1/search?q=\xff\x00 HTTP/1.1\r\n\r\n",
                                  b"GET / HTTP/1.1\r\nHost x\r\n\r\n"])
def test_a_request_that_cannot_be_parsed_is_a_json_400_and_the_connection_closes(
        port: int, sent: bytes) -> None:
    with _connect(port) as conn:
        conn.sendall(sent)
        reply = _read_all(conn)
    head, body = reply.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 400") and b"application/json" in head
    assert orjson.loads(body) == {"error": {"code": "invalid_request",
                                            "message": "The HTTP request is malformed."}}


@pytest.mark.parametrize(("sent", "status"), [
    (b"GET / HTTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nHOST: b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 200),
    (b"GET / HTTP/1.0\r\n\r\n", 200),  # HTTP/1.0 had no Host header
])
def test_an_http_1_1_request_needs_exactly_one_host(port: int, sent: bytes, status: int) -> None:
    with _connect(port) as conn:
        conn.sendall(sent)
        reply = conn.recv(65536) if status == 200 else _read_all(conn)
    assert reply.split(b" ", 2)[1] == str(status).encode(), reply
    if status == 400:
        assert orjson.loads(reply.split(b"\r\n\r\n", 1)[1]) == {"error": {
            "code": "invalid_request",
            "message": "An HTTP/1.1 request needs exactly one Host header."}}


def test_headers_past_the_limit_are_a_431_and_the_connection_closes(port: int) -> None:
    with _connect(port) as conn:
        conn.sendall(_get(extra="X-Big: " + "a" * (2 * MAX_HEAD) + "\r\n"))
        reply = _read_all(conn)
    assert reply.startswith(b"HTTP/1.1 431")
    body = orjson.loads(reply.split(b"\r\n\r\n", 1)[1])
    assert body["error"]["code"] == "request_header_too_large"


def test_many_small_headers_and_one_endless_header_are_431s(port: int) -> None:
    many = "".join(f"X-{i}: {i}\r\n" for i in range(2000))  # ~20 kB, sent at once
    with _connect(port) as conn:
        conn.sendall(_get(extra=many))
        assert _read_all(conn).startswith(b"HTTP/1.1 431")
    with _connect(port) as conn:  # a header that never ends, in pieces: refused, not held
        conn.sendall(b"GET / HTTP/1.1\r\nX-Endless: ")
        try:
            for _ in range(8):
                conn.sendall(b"a" * 1024)
        except (BrokenPipeError, ConnectionResetError):
            pass
        started = time.monotonic()
        assert _read_all(conn).startswith(b"HTTP/1.1 431")
        assert time.monotonic() - started < TIMEOUT_S * 0.9  # the size, not the clock


def test_a_body_sent_with_its_headers_is_not_counted_as_head(port: int) -> None:
    body = b"x" * (20 * MAX_HEAD)
    with _connect(port) as conn:
        conn.sendall(f"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
                     f"\r\n".encode() + body)
        assert conn.recv(65536).startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("sent", [b"GET /v1/sea", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n"])
def test_a_stalled_request_head_is_a_408_and_the_connection_closes(port: int, sent: bytes) -> None:
    with _connect(port) as conn:
        started = time.monotonic()
        conn.sendall(sent)
        reply = _read_all(conn)
        waited = time.monotonic() - started
    assert reply.startswith(b"HTTP/1.1 408") and b"request_timeout" in reply
    assert TIMEOUT_S * 0.9 <= waited < TIMEOUT_S + 3


def test_headers_trickled_a_byte_at_a_time_are_cut_off(port: int) -> None:
    request = _get(extra="X-Slow: " + "b" * 50 + "\r\n")
    with _connect(port) as conn:
        started = time.monotonic()
        try:
            for byte in request:
                conn.send(bytes([byte]))
                time.sleep(0.05)  # 60+ bytes at 20/s: past the 1 s limit
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = _read_all(conn)
    assert reply.startswith(b"HTTP/1.1 408") and time.monotonic() - started < TIMEOUT_S + 3


def test_a_connection_that_never_sends_is_closed(port: int) -> None:
    with _connect(port) as conn:
        started = time.monotonic()
        assert _read_all(conn) == b""
    assert time.monotonic() - started < TIMEOUT_S + 3


def test_the_second_request_on_a_connection_gets_its_own_deadline(port: int) -> None:
    with _connect(port) as conn:
        conn.sendall(_get())
        assert conn.recv(65536).startswith(b"HTTP/1.1 200")
        conn.sendall(b"GET / HTTP/1.1\r\nHo")
        assert _read_all(conn).startswith(b"HTTP/1.1 408")


_CHUNKED = b"POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"


@pytest.mark.parametrize("path", [b"/read", b"/"])
@pytest.mark.parametrize("endless", [False, True])
def test_trailers_past_the_limit_are_refused_like_headers(port: int, path: bytes,
                                                         endless: bool) -> None:
    # uvicorn appends trailers to the request's headers: 300 MB of them took 300 MB
    # just past the limit, so that the refusal comes as the last byte is read: bytes
    # still unread when the server closes would turn its close into a reset
    pieces = ([(b"X-Endless: " + b"a" * (MAX_HEAD + 1013))[i:i + 1024]  # read one by one
               for i in range(0, MAX_HEAD + 1024, 1024)] if endless
              else [b"".join(b"X-%d: %s\r\n" % (i, b"a" * 1000) for i in range(5)) + b"\r\n"])
    with _connect(port) as conn:
        conn.sendall(_CHUNKED % path)
        time.sleep(0.2)  # the last chunk is read; what follows are trailers
        started = time.monotonic()
        for piece in pieces:
            conn.sendall(piece)
            time.sleep(0.02)
        reply = _read_all(conn)
    assert time.monotonic() - started < TIMEOUT_S * 0.9  # the size, not the clock
    if path == b"/read":  # not answered yet: a 431, as for headers
        assert reply.startswith(b"HTTP/1.1 431") and b"request_header_too_large" in reply
    else:  # answered before its body ended: only closed, nothing written into the answer
        assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"ok")


def test_the_unread_rest_of_a_body_cannot_hold_a_connection(port: int) -> None:
    # each byte cancelled uvicorn's keep-alive timer, and nothing re-armed it
    with _connect(port) as conn:
        conn.sendall(_get(extra="Content-Length: 1000000\r\n"))
        assert conn.recv(65536).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            while time.monotonic() - started < TIMEOUT_S + 5:
                conn.send(b"a")
                time.sleep(0.1)
    assert time.monotonic() - started < TIMEOUT_S + 3


def test_a_connection_idle_after_a_body_that_ended_after_its_response_is_closed(
        port: int) -> None:
    with _connect(port) as conn:
        conn.sendall(_get(extra="Content-Length: 5\r\n"))
        assert conn.recv(65536).startswith(b"HTTP/1.1 200")
        conn.sendall(b"abcde")
        started = time.monotonic()
        assert _read_all(conn) == b""
    assert time.monotonic() - started < TIMEOUT_S + 3


def test_the_settings_choose_the_protocol_and_refuse_nonsense() -> None:
    options = uvicorn_options(load_settings({"AWSM_HTTP_HEADER_TIMEOUT_S": "3"}))
    assert issubclass(options["http"], uvicorn.protocols.http.httptools_impl.HttpToolsProtocol)
    from awsm.errors import ConfigError

    for name, value in (("AWSM_HTTP_HEADER_TIMEOUT_S", "0"), ("AWSM_HTTP_HEADER_TIMEOUT_S", "1e9"),
                        ("AWSM_HTTP_MAX_HEADER_BYTES", "10"), ("AWSM_HTTP_MAX_HEADER_BYTES", "x")):
        with pytest.raises(ConfigError, match=name):
            load_settings({name: value})


def test_a_head_past_the_limit_in_two_reads_is_a_431(port: int) -> None:
    # each read under the limit, the head (about 1.5 times it) over: it was served
    head = _get(extra="".join(f"X-{i}: {'a' * 90}\r\n" for i in range(60)))
    assert MAX_HEAD < len(head) < 2 * MAX_HEAD
    with _connect(port) as conn:
        conn.sendall(head[:MAX_HEAD - 100])
        time.sleep(0.2)  # read on its own: the head is still incomplete after it
        conn.sendall(head[MAX_HEAD - 100:])
        assert _read_all(conn).startswith(b"HTTP/1.1 431")
