"""`awsm up` when things go wrong around it: a second run on the same data dir, a port
taken, a kill -9, a SIGTERM during start-up, a data dir it cannot use. Real processes on
a real data dir, as a user runs them (no embedder: these are about the process tree)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.fix_stack import wait_for


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWSM_")}
    env.update(AWSM_LOG_LEVEL="info", AWSM_EMBEDDER="none")
    return env


def _up(data_dir: Path, log: Path, *args: str, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "up", "--demo", "--data-dir", str(data_dir),
         *(args or ("--port", "0"))], stdout=log.open("ab"), stderr=subprocess.STDOUT,
        env={**_env(), **env}, start_new_session=True)


def _awsm(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    """``awsm ARGS`` run to its end, its output captured."""
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], capture_output=True,
                          text=True, env={**_env(), **env}, timeout=timeout)


def _processes_under(path: Path) -> list[tuple[int, str]]:
    """(pid, command line) of every process whose command line names ``path``."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(path) in cmd:
                out.append((int(entry.name), cmd))
    return out


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def _serving(data: Path, log: Path, *args: str, **env: str) -> Iterator[str]:
    """``awsm up`` started and serving: yields its ``api_url`` (stack.json); stopped after,
    and it must exit 0."""
    proc = _up(data, log, *args, **env)
    try:
        wait_for(lambda: (data / "stack.json").exists() or proc.poll() is not None,
                 timeout=60, interval=0.1)
        assert proc.poll() is None, log.read_text()[-3000:]
        yield str(json.loads((data / "stack.json").read_text())["api_url"])
    finally:
        _stop(proc)
        _stop_postgres(data)
    assert proc.returncode == 0, log.read_text()[-3000:]


def _stop_postgres(data_dir: Path) -> None:
    """A PostgreSQL a test left behind (it failed): stopped so it does not outlive it."""
    for pid, cmd in _processes_under(data_dir / "pg"):
        if "postgres -D" in cmd:
            os.kill(pid, signal.SIGINT)


def test_a_second_up_on_a_running_data_dir_is_refused(tmp_path: Path) -> None:
    # it once started a second API on the same database, its indexer restarting forever
    # on the held index, and wrote its own URL over the first's in stack.json
    data, log = tmp_path / "data", tmp_path / "up.log"
    first = _up(data, log)
    try:
        wait_for((data / "stack.json").exists, timeout=60, interval=0.1)
        stack = (data / "stack.json").read_text()
        second = _awsm("up", "--demo", "--data-dir", str(data), "--port", "0", timeout=30)
        assert second.returncode == 1, second.stderr
        assert "Traceback" not in second.stderr
        assert f"pid {first.pid}" in second.stderr and "already" in second.stderr
        assert (data / "stack.json").read_text() == stack  # the first's URLs stay
        assert first.poll() is None
    finally:
        _stop(first)
        _stop_postgres(data)
    assert first.returncode == 0, log.read_text()[-3000:]


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def test_a_port_in_use_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        try:
            run = _awsm("up", "--demo", "--data-dir", str(data), "--port", str(port))
        finally:
            _stop_postgres(data)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert f"127.0.0.1:{port}" in run.stderr and "in use" in run.stderr
    assert not (data / "pg").exists()  # no database started (nor demo loaded) for nothing


def test_serve_on_a_port_in_use_says_so_and_exits_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = _awsm("serve", "--port", str(port), AWSM_DEMO="true", AWSM_DATA_DIR=str(tmp_path))
    assert run.returncode == 1, run.stderr  # as documented (uvicorn's own code is 3)
    assert "Traceback" not in run.stderr
    assert f"127.0.0.1', {port}" in run.stderr and "in use" in run.stderr


def test_a_data_dir_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_text("not a directory")
    run = _awsm("up", "--demo", "--data-dir", str(data), "--port", "0")
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr and str(data) in run.stderr


def test_a_data_dir_whose_path_a_shell_would_read_is_refused_before_anything_runs(
        tmp_path: Path) -> None:
    # pg_ctl hands the path to /bin/sh in double quotes: a backtick ran a command, '"' and
    # '$' ended in a traceback, a newline failed in initdb
    marker = tmp_path / "ran"
    for name in (f"bt`touch {marker}`dir", 'q"dir', "d$HOME", "nl\ndir", "b\\s"):
        data = tmp_path / name
        run = _awsm("up", "--demo", "--data-dir", str(data), "--port", "0")
        assert run.returncode == 2, run.stderr  # a configuration error, as docs/cli.md says
        assert "Traceback" not in run.stderr and "would hand to a shell" in run.stderr
        assert not data.exists()
    assert not marker.exists()


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"AWSM_SIGNING_KEYS": 3}',
                                     '{"AWSM_SIGNING_KEYS": "k1:short", "AWSM_JWT_SECRET": "x"}',
                                     None])
def test_a_damaged_secrets_file_is_one_clear_line(tmp_path: Path, content: str | None) -> None:
    # each ended `awsm up` and `awsm sign-url` with a traceback
    data = tmp_path / "data"
    data.mkdir()
    if content is None:
        (data / "secrets.json").mkdir()  # a directory where the file should be
    else:
        (data / "secrets.json").write_text(content)
    for args in (("sign-url", "a.jpg", "--data-dir", str(data)),
                 ("up", "--demo", "--data-dir", str(data), "--port", "0")):
        run = _awsm(*args)
        assert run.returncode == 2, (args, run.stderr)
        assert "Traceback" not in run.stderr and "secrets.json" in run.stderr, run.stderr
    assert not (data / "pg").exists()


def test_a_data_dir_name_too_long_for_the_system_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / ("x" * 300)
    for args in (("sign-url", "a.jpg"), ("check",), ("up", "--demo", "--port", "0")):
        run = _awsm(*args, "--data-dir", str(data))
        assert run.returncode in (1, 2), (args, run.stderr)
        assert "Traceback" not in run.stderr and "too long" in run.stderr, (args, run.stderr)


KEYS = "k1:0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("args,env,said", [
    # the byte 0xff, as a shell passes it
    (("sign-url", "\udcff.jpg"), {"AWSM_SIGNING_KEYS": KEYS}, "UTF-8"),
    (("sign-url", "https://o.example/\udcff.jpg"), {"AWSM_SIGNING_KEYS": KEYS}, "UTF-8"),
    (("sign-url", "a.jpg", "--expires", "9999999999999"), {"AWSM_SIGNING_KEYS": KEYS},
     "--expires"),
    (("check", "--settle", "nan"), {}, "--settle"), (("check", "--settle", "inf"), {}, "--settle"),
    (("check", "--settle", "-1"), {}, "--settle"), (("check", "--show", "-1"), {}, "--show"),
    (("check", "--settle", "86400.5"), {}, "--settle"),
])
def test_hostile_command_arguments_are_a_usage_error(args: tuple[str, ...],
                                                     env: dict[str, str], said: str) -> None:
    # each ended with a traceback (exit 1), was taken (check: nan and inf failed once the
    # index differed, -1 listed keys) or, for --expires, printed a URL the server refuses
    # (its exp_ past the 12 digits it reads)
    run = _awsm(*args, **env)
    assert run.returncode == 2, (args, run.stdout, run.stderr)
    assert "Traceback" not in run.stderr and said in run.stderr, (args, run.stderr)


def test_settle_takes_the_whole_range_the_docs_give() -> None:
    from gateway.cli import _seconds
    assert (_seconds("0"), _seconds("86400")) == (0.0, 86400.0)  # "from 0 to 86,400"


def test_demo_load_into_a_database_it_cannot_reach_is_one_line() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: refused
        run = _awsm("demo-load", AWSM_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/x")
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr and "cannot connect" in run.stderr


def test_missing_secrets_are_reported_before_postgres_starts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run = _awsm("up", "--data-dir", str(data), "--port", "0")
    _stop_postgres(data)
    assert run.returncode == 2, run.stderr
    assert "AWSM_SIGNING_KEYS" in run.stderr
    assert not (data / "pg").exists()


def test_a_bad_mapping_or_media_setting_is_reported_before_postgres_starts(
        tmp_path: Path) -> None:
    # read only once PostgreSQL ran: a missing mapping file crash-looped the indexer for
    # the two minutes a first run waits, and a bad media list was told after `api: URL`
    # was printed and written to stack.json for an API that never served
    data = tmp_path / "data"
    try:
        run = _awsm("up", "--demo", "--data-dir", str(data), "--port", "0", timeout=30,
                    AWSM_MAPPING_FILE=str(tmp_path / "nope.toml"),
                    AWSM_MEDIA_SRCSET_WIDTHS="wide")
    finally:
        _stop_postgres(data)
    assert run.returncode == 2, run.stderr
    assert "AWSM_MAPPING_FILE" in run.stderr and "AWSM_MEDIA_SRCSET_WIDTHS" in run.stderr
    assert "api:" not in run.stdout and not (data / "stack.json").exists()
    assert not (data / "pg").exists()


def test_a_first_up_whose_indexer_refuses_the_mapping_stops_with_its_error(
        tmp_path: Path) -> None:
    # a mapped table the database lacks is found only once PostgreSQL runs: the indexer
    # exited 2 and was restarted for ever while `awsm up` waited two minutes for its
    # first pass, then printed `api:` and served nothing but 503s
    data, mapping = tmp_path / "data", tmp_path / "mapping.toml"
    mapping.write_text("[[documents]]\ntable = 'no_such_posts'\ntype = 'post'\nid = 'id'\n"
                       "tenant = 'tenant_id'\ntitle = 'title'\n")
    started = time.monotonic()
    try:
        run = _awsm("up", "--demo", "--data-dir", str(data), "--port", "0", timeout=90,
                    AWSM_MAPPING_FILE=str(mapping))
    finally:
        _stop_postgres(data)
    assert run.returncode == 2, run.stderr[-3000:]
    assert time.monotonic() - started < 60  # not the 120 s wait for a first pass
    assert "no_such_posts" in run.stderr and "refused its configuration" in run.stderr
    assert "api:" not in run.stdout and not (data / "stack.json").exists()
    assert not [cmd for _, cmd in _processes_under(data) if "postgres -D" in cmd]


def test_serve_outside_demo_mode_does_not_take_a_demos_secrets(tmp_path: Path) -> None:
    # a secrets.json left by `awsm up --demo` in the data dir (default .awsm, where awsm
    # runs) let `awsm serve` start with the demo's keys instead of refusing without
    # AWSM_SIGNING_KEYS and AWSM_JWT_SECRET: every URL signed elsewhere was refused
    (tmp_path / "secrets.json").write_text(json.dumps(
        {"AWSM_SIGNING_KEYS": "demo:" + "s" * 40, "AWSM_JWT_SECRET": "j" * 40}))
    run = _awsm("serve", "--port", "0", timeout=30, AWSM_DATA_DIR=str(tmp_path),
                AWSM_DATABASE_URL="postgresql://awsm@127.0.0.1:1/awcms")
    assert run.returncode == 2, run.stderr
    assert "AWSM_SIGNING_KEYS" in run.stderr


def test_sigterm_while_the_demo_loads_stops_postgres(tmp_path: Path) -> None:
    # before `awsm up` waited for its indexer, SIGTERM (docker stop, systemd) ended it at
    # once: the embedded PostgreSQL it had started ran on, orphaned
    data, log = tmp_path / "data", tmp_path / "up.log"
    proc = _up(data, log)
    try:
        wait_for(lambda: "restarting embedded PostgreSQL" in log.read_text()
                 or proc.poll() is not None, timeout=60, interval=0.02)
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    finally:
        _stop(proc)
    time.sleep(0.5)
    left = [cmd for _pid, cmd in _processes_under(data)]
    _stop_postgres(data)
    assert left == [], log.read_text()[-3000:]
    assert "Traceback" not in log.read_text()


def test_after_a_kill_9_the_indexer_child_goes_and_the_next_up_indexes(tmp_path: Path) -> None:
    # the indexer child of a killed `awsm up` ran on, holding the index, and the next
    # run's indexer restarted forever on "being written by another indexer"
    data, log = tmp_path / "data", tmp_path / "up.log"
    proc = _up(data, log)
    try:
        wait_for((data / "stack.json").exists, timeout=60, interval=0.1)
        indexer = next(pid for pid, cmd in _processes_under(Path("gateway.cli indexer"))
                       if _parent(pid) == proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        wait_for(lambda: _parent(indexer) is None, timeout=15, interval=0.2)
        mark = len(log.read_text())
        proc = _up(data, log)
        wait_for(lambda: "streaming from slot" in log.read_text()[mark:], timeout=60)
        assert "being written by another indexer" not in log.read_text()[mark:]
        assert json.loads((data / "pg" / ".handle_pids.json").read_text()) == [proc.pid]
    finally:
        _stop(proc)
    assert proc.returncode == 0, log.read_text()[-3000:]


def test_a_data_dir_with_spaces_in_its_path_serves(tmp_path: Path) -> None:
    # the embedded PostgreSQL's socket directory went unquoted to pg_ctl -o: it did
    # not start ("postgres: invalid argument")
    data, log = tmp_path / "my awsm data", tmp_path / "up.log"
    with _serving(data, log) as api_url:

        def database_check() -> object:
            try:
                with urllib.request.urlopen(f"{api_url}/readyz", timeout=10) as answer:
                    return json.loads(answer.read())["checks"]["database"]
            except urllib.error.HTTPError as exc:  # 503 while not ready yet
                return json.loads(exc.read())["checks"]["database"]

        # its PostgreSQL (socket under the spaced path) answers the API
        assert wait_for(lambda: database_check() == {"ok": True}, timeout=20) is True
    assert (data / "pg").is_dir()


def test_an_ipv6_host_gets_a_url_that_reaches_the_api(tmp_path: Path) -> None:
    # printed and written as "http://::1:PORT", which no client can parse
    data, log = tmp_path / "data", tmp_path / "up.log"
    with _serving(data, log, "--host", "::1", "--port", "0") as api_url:
        api = urllib.parse.urlsplit(api_url)
        assert api.hostname == "::1"
        with urllib.request.urlopen(f"{api.geturl()}/healthz", timeout=10) as answer:
            assert answer.status == 200
        assert f"api: {api.geturl()}" in log.read_text()


def test_up_serves_from_its_own_database_whatever_the_read_url_says(tmp_path: Path) -> None:
    # AWSM_DATABASE_URL was replaced by the embedded database, AWSM_DATABASE_READ_URL
    # (left set from a production shell) was not: the API read tenants from there and
    # answered every search 503
    data, log = tmp_path / "data", tmp_path / "up.log"
    with _serving(data, log,
                  AWSM_DATABASE_READ_URL="postgresql://awsm@127.0.0.1:1/elsewhere") as api:

        def search_status() -> int:
            try:
                with urllib.request.urlopen(f"{api}/v1/search?tenant=kopi-nusantara&q=kopi",
                                            timeout=10) as answer:
                    return answer.status
            except urllib.error.HTTPError as exc:
                return exc.code

        assert wait_for(lambda: search_status() == 200, timeout=20, interval=0.5)
        with urllib.request.urlopen(f"{api}/v1/search?tenant=kopi-nusantara&q=kopi",
                                    timeout=10) as answer:
            assert json.loads(answer.read())["total"] > 0  # the demo, from its own database


def test_a_hangup_stops_the_stack_and_postgres(tmp_path: Path) -> None:
    # the terminal closed (SIGHUP to its foreground group) ended `awsm up` at once:
    # its PostgreSQL ran on, orphaned
    data, log = tmp_path / "data", tmp_path / "up.log"
    proc = _up(data, log)
    try:
        wait_for((data / "stack.json").exists, timeout=60, interval=0.1)
        os.killpg(proc.pid, signal.SIGHUP)
        code = proc.wait(30)
        time.sleep(0.5)
        left = [cmd for _pid, cmd in _processes_under(data)]
    finally:
        _stop(proc)
        _stop_postgres(data)
    assert code == 0 and left == [], log.read_text()[-3000:]
    assert "indexer exited" not in log.read_text()  # its exit was the stop, not a crash
