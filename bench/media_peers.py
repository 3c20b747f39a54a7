"""The peers of bench/media.py: their virtualenvs, their servers, and the load they get.

libvips (pyvips + pyvips-binary) and thumbor are installed into their own virtualenvs
under bench/.venvs/ (gitignored), never into the project's: thumbor pins an older
Pillow. Memory is read from /proc, so this runs on Linux.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
VENVS = BENCH / ".venvs"
PEER_PACKAGES = {"vips": ["pyvips", "pyvips-binary"], "thumbor": ["thumbor"]}


def ensure_venv(name: str) -> Path:
    """The peer's python, creating its virtualenv and installing it from PyPI if needed."""
    python = VENVS / name / "bin" / "python"
    stamp = VENVS / name / ".installed"
    if not stamp.exists():
        print(f"installing {' '.join(PEER_PACKAGES[name])} into {python.parent.parent} ...",
              file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENVS / name)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES[name]],
                       check=True)
        stamp.touch()
    return python


def package_version(python: Path, package: str) -> str:
    out = subprocess.run([str(python), "-m", "pip", "show", package], capture_output=True,
                         text=True, check=False).stdout
    return next((line.split(":", 1)[1].strip() for line in out.splitlines()
                 if line.startswith("Version:")), "?")


def run_vips(cases: list[dict[str, object]], repeat: int) -> dict[str, object]:
    python = ensure_venv("vips")
    env = {**os.environ, "VIPS_CONCURRENCY": "1"}
    done = subprocess.run([str(python), str(BENCH / "media_vips_worker.py")],
                          input=json.dumps({"cases": cases, "repeat": repeat}),
                          capture_output=True, text=True, env=env, check=True, timeout=1800)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class RssSampler:
    """Polls a process's resident memory every 20 ms; ``peak`` is the largest seen."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self.peak = rss_mb(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def serve(command: list[str], port: int, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(command, env={**os.environ, **env}, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{command[0]} exited: {proc.stderr.read().decode()[-2000:]}"
                                   if proc.stderr else "server exited")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def awsm_server(port: int, media_root: Path, cache_dir: Path,
                keys: str) -> tuple[list[str], dict[str, str]]:
    return [sys.executable, "-m", "uvicorn", "bench.media_app:create", "--factory",
            "--port", str(port), "--log-level", "warning", "--no-access-log"], {
        "AWSM_MEDIA_ROOT": str(media_root), "AWSM_MEDIA_CACHE_DIR": str(cache_dir),
        "AWSM_SIGNING_KEYS": keys, "AWSM_DATA_DIR": str(cache_dir.parent),
        "AWSM_MEDIA_QUEUE_SIZE": "64",
    }


def thumbor_server(port: int, media_root: Path, conf_dir: Path) -> tuple[list[str], dict[str, str]]:
    python = ensure_venv("thumbor")
    conf = conf_dir / "thumbor.conf"
    conf.write_text(f"""
LOADER = 'thumbor.loaders.file_loader'
FILE_LOADER_ROOT_PATH = {str(media_root)!r}
STORAGE = 'thumbor.storages.no_storage'
RESULT_STORAGE = None
ALLOW_UNSAFE_URL = True
QUALITY = 80
WEBP_QUALITY = 80
AVIF_SPEED = 8
AUTO_WEBP = False
RESPECT_ORIENTATION = True
ENGINE_THREADPOOL_SIZE = 4
MAX_WIDTH = 0
MAX_HEIGHT = 0
""")
    return [str(python.parent / "thumbor"), "-p", str(port), "-c", str(conf), "-l", "error"], {}


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, round(0.95 * len(ordered)) - 1)] if ordered else 0.0

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else 0.0


async def _load(base: str, urls: list[str], clients: int, headers: dict[str, str]) -> LoadResult:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for url in urls:
        queue.put_nowait(url)
    latencies: list[float] = []
    errors = 0

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal errors
        while not queue.empty():
            url = queue.get_nowait()
            started = time.perf_counter()
            response = await http.get(url, headers=headers)
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200 or not response.content:
                errors += 1

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=300, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return LoadResult(len(urls), errors, elapsed, latencies)


def load_light(port: int, urls: list[str], clients: int) -> LoadResult:
    """Like ``load`` with the standard library's lighter client on keep-alive connections:
    for cache hits, where httpx's own overhead would be most of what is measured."""
    import http.client
    from concurrent.futures import ThreadPoolExecutor

    chunks = [urls[i::clients] for i in range(clients)]

    def client(chunk: list[str]) -> tuple[list[float], int]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        latencies, errors = [], 0
        for url in chunk:
            started = time.perf_counter()
            conn.request("GET", url)
            response = conn.getresponse()
            body = response.read()
            latencies.append((time.perf_counter() - started) * 1000)
            errors += response.status != 200 or not body
        conn.close()
        return latencies, errors

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        parts = list(pool.map(client, chunks))
    elapsed = time.perf_counter() - started
    return LoadResult(len(urls), sum(e for _, e in parts), elapsed,
                      [lat for lats, _ in parts for lat in lats])


def load(base: str, urls: list[str], clients: int,
         headers: dict[str, str] | None = None) -> LoadResult:
    return asyncio.run(_load(base, urls, clients, headers or {}))
