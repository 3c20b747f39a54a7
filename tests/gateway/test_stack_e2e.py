"""`awsm up --demo` end to end, as a user runs it: a real process tree on a data dir."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg

from tests.fixtures.fix_stack import wait_for


def _up(data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWSM_")}
    # the demo's default model (e5) embeds ~2 documents/s here: the test uses the fast
    # multilingual one; the default itself is covered by tests/search_svc/test_embedding.py
    env.update(AWSM_LOG_LEVEL="info", AWSM_EMBEDDER="use-multilingual")
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "up", "--demo", "--data-dir", str(data_dir),
         "--port", "0"], stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env,
        start_new_session=True)  # its own process group, as a terminal's foreground job


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(30)


def _ctrl_c(proc: subprocess.Popen[bytes]) -> int:
    """What Ctrl-C in a terminal does: SIGINT to every process of the foreground group."""
    os.killpg(proc.pid, signal.SIGINT)
    return proc.wait(30)


def test_up_demo_serves_typo_tolerant_search_then_resumes(tmp_path: Path) -> None:
    data, log = tmp_path / "data", tmp_path / "up.log"
    proc = _up(data, log)
    try:
        stack_file = data / "stack.json"
        wait_for(stack_file.exists, timeout=60, interval=0.2)
        stack = json.loads(stack_file.read_text())
        api = stack["api_url"]
        assert stack["database_url"].startswith("postgresql://")
        client = httpx.Client(base_url=api, timeout=10)

        def misspelled() -> dict | None:
            r = client.get("/v1/search", params={"tenant": "kopi-nusantara", "q": "kopii"})
            body = r.json() if r.status_code == 200 else {}
            return body if body.get("hits") else None

        # the URLs are out once the index holds the tables: the first search finds them
        # (it was a 503 "no tantivy index yet" for a moment)
        body = misspelled()
        assert body is not None and any("<mark>" in h["snippet"] for h in body["hits"])
        with psycopg.connect(stack["database_url"], autocommit=True) as conn:
            conn.execute(
                "INSERT INTO blogs (tenant_id, title, slug, content, status, published_at) "
                "SELECT id, 'Kabar terbaru zebrapelangi', 'z', 'isi', 'published', now() "
                "FROM tenants WHERE slug = 'kopi-nusantara'")
        wait_for(lambda: client.get("/v1/search", params={
            "tenant": "kopi-nusantara.localhost", "q": "zebrapelangi"}).json()["total"] == 1,
            timeout=30)
        # the suspended demo tenant has published rows and must stay invisible
        row = client.get("/v1/search", params={"tenant": "kedai-lama", "q": "kopi"}).json()
        assert row["total"] == 0
        assert client.get("/readyz").status_code == 200
        # the demo embeds its content with the offline multilingual model: hybrid by default
        hybrid = wait_for(lambda: (b := client.get("/v1/search", params={
            "tenant": "kopi-nusantara", "q": "minuman dari biji sangrai"}).json())["mode"] == "hybrid"
            and b, timeout=120, interval=0.5)
        assert hybrid["hits"] and any("semantic" in h["matched"] for h in hybrid["hits"])
    finally:
        code = _stop(proc)
    assert code == 0, log.read_text()[-3000:]
    first_run = log.read_text()
    assert "backfill done" in first_run
    # a second run on the same data dir resumes: no backfill, the new row still there
    proc = _up(data, log)
    try:
        # the last run's stack.json goes at start; the new one comes once the index is up
        wait_for(lambda: "streaming from slot" in log.read_text()[len(first_run):], timeout=60)
        wait_for((data / "stack.json").exists, timeout=30, interval=0.1)
        api = json.loads((data / "stack.json").read_text())["api_url"]
        body = httpx.get(f"{api}/v1/search", params={"tenant": "kopi-nusantara",
                                                      "q": "zebrapelangi"}).json()
        assert body["total"] == 1
    finally:
        assert _ctrl_c(proc) == 0
    second_run = log.read_text()[len(first_run):]
    assert "backfill done" not in second_run
    # the indexer got the SIGINT too: its exit is the shutdown, not a crash to restart
    assert "restarting" not in second_run and "indexer exited" not in second_run
    time.sleep(0.5)
    pids = json.loads((data / "pg" / ".handle_pids.json").read_text())
    assert pids == []  # PostgreSQL was stopped with the stack


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the processes whose parent is ``pid``."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            out.append((int(entry.name), cmd))
    return out


def test_sigterm_before_serving_stops_the_indexer_and_postgres(tmp_path: Path) -> None:
    # `awsm up` waits for the indexer's first pass before it serves; a SIGTERM then
    # (docker stop, systemd) once ended it at once, leaving both children running
    data, log = tmp_path / "data", tmp_path / "up.log"
    proc = _up(data, log)
    try:
        indexer = wait_for(lambda: next((p for p, cmd in _children(proc.pid)
                                         if "gateway.cli indexer" in cmd), None),
                           timeout=60, interval=0.02)
        assert not (data / "stack.json").exists()  # still waiting: nothing served yet
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(0.5)
    assert not Path(f"/proc/{indexer}").exists() or \
        "gateway.cli indexer" not in Path(f"/proc/{indexer}/cmdline").read_bytes().decode(
            errors="replace").replace("\0", " ")
    assert json.loads((data / "pg" / ".handle_pids.json").read_text()) == []


def test_a_signal_taken_before_uvicorn_listens_still_stops_it() -> None:
    # taken while the app was being built (the stack's own handler), it set the
    # supervisor's event; uvicorn must then shut down at once instead of serving
    import threading

    import uvicorn

    from gateway.stack import _Server

    stopping = threading.Event()
    server = _Server(uvicorn.Config(app=lambda *a: None), stopping)
    with server.capture_signals():
        assert not server.should_exit
    stopping.set()
    with server.capture_signals():
        assert server.should_exit


def test_a_stop_while_the_indexer_command_is_made_starts_no_child() -> None:
    # stop() found no child yet and returned; the supervisor then started one, which
    # outlived the stack
    from gateway.stack import _IndexerSupervisor

    class Supervisor(_IndexerSupervisor):
        def command(self, first: bool) -> list[str]:
            self.stop()  # arrives just as the child is about to be started
            return ["sleep", "30"]

    supervisor = Supervisor(dict(os.environ), reindex=False)
    supervisor.start()
    supervisor.join(5)
    assert not supervisor.is_alive() and supervisor.proc is None
