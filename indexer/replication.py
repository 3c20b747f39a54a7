"""Logical replication: the publication, the slot, and the pgoutput stream.

The one module that knows PostgreSQL's replication protocol. Slot and publication
management use psycopg 3; the stream uses psycopg2's ``LogicalReplicationConnection``
(psycopg 3 has no replication API). Positions are confirmed only when the caller says
the engine write is durable (``confirm``); nothing here decides that.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from dataclasses import dataclass

import psycopg
import psycopg2
import psycopg2.extras
from psycopg import sql

from awsm.db import connect_timeout
from awsm.errors import ConfigError, ServiceUnavailable
from indexer.pgoutput import format_lsn

__all__ = [
    "ReplicationStream",
    "SlotInUse",
    "SlotInfo",
    "check_slot_free",
    "emit_heartbeat",
    "ensure_publication",
    "ensure_slot",
    "slot_info",
]


log = logging.getLogger("awsm.indexer")


class SlotInUse(ServiceUnavailable):
    code, message = "slot_in_use", "The replication slot is held by another process."


@dataclass(frozen=True, slots=True)
class SlotInfo:
    name: str
    active_pid: int | None
    confirmed_flush_lsn: str | None
    wal_status: str | None
    lag_bytes: int | None


def check_replica_identity(conn: psycopg.Connection, keys: dict[str, str]) -> None:
    """Every published table needs a replica identity that carries the column the
    mapping keys its rows by (``keys``: table → column): a delete sends nothing else, so
    without it the deleted row's document could never be found and would stay."""
    problems = []
    for table, key in keys.items():
        row = conn.execute(
            "SELECT c.relreplident, i.indexrelid IS NOT NULL, coalesce(%s = ANY(ARRAY("
            " SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = c.oid"
            " AND a.attnum = ANY(i.indkey))), false) "
            "FROM pg_class c LEFT JOIN pg_index i ON i.indrelid = c.oid AND CASE c.relreplident"
            " WHEN 'i' THEN i.indisreplident ELSE i.indisprimary END "
            "WHERE c.oid = to_regclass(quote_ident(%s))", (key, table)
        ).fetchone()
        fix = f"ALTER TABLE {sql.Identifier(table).as_string(conn)} REPLICA IDENTITY FULL"
        if row is None:
            problems.append(f"table {table!r} named in the mapping does not exist")
        elif row[0] == "n" or (row[0] in ("d", "i") and not row[1]):
            problems.append(
                f"table {table!r} has no replica identity (no primary key): deletes would "
                f"carry no key. Add a primary key or {fix}."
            )
        elif row[0] != "f" and not row[2]:
            problems.append(
                f"table {table!r}: its replica identity leaves out {key!r}, the column the "
                f"mapping keys it by, so deletes would not say which row went. Use a unique "
                f"index that includes {key!r} (ALTER TABLE ... REPLICA IDENTITY USING INDEX "
                f"...), or {fix}."
            )
    if problems:
        raise ConfigError(problems)


_OWNER = "awsm indexer of slot "  # the publication's comment: which indexer it serves


def ensure_publication(conn: psycopg.Connection, name: str, tables: tuple[str, ...],
                       slot: str) -> None:
    """The publication ``name`` over exactly ``tables``, marked (its comment) as the one
    of the indexer of ``slot``. One that another indexer's slot (still in this database)
    uses is never changed: a second environment or a second mapping that reused the name
    would silently stop the first indexer's changes for the tables it drops. A
    partitioned table's changes are published as its own (``publish_via_partition_root``):
    under their partitions' names no mapping would know them."""
    idents = sql.SQL(", ").join(sql.Identifier(t) for t in tables)
    row = conn.execute("SELECT obj_description(oid, 'pg_publication') FROM pg_publication "
                       "WHERE pubname = %s", (name,)).fetchone()
    if row is not None:
        comment = row[0] or ""  # none: made by an older awsm, adopted
        owner = comment.removeprefix(_OWNER) if comment.startswith(_OWNER) else None
        if owner and owner != slot and slot_info(conn, owner) is not None:
            raise ConfigError([
                f"publication {name!r} belongs to the indexer of replication slot {owner!r}; "
                "set AWSM_PUBLICATION_NAME to a name of this indexer's own (one publication "
                "per slot) so that indexer keeps receiving its tables' changes"])
        conn.execute(sql.SQL("ALTER PUBLICATION {} SET TABLE {}").format(sql.Identifier(name), idents))
        conn.execute(sql.SQL("ALTER PUBLICATION {} SET (publish_via_partition_root = true)")
                     .format(sql.Identifier(name)))
    else:
        conn.execute(sql.SQL("CREATE PUBLICATION {} FOR TABLE {} "
                             "WITH (publish_via_partition_root = true)")
                     .format(sql.Identifier(name), idents))
    conn.execute(sql.SQL("COMMENT ON PUBLICATION {} IS {}").format(
        sql.Identifier(name), sql.Literal(_OWNER + slot)))


def slot_info(conn: psycopg.Connection, name: str) -> SlotInfo | None:
    row = conn.execute(
        "SELECT slot_name, active_pid, confirmed_flush_lsn::text, wal_status, "
        "pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint "
        "FROM pg_replication_slots WHERE slot_name = %s AND database = current_database()",
        (name,),
    ).fetchone()
    return SlotInfo(*row) if row else None


def check_slot_free(conn: psycopg.Connection, name: str, *,
                    wait_s: float = 10.0) -> SlotInfo | None:
    """The slot's state once no other process holds it (None: there is none), or
    ``SlotInUse``. A slot whose holder just died stays active until its walsender
    notices, so wait a little before calling it held. Checked before anything else of
    the slot's is touched (its publication above all)."""
    deadline = time.monotonic() + wait_s
    while True:
        info = slot_info(conn, name)
        if info is None or info.active_pid is None:
            return info
        if time.monotonic() > deadline:
            who = conn.execute(
                "SELECT coalesce(application_name, ''), coalesce(client_addr::text, 'local') "
                "FROM pg_stat_activity WHERE pid = %s", (info.active_pid,)
            ).fetchone()
            raise SlotInUse(
                f"replication slot {name!r} is held by another process (pid {info.active_pid}"
                + (f", application {who[0]!r} from {who[1]}" if who else "")
                + "). Stop the other indexer, or give this one its own AWSM_SLOT_NAME."
            )
        time.sleep(0.2)


def ensure_slot(conn: psycopg.Connection, name: str, *, wait_s: float = 10.0) -> bool:
    """Create the slot if absent (True) or check nobody else holds it (False).

    A ``lost`` slot (WAL removed) is recreated: the caller must then rebuild the index,
    since changes are gone."""
    info = check_slot_free(conn, name, wait_s=wait_s)
    if info is not None and info.wal_status == "lost":
        conn.execute("SELECT pg_drop_replication_slot(%s)", (name,))
        info = None
    if info is not None:
        return False
    other = conn.execute(
        "SELECT database FROM pg_replication_slots WHERE slot_name = %s", (name,)
    ).fetchone()
    if other:
        raise ConfigError([
            f"replication slot {name!r} belongs to database {other[0]!r}; set "
            "AWSM_SLOT_NAME to a name unique to this database and environment"
        ])
    conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (name,))
    return True


def emit_heartbeat(conn: psycopg.Connection) -> None:
    """A WAL record our slot decodes, so it can advance while mapped tables are idle."""
    conn.execute("SELECT pg_logical_emit_message(false, 'awsm_heartbeat', now()::text)")


STATUS_INTERVAL_S = 5.0  # feedback to the server at least this often (or a quarter of
# its wal_sender_timeout, if that is shorter)
STALL_S = 1800.0  # no progress this long: keepalives stop, the server may free the slot
# (long enough for the single steps of a large rebuild: its final commit, the vector
# reconciliation, queueing every row for embedding)


class ReplicationStream:
    """The pgoutput stream of one slot; ``read`` drains what has arrived."""

    def __init__(self, dsn: str, slot: str, publication: str) -> None:
        self.dsn, self.slot, self.publication = dsn, slot, publication
        self._conn: psycopg2.extensions.connection | None = None
        self._cur: psycopg2.extras.ReplicationCursor | None = None
        self.status_interval_s = STATUS_INTERVAL_S
        self.stall_s = STALL_S
        self._fed_at = 0.0  # monotonic time of the last feedback we know of
        self._progress_at = 0.0  # ... and of the indexer's last sign of progress
        self._lock = threading.Lock()  # one user of the cursor at a time
        self._stop = threading.Event()  # this open's keepalive thread ends when set
        self._keeper: threading.Thread | None = None

    def open(self) -> None:
        try:
            self._conn = psycopg2.connect(
                self.dsn, connection_factory=psycopg2.extras.LogicalReplicationConnection,
                application_name="awsm-indexer", **connect_timeout(self.dsn),
            )
            self._cur = self._conn.cursor()
            self._cur.execute("SELECT setting::bigint FROM pg_settings "
                              "WHERE name = 'wal_sender_timeout'")
            row = self._cur.fetchone()
            timeout_s = row[0] / 1000 if row and row[0] > 0 else 0.0  # 0: never times out
            self.status_interval_s = min(STATUS_INTERVAL_S, timeout_s / 4 or STATUS_INTERVAL_S)
            self._fed_at = self._progress_at = time.monotonic()
            self._cur.start_replication(
                slot_name=self.slot, decode=False,
                status_interval=max(1.0, self.status_interval_s),  # psycopg2: 1 s at least
                options={"proto_version": "1", "publication_names": self.publication,
                         "messages": "true"},
            )
        except psycopg2.Error as exc:
            self.close()
            raise ServiceUnavailable(detail=f"cannot start replication: {exc}") from exc
        self._stop = stop = threading.Event()
        self._keeper = threading.Thread(target=self._keep_alive, args=(stop,),
                                        name="replication-keepalive", daemon=True)
        self._keeper.start()

    def progress(self) -> None:
        """The indexer is getting on with long work (a page of a rebuild, a part of a
        large batch): keep the stream alive (``_keep_alive``)."""
        self._progress_at = time.monotonic()

    def read(self, timeout: float, max_messages: int = 10_000) -> list[tuple[int, bytes]]:
        """Messages that arrived, as (wal start, payload); waits up to ``timeout`` for one."""
        assert self._cur is not None and self._conn is not None
        out: list[tuple[int, bytes]] = []
        with self._lock:
            try:
                self._fed_at = self._progress_at = time.monotonic()  # read_message sends
                # feedback when it is due
                while len(out) < max_messages:
                    msg = self._cur.read_message()
                    if msg is None:
                        if out:
                            break
                        ready, _, _ = select.select([self._conn], [], [], timeout)
                        if not ready:
                            break
                        timeout = 0
                        continue
                    out.append((msg.data_start, bytes(msg.payload)))
            except psycopg2.Error as exc:
                raise ServiceUnavailable(detail=f"replication stream broke: {exc}") from exc
        return out

    @property
    def wal_end(self) -> int:
        return int(self._cur.wal_end) if self._cur is not None else 0

    def _keep_alive(self, stop: threading.Event) -> None:
        """While a batch is applied (or a TRUNCATE rebuilds) nothing is read, and reading
        is what answers the server: a walsender that hears nothing for
        ``wal_sender_timeout`` (60 s by default) ends the connection, and the batch,
        replayed after every reconnect, would time out again each time. This thread
        sends a status update (the confirmed position unchanged) whenever one is due,
        as long as the indexer shows progress: after ``stall_s`` without any it stops,
        so the server ends the stream of a hung indexer and frees the slot for another."""
        stalled = False
        while not stop.wait(self.status_interval_s / 2):
            with self._lock:
                cur, now = self._cur, time.monotonic()
                if cur is None or now - self._fed_at < self.status_interval_s:
                    continue
                if now - self._progress_at > self.stall_s:  # until progress resumes
                    if not stalled:
                        log.warning("the indexer has shown no progress for %.0f s: no longer "
                                    "keeping the replication stream alive, so the server "
                                    "can end it and free the slot", now - self._progress_at)
                    stalled = True
                    continue
                stalled = False
                try:
                    cur.send_feedback(force=True)  # no position: the confirmed one stands
                except psycopg2.Error as exc:  # the indexer finds out at its next read
                    log.warning("replication keepalive failed: %s", exc)
                    return
                self._fed_at = time.monotonic()

    def confirm(self, lsn: int) -> None:
        """Tell the server everything up to ``lsn`` is durable in the index."""
        assert self._cur is not None
        with self._lock:
            try:
                self._cur.send_feedback(write_lsn=lsn, flush_lsn=lsn, apply_lsn=lsn, force=True)
            except psycopg2.Error as exc:
                raise ServiceUnavailable(
                    detail=f"cannot confirm {format_lsn(lsn)}: {exc}") from exc
            self._fed_at = self._progress_at = time.monotonic()

    def close(self) -> None:
        self._stop.set()
        if self._keeper is not None and self._keeper is not threading.current_thread():
            self._keeper.join(timeout=5)
        self._keeper = None
        with self._lock:  # not under a keepalive still sending, nor a read
            if self._conn is not None:
                try:
                    self._conn.close()
                except psycopg2.Error:
                    pass
            self._conn = self._cur = None
