"""The keyword benchmark's arithmetic and its tables: pure functions on plain samples.

Turns timed samples into per-system, per-kind statistics, the ratios the issue asks
for, PASS/MISS per target, and the same tables as aligned text (terminal) or markdown
(``docs/benchmarks.md``). No I/O apart from ``replace_section``'s string work.
"""

from __future__ import annotations

import math
import platform
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "cpu_model",
    "Sample",
    "Stats",
    "Target",
    "percentile",
    "ratios",
    "render_markdown",
    "render_text",
    "replace_section",
    "stats_table",
    "summarize",
    "targets",
]

ALL = "all"
TYPO_PREFIX = ("typo1", "typo2", "prefix")
ILIKE, FTS, RAW, ENGINE, API = "ILIKE", "PG FTS", "raw Tantivy", "engine", "API (HTTP)"
ENGINE_QUERY = "Tantivy, engine query"
API_FLOOR = "API, empty query (no search)"
NO_HIT_SHARE = 0.9  # of the typo/prefix queries FTS answers with nothing, the API must answer


@dataclass(frozen=True, slots=True)
class Sample:
    system: str
    kind: str
    query: str
    ms: float
    hits: int
    round: int = 0  # ILIKE and FTS run in the first rounds only


@dataclass(frozen=True, slots=True)
class Stats:
    system: str
    kind: str
    runs: int
    queries: int
    p50: float
    p95: float
    mean: float
    hits: float  # mean hits returned per query (at most 20)
    answered: float  # share of queries with at least one hit

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    value: float
    goal: str
    passed: bool


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    if rank == low or math.isinf(ordered[high]):  # inf: a lost row is infinitely late
        return ordered[low] if rank == low else math.inf
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _stats(system: str, kind: str, samples: list[Sample]) -> Stats:
    ms = [s.ms for s in samples]
    per_query = {s.query: s.hits for s in samples}
    return Stats(
        system=system, kind=kind, runs=len(samples), queries=len(per_query),
        p50=percentile(ms, 50), p95=percentile(ms, 95),
        mean=statistics.fmean(ms) if ms else math.nan,
        hits=statistics.fmean(per_query.values()) if per_query else math.nan,
        answered=(sum(1 for h in per_query.values() if h > 0) / len(per_query)
                  if per_query else math.nan),
    )


def summarize(samples: Iterable[Sample], kinds: Sequence[str]) -> dict[str, dict[str, Stats]]:
    """system → kind (and ``"all"``) → statistics, systems in first-seen order."""
    by: dict[str, dict[str, list[Sample]]] = {}
    for s in samples:
        by.setdefault(s.system, {}).setdefault(s.kind, []).append(s)
    out: dict[str, dict[str, Stats]] = {}
    for system, per_kind in by.items():
        out[system] = {k: _stats(system, k, per_kind[k]) for k in kinds if k in per_kind}
        out[system][ALL] = _stats(system, ALL, [s for k in per_kind for s in per_kind[k]])
    return out


def _div(a: float, b: float) -> float:
    return a / b if b and not math.isnan(a) and not math.isnan(b) else math.nan


def ratios(samples: Sequence[Sample], table: dict[str, dict[str, Stats]]) -> dict[str, float]:
    """The comparisons the issue names; NaN where a system was not run."""
    def overall(system: str, metric: str) -> float:
        stats = table.get(system, {}).get(ALL)
        return getattr(stats, metric) if stats else math.nan

    fts_found = {s.query for s in samples if s.system == FTS and s.hits > 0}
    fts_missed = {s.query for s in samples
                  if s.system == FTS and s.hits == 0 and s.kind in TYPO_PREFIX}
    api_found = {s.query for s in samples if s.system == API and s.hits > 0}
    raw_found = {s.query for s in samples if s.system == RAW and s.hits > 0}

    def p50_on(system: str, queries: set[str], rounds: set[int] | None = None) -> float:
        return percentile([s.ms for s in samples if s.system == system and s.query in queries
                           and (rounds is None or s.round in rounds)], 50)

    # ILIKE and FTS run in the first rounds only, where PostgreSQL's work between the
    # API's requests slows it; its later rounds, alone with Tantivy, are not theirs to
    # compare with
    def rounds_of(system: str) -> set[int]:
        return {s.round for s in samples if s.system == system}

    def api_on(rounds: set[int], metric: str) -> float:
        ms = [s.ms for s in samples if s.system == API and s.round in rounds]
        if not ms:
            return math.nan
        return statistics.fmean(ms) if metric == "mean" else percentile(ms, 95)

    ilike_rounds, fts_rounds = rounds_of(ILIKE), rounds_of(FTS)
    out = {
        "ilike_over_api_p95": _div(overall(ILIKE, "p95"), api_on(ilike_rounds, "p95")),
        "ilike_over_api_mean": _div(overall(ILIKE, "mean"), api_on(ilike_rounds, "mean")),
        "fts_over_api_p95": _div(overall(FTS, "p95"), api_on(fts_rounds, "p95")),
        "fts_over_api_mean": _div(overall(FTS, "mean"), api_on(fts_rounds, "mean")),
        "fts_over_api_p50_where_fts_finds": _div(p50_on(FTS, fts_found),
                                                 p50_on(API, fts_found, fts_rounds)),
        "fts_found_queries": float(len(fts_found)),
        "api_over_raw_tantivy_p50": _div(overall(API, "p50"), overall(RAW, "p50")),
        # as with FTS: raw Tantivy's p50 over the whole mix counts typo and prefix
        # queries it answers instantly with nothing
        "api_over_raw_tantivy_p50_where_raw_finds": _div(p50_on(API, raw_found),
                                                         p50_on(RAW, raw_found)),
        "raw_found_queries": float(len(raw_found)),
        "api_over_engine_p50": _div(overall(API, "p50"), overall(ENGINE, "p50")),
        "api_over_engine_query_p50": _div(overall(API, "p50"), overall(ENGINE_QUERY, "p50")),
        "engine_query_over_raw_p50": _div(overall(ENGINE_QUERY, "p50"), overall(RAW, "p50")),
        # the API's request path with no search: what 2x raw Tantivy would leave the search
        "api_floor_over_raw_p50": _div(overall(API_FLOOR, "p50"), overall(RAW, "p50")),
        "api_over_api_floor_p50": _div(overall(API, "p50"), overall(API_FLOOR, "p50")),
        "typo_prefix_fts_empty": float(len(fts_missed)),
        "typo_prefix_fts_empty_api_answers": float(len(fts_missed & api_found)),
    }
    for kind in TYPO_PREFIX:
        for system, key in ((FTS, "fts"), (API, "api")):
            stats = table.get(system, {}).get(kind)
            out[f"{kind}_answered_{key}"] = stats.answered if stats else math.nan
    return out


def targets(r: dict[str, float], commit: dict[str, float] | None) -> list[Target]:
    empty, answered = r["typo_prefix_fts_empty"], r["typo_prefix_fts_empty_api_answers"]
    share = answered / empty if empty else math.nan
    out = [
        Target("API p95 vs ILIKE", r["ilike_over_api_p95"], "≥ 30× lower",
               r["ilike_over_api_p95"] >= 30),
        Target("API mean vs ILIKE", r["ilike_over_api_mean"], "≥ 30× lower",
               r["ilike_over_api_mean"] >= 30),
        Target("API p95 vs PG FTS", r["fts_over_api_p95"], "≥ 3× lower",
               r["fts_over_api_p95"] >= 3),
        Target("API mean vs PG FTS", r["fts_over_api_mean"], "≥ 3× lower",
               r["fts_over_api_mean"] >= 3),
        Target("API p50 vs PG FTS where FTS finds hits", r["fts_over_api_p50_where_fts_finds"],
               "≥ 10× lower", r["fts_over_api_p50_where_fts_finds"] >= 10),
        Target("API p50 / raw Tantivy p50", r["api_over_raw_tantivy_p50"], "≤ 2×",
               r["api_over_raw_tantivy_p50"] <= 2),
        Target("typo/prefix queries FTS leaves empty that the API answers", share,
               f"≥ {NO_HIT_SHARE:.0%} of {int(empty)}", bool(empty) and share >= NO_HIT_SHARE),
    ]
    if commit is not None:
        # a row that never becomes searchable fails the target whatever the p95 says
        out.append(Target("commit → searchable p95 (ms)", commit["p95"],
                          f"< 1000 ms, no row lost ({int(commit['lost'])} of "
                          f"{int(commit['n'])} lost)",
                          commit["p95"] < 1000 and not commit["lost"]))
    return out


# rendering ---------------------------------------------------------------
def _ms(v: float) -> str:
    if math.isnan(v):
        return "–"
    if math.isinf(v):
        return "∞"
    return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"


def _times(v: float) -> str:
    return "–" if math.isnan(v) else f"{v:.2f}×" if v < 10 else f"{v:.1f}×"


def stats_table(table: dict[str, dict[str, Stats]], kinds: Sequence[str]) -> list[list[str]]:
    rows = [["kind", "system", "runs", "p50 ms", "p95 ms", "mean ms", "hits/query",
             "≥1 hit"]]
    for kind in [*kinds, ALL]:
        for system, per_kind in table.items():
            s = per_kind.get(kind)
            if s is None:
                continue
            rows.append([kind, system, str(s.runs), _ms(s.p50), _ms(s.p95), _ms(s.mean),
                         f"{s.hits:.1f}", f"{s.answered:.0%}"])
    return rows


def _ratio_rows(r: dict[str, float]) -> list[list[str]]:
    def x(v: float) -> str:
        return _times(v)

    def pct(v: float) -> str:
        return "–" if math.isnan(v) else f"{v:.0%}"

    rows = [["ratio", "value"],
            ["ILIKE / API, p95", x(r["ilike_over_api_p95"])],
            ["ILIKE / API, mean", x(r["ilike_over_api_mean"])],
            ["FTS / API, p95", x(r["fts_over_api_p95"])],
            ["FTS / API, mean", x(r["fts_over_api_mean"])],
            [f"FTS p50 / API p50 on the {int(r['fts_found_queries'])} queries FTS finds",
             x(r["fts_over_api_p50_where_fts_finds"])],
            ["API p50 / raw Tantivy p50", x(r["api_over_raw_tantivy_p50"])],
            [f"API p50 / raw Tantivy p50 on the {int(r['raw_found_queries'])} queries raw "
             "Tantivy finds", x(r["api_over_raw_tantivy_p50_where_raw_finds"])],
            ["API p50 / engine in-process p50 (HTTP + JSON cost)", x(r["api_over_engine_p50"])],
            ["API p50 / Tantivy running the engine's query p50", x(r["api_over_engine_query_p50"])],
            ["engine's query / raw Tantivy, p50 (typo + prefix automata)",
             x(r["engine_query_over_raw_p50"])],
            ["API answering an empty query (request path, no search) p50 / raw Tantivy p50",
             x(r["api_floor_over_raw_p50"])],
            ["API p50 / API answering an empty query p50", x(r["api_over_api_floor_p50"])]]
    for kind in TYPO_PREFIX:
        rows.append([f"{kind}: queries answered, FTS vs API",
                     f"{pct(r[f'{kind}_answered_fts'])} vs {pct(r[f'{kind}_answered_api'])}"])
    rows.append(["typo/prefix queries FTS leaves empty, answered by the API",
                 f"{int(r['typo_prefix_fts_empty_api_answers'])} of "
                 f"{int(r['typo_prefix_fts_empty'])}"])
    return rows


def _target_rows(ts: Sequence[Target]) -> list[list[str]]:
    rows = [["target", "measured", "goal", "result"]]
    for t in ts:
        value = "–" if math.isnan(t.value) else (
            f"{t.value:.0%}" if "answers" in t.name else
            _ms(t.value) if "(ms)" in t.name else _times(t.value))
        rows.append([t.name, value, t.goal, "PASS" if t.passed else "MISS"])
    return rows


def _commit_rows(commit: dict[str, float]) -> list[list[str]]:
    return [["commit → searchable", "rows", f"lost (> {commit['timeout_s']:g} s)", "p50 ms",
             "p95 ms", "max ms", "p95 ms of rows found"],
            ["insert, then poll GET /v1/search", str(int(commit["n"])),
             str(int(commit["lost"])), _ms(commit["p50"]), _ms(commit["p95"]),
             _ms(commit["max"]), _ms(commit["p95_found"])]]


def _text(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [c.ljust(w) if i < 2 or not n else c.rjust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _markdown(rows: list[list[str]]) -> str:
    head, *body = rows
    align = ["---" if i < 2 else "---:" for i in range(len(head))]
    return "\n".join("| " + " | ".join(r) + " |" for r in [head, align, *body])


def _sections(table: dict[str, dict[str, Stats]], kinds: Sequence[str], r: dict[str, float],
              ts: Sequence[Target],
              commit: dict[str, float] | None) -> list[tuple[str, list[list[str]]]]:
    out = [("Latency and hits per query kind", stats_table(table, kinds)),
           ("Ratios", _ratio_rows(r)), ("Targets (issue 10)", _target_rows(ts))]
    if commit:
        out.append(("Commit → searchable", _commit_rows(commit)))
    return out


def render_text(table: dict[str, dict[str, Stats]], kinds: Sequence[str],
                r: dict[str, float], ts: Sequence[Target],
                commit: dict[str, float] | None) -> str:
    return "\n\n".join(f"{title}\n\n{_text(rows)}"
                       for title, rows in _sections(table, kinds, r, ts, commit))


def render_markdown(table: dict[str, dict[str, Stats]], kinds: Sequence[str],
                    r: dict[str, float], ts: Sequence[Target],
                    commit: dict[str, float] | None) -> str:
    return "\n\n".join(f"### {title}\n\n{_markdown(rows)}"
                       for title, rows in _sections(table, kinds, r, ts, commit))


def replace_section(text: str, body: str, name: str = "keyword") -> str:
    """``text`` with what lies between ``<!-- name:start -->`` and ``<!-- name:end -->``
    replaced by ``body``; raises ValueError when the markers are missing."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        raise ValueError(f"markers {start} … {end} not found")
    return text[: i + len(start)] + "\n" + body.strip("\n") + "\n" + text[j:]


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), for the machine line of a report."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or ""
