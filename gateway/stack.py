"""``awsm up``: the whole stack on one machine under one data directory.

Embedded PostgreSQL (``wal_level=logical``) → migrations → demo content (once, with
``--demo``) → the indexer as a supervised child process → the API (uvicorn) in this
process. Prints and writes ``<data-dir>/stack.json``; Ctrl-C / SIGTERM / SIGHUP stops all
of it.
A second run on the same data directory resumes with the data and index intact.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import uvicorn

from awsm.db import connect
from awsm.errors import ConfigError
from awsm.settings import Settings
from gateway.demo import prepare_schema
from gateway.demo_secrets import demo_secrets
from gateway.embedded_pg import EmbeddedPostgres, shell_special_chars
from gateway.http_server import uvicorn_options
from gateway.stop_signals import relayed_stop_signals, stop_signals
from indexer.mapping import mapping_for
from media_svc.service import media_config
from search_svc.engines.generations import read_pointer

__all__ = ["backfilled_since", "run_stack", "running_stack_database_url"]

log = logging.getLogger("awsm.stack")
_DB_NAME = "awcms"
# the offline model with the best Indonesian nDCG@10 that loses no more than a few
# points on Cranfield (docs/embeddings.md: e5 0.810 / 0.367; USE 0.834 but 0.216 on
# Cranfield); `AWSM_EMBEDDER=use-multilingual` is ~40x faster, `none` turns it off
DEMO_EMBEDDER = "e5-multilingual"
# `awsm up` prints its URLs once the indexer has been through the tables (the demo: well
# under a second), or after this long: a large database's first backfill takes minutes
FIRST_PASS_WAIT_S = 120.0
CONFIG_EXIT = 2  # the CLI's exit on a configuration error (gateway.cli)


def _prepare_database(pg: EmbeddedPostgres, demo: bool, media_root: Path) -> str:
    with psycopg.connect(pg.url(), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (_DB_NAME,)).fetchone():
            conn.execute(f"CREATE DATABASE {_DB_NAME}")
    url = pg.url(_DB_NAME)
    with connect(url) as conn:
        prepare_schema(conn)
        if demo:
            row = conn.execute("SELECT count(*) FROM tenants").fetchone()
            if row is not None and row[0] == 0:
                from gateway.demo.corpus import load_demo

                summary = load_demo(conn, media_root)
                log.info("demo content loaded: %s", summary)
    return url


class _CannotStart(Exception):
    """Why ``awsm up`` cannot start, said in one line (exit 1) before anything started."""


def _lock_data_dir(data_dir: Path) -> int:
    """Hold ``<data-dir>/stack.lock`` for as long as this stack runs: a second ``awsm up``
    on the same data dir would share its PostgreSQL, restart its own indexer forever on
    the held index and write its URLs over the first's. The kernel drops the lock with
    the process, so a killed run leaves none behind. Returns the descriptor to keep."""
    fd = os.open(data_dir / "stack.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        try:
            at = f", serving {json.loads((data_dir / 'stack.json').read_text())['api_url']}"
        except (OSError, ValueError, KeyError):
            at = ""
        raise _CannotStart(f"another `awsm up` (pid {holder}{at}) is already running on "
                           f"{data_dir}: stop it first, or give this one its own --data-dir"
                           ) from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def running_stack_database_url(data_dir: Path) -> str | None:
    """The database of the ``awsm up`` running in ``data_dir`` (from its stack.json), None
    when none ever ran there, or ``ConfigError`` when the one that did has stopped (its
    embedded PostgreSQL runs only while it does)."""
    stack_file = data_dir / "stack.json"
    try:
        if not stack_file.exists():
            return None
    except OSError as exc:  # a name over 255 bytes
        raise ConfigError([f"AWSM_DATA_DIR: cannot use {data_dir}: {exc.strerror or exc}"]
                          ) from None
    try:
        fd = os.open(data_dir / "stack.lock", os.O_RDONLY)
    except FileNotFoundError:
        fd = None  # written by a version without the lock: taken as running
    if fd is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # held: the stack runs
        else:
            raise ConfigError([f"the `awsm up` that wrote {stack_file} is not running, and "
                               "its database runs only while it does: start it again, or set "
                               "AWSM_DATABASE_URL"])
        finally:
            os.close(fd)
    try:
        url = json.loads(stack_file.read_text()).get("database_url")
    except (OSError, ValueError, AttributeError):
        return None
    return url if isinstance(url, str) and url else None


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _status_since(url: str, slot: str, condition: str, since: float) -> bool:
    """Whether ``condition`` (SQL over ``search.indexer_status``, a timestamp compared
    with ``%s``: ``since``) holds for the indexer of ``slot``; False when it cannot be
    read (the schema is not there yet: the indexer makes it)."""
    try:
        with connect(url) as conn:
            row = conn.execute(f"SELECT {condition} FROM search.indexer_status "
                               "WHERE slot_name = %s", (since, slot)).fetchone()
    except psycopg.Error:
        return False
    return bool(row and row[0])


def backfilled_since(url: str, slot: str, since: float) -> bool:
    """Whether the indexer of ``slot`` finished a backfill after ``since`` (Unix time);
    False when it cannot tell: ask for it again (a rebuild is safe to repeat)."""
    return _status_since(url, slot, "backfilled_at >= to_timestamp(%s)", since)


def streaming_since(url: str, slot: str, since: float) -> bool:
    """Whether the indexer of ``slot`` has reached its stream (a first backfill, if one
    was due, done) since ``since``: the index exists and holds the tables."""
    return _status_since(url, slot, "state = 'streaming' AND updated_at >= to_timestamp(%s)",
                         since)


@contextlib.contextmanager
def _on_signals(handle: Callable[[], None]) -> Iterator[None]:
    """The stop signals call ``handle`` instead of ending the process, for the block
    (from a thread of their own: ``relayed_stop_signals``)."""
    with relayed_stop_signals(lambda _signum: handle()):
        yield


def _wait_for_index(ready: Callable[[], bool], stop: threading.Event,
                    timeout_s: float = FIRST_PASS_WAIT_S,
                    refused: threading.Event | None = None) -> bool:
    """Serve only once the index exists (searches answered 503 until then); a first
    backfill of a large database is reported and, past ``timeout_s``, not waited for.
    False when the indexer ``refused`` its configuration first: nothing to serve."""
    started = time.monotonic()
    told = False
    while not stop.is_set() and not ready():
        if refused is not None and refused.is_set():
            return False
        waited = time.monotonic() - started
        if waited > timeout_s:
            log.warning("the indexer has not finished its first pass after %.0f s; serving "
                        "anyway (searches answer 503 until the index exists)", waited)
            return True
        if waited > 2 and not told:
            log.info("waiting for the indexer's first pass over the tables ...")
            told = True
        stop.wait(0.1)
    return True


def _index_exists(settings: Settings) -> bool:
    """Whether an earlier run left a Tantivy index: it is served at once (the indexer
    catches up with what changed meanwhile, and ``--reindex`` builds its successor while
    it answers), so only a first run waits for the indexer's first pass."""
    return settings.engine_kind == "tantivy" and read_pointer(settings.tantivy_dir) is not None


class _IndexerSupervisor(threading.Thread):
    """Keeps one ``awsm indexer`` child running; restarts it with backoff if it dies.
    With ``reindex``, every child is asked to rebuild until one has finished doing so
    (``reindex_done``): a first child that fails (a mapping naming a column not there
    yet) must not turn ``--reindex`` into a plain restart."""

    def __init__(self, env: dict[str, str], reindex: bool,
                 reindex_done: Callable[[], bool] = lambda: True) -> None:
        super().__init__(name="indexer-supervisor", daemon=True)
        self.env, self.reindex, self.reindex_done = env, reindex, reindex_done
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopping = threading.Event()
        # a child ended with the CLI's configuration exit (a mapped table or column the
        # database lacks): retried, since a migration may add it, but a first run stops
        self.refused = threading.Event()
        self._spawning = threading.Lock()  # a child is started, or stop() looks, not both

    def command(self, first: bool) -> list[str]:
        # the child stops once this process is gone (kill -9, the OOM killer): it would
        # hold the index and the slot against the next `awsm up` on the data dir
        cmd = [sys.executable, "-m", "gateway.cli", "indexer", "--parent-pid", str(os.getpid())]
        if self.reindex and (first or not self.reindex_done()):
            cmd.append("--reindex")
        return cmd

    def run(self) -> None:
        backoff = 0.5
        first = True
        while not self.stopping.is_set():
            cmd = self.command(first)
            first = False
            started = time.monotonic()
            with self._spawning:
                if self.stopping.is_set():
                    return  # stop() came while the command was made: no child to orphan
                self.proc = subprocess.Popen(cmd, env=self.env)
            code = self.proc.wait()
            if self.stopping.is_set():
                return
            if code == CONFIG_EXIT:
                self.refused.set()
            backoff = 0.5 if time.monotonic() - started > 30 else min(backoff * 2, 30.0)
            log.warning("indexer exited with %s; restarting in %.1fs", code, backoff)
            self.stopping.wait(backoff)

    def stop(self) -> None:
        self.stopping.set()
        with self._spawning:  # a child being started is started by now, and the last
            proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
            except KeyboardInterrupt:  # a second Ctrl-C: wait no longer, but never leave
                proc.kill()  # the child behind holding the index and the slot
                raise


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM/SIGINT after its own shutdown, which would kill this
    process before the indexer and PostgreSQL are stopped; we take the signals here.
    ``stopping`` is set at once: Ctrl-C reaches the indexer child too (one process group),
    and its supervisor must know the exit that follows is a shutdown, not a crash."""

    def __init__(self, config: uvicorn.Config, stopping: threading.Event) -> None:
        super().__init__(config)
        self.stopping = stopping

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        def _exit() -> None:
            self.should_exit = True
            self.stopping.set()

        with _on_signals(_exit):
            # a signal taken before these handlers (while the app was built) counts too
            self.should_exit = self.should_exit or self.stopping.is_set()
            yield


def run_stack(settings: Settings, *, demo: bool, reindex: bool = False) -> int:
    # SIGTERM (docker stop, systemd) while PostgreSQL starts or the demo loads ends the
    # start-up as Ctrl-C does, through the blocks that stop what was started; left to
    # its default it ended the process at once and the database ran on, orphaned
    previous = {s: signal.signal(s, signal.default_int_handler) for s in stop_signals()}
    try:
        return _run_stack(settings, demo=demo, reindex=reindex)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run_stack(settings: Settings, *, demo: bool, reindex: bool) -> int:
    data_dir = settings.data_dir.resolve()
    try:
        odd = shell_special_chars(data_dir)
        if odd:
            raise ConfigError([f"cannot use {str(data_dir)!r} as the data dir: its path holds "
                               f"{', '.join(map(repr, odd))}, which PostgreSQL's pg_ctl would "
                               "hand to a shell; choose a path without them"])
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            lock = _lock_data_dir(data_dir)
        except OSError as exc:  # a file there, no permission, a read-only disk
            raise _CannotStart(f"cannot use {data_dir} as the data dir: "
                               f"{exc.strerror or exc}") from None
        try:
            return _run_locked(settings, data_dir, demo=demo, reindex=reindex)
        finally:
            os.close(lock)
    except _CannotStart as exc:
        print(f"awsm: {exc}", file=sys.stderr)
        return 1


def _validate(settings: Settings) -> None:
    """Every problem with the settings, the mapping and the media settings, at once: the
    indexer and the app read the last two only once PostgreSQL runs, and a bad one
    crash-looped the indexer for the two minutes a first run waits for it, then printed
    URLs that were never served."""
    problems: list[str] = []
    for check in (lambda: settings.validate_for("stack"),
                  lambda: mapping_for(settings), lambda: media_config(settings)):
        try:
            check()
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)


def _run_locked(settings: Settings, data_dir: Path, *, demo: bool, reindex: bool) -> int:
    (data_dir / "stack.json").unlink(missing_ok=True)  # a last run's URLs: written anew below
    extra = demo_secrets(data_dir) if demo else {}
    for key, value in extra.items():
        os.environ.setdefault(key, value)
    if demo and "embedder" not in settings.model_fields_set:
        settings = settings.model_copy(update={"embedder": DEMO_EMBEDDER})
    settings = settings.model_copy(update={
        "data_dir": data_dir,
        "signing_keys": settings.signing_keys or extra.get("AWSM_SIGNING_KEYS", ""),
        "jwt_secret": settings.jwt_secret or extra.get("AWSM_JWT_SECRET"),
    })
    # what can be told before PostgreSQL starts and the demo loads is told first
    _validate(settings)
    try:
        sock = _bind(settings.host, settings.port)
    except OSError as exc:
        raise _CannotStart(f"cannot listen on {settings.host}:{settings.port}: "
                           f"{exc.strerror or exc} (--port 0 picks a free port)") from None
    with sock:
        return _run_bound(settings, data_dir, sock, demo=demo, reindex=reindex)


def _run_bound(settings: Settings, data_dir: Path, sock: socket.socket, *, demo: bool,
               reindex: bool) -> int:
    from gateway.app import create_app

    pg = EmbeddedPostgres(data_dir / "pg")
    try:
        url = _prepare_database(pg, demo, settings.resolved_media_root)
        # the embedded database serves reads too: a read URL left in the environment
        # named another database than the one indexed
        settings = settings.model_copy(update={"database_url": url, "database_read_url": None})
        port = sock.getsockname()[1]
        host = f"[{settings.host}]" if ":" in settings.host else settings.host  # IPv6
        api_url = f"http://{host}:{port}"
        env = {**os.environ, "AWSM_DATABASE_URL": url, "AWSM_DATA_DIR": str(data_dir),
               "AWSM_SIGNING_KEYS": settings.signing_keys,
               "AWSM_JWT_SECRET": settings.jwt_secret or "",
               "AWSM_DEMO": "true" if demo else "false", "AWSM_EMBEDDER": settings.embedder}
        env.pop("AWSM_DATABASE_READ_URL", None)
        asked_at = time.time()
        supervisor = _IndexerSupervisor(
            env, reindex,
            reindex_done=lambda: backfilled_since(url, settings.slot_name, asked_at))
        try:
            # Stopped while it waits for its first index or builds the app, the stack
            # still stops its indexer and PostgreSQL; uvicorn then takes the signals over.
            with _on_signals(supervisor.stopping.set):
                supervisor.start()
                if not _index_exists(settings) and not _wait_for_index(
                        lambda: streaming_since(url, settings.slot_name, asked_at),
                        supervisor.stopping, refused=supervisor.refused):
                    # its error is printed above; serving would answer 503 until fixed
                    print("awsm: the indexer refused its configuration (above): nothing to "
                          "serve; fix it and start again", file=sys.stderr)
                    return CONFIG_EXIT
                if supervisor.stopping.is_set():
                    return 0  # stopped before serving: the indexer and PostgreSQL stop below
                (data_dir / "stack.json").write_text(
                    json.dumps({"api_url": api_url, "database_url": url}))
                print(f"api: {api_url}", flush=True)
                print(f"database: {url}", flush=True)
                print(f"docs: {api_url}/docs", flush=True)
                config = uvicorn.Config(create_app(settings), access_log=False,
                                        **uvicorn_options(settings))
                server = _Server(config, supervisor.stopping)
                server.run(sockets=[sock])
        finally:
            supervisor.stop()
    finally:
        pg.stop()
    return 0
