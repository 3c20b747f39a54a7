"""uvicorn as awsm runs it: the options ``awsm up`` and ``awsm serve`` share, and an HTTP
protocol that bounds how long and how large a request head may be.

uvicorn's httptools protocol has neither bound: a client that sends half a request line
and stalls, or headers one byte a second, holds its connection forever, and 100 such
clients sending 2 MB of headers each pinned 200 MB of the API's memory. A CDN or proxy
in front enforces these too; this keeps a directly exposed ``awsm serve`` safe. Built
on uvicorn's own ``HttpToolsProtocol`` (its parser callbacks are the hooks), so a
uvicorn upgrade that changes them fails the tests in ``tests/gateway``.
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
    request began (408 when part of it came), or passes ``max_header_bytes`` (431)."""
    too_large = _error(431, "Request Header Fields Too Large", "request_header_too_large",
                       f"The request line and headers exceed {max_header_bytes} bytes.")
    too_slow = _error(408, "Request Timeout", "request_timeout",
                      f"The request headers did not arrive within {header_timeout_s:g} s.")

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        _head_timer: asyncio.TimerHandle | None = None
        _head_bytes = 0  # raw bytes received while the head is incomplete
        _head_size = 0  # request line and headers, as the parser hands them over
        _reading_head = False  # from a connection's start or a request's first byte ...
        _request_begun = False  # ... to the end of that request's headers
        _refusal: bytes | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._begin_head(begun=False)

        def connection_lost(self, exc: Exception | None) -> None:
            self._end_head()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            reading = self._reading_head
            super().data_received(data)
            if self._reading_head:  # the head is still incomplete after this chunk
                self._head_bytes += len(data) if reading else 0
                if self._head_bytes > max_header_bytes:
                    self._refuse(too_large)  # e.g. one endless header, still buffered

        # parser callbacks: a head that completes within one chunk is measured here
        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._reading_head:
                self._request_begun = True
            else:  # the next request on a kept-alive connection
                self._begin_head(begun=True)

        def on_url(self, url: bytes) -> None:
            self._measure(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._measure(len(name) + len(value) + 4)
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._end_head()
            super().on_headers_complete()

        def _measure(self, size: int) -> None:
            self._head_size += size
            if self._head_size > max_header_bytes:
                # stops the parser; uvicorn answers parser errors with send_400_response
                self._refusal = too_large
                raise httptools.HttpParserError("request head too large")

        def send_400_response(self, msg: str) -> None:
            refusal, self._refusal = self._refusal, None
            if refusal is None:
                super().send_400_response(msg)
            else:
                self._refuse(refusal)

        def _begin_head(self, *, begun: bool) -> None:
            self._reading_head, self._request_begun = True, begun
            self._head_bytes = self._head_size = 0
            self._head_timer = self.loop.call_later(header_timeout_s, self._head_timeout)

        def _end_head(self) -> None:
            self._reading_head = False
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timeout(self) -> None:
            self._head_timer = None
            if self._request_begun or self._head_bytes:
                self._refuse(too_slow)
            elif not self.transport.is_closing():
                self.transport.close()  # an idle connection that never sent a byte

        def _refuse(self, response: bytes) -> None:
            self._end_head()
            if not self.transport.is_closing():
                self.transport.write(response)
                self.transport.close()

    return GuardedHttpToolsProtocol


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What ``uvicorn.Config``/``uvicorn.run`` get from the settings in both commands."""
    return {
        "http": guarded_protocol(settings.http_header_timeout_s, settings.http_max_header_bytes),
        "log_level": settings.log_level,
        "timeout_graceful_shutdown": 5,
    }
