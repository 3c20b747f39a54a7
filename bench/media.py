"""Media benchmark: the service's Pillow pipeline against libvips and thumbor.

    .venv/bin/python bench/media.py [--quick] [--write-docs]

Side by side in one run, on the same generated images and transforms, with the same
quality and AVIF speed everywhere:

1. per-transform wall time and CPU: the service's ``render()`` against libvips
   ``thumbnail`` (pyvips + pyvips-binary, single-threaded, cache off);
2. through HTTP with 4 concurrent clients, cache-busting by varying the width: cold
   throughput, p95 and peak RSS of the service (uvicorn, one process) against thumbor
   (file loader, storage and result storage off);
3. cached hits on the service, and peak RSS of both under 32 concurrent 24 MP requests.

Peers install themselves into bench/.venvs/ (gitignored). Writes
bench/results/media.json; ``--write-docs`` also refreshes docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import media_peers as peers  # noqa: E402
from bench.media_images import CASES, Case, make_images  # noqa: E402
from media_svc.options import TransformSpec  # noqa: E402
from media_svc.signing import sign_path  # noqa: E402
from media_svc.transform import Limits, render  # noqa: E402

RESULTS = peers.BENCH / "results"
DOCS = peers.REPO / "docs" / "benchmarks.md"
KEYS = "bench:bench-signing-secret-0123456789"


def spec_for(case: Case, width: int | None = None) -> TransformSpec:
    w = width or case.width
    h = None if case.height is None else w * case.height // case.width
    return TransformSpec(width=w, height=h, format=case.format, quality=case.quality)


def bench_pillow(paths: dict[str, Path], repeat: int) -> dict[str, dict[str, float]]:
    limits = Limits(avif_speed=8)
    out = {}
    for case in CASES:
        spec = spec_for(case)
        render(paths[case.file], spec, None, limits)
        walls, cpus, size = [], [], 0
        for _ in range(repeat):
            w0, c0 = time.perf_counter(), time.process_time()
            size = len(render(paths[case.file], spec, None, limits).data)
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
        out[case.name] = {"wall_ms": statistics.median(walls) * 1000,
                          "cpu_ms": statistics.median(cpus) * 1000, "bytes": size}
    return out


def _fastest(runs: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Per case, the run with the least wall time: the one least disturbed by other load."""
    return {name: min((run[name] for run in runs), key=lambda r: r["wall_ms"])
            for name in runs[0]}


def thumbor_path(case: Case, width: int) -> str:
    h = 0 if case.height is None else width * case.height // case.width
    return (f"/unsafe/{width}x{h}/filters:format({case.format}):quality({case.quality})"
            f"/{case.file}")


def awsm_path(keys: list[tuple[str, bytes]], case: Case, width: int) -> str:
    return sign_path(keys, spec_for(case, width), case.file)


def _best(runs: list[peers.LoadResult]) -> dict[str, float]:
    best = max(runs, key=lambda r: r.throughput)
    return {"rps": best.throughput, "p95_ms": best.p95_ms,
            "errors": sum(r.errors for r in runs)}


def bench_http(media_root: Path, requests: int, burst: int, rounds: int) -> dict[str, object]:
    """Both servers run at once and take turns (A B B A ...), so background load on the
    machine falls on both alike; each side's best round is reported."""
    from awsm.settings import parse_signing_keys

    keys = parse_signing_keys(KEYS)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ports = {"awsm": peers.free_port(), "thumbor": peers.free_port()}
        a_cmd, a_env = peers.awsm_server(ports["awsm"], media_root, work / "cache", KEYS)
        t_cmd, t_env = peers.thumbor_server(ports["thumbor"], media_root, work)
        bases = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}

        def url(name: str, case: Case, width: int) -> str:
            return awsm_path(keys, case, width) if name == "awsm" else thumbor_path(case, width)

        with peers.serve(a_cmd, ports["awsm"], a_env) as a_proc, \
                peers.serve(t_cmd, ports["thumbor"], t_env) as t_proc, \
                peers.RssSampler(a_proc.pid) as a_rss, peers.RssSampler(t_proc.pid) as t_rss:
            for name in bases:
                peers.load(bases[name], [url(name, CASES[0], 640)], 1)  # warm-up
            runs: dict[str, dict[str, list[peers.LoadResult]]] = {"awsm": {}, "thumbor": {}}
            width_offset = 0
            for round_no in range(rounds):
                order = ["awsm", "thumbor"] if round_no % 2 == 0 else ["thumbor", "awsm"]
                for case in CASES:
                    for name in order:
                        # Every request a new width: nothing can come from a cache.
                        urls = [url(name, case, case.width - width_offset - i)
                                for i in range(1, requests + 1)]
                        runs[name].setdefault(case.name, []).append(
                            peers.load(bases[name], urls, clients=4))
                width_offset += requests
            cold_peaks = {"awsm": a_rss.peak, "thumbor": t_rss.peak}
            results: dict[str, object] = {}
            big = next(c for c in CASES if c.file == "photo-24mp.jpg")
            for name, proc in (("awsm", a_proc), ("thumbor", t_proc)):
                with peers.RssSampler(proc.pid) as burst_rss:
                    burst_run = peers.load(bases[name], [url(name, big, 1100 - i)
                                                         for i in range(burst)], clients=burst)
                results[name] = {
                    "cases": {case: _best(r) for case, r in runs[name].items()},
                    "peak_rss_mb": cold_peaks[name], "burst_peak_rss_mb": burst_rss.peak,
                    "burst_errors": burst_run.errors,
                }
            hit_urls = [url("awsm", CASES[0], CASES[0].width - i)
                        for i in range(1, requests + 1)] * 5
            peers.load_light(ports["awsm"], hit_urls, clients=1)  # warm the connections
            hits = peers.load_light(ports["awsm"], hit_urls, clients=4)
            one_by_one = peers.load_light(ports["awsm"], hit_urls, clients=1)
            results["awsm"].update(cached_p95_ms=hits.p95_ms,  # type: ignore[union-attr]
                                   cached_rps=hits.throughput,
                                   cached_p95_1_client_ms=one_by_one.p95_ms,
                                   cached_median_1_client_ms=one_by_one.median_ms)
    return results


def table(data: dict[str, object]) -> str:
    pil, vips = data["pillow"], data["vips"]["results"]  # type: ignore[index]
    http = data["http"]
    aw, th = http["awsm"], http["thumbor"]  # type: ignore[index]
    lines = [
        "| transform | awsm ms (CPU) | libvips ms (CPU) | × libvips, wall (CPU) | awsm req/s "
        "| thumbor req/s | × thumbor | awsm p95 ms | thumbor p95 ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for case in CASES:
        p, v = pil[case.name], vips[case.name]  # type: ignore[index]
        a, t = aw["cases"][case.name], th["cases"][case.name]  # type: ignore[index]
        t_note = "" if not t["errors"] else f" ({t['errors']} errors)"
        lines.append(
            f"| {case.name} | {p['wall_ms']:.0f} ({p['cpu_ms']:.0f}) | {v['wall_ms']:.0f} "
            f"({v['cpu_ms']:.0f}) | {p['wall_ms'] / v['wall_ms']:.2f} "
            f"({p['cpu_ms'] / v['cpu_ms']:.2f}) | {a['rps']:.1f} | "
            f"{t['rps']:.1f}{t_note} | {a['rps'] / t['rps'] if t['rps'] else float('nan'):.2f} | "
            f"{a['p95_ms']:.0f} | {t['p95_ms']:.0f} |")
    lines += [
        "",
        "| memory and cache | awsm | thumbor |",
        "|---|---|---|",
        f"| peak RSS, cold run above (4 clients) | {aw['peak_rss_mb']:.0f} MB | "
        f"{th['peak_rss_mb']:.0f} MB |",
        f"| peak RSS, {data['burst']} concurrent 24 MP requests | {aw['burst_peak_rss_mb']:.0f} MB"
        f" | {th['burst_peak_rss_mb']:.0f} MB |",
        f"| cached hit p95, 4 clients (req/s) | {aw['cached_p95_ms']:.1f} ms "
        f"({aw['cached_rps']:.0f}/s) | no result storage |",
        f"| cached hit p95 (median), 1 client | {aw['cached_p95_1_client_ms']:.1f} ms "
        f"({aw['cached_median_1_client_ms']:.2f} ms) | |",
    ]
    return "\n".join(lines)


def write_docs(data: dict[str, object], text: str) -> None:
    doc = DOCS.read_text()
    section = (
        "<!-- media:start -->\n## Media\n\n"
        f"`{data['command']}` on {data['machine']}, {data['when']}. "
        f"Pillow {data['versions']['pillow']}, libvips {data['vips']['version']} "  # type: ignore[index]
        f"(pyvips-binary {data['versions']['pyvips-binary']}), thumbor "  # type: ignore[index]
        f"{data['versions']['thumbor']}.\n\n"  # type: ignore[index]
        "Left: one transform at a time in one thread, median of "
        f"{data['repeat']} runs (wall ms, CPU ms in brackets; best of {data['rounds']} rounds "
        "that alternate the two), libvips `thumbnail` with `VIPS_CONCURRENCY=1` and its cache "
        f"off. Right: through HTTP with 4 concurrent clients, {data['requests']} requests per "
        "transform, each a new width so nothing is served from a cache; both servers run at "
        f"once and take turns, best of {data['rounds']} rounds each (awsm: one uvicorn "
        "process, 4 transform threads; thumbor: file loader, no storage or result storage, "
        "`ENGINE_THREADPOOL_SIZE = 4`). Same quality everywhere (JPEG/WebP 80, AVIF 60) and "
        "AV1 speed 8 (libvips effort 1); thumbor always Huffman-optimises its JPEGs and gives "
        "its AVIF encoder every core, awsm does neither. Cached hits are timed with the "
        "standard library's client on keep-alive connections (httpx itself costs ~1–3 ms a "
        "request). The machine has 2 cores; the load generator shares "
        f"them{data.get('load_note', '')}.\n\n"
        f"{text}\n<!-- media:end -->"
    )
    DOCS.write_text(re.sub(r"<!-- media:start -->.*?<!-- media:end -->", lambda _m: section,
                           doc, flags=re.S))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, for a smoke check")
    parser.add_argument("--write-docs", action="store_true", help="refresh docs/benchmarks.md")
    args = parser.parse_args()
    repeat, requests, burst, rounds = (3, 8, 32, 1) if args.quick else (5, 24, 32, 3)
    media_root = RESULTS / "media-images"
    paths = make_images(media_root)
    cases = [{"name": c.name, "path": str(paths[c.file]), "width": c.width, "height": c.height,
              "format": c.format, "quality": c.quality} for c in CASES]
    from PIL import Image

    data: dict[str, object] = {
        "command": "python bench/media.py" + (" --quick" if args.quick else ""),
        "machine": f"{platform.machine()} Linux, {len(os.sched_getaffinity(0))} "
                   f"cores, Python {platform.python_version()}",
        "when": time.strftime("%Y-%m-%d", time.gmtime()),
        "repeat": repeat, "requests": requests, "burst": burst, "rounds": rounds,
        "versions": {"pillow": Image.__version__,
                     "pyvips-binary": peers.package_version(peers.ensure_venv("vips"),
                                                            "pyvips-binary"),
                     "thumbor": peers.package_version(peers.ensure_venv("thumbor"), "thumbor")},
    }
    pillow_runs, vips_runs = [], []
    for attempt in range(rounds):
        print(f"per-transform, round {attempt + 1}: Pillow pipeline, libvips ...", file=sys.stderr)
        pillow_runs.append(bench_pillow(paths, repeat))
        vips_runs.append(peers.run_vips(cases, repeat))
    data["pillow"] = _fastest(pillow_runs)
    data["vips"] = {"version": vips_runs[0]["version"],
                    "results": _fastest([r["results"] for r in vips_runs])}  # type: ignore[misc]
    print("HTTP: awsm and thumbor, taking turns ...", file=sys.stderr)
    load_before = os.getloadavg()[0]
    data["http"] = bench_http(media_root, requests, burst, rounds)
    data["load_average"] = [load_before, os.getloadavg()[0]]
    data["load_note"] = (f"; load average {load_before:.1f} before the HTTP part and "
                         f"{os.getloadavg()[0]:.1f} after it (other work on the machine)")
    text = table(data)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "media.json").write_text(json.dumps(data, indent=2))
    if args.write_docs:
        write_docs(data, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
