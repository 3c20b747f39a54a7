"""What the request-head guard of ``gateway/http_server.py`` costs a request.

Feeds the same keep-alive GET to uvicorn's ``HttpToolsProtocol`` and to the guarded
subclass ``awsm serve`` runs, in-process over a fake transport on uvloop (no sockets, no
scheduling noise), and prints microseconds per request for each.

    .venv/bin/python bench/http_protocol.py
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import uvloop
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gateway.http_server import guarded_protocol  # noqa: E402

REQUEST = (b"GET /v1/search?tenant=bench-kw&q=kopi&limit=20 HTTP/1.1\r\n"
           b"Host: 127.0.0.1:8000\r\nAccept-Encoding: identity\r\n\r\n")


async def _app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.closing = False

    def write(self, data: Any) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 5555)}.get(
            name, default)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def per_request_us(protocol: type[asyncio.Protocol], n: int = 20_000) -> float:
    config = Config(_app, lifespan="off", log_level="warning")
    config.load()
    proto = protocol(config=config, server_state=ServerState(), app_state={})  # type: ignore[call-arg]
    proto.connection_made(_Transport())
    for _ in range(200):  # warm up
        proto.data_received(REQUEST)  # type: ignore[attr-defined]
        await asyncio.sleep(0)
    started = time.perf_counter()
    for _ in range(n):
        proto.data_received(REQUEST)  # type: ignore[attr-defined]
        await asyncio.sleep(0)  # lets the response task run
    return (time.perf_counter() - started) / n * 1e6


async def main() -> None:
    guarded = guarded_protocol(10.0, 65_536)
    for _ in range(3):
        plain, mine = await per_request_us(HttpToolsProtocol), await per_request_us(guarded)
        print(f"uvicorn HttpToolsProtocol {plain:6.2f} us/request   guarded {mine:6.2f} "
              f"us/request   (+{mine - plain:.2f})")


if __name__ == "__main__":
    uvloop.run(main())
