"""The systems the keyword benchmark compares, each one ``search(query) -> hits`` (≤ 20).

ILIKE on ``blogs``; PostgreSQL FTS the way AWCMS's site-search queries its projection;
raw Tantivy on the engine's own index directory; the engine port in-process;
``GET /v1/search`` over HTTP; and the same route asked an empty query, its request path
without a search. Each builds what it sends with a pure function
(``ilike_patterns``, ``tantivy_query_text``), so the smoke test can check them. Never times.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

import httptools
import orjson
import psycopg
import tantivy
from tantivy import Occur, Query

from awsm.db import connect
from awsm.settings import Settings
from search_svc.engines import SearchQuery, open_engine
from search_svc.engines.generations import read_pointer
from search_svc.engines.tantivy import TOKENIZER
from search_svc.engines.tantivy_query import QueryBuilder
from search_svc.query import analyze, parse_query

__all__ = [
    "FTS_SQL",
    "ILIKE_LIMIT",
    "EnginePeer",
    "FtsPeer",
    "HttpFloorPeer",
    "HttpPeer",
    "IlikePeer",
    "KeepAliveClient",
    "Peer",
    "RawTantivyPeer",
    "TantivyEngineQueryPeer",
    "ilike_patterns",
    "ilike_sql",
    "tantivy_query_text",
]

LIMIT = 20
ILIKE_LIMIT = LIMIT

# src/modules/site-search/application/search-service.ts (searchSiteContent) in
# ahliweb/awcms: the same select list, ts_headline options, keyset predicate, order and
# LIMIT limit + 1; its locale and type predicates are left out because the other
# systems here search every locale and type of the tenant.
HEADLINE_OPTIONS = ("StartSel=zzawssmarkstartzz, StopSel=zzawssmarkstopzz, "
                    "MaxWords=30, MinWords=12, ShortWord=3, MaxFragments=2, "
                    "FragmentDelimiter= … ")
FTS_SQL = """
SELECT ranked.resource_type, ranked.resource_id, ranked.url, ranked.title,
       ranked.locale, ranked.id_text, ranked.rank, ranked.snippet
FROM (
  SELECT d.resource_type, d.resource_id, d.url, d.title, d.locale,
         d.id::text AS id_text,
         ts_rank(d.search_vector, websearch_to_tsquery('simple', %(q)s)) * d.weight AS rank,
         ts_headline('simple', coalesce(nullif(d.body_text, ''), d.summary, d.title),
                     websearch_to_tsquery('simple', %(q)s), %(options)s) AS snippet
  FROM awcms_site_search_documents d
  WHERE d.tenant_id = %(tenant)s
    AND d.search_vector @@ websearch_to_tsquery('simple', %(q)s)
) ranked
WHERE (%(cursor_rank)s::float8 IS NULL OR ranked.rank < %(cursor_rank)s
       OR (ranked.rank = %(cursor_rank)s AND ranked.id_text > %(cursor_id)s))
ORDER BY ranked.rank DESC, ranked.id_text ASC
LIMIT %(limit)s
"""

_VISIBLE = ("b.tenant_id = %s AND b.status = 'published' AND b.deleted_at IS NULL "
            "AND b.is_active AND b.is_public AND b.published_at <= now()")


class Peer(Protocol):
    name: str

    def search(self, query: str) -> int:
        """Run ``query`` the way this system would for a visitor; hits returned."""

    def close(self) -> None: ...


def _is_phrase(query: str) -> bool:
    return len(query) > 1 and query[0] == query[-1] == '"'


def ilike_patterns(query: str) -> list[str]:
    """One ``%word%`` per word (a quoted phrase stays one pattern), LIKE-escaped."""
    def pattern(text: str) -> str:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"%{escaped}%"

    if _is_phrase(query):
        return [pattern(" ".join(query[1:-1].split()))]
    return [pattern(w) for w in query.replace('"', " ").split()]


def ilike_sql(query: str, tenant_id: str) -> tuple[str, list[Any]]:
    patterns = ilike_patterns(query)
    where = " AND ".join(["(b.title ILIKE %s OR b.content ILIKE %s)"] * len(patterns))
    sql = (f"SELECT b.id, b.title, b.slug, b.excerpt FROM blogs b "
           f"WHERE {_VISIBLE} AND {where or 'TRUE'} LIMIT {ILIKE_LIMIT}")
    return sql, [tenant_id, *(p for p in patterns for _ in range(2))]


def tantivy_query_text(query: str) -> str:
    """Tantivy query language for ``query``: folded words, a quoted phrase kept quoted."""
    words = analyze(query)
    return f'"{" ".join(words)}"' if _is_phrase(query) and words else " ".join(words)


class IlikePeer:
    name = "ILIKE"

    def __init__(self, url: str, tenant_id: str) -> None:
        self.conn: psycopg.Connection = connect(url)
        self.tenant_id = tenant_id

    def search(self, query: str) -> int:
        sql, params = ilike_sql(query, self.tenant_id)
        return len(self.conn.execute(sql, params).fetchall())  # type: ignore[call-overload]

    def close(self) -> None:
        self.conn.close()


class FtsPeer:
    name = "PG FTS"

    def __init__(self, url: str, tenant_id: str) -> None:
        self.conn: psycopg.Connection = connect(url)
        self.tenant_id = tenant_id

    def search(self, query: str) -> int:
        rows = self.conn.execute(FTS_SQL, {  # type: ignore[call-overload]
            "q": query, "options": HEADLINE_OPTIONS, "tenant": self.tenant_id,
            "cursor_rank": None, "cursor_id": None, "limit": LIMIT + 1,
        }).fetchall()
        return len(rows[:LIMIT])

    def close(self) -> None:
        self.conn.close()


def _open_live_index(tantivy_dir: Path) -> Any:
    """The engine's live generation, with its tokenizer registered the way the engine does."""
    pointer = read_pointer(tantivy_dir)
    if pointer is None:
        raise RuntimeError(f"no Tantivy index under {tantivy_dir}")
    index = tantivy.Index.open(str(tantivy_dir / str(pointer["generation"])))
    index.register_tokenizer(
        TOKENIZER, tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build())
    return index


class RawTantivyPeer:
    """tantivy-py alone on the engine's live generation: parse_query over title and body
    (title boosted, every word required), the tenant as a filter, top 20. Reads no stored
    fields and builds no snippets: the floor the engine is measured against."""

    name = "raw Tantivy"

    def __init__(self, tantivy_dir: Path, tenant_id: str) -> None:
        self.index = _open_live_index(tantivy_dir)
        self.tenant = Query.term_query(self.index.schema, "tenant", tenant_id)

    def search(self, query: str) -> int:
        text = tantivy_query_text(query)
        if not text:
            return 0
        parsed = self.index.parse_query(text, ["title", "body"], field_boosts={"title": 3.0},
                                        conjunction_by_default=True)
        full = Query.boolean_query([(Occur.Must, parsed), (Occur.Must, self.tenant)])
        return len(self.index.searcher().search(full, LIMIT).hits)

    def close(self) -> None:
        self.index = None


class TantivyEngineQueryPeer:
    """The engine's own Tantivy query (typo automata, prefix, field boosts, the OR
    fallback) run straight on a searcher, top 20, without reading stored documents or
    building snippets: what the engine's features cost inside Tantivy alone."""

    name = "Tantivy, engine query"

    def __init__(self, tantivy_dir: Path, tenant_id: str) -> None:
        self.index = _open_live_index(tantivy_dir)
        self.builder = QueryBuilder(self.index.schema)
        self.tenant_id = tenant_id

    def search(self, query: str) -> int:
        parsed = parse_query(query)
        if parsed.reason is not None or not parsed.terms:
            return 0
        filters = self.builder.filters(SearchQuery(tenant_id=self.tenant_id,
                                                   published_before=int(time.time())))
        searcher = self.index.searcher()
        res = searcher.search(self.builder.combine(
            self.builder.text_query(parsed, all_terms=True), filters), LIMIT)
        if res.count == 0 and len(parsed.terms) > 1 and not parsed.phrase:
            res = searcher.search(self.builder.combine(
                self.builder.text_query(parsed, all_terms=False), filters), LIMIT)
        return len(res.hits)

    def close(self) -> None:
        self.index = None


class EnginePeer:
    """The engine port in this process, built exactly as the API builds its query."""

    name = "engine"

    def __init__(self, settings: Settings, tenant_id: str) -> None:
        self.engine = open_engine(settings, writer=False)
        self.tenant_id = tenant_id

    def search(self, query: str) -> int:
        parsed = parse_query(query)
        if parsed.reason is not None:
            return 0
        return len(self.engine.search(SearchQuery(
            tenant_id=self.tenant_id, text=parsed.text, limit=LIMIT,
            published_before=int(time.time()))).hits)

    def close(self) -> None:
        self.engine.close()


class KeepAliveClient:
    """GET requests over one kept-alive HTTP/1.1 connection, the response parsed by
    httptools (C): ``http.client`` parses headers in Python, a cost of the client that
    would be counted as the API's (docs/benchmarks.md has the measurement).

    Reads responses framed by Content-Length or chunked encoding, which is all uvicorn
    sends; one that ends only when the server closes is an error here."""

    def __init__(self, host: str, port: int, *, timeout: float = 60.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._sock: socket.socket | None = None
        self._parser: Any = None
        self._body: list[bytes] = []
        self._done = self._keep_alive = False

    # httptools callbacks
    def on_headers_complete(self) -> None:
        # asked here: after the message completes, the parser has reset its state
        self._keep_alive = self._parser.should_keep_alive()

    def on_body(self, data: bytes) -> None:
        self._body.append(data)

    def on_message_complete(self) -> None:
        self._done = True

    def get(self, path: str) -> tuple[int, bytes]:
        """``(status, body)`` of ``GET path``."""
        request = f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode()
        while True:
            reused = self._sock is not None
            sock = self._sock or self._connect()
            try:
                sock.sendall(request)
                return self._response(sock)
            except (ConnectionError, EOFError):
                self.close()
                if not reused:
                    raise
                # the server closed the idle connection (uvicorn's keep-alive is 5 s):
                # send again on a new one, as any keep-alive client does
            except BaseException:
                self.close()  # a timeout or a parse error: what is left unread is garbage
                raise

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock, self._parser = sock, httptools.HttpResponseParser(self)
        return sock

    def _response(self, sock: socket.socket) -> tuple[int, bytes]:
        self._body, self._done = [], False
        while not self._done:
            data = sock.recv(65536)
            if not data:
                raise EOFError("the server closed the connection before the response ended")
            self._parser.feed_data(data)
        status = int(self._parser.get_status_code())
        if not self._keep_alive:
            self.close()
        return status, b"".join(self._body)

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class HttpPeer:
    """``GET /v1/search`` on a separate ``awsm serve`` over one keep-alive connection
    (``KeepAliveClient``, orjson to read the body); never sends If-None-Match, so every
    answer is computed (the API keeps no result cache)."""

    name = "API (HTTP)"

    def __init__(self, base_url: str, tenant_slug: str) -> None:
        url = urlsplit(base_url)
        self.client = KeepAliveClient(url.hostname or "127.0.0.1", url.port or 80)
        self.tenant_slug = tenant_slug

    def search(self, query: str) -> int:
        return len(self.hits(query))

    def hits(self, query: str) -> list[dict[str, Any]]:
        # keyword mode named: were an embedding model live in the corpus's database, the
        # default (hybrid) would time a semantic side the other systems do not have
        path = "/v1/search?" + urlencode({"tenant": self.tenant_slug, "q": query, "limit": LIMIT,
                                          "mode": "keyword"})
        status, body = self.client.get(path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
        return list(orjson.loads(body)["hits"])

    def close(self) -> None:
        self.client.close()


class HttpFloorPeer(HttpPeer):
    """``GET /v1/search`` with an empty ``q`` on the same server, route and kind of
    connection as ``HttpPeer``: the API answers it with a ``reason`` and no search, so
    its time is the request path alone (HTTP, parameters, tenant lookup, JSON, caching
    headers), the floor under every search the API answers. The query it is handed is
    ignored; it returns 0 hits."""

    name = "API, empty query (no search)"

    def search(self, query: str) -> int:
        path = "/v1/search?" + urlencode({"tenant": self.tenant_slug, "q": "", "limit": LIMIT,
                                          "mode": "keyword"})
        status, body = self.client.get(path)
        payload = orjson.loads(body) if status == 200 else {}
        if "reason" not in payload or payload.get("hits"):
            raise RuntimeError(f"GET {path} did not answer an empty query: {status} {body[:300]!r}")
        return 0
