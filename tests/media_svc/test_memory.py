"""Memory stays bounded: 32 concurrent 24 MP requests, measured in a fresh process."""

from __future__ import annotations

import json
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
