"""The Meilisearch adapter's side of the conversation: what it sends, in which order,
and what it does while a task runs long.

No Meilisearch server can be installed here, so these tests talk to a stand-in that
answers a handful of routes in the shapes Meilisearch documents (202 + ``taskUid``,
``GET /tasks/{uid}``, error objects). They check the adapter's own logic only; what
Meilisearch does with the requests is the contract suite's job
(``test_engine_contract.py`` with ``AWSM_TEST_MEILI_URL``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from awsm.errors import ConfigError
from search_svc.engines.base import Document, SearchQuery
from search_svc.engines.meili import API_KEY_ACTIONS, MeiliEngine, api_key
from search_svc.engines.meili_query import CHECKPOINT_ID
from search_svc.errors import EngineUnavailable


@dataclass
class Meili:
    """The stand-in's script and what it saw."""

    version: str = "1.16.0"
    busy_polls: dict[int, int] = field(default_factory=dict)  # task uid -> polls "processing"
    stalled_polls: set[int] = field(default_factory=set)  # answered too late, once each
    seen: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    peers: set[tuple[str, int]] = field(default_factory=set)
    tasks: int = 0
    search_body: bytes = b'{"results": []}'
    answers: dict[str, bytes] = field(default_factory=dict)  # path -> raw 200 body
    drop_once: set[str] = field(default_factory=set)  # paths answered by a closed connection
    missing_tasks: set[int] = field(default_factory=set)  # task uids answered 404
    index_uids: list[str] = field(default_factory=list)  # GET /indexes, paged
    keys: list[dict[str, Any]] = field(default_factory=list)  # /keys
    url: str = ""

    def requests(self, method: str | None = None, prefix: str = "") -> list[tuple[str, bytes]]:
        return [(p, b) for m, p, _, b in self.seen
                if (method is None or m == method) and p.startswith(prefix)]


@pytest.fixture
def meili() -> Iterator[Meili]:
    state = Meili()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Meilisearch

        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: Any, raw: bytes | None = None) -> None:
            data = raw if raw is not None else json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up on a stalled answer

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with lock:
                state.seen.append((self.command, self.path, dict(self.headers), body))
                state.peers.add(self.client_address)
                path = self.path.split("?")[0]
                if path.startswith("http://"):  # asked as a proxy: the target's path
                    path = "/" + path.split("/", 3)[3]
                if path in state.drop_once:  # as a server closing an idle connection
                    state.drop_once.discard(path)
                    self.close_connection = True
                    return None
                if path == "/indexes" and self.command == "GET":
                    args = parse_qs(urlsplit(self.path).query)
                    offset, limit = int(args["offset"][0]), int(args["limit"][0])
                    return self._answer(200, {
                        "results": [{"uid": u} for u in state.index_uids[offset:offset + limit]],
                        "offset": offset, "limit": limit, "total": len(state.index_uids)})
                if path == "/keys" and self.command == "GET":
                    args = parse_qs(urlsplit(self.path).query)
                    offset, limit = int(args["offset"][0]), int(args["limit"][0])
                    return self._answer(200, {"results": state.keys[offset:offset + limit],
                                              "offset": offset, "limit": limit,
                                              "total": len(state.keys)})
                if path == "/keys" and self.command == "POST":
                    made = {**json.loads(body), "key": f"key-{len(state.keys)}",
                            "uid": f"uid-{len(state.keys)}"}
                    state.keys.append(made)
                    return self._answer(201, made)
                if path == "/version":
                    return self._answer(200, {"pkgVersion": state.version})
                if path.startswith("/tasks/"):
                    uid = int(path.rsplit("/", 1)[1])
                    if uid in state.missing_tasks:
                        return self._answer(404, {"message": f"Task `{uid}` not found.",
                                                  "code": "task_not_found",
                                                  "type": "invalid_request", "link": ""})
                    if uid in state.stalled_polls:
                        state.stalled_polls.discard(uid)
                        lock.release()
                        try:
                            time.sleep(0.5)  # past the client's timeout
                        finally:
                            lock.acquire()
                    left = state.busy_polls.get(uid, 0)
                    if left:
                        state.busy_polls[uid] = left - 1
                        return self._answer(200, {"uid": uid, "status": "processing"})
                    return self._answer(200, {"uid": uid, "status": "succeeded", "error": None})
                if path in state.answers:
                    return self._answer(200, None, raw=state.answers[path])
                if path == "/multi-search":
                    return self._answer(200, None, raw=state.search_body)
                if self.command == "GET" and "/documents/" in path:
                    return self._answer(404, {"message": "Document not found.",
                                              "code": "document_not_found",
                                              "type": "invalid_request", "link": ""})
                state.tasks += 1
                return self._answer(202, {"taskUid": state.tasks, "status": "enqueued"})

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def doc(n: int, body: str = "") -> Document:
    return Document(key=f"blog:{n}", id=str(n), tenant_id="t1", type="blog", title=f"t{n}",
                    body=body)


def test_no_key_sends_no_authorization_and_a_key_a_bearer(meili: Meili) -> None:
    MeiliEngine(meili.url, None, "idx", writer=True).close()
    assert all("Authorization" not in h for _, _, h, _ in meili.seen)
    meili.seen.clear()
    MeiliEngine(meili.url, "s3cret", "idx", writer=True).close()
    assert {h.get("Authorization") for _, _, h, _ in meili.seen} == {"Bearer s3cret"}


def test_requests_share_one_kept_alive_connection(meili: Meili) -> None:
    engine = MeiliEngine(meili.url, None, "idx", writer=True)
    for n in range(5):
        engine.write([doc(n)], [])
    engine.close()
    assert len(meili.seen) > 10 and len(meili.peers) == 1


def test_an_old_server_is_a_clear_configuration_error(meili: Meili) -> None:
    meili.version = "1.15.2"
    with pytest.raises(ConfigError, match="1.15.2; awsm needs 1.16"):
        MeiliEngine(meili.url, None, "idx", writer=True)


def test_a_large_write_goes_in_parts_each_awaited_with_the_checkpoint_last(
        meili: Meili, monkeypatch: pytest.MonkeyPatch) -> None:
    import search_svc.engines.meili_query as mq

    original = mq.payloads
    monkeypatch.setattr("search_svc.engines.meili.payloads",
                        lambda docs: original(docs, limit=20_000))
    engine = MeiliEngine(meili.url, None, "idx", writer=True)
    meili.seen.clear()
    engine.write([doc(n, "kata " * 400) for n in range(40)], ["blog:99"], checkpoint="cp-7")
    order = [(m, p.split("?")[0]) for m, p, _, _ in meili.seen]
    adds = meili.requests("POST", "/indexes/idx/documents?")
    assert len(adds) > 3 and all(len(b) <= 20_000 for _, b in adds)
    sent = [d for _, b in adds for d in json.loads(b)]
    assert [d["key"] for d in sent[:-1]] == [f"blog:{n}" for n in range(40)]
    assert sent[-1] == {"pk": CHECKPOINT_ID, "checkpoint": "cp-7"}
    # the delete first, then each part only once the one before it succeeded
    assert order[0] == ("POST", "/indexes/idx/documents/delete-batch")
    kinds = [m for m, _ in order]
    assert kinds == ["POST", "GET"] * (len(adds) + 1)
    engine.close()


def test_a_task_past_its_timeout_is_awaited_again_not_sent_again(meili: Meili) -> None:
    # the timeout leaves the retry's two polls room on a busy machine
    engine = MeiliEngine(meili.url, None, "idx", writer=True, task_timeout_s=0.5)
    slow = meili.tasks + 1
    meili.busy_polls[slow] = 1000  # far longer than the timeout
    with pytest.raises(EngineUnavailable, match=f"task {slow} still processing"):
        engine.write([doc(1)], [], checkpoint="cp-1")
    assert len(meili.requests("POST", "/indexes/idx/documents")) == 1
    meili.busy_polls[slow] = 1  # done after one more poll
    meili.seen.clear()
    engine.write([doc(1)], [], checkpoint="cp-1")  # the indexer's retry
    paths = [p for _, p, _, _ in meili.seen]
    first_add = next(i for i, p in enumerate(paths) if p.startswith("/indexes/idx/documents"))
    assert paths[:first_add] == [f"/tasks/{slow}"] * 2  # waited for it before sending more
    engine.close()


@pytest.mark.parametrize("body", [b"", b"<html>proxy error</html>", b'{"results": [{}]}',
                                  b'{"results": "x"}', b"[]"])
def test_an_answer_of_another_shape_is_engine_unavailable(meili: Meili, body: bytes) -> None:
    meili.search_body = body
    engine = MeiliEngine(meili.url, None, "idx", writer=False)
    with pytest.raises(EngineUnavailable):
        engine.search(SearchQuery(tenant_id="t1", text="rumah"))
    engine.close()


def test_a_task_whose_polling_failed_is_awaited_before_the_retry(meili: Meili) -> None:
    # a poll that times out (Meilisearch restarting, a proxy) left the task unnoted: the
    # retry queued the batch again behind it
    engine = MeiliEngine(meili.url, None, "idx", writer=True, timeout_s=0.2)
    slow = meili.tasks + 1
    meili.stalled_polls.add(slow)
    with pytest.raises(EngineUnavailable):
        engine.write([doc(1)], [], checkpoint="cp-1")
    meili.seen.clear()
    engine.write([doc(1)], [], checkpoint="cp-1")
    paths = [p for _, p, _, _ in meili.seen]
    assert paths[0] == f"/tasks/{slow}" and paths[1].startswith("/indexes/idx/documents")
    engine.close()


def test_answers_of_another_shape_from_keys_and_stats_are_engine_unavailable(
        meili: Meili) -> None:
    meili.answers = {"/indexes/idx/documents/fetch": b'{"results": [{}], "total": 1}',
                     "/indexes/idx/stats": b'{"numberOfDocuments": null}'}
    engine = MeiliEngine(meili.url, None, "idx", writer=False)
    for call in (engine.keys, engine.stats):
        with pytest.raises(EngineUnavailable):
            call()
    engine.close()
    with pytest.raises(EngineUnavailable):  # a search racing close(): not a RuntimeError
        engine._http("POST", "/multi-search", "search", {"queries": []})


def test_a_read_cut_by_a_closed_connection_is_sent_again_a_write_is_not(
        meili: Meili) -> None:
    engine = MeiliEngine(meili.url, None, "idx", writer=True)
    meili.seen.clear()
    meili.drop_once = {"/multi-search"}
    meili.search_body = b'{"results": [{"hits": [], "totalHits": 0}]}'
    assert engine.search(SearchQuery(tenant_id="t1", text="rumah")).hits == []
    assert len(meili.requests("POST", "/multi-search")) == 2
    meili.drop_once = {"/indexes/idx/documents"}
    with pytest.raises(EngineUnavailable):  # it may have been queued: the indexer retries
        engine.write([doc(1)], [])
    assert len(meili.requests("POST", "/indexes/idx/documents")) == 1
    engine.close()


def test_a_task_given_up_on_that_is_gone_does_not_block_every_write(meili: Meili) -> None:
    # pruned from the task list, or a server restarted on new data: it was waited for
    # (and failed) before every later write, for good
    engine = MeiliEngine(meili.url, None, "idx", writer=True, task_timeout_s=0.05)
    slow = meili.tasks + 1
    meili.busy_polls[slow] = 1000
    with pytest.raises(EngineUnavailable):
        engine.write([doc(1)], [], checkpoint="cp-1")
    meili.missing_tasks.add(slow)
    engine.write([doc(1)], [], checkpoint="cp-1")
    assert len(meili.requests("POST", "/indexes/idx/documents")) == 2
    engine.close()


def test_a_proxy_named_by_the_environment_is_used(meili: Meili,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # a deployment reaching Meilisearch through HTTP_PROXY connected directly (and
    # failed) once the client was given its own transport
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", meili.url)
    engine = MeiliEngine("http://meili.invalid:7700", None, "idx", writer=True)
    engine.close()
    assert meili.seen[0][1] == "http://meili.invalid:7700/version"


def _strategies(meili: Meili) -> list[str]:
    return [json.loads(body)["queries"][0]["matchingStrategy"]
            for _, body in meili.requests("POST", "/multi-search")]


def test_hybrid_keyword_side_drops_words_from_the_end_in_one_search(meili: Meili) -> None:
    # "frequency" drops the words most frequent in the whole index first: which of a
    # tenant's documents matched (and their total) moved with other tenants' documents,
    # and a word only another tenant held made it find nothing
    engine = MeiliEngine(meili.url, None, "idx", writer=False)
    meili.search_body = b'{"results": [{"hits": [], "totalHits": 0}]}'
    assert engine.search(SearchQuery(tenant_id="t1", text="kopi gayo", match="ranking")
                         ).total == 0
    assert _strategies(meili) == ["last"]
    meili.seen.clear()
    engine.search(SearchQuery(tenant_id="t1", text="kopi", match="ranking"))
    assert _strategies(meili) == ["last"]
    engine.close()


def test_a_swap_done_stays_done_when_dropping_the_old_index_fails(meili: Meili) -> None:
    # the swap had happened (live serves the new documents), yet swap() raised and the
    # indexer failed the whole rebuild and started it again
    engine = MeiliEngine(meili.url, None, "idx", writer=True)
    shadow = engine.begin_rebuild()
    meili.drop_once.add(f"/indexes/{shadow.index_uid}")
    engine.swap(shadow)
    assert len(meili.requests("POST", "/swap-indexes")) == 1
    assert len(meili.requests("DELETE", f"/indexes/{shadow.index_uid}")) == 1
    engine.close()


def test_a_rebuild_drops_abandoned_shadows_past_the_first_page_of_indexes(
        meili: Meili) -> None:
    # only the first 1,000 indexes were read: shadows past them stayed for ever
    meili.index_uids = [f"other{n}" for n in range(1500)]
    meili.index_uids[10] = "idx__rebuild_0000aaaa"
    meili.index_uids[1200] = "idx__rebuild_0000bbbb"
    meili.index_uids[1300] = "idxx__rebuild_0000cccc"  # another index's shadow
    engine = MeiliEngine(meili.url, None, "idx", writer=True)
    engine.begin_rebuild()
    dropped = [p for p, _ in meili.requests("DELETE", "/indexes/")]
    assert dropped == ["/indexes/idx__rebuild_0000aaaa", "/indexes/idx__rebuild_0000bbbb"]
    engine.close()


def test_the_apis_key_is_made_once_for_search_and_stats_of_the_index(meili: Meili) -> None:
    # the compose file gave the public API the master key, which Meilisearch keeps for
    # managing keys: a compromised replica would have held the whole instance
    meili.keys.append({"name": "awsm api (idx)", "actions": ["*"], "indexes": ["idx"],
                       "expiresAt": None, "key": "too-broad"})
    first = api_key(meili.url, "master-key-0123456789", "idx")
    assert first != "too-broad" and api_key(meili.url, "master-key-0123456789", "idx") == first
    [(_, made)] = meili.requests("POST", "/keys")
    assert json.loads(made) | {"description": ""} == {
        "name": "awsm api (idx)", "actions": API_KEY_ACTIONS, "indexes": ["idx"],
        "expiresAt": None, "description": ""}
    assert {"search", "documents.get", "stats.get"} == set(API_KEY_ACTIONS)
    assert all(h.get("Authorization") == "Bearer master-key-0123456789"
               for _, p, h, _ in meili.seen if p.startswith("/keys"))


def test_awsm_meili_key_prints_the_key_alone(meili: Meili, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.cli import main

    monkeypatch.delenv("AWSM_MEILI_URL", raising=False)
    monkeypatch.delenv("AWSM_MEILI_KEY", raising=False)
    assert main(["meili-key"]) == 2  # nothing to make it with: a configuration error
    monkeypatch.setenv("AWSM_MEILI_URL", meili.url)
    monkeypatch.setenv("AWSM_MEILI_KEY", "master-key-0123456789")
    capsys.readouterr()
    assert main(["meili-key"]) == 0
    assert capsys.readouterr().out == f"{meili.keys[0]['key']}\n"
    meili.url = "http://127.0.0.1:9"  # nothing listens: one line, exit 1
    monkeypatch.setenv("AWSM_MEILI_URL", meili.url)
    assert main(["meili-key"]) == 1
    assert "meilisearch keys" in capsys.readouterr().err
