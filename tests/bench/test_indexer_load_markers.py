"""How the indexer-under-load benchmark times its markers, on a stand-in database and
API (no timing asserts on the machine: a fake clock the stand-in API moves)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from bench import indexer_load


class FakeRows:
    def __iter__(self) -> Any:
        return iter([("row",)])

    def fetchone(self) -> tuple[str]:
        return ("marker",)


class FakeConnection:
    def execute(self, *_args: Any) -> FakeRows:
        return FakeRows()

    def close(self) -> None:
        pass

    def __enter__(self) -> FakeConnection:
        return self

    def __exit__(self, *_exc: object) -> None:
        pass


class Corpus:
    url, tenant_id = "postgresql://stand-in", "tenant"


class SlowApi:
    """Each request takes 10 ms of the fake clock; the marker shows from request ``found_at``."""

    def __init__(self, clock: list[float], found_at: int) -> None:
        self.clock, self.found_at, self.requests = clock, found_at, 0

    def hits(self, _word: str) -> list[dict[str, str]]:
        self.clock[0] += 0.010
        self.requests += 1
        return [{"id": "marker"}] if self.requests >= self.found_at else []


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    clock = [0.0]
    monkeypatch.setattr(indexer_load, "connect", lambda _url: FakeConnection())
    monkeypatch.setattr(indexer_load.time, "sleep", lambda _s: None)
    monkeypatch.setattr(indexer_load.time, "perf_counter", lambda: clock[0])
    return clock


def test_a_marker_is_timed_at_the_first_answer_holding_it(fake_clock: list[float]) -> None:
    api = SlowApi(fake_clock, found_at=3)
    r = indexer_load.run_kind(Corpus(), api, "views", seconds=0, markers=1, rate=0,
                              timeout_s=10)
    # three requests of 10 ms: found at 30 ms, not after one more request
    assert r["p50_ms"] == pytest.approx(30) and api.requests == 3


def test_a_marker_found_only_after_the_timeout_is_lost(fake_clock: list[float]) -> None:
    api = SlowApi(fake_clock, found_at=4)
    r = indexer_load.run_kind(Corpus(), api, "views", seconds=0, markers=1, rate=0,
                              timeout_s=0.025)
    assert r["lost"] == 1 and math.isinf(r["p50_ms"])
