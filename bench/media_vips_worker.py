"""Runs inside bench/.venvs/vips: times libvips ``thumbnail`` + save for each case.

Reads cases as JSON on stdin, prints one JSON object. Single-threaded
(VIPS_CONCURRENCY=1, set by the caller) with the operation cache off.
"""

import json
import statistics
import sys
import time

import pyvips

pyvips.cache_set_max(0)
SAVE = {
    "jpeg": (".jpg", {}),
    "webp": (".webp", {"effort": 4}),
    # libvips' AVIF effort is 9 - the AV1 speed: effort 1 is speed 8, as in the service.
    "avif": (".avif", {"effort": 1, "subsample_mode": "on"}),
}


def run(case):
    if case["height"]:
        image = pyvips.Image.thumbnail(case["path"], case["width"], height=case["height"],
                                       crop="centre", size="down")
    else:
        image = pyvips.Image.thumbnail(case["path"], case["width"], height=10_000_000,
                                       size="down")
    suffix, extra = SAVE[case["format"]]
    return image.write_to_buffer(suffix, Q=case["quality"], keep="none", **extra)


def main():
    request = json.load(sys.stdin)
    results = {}
    for case in request["cases"]:
        run(case)  # warm-up: loaders and codecs initialised
        walls, cpus, size = [], [], 0
        for _ in range(request["repeat"]):
            w0, c0 = time.perf_counter(), time.process_time()
            size = len(run(case))
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
        results[case["name"]] = {"wall_ms": statistics.median(walls) * 1000,
                                 "cpu_ms": statistics.median(cpus) * 1000, "bytes": size}
    print(json.dumps({"version": pyvips.version(0) and ".".join(
        str(pyvips.version(i)) for i in range(3)), "results": results}))


main()
