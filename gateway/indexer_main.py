"""Runs the indexer in this process until SIGTERM/SIGINT/SIGHUP: ``awsm indexer``.

Any failure ends the process with a non-zero code and is recorded in
``search.indexer_status``, except a slot held by another indexer (that row is the other
indexer's); the supervisor (``awsm up``, systemd, Kubernetes) restarts it and the slot
replays from the last durable position.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import psycopg

from awsm.errors import ConfigError
from awsm.settings import Settings
from gateway.stop_signals import relayed_stop_signals
from indexer.mapping import mapping_for
from indexer.replication import SlotInUse
from indexer.worker import BackfillStopped, Indexer
from search_svc.engines import open_engine
from search_svc.errors import EngineUnavailable

__all__ = ["run_indexer"]

log = logging.getLogger("awsm.indexer")


def _stop_when_orphaned(parent_pid: int, stop: threading.Event) -> None:
    """Under ``awsm up`` (which passes its pid), stop once it is gone: a killed ``awsm
    up`` cannot stop its child, which would hold the index and the slot against the
    next run on the data dir."""
    while not stop.wait(1.0):
        if os.getppid() != parent_pid:
            log.warning("awsm up (pid %d) is gone: stopping", parent_pid)
            stop.set()


def run_indexer(settings: Settings, *, reindex: bool = False,
                parent_pid: int | None = None) -> int:
    assert settings.database_url is not None
    stop = threading.Event()
    if parent_pid is not None:
        threading.Thread(target=_stop_when_orphaned, args=(parent_pid, stop),
                         name="parent-watch", daemon=True).start()

    def _stop(signum: int) -> None:
        log.info("signal %d: stopping after the current batch", signum)
        stop.set()

    # SIGHUP too: under `awsm up` it reaches both on a hangup
    with relayed_stop_signals(_stop):
        return _run(settings, stop, reindex=reindex)


# Written while a rebuild asked for (--reindex) runs: one stopped part-way (Ctrl-C, a
# crash, a restart) is started again by the next start, asked for or not, rather than
# dropped while the old index is served on.
REINDEX_PENDING = "reindex-pending"


def _mark(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    except OSError as exc:  # a read-only data dir: the rebuild runs, unrecorded
        log.warning("cannot record the rebuild in %s (%s): if it is stopped, the next "
                    "start will not take it up again", path, exc.strerror or exc)


def _run(settings: Settings, stop: threading.Event, *, reindex: bool) -> int:
    assert settings.database_url is not None
    mapping = mapping_for(settings)
    try:
        engine = open_engine(settings, writer=True)
    except EngineUnavailable as exc:  # e.g. another indexer holds the index's writer lock
        log.error("%s: %s", exc.code, exc.detail or exc)  # one line, as for a held slot
        return 1
    try:
        indexer = Indexer(settings, mapping, engine, settings.database_url)
    except psycopg.OperationalError as exc:  # down, a wrong host, password or database
        engine.close()
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log.error("the database of AWSM_DATABASE_URL cannot be reached (%s)", reason)
        return 1
    pending = settings.data_dir / REINDEX_PENDING
    if not reindex and pending.exists():
        log.info("the rebuild asked for earlier (--reindex) did not finish: rebuilding")
        reindex = True
    try:
        if reindex:
            _mark(pending)
            indexer.prepare()
            indexer.backfill(stop)
            pending.unlink(missing_ok=True)
        indexer.run(stop)
        return 0
    except BackfillStopped:  # a signal: the live index answers as before
        return 0
    except SlotInUse as exc:
        # said in one line, and not written into the status row, which is the row of
        # the indexer that holds the slot and is healthy
        log.error("%s: %s", exc.code, exc)
        return 1
    except ConfigError as exc:
        indexer.record_error(exc)
        raise  # the CLI prints it without a traceback and exits 2
    except (psycopg.errors.UndefinedColumn, psycopg.errors.UndefinedTable) as exc:
        # a mapped column or table dropped or renamed under the stream: say which, as a
        # start would, rather than a traceback (the next start said it anyway)
        try:
            indexer.load_column_types()
        except ConfigError as config:
            indexer.record_error(config)
            raise config from exc
        log.exception("indexer failed")
        indexer.record_error(exc)
        raise
    except Exception as exc:
        log.exception("indexer failed")
        indexer.record_error(exc)
        raise
    finally:
        indexer.close()
        engine.close()
