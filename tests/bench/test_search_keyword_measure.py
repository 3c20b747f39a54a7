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
