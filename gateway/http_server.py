"""uvicorn as awsm runs it: the options ``awsm up`` and ``awsm serve`` share, and an HTTP
protocol that bounds how long and how large a request head may be.

uvicorn's httptools protocol has neither bound: a client that sends half a request line
and stalls, or headers one byte a second, holds its connection forever, and 100 such
clients sending 2 MB of headers each pinned 200 MB of the API's memory. Nor does it
bound a chunked body's trailers, which it appends to the request's headers (300 MB of
them took 300 MB), or the unread rest of a body after its response: each byte of it
cancels the keep-alive timer and nothing re-arms it, so a connection is held for ever,
even idle once the body ended. A CDN or proxy in front enforces these too; this keeps
a directly exposed ``awsm serve`` safe. Built on uvicorn's own ``HttpToolsProtocol``
(its parser callbacks are the hooks), so a uvicorn upgrade that changes them fails the
tests in ``tests/gateway``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from awsm.settings import Settings

__all__ = ["guarded_protocol", "uvicorn_options"]


def _error(status: int, reason: str, code: str, message: str) -> bytes:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\ncache-control: no-store\r\n"
            f"connection: close\r\n\r\n")
    return head.encode() + body


def guarded_protocol(header_timeout_s: float, max_header_bytes: int) -> type[asyncio.Protocol]:
    """An ``HttpToolsProtocol`` that closes a connection whose request head (request line
    and headers) is not complete ``header_timeout_s`` after the connection opened or the
    request began (408 when part of it came), or passes ``max_header_bytes`` (431); whose
    request trailers pass ``max_header_bytes`` (431, or a bare close once a response
    started); whose request body has not ended ``header_timeout_s`` after its response
    did; or that stays idle that long after such a body ended.

    Per request it only notes when the head began: one sweep a second, running while
    there are connections, closes the overdue ones, instead of a timer created and
    cancelled per request (bench/http_protocol.py: the guard adds ~0.7 us a request)."""
    too_large = _error(431, "Request Header Fields Too Large", "request_header_too_large",
                       f"The request line and headers exceed {max_header_bytes} bytes.")
    too_slow = _error(408, "Request Timeout", "request_timeout",
                      f"The request headers did not arrive within {header_timeout_s:g} s.")
    malformed = _error(400, "Bad Request", "invalid_request",
                       "The HTTP request is malformed.")
    no_host = _error(400, "Bad Request", "invalid_request",
                     "An HTTP/1.1 request needs exactly one Host header.")
    sweeping: set[asyncio.AbstractEventLoop] = set()  # loops with a sweep scheduled

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        _head_since: float | None = None  # loop time the incomplete head began; None: none
        _head_bytes = 0  # bytes received while the head is incomplete
        _request_begun = False  # a byte of the request came (else: a silent connection)
        _big_read = False  # the read that completed the head was larger than the limit
        _refusal: bytes | None = None
        _head_done = False  # this request's head was complete and handed to uvicorn
        _body_done = False  # ... and so was the rest of its message (body, trailers)
        _rest_since: float | None = None  # loop time a response went out before its body ended
        _last_chunk = False  # a chunk header came and no body since: the trailers, if any
        _trailer_bytes = 0

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._head_since, self._head_bytes, self._request_begun = self.loop.time(), 0, False
            if self.loop not in sweeping:
                sweeping.add(self.loop)
                self.loop.call_later(1.0, self._sweep)

        def data_received(self, data: bytes) -> None:
            reading, trailing = self._head_since is not None, self._last_chunk
            self._big_read = len(data) > max_header_bytes
            super().data_received(data)
            if reading and self._head_since is not None:  # still incomplete after this read
                self._head_bytes += len(data)
                if self._head_bytes > max_header_bytes:
                    self._refuse(too_large)  # e.g. one endless header, still buffered
            elif trailing and self._last_chunk and self._too_many_trailers(len(data)):
                self._refuse(too_large)  # e.g. one endless trailer, still buffered

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._request_begun, self._trailer_bytes = True, 0
            self._head_done = self._body_done = False
            if self._head_since is None:  # the next request on a kept-alive connection
                self._head_since, self._head_bytes = self.loop.time(), 0

        def on_header(self, name: bytes, value: bytes) -> None:
            if self._head_done and self._too_many_trailers(len(name) + len(value) + 4):
                # stops the parser; uvicorn answers parser errors with send_400_response
                self._refusal = too_large
                raise httptools.HttpParserError("request trailers too large")
            super().on_header(name, value)

        def on_chunk_header(self) -> None:
            self._last_chunk = True

        def on_body(self, body: bytes) -> None:
            self._last_chunk = False
            super().on_body(body)

        def on_chunk_complete(self) -> None:
            self._last_chunk = False

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._body_done, self._rest_since = True, None
            if self.cycle.response_complete:
                # answered before its body ended: the keep-alive timer uvicorn armed then
                # was cancelled by the body's bytes; the head timer stands in for it
                self._head_since, self._head_bytes = self.loop.time(), 0
                self._request_begun = False

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self._body_done and not self.transport.is_closing():
                self._rest_since = self.loop.time()  # the rest must come, not trickle

        def on_headers_complete(self) -> None:
            self._head_since = None
            # a head that came in one read larger than the limit, or in several (only the
            # reads before the last were counted): measure it
            if self._big_read or self._head_bytes:
                size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
                if size > max_header_bytes:
                    # stops the parser; uvicorn answers parser errors with send_400_response
                    self._refusal = too_large
                    raise httptools.HttpParserError("request head too large")
            # RFC 9112 3.2: a 400 for an HTTP/1.1 request without a Host, or with two (which
            # a proxy in front and this server could each read their own way)
            hosts = sum(name == b"host" for name, _ in self.headers)
            if hosts > 1 or (not hosts and self.parser.get_http_version() == "1.1"):
                self._refusal = no_host
                raise httptools.HttpParserError("no single Host header")
            super().on_headers_complete()
            self._head_done = True

        def send_400_response(self, msg: str) -> None:
            # uvicorn's own answer to a request httptools cannot parse is plain text;
            # every error of awsm has the JSON shape (the parser's message is not sent)
            refusal, self._refusal = self._refusal, None
            self._refuse(refusal or malformed)

        def _sweep(self) -> None:
            now = self.loop.time()
            for conn in list(self.connections):
                if isinstance(conn, GuardedHttpToolsProtocol) and conn._overdue(now):
                    conn._timed_out()
            if self.connections:
                self.loop.call_later(1.0, self._sweep)
            else:
                sweeping.discard(self.loop)

        def _overdue(self, now: float) -> bool:
            since = self._head_since if self._head_since is not None else self._rest_since
            return since is not None and now - since >= header_timeout_s

        def _timed_out(self) -> None:
            if self._head_since is not None and (self._request_begun or self._head_bytes):
                self._refuse(too_slow)
            elif not self.transport.is_closing():
                self._head_since = self._rest_since = None
                self.transport.close()  # idle, or the rest of a body already answered

        def _too_many_trailers(self, size: int) -> bool:
            self._trailer_bytes += size
            return self._trailer_bytes > max_header_bytes

        def _refuse(self, response: bytes) -> None:
            self._head_since = self._rest_since = None
            if not self.transport.is_closing():
                if not (self._head_done and self.cycle.response_started):
                    self.transport.write(response)  # else it would land inside a response
                self.transport.close()

    return GuardedHttpToolsProtocol


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What ``uvicorn.Config``/``uvicorn.run`` get from the settings in both commands."""
    return {
        "http": guarded_protocol(settings.http_header_timeout_s, settings.http_max_header_bytes),
        "log_level": settings.log_level,
        "timeout_graceful_shutdown": 5,
    }
