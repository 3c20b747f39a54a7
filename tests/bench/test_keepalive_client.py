"""The keyword benchmark's HTTP client against a real (standard library) HTTP server:
it reuses its connection, follows ``Connection: close``, and sends again once when the
server dropped the idle connection, but not when a new connection fails."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.keyword_peers import KeepAliveClient


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections: list[int] = []

    def setup(self) -> None:
        super().setup()
        type(self).connections.append(1)

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        status = 404 if self.path.startswith("/missing") else 200
        body = f"{self.path} on connection {len(self.connections)}".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if self.path.startswith("/close"):
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)
        if self.path.startswith("/drop"):  # as a keep-alive timeout does, unannounced
            self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    _Handler.connections = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_one_connection_serves_many_requests(server: ThreadingHTTPServer) -> None:
    client = KeepAliveClient("127.0.0.1", server.server_address[1], timeout=5)
    assert client.get("/a") == (200, b"/a on connection 1")
    assert client.get("/b?q=kopi") == (200, b"/b?q=kopi on connection 1")
    assert client.get("/missing") == (404, b"/missing on connection 1")
    client.close()


def test_connection_close_is_followed(server: ThreadingHTTPServer) -> None:
    client = KeepAliveClient("127.0.0.1", server.server_address[1], timeout=5)
    assert client.get("/close") == (200, b"/close on connection 1")
    assert not client.connected  # closed as the server said, not found dead later
    assert client.get("/next") == (200, b"/next on connection 2")
    client.close()


def test_a_dropped_idle_connection_is_replaced_once(server: ThreadingHTTPServer) -> None:
    client = KeepAliveClient("127.0.0.1", server.server_address[1], timeout=5)
    assert client.get("/drop") == (200, b"/drop on connection 1")
    assert client.get("/after") == (200, b"/after on connection 2")
    client.close()


def test_a_new_connection_that_fails_is_not_tried_again() -> None:
    # a server that accepts and hangs up at once: on a fresh connection that is an
    # error to report, not an idle connection to replace
    accepted: list[int] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        def hang_up() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                accepted.append(1)
                conn.recv(65536)
                conn.close()

        threading.Thread(target=hang_up, daemon=True).start()
        client = KeepAliveClient("127.0.0.1", listener.getsockname()[1], timeout=5)
        with pytest.raises((EOFError, ConnectionError)):
            client.get("/a")
        assert accepted == [1] and not client.connected
