"""How the keyword benchmark times its peers, on stand-in peers (no database, no timing
asserts): every system gets the same warm-up and the same timed queries."""

from __future__ import annotations

from bench import keyword_report as report
from bench.search_keyword import measure

QUERIES = [("single", "kopi"), ("single", "teh"), ("typo1", "kopii"), ("typo1", "tehh"),
           ("prefix", "kop"), ("prefix", "te")]


class Recorder:
    def __init__(self, name: str) -> None:
        self.name, self.seen = name, []

    def search(self, query: str) -> int:
        self.seen.append(query)
        return 1

    def close(self) -> None:
        pass


def test_every_system_is_warmed_up_on_every_query() -> None:
    peers = [Recorder(name) for name in (report.ILIKE, report.FTS, report.RAW, report.API)]
    measure(peers, QUERIES, rounds=0, slow_rounds=0, progress=lambda _m: None)
    # a query a system first meets in a timed round is timed cold (its index pages,
    # posting lists, TOAST rows not yet read), which only the systems warmed on it escape
    for peer in peers:
        assert sorted(peer.seen) == sorted(q for _k, q in QUERIES), peer.name


def test_api_is_compared_with_ilike_and_fts_on_the_rounds_they_ran_in() -> None:
    # FTS and ILIKE run in round 0 only; there the API is slower (PostgreSQL's work in
    # between cools its caches) than in rounds 1-4 where it runs alone with Tantivy
    samples = [report.Sample(report.FTS, "single", q, 20.0, 5, 0) for q in ("a", "b")]
    samples += [report.Sample(report.ILIKE, "single", q, 400.0, 5, 0) for q in ("a", "b")]
    samples += [report.Sample(report.API, "single", q, 10.0 if n == 0 else 1.0, 5, n)
                for n in range(5) for q in ("a", "b")]
    r = report.ratios(samples, report.summarize(samples, ["single"]))
    assert r["fts_over_api_p95"] == r["fts_over_api_mean"] == 2.0
    assert r["fts_over_api_p50_where_fts_finds"] == 2.0
    assert r["ilike_over_api_p95"] == r["ilike_over_api_mean"] == 40.0


def test_measure_records_each_sample_s_round() -> None:
    peers = [Recorder(report.FTS), Recorder(report.API)]
    samples = measure(peers, QUERIES, rounds=3, slow_rounds=1, progress=lambda _m: None)
    assert {s.round for s in samples if s.system == report.FTS} == {0}
    assert {s.round for s in samples if s.system == report.API} == {0, 1, 2}


def test_the_api_s_request_path_alone_is_set_against_raw_tantivy_and_the_api() -> None:
    samples = [report.Sample(report.RAW, "single", q, 0.2, 5, 0) for q in ("a", "b")]
    samples += [report.Sample(report.API_FLOOR, "single", q, 0.5, 0, 0) for q in ("a", "b")]
    samples += [report.Sample(report.API, "single", q, 2.0, 5, 0) for q in ("a", "b")]
    r = report.ratios(samples, report.summarize(samples, ["single"]))
    assert r["api_floor_over_raw_p50"] == 2.5
    assert r["api_over_api_floor_p50"] == 4.0
    rows = dict(report._ratio_rows(r))
    assert rows["API answering an empty query (request path, no search) p50 / raw Tantivy p50"] \
        == "2.50×"
