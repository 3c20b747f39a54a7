"""Originals from an allow-listed HTTP origin: a real local server, real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from media_svc.cache import DiskCache
from media_svc.errors import InvalidSource, OriginUnavailable, SourceForbidden
from media_svc.sources.http import PIECE, HttpSource, address_allowed, inflated, parse_origins
from tests.media_svc import images
from tests.media_svc.conftest import disk_full

PHOTO = images.jpeg((800, 600))
# 26 MiB of zeros in ~26 kB: over the 25 MiB source limit once inflated
BOMB = gzip.compress(bytes(26 * 1024 * 1024), compresslevel=9)


class Origin(BaseHTTPRequestHandler):
    hits: Counter[str] = Counter()
    encodings: set[str | None] = set()  # the Accept-Encoding of each request

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        Origin.hits[self.path] += 1
        Origin.encodings.add(self.headers.get("Accept-Encoding"))
        port = self.server.server_address[1]
        routes = {
            "/bucket/photo.jpg": (200, {}, PHOTO),
            "/bucket/moved.jpg": (302, {"Location": "/bucket/photo.jpg"}, b""),
            "/bucket/elsewhere.jpg": (302, {"Location": f"http://localhost:{port}/bucket/photo.jpg"},
                                      b""),
            "/bucket/unparseable.jpg": (302, {"Location": "http://[bad/photo.jpg"}, b""),
            "/other/photo.jpg": (200, {}, PHOTO),
            "/bucket/huge.jpg": (200, {"Content-Length": str(10**9)}, b""),
            "/bucket/gzipped.jpg": (200, {"Content-Encoding": "gzip"}, gzip.compress(PHOTO)),
            "/bucket/bomb.jpg": (200, {"Content-Encoding": "gzip"}, BOMB),
            "/bucket/cut.jpg": (200, {"Content-Encoding": "gzip"}, gzip.compress(PHOTO)[:-40]),
            "/bucket/brotli.jpg": (200, {"Content-Encoding": "br"}, PHOTO),
            **{f"/bucket/photo-{n}.jpg": (200, {}, PHOTO) for n in range(4)},
        }
        if self.path == "/bucket/trickle.jpg":  # each read in time, the whole never
            self.send_response(200)
            self.send_header("Content-Length", str(len(PHOTO)))
            self.end_headers()
            with contextlib.suppress(OSError):  # the client hangs up
                for i in range(20):
                    self.wfile.write(PHOTO[i:i + 1])
                    self.wfile.flush()
                    time.sleep(0.5)
            return
        status, headers, body = routes.get(self.path, (404, {}, b"missing"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Origin)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/bucket/"
    server.shutdown()


@pytest.fixture
def remote(media_factory, origin: str):  # type: ignore[no-untyped-def]
    return media_factory(media_http_origins=origin, media_allow_private_addresses=True)


def test_an_allowed_origin_is_fetched_once_and_cached(remote, origin: str) -> None:  # type: ignore[no-untyped-def]
    Origin.hits.clear()
    for options in ("w_200", "w_300,f_webp", "w_200"):
        r = remote.get(remote.url(origin + "photo.jpg", options))
        assert r.status_code == 200, r.text
    assert Origin.hits["/bucket/photo.jpg"] == 1


def test_same_host_redirects_are_followed(remote, origin: str) -> None:  # type: ignore[no-untyped-def]
    r = remote.get(remote.url(origin + "moved.jpg", "w_100"))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("path,status,code", [
    ("elsewhere.jpg", 403, "source_forbidden"),  # redirect to a host not on the list
    ("unparseable.jpg", 403, "source_forbidden"),  # redirect to no URL at all
    ("huge.jpg", 413, "source_too_large"),
    ("missing.jpg", 404, "source_not_found"),
    # a dot segment can only be sent encoded (clients drop literal ones): not as signed
    ("../other/photo.jpg", 403, "signature_invalid"),
])
def test_origin_refusals(remote, origin: str, path: str, status: int, code: str) -> None:  # type: ignore[no-untyped-def]
    r = remote.get(remote.url(origin + path, "w_100").replace("/..", "/%2E%2E"))
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text


def test_originals_are_asked_for_unencoded_and_a_gzip_one_is_read(remote, origin: str) -> None:  # type: ignore[no-untyped-def]
    Origin.encodings.clear()
    r = remote.get(remote.url(origin + "gzipped.jpg", "w_100"))  # an S3 object stored gzipped
    assert r.status_code == 200, r.text
    assert Origin.encodings == {"identity"}


@pytest.mark.parametrize("path,status,code", [
    ("bomb.jpg", 413, "source_too_large"), ("cut.jpg", 503, "origin_unavailable"),
    ("brotli.jpg", 503, "origin_unavailable"),
])
def test_an_encoded_original_is_bounded_as_it_inflates(remote, origin: str, path: str,  # type: ignore[no-untyped-def]
                                                       status: int, code: str) -> None:
    r = remote.get(remote.url(origin + path, "w_100"))
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text


def test_inflating_never_holds_more_than_a_piece_at_a_time() -> None:
    # One network read of a bomb (64 kB) would inflate to ~60 MB in one piece; the size
    # limit can only stop it in time if it comes out a piece at a time.
    async def reads():  # type: ignore[no-untyped-def]
        for start in range(0, len(BOMB), PIECE):
            yield BOMB[start:start + PIECE]

    async def sizes() -> list[int]:
        return [len(piece) async for piece in inflated(reads())]

    pieces = asyncio.run(sizes())
    assert max(pieces) <= PIECE and sum(pieces) == 26 * 1024 * 1024

    async def garbage():  # type: ignore[no-untyped-def]
        yield b"not gzip at all"

    with pytest.raises(OriginUnavailable):
        asyncio.run(anext(inflated(garbage())))


def test_a_full_disk_under_the_origin_cache_is_a_clear_503(remote, origin: str) -> None:  # type: ignore[no-untyped-def]
    url = remote.url(origin + "photo.jpg", "w_120")
    with disk_full():
        r = remote.get(url)
    assert (r.status_code, r.json()["error"]["code"]) == (503, "cache_unavailable"), r.text
    assert r.headers["cache-control"] == "no-store"
    originals = remote.settings.resolved_media_cache_dir / "originals"
    assert not [p for p in originals.rglob("*") if p.is_file()]  # no temporary file left
    assert remote.get(url).status_code == 200


def test_an_original_evicted_while_waiting_for_a_thread_is_still_transformed(
        media_factory, origin: str) -> None:  # type: ignore[no-untyped-def]
    # one thread, room for one original: while photo-0 waits behind a slow transform,
    # downloading photo-1 evicts it from the origin cache
    remote = media_factory(media_http_origins=origin, media_allow_private_addresses=True,
                           media_origin_cache_max_bytes=len(PHOTO) + 10, media_max_concurrent=1)
    remote.put("big.jpg", images.jpeg((3000, 2000)))

    async def after(delay: float, url: str) -> int:
        await asyncio.sleep(delay)
        return (await remote.arequest("GET", url)).status_code

    async def scene() -> list[int]:
        return list(await asyncio.gather(
            after(0, remote.url("big.jpg", "w_3000,f_avif")),  # about a second of work
            after(0.2, remote.url(f"{origin}photo-0.jpg", "w_100")),
            after(0.4, remote.url(f"{origin}photo-1.jpg", "w_100"))))

    assert asyncio.run(scene()) == [200, 200, 200]
    originals = remote.settings.resolved_media_cache_dir / "originals"
    assert len(list(originals.glob("??/*"))) == 1  # photo-0's file was evicted indeed


def test_an_origin_trickling_its_answer_is_cut_off_at_the_timeout(media_factory,  # type: ignore[no-untyped-def]
                                                                 origin: str) -> None:
    remote = media_factory(media_http_origins=origin, media_allow_private_addresses=True,
                           media_http_timeout_s=1)
    started = time.monotonic()
    r = remote.get(remote.url(origin + "trickle.jpg", "w_100"))
    assert (r.status_code, r.json()["error"]["code"]) == (503, "origin_unavailable"), r.text
    assert time.monotonic() - started < 5  # not the 10 s the origin would take
    originals = remote.settings.resolved_media_cache_dir / "originals"
    assert not [p for p in originals.rglob("*") if p.is_file()]


def test_urls_outside_the_allow_list_are_refused(remote, origin: str) -> None:  # type: ignore[no-untyped-def]
    host = origin.split("/")[2]
    for url in (f"http://{host}/other/photo.jpg", f"http://{host}@evil.example/bucket/photo.jpg",
                f"http://{host}/bucket@evil.example/photo.jpg".replace("/bucket@", "@"),
                "https://evil.example/bucket/photo.jpg", "file:///etc/passwd",
                "http://[bad/bucket/photo.jpg"):
        r = remote.get(remote.url(url, "w_100"))
        assert r.status_code in (400, 403), (url, r.text)


def test_private_addresses_are_refused_by_default(media_factory, origin: str) -> None:  # type: ignore[no-untyped-def]
    Origin.hits.clear()
    media = media_factory(media_http_origins=origin)
    r = media.get(media.url(origin + "photo.jpg", "w_100"))
    assert (r.status_code, r.json()["error"]["code"]) == (403, "source_forbidden")
    assert not Origin.hits  # refused before connecting


def test_http_sources_are_refused_when_no_origin_is_configured(media, origin: str) -> None:  # type: ignore[no-untyped-def]
    r = media.get(media.url(origin + "photo.jpg", "w_100"))
    assert r.status_code == 403


@pytest.mark.parametrize("raw", ["https://good.example", "ftp://x.example/", "https://u@x.example/",
                                 "https://x.example/?a=1/", "https://x.example:99999/",
                                 "https://x.example:port/"])
def test_origin_prefixes_must_be_exact(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_origins(raw)
    assert parse_origins("https://a.example/b/, https://c.example/") == [
        "https://a.example/b/", "https://c.example/"]


def test_host_names_are_resolved_checked_and_pinned(media_factory, origin: str) -> None:  # type: ignore[no-untyped-def]
    named = origin.replace("127.0.0.1", "localhost")
    refused = media_factory(media_http_origins=named)
    r = refused.get(refused.url(named + "photo.jpg", "w_100"))
    assert (r.status_code, r.json()["error"]["code"]) == (403, "source_forbidden")
    allowed = media_factory(media_http_origins=named, media_allow_private_addresses=True)
    r = allowed.get(allowed.url(named + "photo.jpg", "w_100"))
    assert r.status_code == 200, r.text


def test_the_render_route_cannot_turn_an_escaped_question_mark_into_an_origin_query(
        media_factory, origin: str) -> None:  # type: ignore[no-untyped-def]
    base = origin.removesuffix("bucket/")
    render = media_factory(media_http_origins=base, media_render_origin=base,
                           media_supabase_render=True, media_allow_private_addresses=True)
    Origin.hits.clear()
    route = "/storage/v1/render/image/public/bucket/photo.jpg"
    assert render.get(f"{route}?width=640").status_code == 200
    for n in range(3):  # unsigned: each would be one more origin fetch and cache entry
        r = render.get(f"{route}%3Fbust={n}?width=640")
        assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_source"), r.text
    assert dict(Origin.hits) == {"/bucket/photo.jpg": 1}


@pytest.mark.parametrize("named", ["http://{host}/bucket/photo.jpg", "http:/%2F{host}/bucket/photo.jpg",
                                   "http:%2F%2F{host}/bucket/photo.jpg"])
def test_the_render_route_of_the_media_root_never_reaches_an_http_origin(
        media_factory, origin: str, named: str) -> None:  # type: ignore[no-untyped-def]
    # Unsigned, it serves the media root's {bucket}/{path}: a bucket "http:" and a path
    # "/host/..." must not spell an allow-listed origin's URL, which only signed URLs reach.
    render = media_factory(media_http_origins=origin, media_supabase_render=True,
                           media_allow_private_addresses=True)
    Origin.hits.clear()
    host = origin.removeprefix("http://").removesuffix("/bucket/")
    r = render.get(f"/storage/v1/render/image/public/{named.format(host=host)}?width=640")
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_source"), r.text
    assert not Origin.hits


@pytest.mark.parametrize("rest,error", [
    ("photo.jpg#x", SourceForbidden), ("photo.jpg#", SourceForbidden),
    ("photo.jpg?", InvalidSource), ("photo.jpg?a b", InvalidSource),
    ("photo.jpg?a\x00", InvalidSource), ("photo.jpg?<script>", InvalidSource),
    ("photo.jpg?v=\u00e9", InvalidSource), ("photo.jpg?v=%zz", InvalidSource),
    ("a/../photo.jpg?v=1", InvalidSource), ("photo%2Ejpg", InvalidSource),
    ("photo\x7f.jpg", InvalidSource), ("photo\x85.jpg", InvalidSource),  # DEL, C1 (NEL)
    ("a\x9f/photo.jpg", InvalidSource),
])
def test_everything_after_the_origin_prefix_is_checked(tmp_path: Path, rest: str,
                                                      error: type[Exception]) -> None:
    source = HttpSource(["https://o.example/bucket/"], DiskCache(tmp_path, 1000),
                        max_bytes=1000, timeout_s=1, ttl_s=1, allow_private=False)
    with pytest.raises(error):
        source.check_url("https://o.example/bucket/" + rest)
    for fine in ("photo.jpg", "a/photo.jpg?v=2&t=x%2Fy", "photo.jpg?token=a.b-c_d~"):
        assert source.check_url("https://o.example/bucket/" + fine).endswith(fine)


REFUSED = [
    # IPv4: loopback, private, CGNAT, link-local and cloud metadata, multicast, reserved
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1", "169.254.169.254",
    "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255", "192.0.2.1",
    # IPv6: loopback, unspecified, link-local (with a zone), unique local, documentation
    "::1", "::", "fe80::1", "fe80::1%eth0", "fd00:ec2::254", "fc00::1", "2001:db8::1",
    "ff02::1",
    # the same IPv4 ranges inside IPv6: mapped, compatible, translated (SIIT)
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "::127.0.0.1",
    "::10.0.0.1", "::169.254.169.254", "::ffff:0:127.0.0.1", "::ffff:0:192.168.0.1",
    # NAT64's well-known prefix, local-use NAT64, 6to4 and Teredo
    "64:ff9b::127.0.0.1", "64:ff9b::a9fe:a9fe", "64:ff9b::10.0.0.1", "64:ff9b::100.64.0.1",
    "64:ff9b:1::a00:1", "64:ff9b:1::808:808", "2002:7f00:1::", "2002:a9fe:a9fe::1",
    "2002:c0a8:101::", "2002:a00:1:ffff::", "2001:0:4136:e378:8000:63bf:f5ff:fffe",
    "2001:0:4136:e378:8000:63bf:80ff:fffe", "2001:0:808:808:0:0:f7f7:f7f7",
]
ALLOWED = ["8.8.8.8", "1.1.1.1", "104.18.0.1", "2606:4700::6810:1", "2a00:1450:4001::200e",
           "::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "64:ff9b::6812:1", "2002:808:808::1"]


@pytest.mark.parametrize("address", REFUSED)
def test_private_addresses_are_refused_in_every_spelling(address: str) -> None:
    assert address_allowed(address, allow_private=False) is False
    assert address_allowed(address, allow_private=True) is True  # development only


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed_in_every_spelling(address: str) -> None:
    # 64:ff9b::/96 is what DNS64 answers for a public IPv4 host on an IPv6-only network
    assert address_allowed(address, allow_private=False) is True
