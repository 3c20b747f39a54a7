"""Originals from allow-listed HTTP origins (Supabase Storage, R2, S3 public buckets).

The only module that talks HTTP to origins. Every hop (the first request and each
redirect) is checked against the allow-list, its host resolved once, every address
checked (no private, loopback, link-local or metadata addresses unless configured),
and the connection made to that checked address, so DNS rebinding cannot swap it.
Fetched originals are kept in their own ``DiskCache``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import re
import socket
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import SplitResult, urljoin, urlsplit, urlunsplit

import httpx

from media_svc.cache import CacheEntry, DiskCache, SingleFlight
from media_svc.errors import (
    CacheUnavailable,
    InvalidSource,
    OriginUnavailable,
    SourceForbidden,
    SourceNotFound,
    SourceTooLarge,
)
from media_svc.sources import Original, safe_relative_path

__all__ = ["HttpSource", "address_allowed", "inflated", "parse_origins"]

MAX_REDIRECTS = 3
PIECE = 65536  # bytes read, and bytes inflated, at a time
# A query as RFC 3986 allows it: no spaces, controls, quotes or brackets, and a '%' only
# as an escape (the origin reads the query exactly as it is sent).
_QUERY = re.compile(r"(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})+")


def parse_origins(raw: str) -> list[str]:
    """``AWSM_MEDIA_HTTP_ORIGINS`` → prefixes; each must be http(s)://host/.../ with '/'."""
    prefixes = [p.strip() for p in raw.split(",") if p.strip()]
    for prefix in prefixes:
        parts = urlsplit(prefix)
        if (parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc
                or not prefix.endswith("/") or parts.query or parts.fragment
                or not _port_is_valid(parts)):
            raise ValueError(
                f"AWSM_MEDIA_HTTP_ORIGINS entry {prefix!r} must be an http(s) URL prefix ending "
                "in '/', e.g. https://<project>.supabase.co/storage/v1/object/public/"
            )
    return prefixes


def _port_is_valid(parts: SplitResult) -> bool:
    """A port out of range or not a number raises only when read: at every fetch (a 500
    each) unless the configuration is refused for it at start."""
    try:
        parts.port  # noqa: B018
    except ValueError:
        return False
    return True


# IPv6 forms that carry an IPv4 address in their low 32 bits, which is where a packet
# ends up: IPv4-compatible, IPv4-mapped, IPv4-translated (SIIT) and NAT64's well-known
# prefix (what DNS64 answers on an IPv6-only network, so public ones must keep working).
_IPV4_IN_LOW_BITS = tuple(ipaddress.IPv6Network(n) for n in (
    "::/96", "::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96"))
# Refused outright: local-use NAT64 (RFC 8215; the operator chooses where the IPv4
# address sits, so it cannot be read back) and Teredo (its client address is a NAT's).
_OPAQUE = tuple(ipaddress.IPv6Network(n) for n in ("64:ff9b:1::/48", "2001::/32"))


async def inflated(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """A gzip body's bytes, at most ``PIECE`` at a time however far a chunk inflates, so
    the caller's size limit stops a bomb before it is in memory; ``OriginUnavailable``
    when it is not gzip."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        async for chunk in chunks:
            piece = inflater.decompress(chunk, PIECE)
            while piece:
                yield piece
                piece = inflater.decompress(inflater.unconsumed_tail, PIECE)
        if not inflater.eof:
            raise OriginUnavailable("The origin's gzip answer ended early.")
    except zlib.error as exc:
        raise OriginUnavailable("The origin's gzip answer cannot be read.",
                                detail=repr(exc)) from exc


def address_allowed(address: str, allow_private: bool) -> bool:
    """Whether an origin's resolved address may be connected to: public unicast only
    (unless configured), judged for an IPv4-in-IPv6 form by the IPv4 address inside it,
    so ``64:ff9b::a9fe:a9fe`` or ``2002:7f00:1::`` cannot reach metadata or loopback."""
    if allow_private:
        return True
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(
        address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in net for net in _OPAQUE):
            return False
        if any(ip in net for net in _IPV4_IN_LOW_BITS):
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif ip.sixtofour is not None:  # 2002::/16 routes to the IPv4 address inside
            ip = ip.sixtofour
    return ip.is_global and not ip.is_multicast


def _original(key: str, entry: CacheEntry) -> Original:
    # from what was recorded, not a new stat: another download may evict it meanwhile
    return Original(entry.path, entry.size, entry.mtime_ns / 1e9,
                    f"{key[:16]}-{entry.mtime_ns:x}")


@contextlib.contextmanager
def _storing(url: str) -> Iterator[None]:
    """A full or failing disk under the origin cache, as a retryable 503 of its own
    (the transform needs the original on disk; httpx's errors are not OSErrors)."""
    try:
        yield
    except OSError as exc:
        raise CacheUnavailable(detail=f"{url}: cannot store the original: {exc}") from exc


class HttpSource:
    def __init__(self, prefixes: list[str], cache: DiskCache, *, max_bytes: int,
                 timeout_s: float, ttl_s: float, allow_private: bool) -> None:
        self.prefixes = prefixes
        self.cache = cache
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self.allow_private = allow_private
        self.timeout_s = timeout_s
        self._flights: SingleFlight[Original] = SingleFlight()
        # No keep-alive: a pooled connection is keyed by address, and reusing one made
        # for another host name would send this request under the wrong TLS name.
        self._client = httpx.AsyncClient(
            follow_redirects=False, trust_env=False, timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_keepalive_connections=0),
            # identity: httpx would inflate a gzip answer a whole network read at a time
            # (64 kB of it can be 60 MB) before any size check saw it; images do not
            # compress anyway. An origin that encodes regardless is inflated by ``inflated``.
            headers={"User-Agent": "awsm-media/1", "Accept-Encoding": "identity"},
        )

    def check_url(self, url: str) -> str:
        """Raise unless ``url`` lies under an allow-listed prefix; return it unchanged.

        Everything after the prefix is checked: the path as a local name is, and a query
        only as the plain characters a URL may carry (a signed source may keep one, e.g.
        a version; a fragment or an empty ``?`` would only be a second name).
        """
        try:
            parts = urlsplit(url)
        except ValueError as exc:  # "http://[bad": a signed name or an origin's Location
            raise SourceForbidden("The source URL is not allowed.", detail=repr(exc)) from exc
        if parts.scheme not in ("http", "https") or "@" in parts.netloc or "#" in url:
            raise SourceForbidden("The source URL is not allowed.")
        for prefix in self.prefixes:
            if url.startswith(prefix) and urlsplit(prefix).netloc == parts.netloc:
                rest, question, query = url[len(prefix):].partition("?")
                safe_relative_path(rest)
                if question and not _QUERY.fullmatch(query):
                    raise InvalidSource("The source URL's query string is not valid.")
                return url
        raise SourceForbidden("The source URL is not under an allowed origin.")

    async def fetch(self, name: str) -> Original:
        url = self.check_url(name)
        key = hashlib.sha256(url.encode()).hexdigest()
        entry = self.cache.get(key)
        if entry is not None:
            try:
                st = entry.path.stat()
            except FileNotFoundError:  # evicted a moment ago: fetch it again
                pass
            else:
                if time.time() - st.st_mtime < self.ttl_s:
                    return _original(key, CacheEntry(entry.path, st.st_size, st.st_mtime_ns))
        original, _shared = await self._flights.run(key, lambda: self._download(url, key))
        return original

    async def _download(self, url: str, key: str) -> Original:
        with _storing(url):
            tmp = self.cache.temp_path()
        try:
            # httpx's timeout bounds each read, not the whole: an origin sending a byte
            # every few seconds would hold the request (and its waiters) indefinitely.
            try:
                async with asyncio.timeout(self.timeout_s):
                    url = await self._fetch_into(url, tmp)
            except TimeoutError as exc:
                raise OriginUnavailable(
                    detail=f"{url}: no whole answer within {self.timeout_s:g} s") from exc
            with _storing(url):  # off the event loop: adopt() waits for the disk
                entry = await asyncio.to_thread(self.cache.adopt, key, tmp, "orig")
            return _original(key, entry)
        finally:
            tmp.unlink(missing_ok=True)

    async def _fetch_into(self, url: str, tmp: Path) -> str:
        """Follow allowed redirects to the answer and save its body in ``tmp``; return
        the URL it came from."""
        for _hop in range(MAX_REDIRECTS + 1):
            response = await self._send_pinned(url)
            try:
                if not response.is_redirect:
                    await self._save(response, url, tmp)
                    return url
                try:
                    location = urljoin(url, response.headers.get("location", ""))
                except ValueError as exc:  # urljoin parses it too
                    raise SourceForbidden("The origin redirected to an address that is not "
                                          "allowed.", detail=repr(exc)) from exc
                url = self.check_url(location)
            finally:
                await response.aclose()
        raise OriginUnavailable("The origin redirected too many times.")

    async def _save(self, response: httpx.Response, url: str, tmp: Path) -> None:
        if response.status_code in (403, 404, 410):
            raise SourceNotFound(detail=f"{url}: HTTP {response.status_code}")
        if response.status_code != 200:
            raise OriginUnavailable(detail=f"{url}: HTTP {response.status_code}")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise SourceTooLarge(f"The source is {declared} bytes; the limit is "
                                 f"{self.max_bytes}.")
        encoding = response.headers.get("content-encoding", "").strip().lower()
        if encoding not in ("", "identity", "gzip", "x-gzip"):
            raise OriginUnavailable(f"The origin sent the original with Content-Encoding "
                                    f"{encoding[:40]!r}; only gzip or none can be read.")
        raw = response.aiter_raw(PIECE)
        received = 0
        try:
            with _storing(url), tmp.open("wb") as fh:
                async for chunk in (inflated(raw) if encoding.endswith("gzip") else raw):
                    received += len(chunk)
                    if received > self.max_bytes:
                        raise SourceTooLarge(f"The source is larger than {self.max_bytes} bytes.")
                    fh.write(chunk)
        except httpx.HTTPError as exc:
            raise OriginUnavailable(detail=f"{url}: {exc!r}") from exc

    async def _send_pinned(self, url: str) -> httpx.Response:
        """Send to each checked address in turn (IPv6 and IPv4 answers) until one connects."""
        failure: Exception | None = None
        for request in await self._pinned_requests(url):
            try:
                return await self._client.send(request, stream=True)
            except httpx.ConnectError as exc:
                failure = exc
            except httpx.HTTPError as exc:
                raise OriginUnavailable(detail=f"{url}: {exc!r}") from exc
        raise OriginUnavailable(detail=f"{url}: {failure!r}") from failure

    async def _pinned_requests(self, url: str) -> list[httpx.Request]:
        """Requests to the checked addresses of ``url``'s host, with its real Host and SNI."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise OriginUnavailable(detail=f"cannot resolve {host}: {exc}") from exc
        addresses = [str(info[4][0]) for info in infos]
        if not addresses:
            raise OriginUnavailable(detail=f"{host} has no address")
        # All of them must pass: otherwise a resolver answering with a public and a
        # private address would let the connection pick the private one.
        if not all(address_allowed(a, self.allow_private) for a in addresses):
            raise SourceForbidden("The source host resolves to an address that is not allowed.")
        try:
            host_header = parts.netloc.encode("idna").decode() if not parts.netloc.isascii() \
                else parts.netloc
        except UnicodeError as exc:
            raise InvalidSource("The source host name is not valid.") from exc
        requests = []
        for address in dict.fromkeys(addresses):
            netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
            pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
            requests.append(self._client.build_request(
                "GET", pinned, headers={"Host": host_header},
                extensions={"sni_hostname": host} if parts.scheme == "https" else {},
            ))
        return requests

    async def aclose(self) -> None:
        await self._client.aclose()
