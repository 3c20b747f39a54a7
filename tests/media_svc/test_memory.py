"""Memory and threads stay bounded: 32 concurrent 24 MP requests, and the threads an
AVIF decode starts, measured in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.media_svc import images

SERVE_BURST = r"""
import asyncio, json, sys
from pathlib import Path
from tests.media_svc.conftest import make_media_app

def peak_mb():
    # VmHWM belongs to this process image; ru_maxrss would carry the parent's peak over exec.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

media = make_media_app(Path(sys.argv[1]))
baseline = peak_mb()

async def burst():
    urls = [media.url("big.jpg", f"w_{1200 + i},f_webp") for i in range(32)]
    responses = await asyncio.gather(*(media.arequest("GET", u) for u in urls))
    return [r.status_code for r in responses]

statuses = asyncio.run(burst())
print(json.dumps({"statuses": statuses, "baseline_mb": baseline, "peak_mb": peak_mb()}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
def test_32_concurrent_24mp_requests_stay_under_500_mb(tmp_path: Path) -> None:
    media_root = tmp_path / "media"
    media_root.mkdir()
    (media_root / "big.jpg").write_bytes(images.jpeg((6000, 4000)))
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", SERVE_BURST, str(tmp_path)], cwd=repo,
                          capture_output=True, text=True, timeout=240, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result["statuses"]) <= {200, 429} and 200 in result["statuses"]
    # Bounded by the pool (4 workers) and by JPEG draft decoding, not by the burst.
    assert result["peak_mb"] < 500, result


DECODE_AVIF = r"""
import json, os, sys, threading, time
from pathlib import Path
from tests.media_svc.conftest import make_media_app

def threads():
    return len(os.listdir("/proc/self/task"))

# one transform thread, started before counting: the pool never starts another
media = make_media_app(Path(sys.argv[1]), media_max_concurrent=1)
warm = media.get(media.url("small.jpg", "w_10,f_png")).status_code
peak, done = 0, threading.Event()

def sample():
    global peak
    while not done.is_set():
        peak = max(peak, threads())
        time.sleep(0.0002)

sampler = threading.Thread(target=sample)
sampler.start()
time.sleep(0.05)
base = peak
statuses = [media.get(media.url("big.avif", f"w_{100 + i},f_png")).status_code
            for i in range(3)]
done.set()
sampler.join()
print(json.dumps({"statuses": [warm, *statuses], "base": base, "peak": peak}))
"""


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="counts /proc/self/task")
@pytest.mark.skipif(len(getattr(os, "sched_getaffinity", lambda _: [])(0)) < 2,
                    reason="on one CPU a decoder starts no threads of its own anyway")
def test_an_avif_is_decoded_on_its_transform_thread_alone(tmp_path: Path) -> None:
    # AWSM_MEDIA_MAX_CONCURRENT decides how many cores image work takes; Pillow's AVIF
    # decoder would otherwise start one thread per CPU for every image it opens.
    media_root = tmp_path / "media"
    media_root.mkdir()
    (media_root / "small.jpg").write_bytes(images.jpeg((40, 30)))
    (media_root / "big.avif").write_bytes(images.encode(images.photo((2400, 1600)), "AVIF",
                                                        speed=10))
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", DECODE_AVIF, str(tmp_path)], cwd=repo,
                          capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["statuses"] == [200] * 4, result
    assert result["peak"] == result["base"], result
