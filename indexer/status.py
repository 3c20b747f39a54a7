"""The indexer's row in ``search.indexer_status``: what ``/readyz`` and ``awsm up`` read of
an indexer in any process (state, confirmed position, last batch, last error)."""

from __future__ import annotations

import psycopg

from indexer.pgoutput import format_lsn

__all__ = ["write_status"]

_UPSERT = (
    "INSERT INTO search.indexer_status AS s (slot_name, state, confirmed_lsn, "
    " last_commit_at, last_batch_at, last_error, last_error_at, backfilled_at, "
    " documents_written, updated_at) "
    # an error is no batch: last_batch_at ("seconds behind" in /readyz) and the
    # count stay as the last batch left them, so a crash loop does not look healthy
    "VALUES (%(slot)s, %(state)s, %(lsn)s, to_timestamp(%(commit)s), "
    " CASE WHEN %(err)s::text IS NULL THEN now() END, %(err)s, "
    " CASE WHEN %(err)s::text IS NULL THEN NULL ELSE now() END, "
    " CASE WHEN %(bf)s THEN now() END, coalesce(%(n)s::bigint, 0), now()) "
    "ON CONFLICT (slot_name) DO UPDATE SET state = excluded.state, "
    " confirmed_lsn = coalesce(excluded.confirmed_lsn, s.confirmed_lsn), "
    " last_commit_at = coalesce(excluded.last_commit_at, s.last_commit_at), "
    " last_batch_at = coalesce(excluded.last_batch_at, s.last_batch_at), "
    " last_error = coalesce(excluded.last_error, s.last_error), "
    " last_error_at = coalesce(excluded.last_error_at, s.last_error_at), "
    " backfilled_at = coalesce(excluded.backfilled_at, s.backfilled_at), "
    " documents_written = CASE WHEN %(n)s::bigint IS NULL THEN s.documents_written "
    "  ELSE excluded.documents_written END, "
    " updated_at = now()"
)


def write_status(conn: psycopg.Connection, slot: str, state: str, *, lsn: int,
                 commit_us: int = 0, error: str | None = None, backfilled: bool = False,
                 documents_written: int = 0) -> None:
    """Upsert the slot's row: ``state``, the position confirmed up to ``lsn``, the last
    commit's time (``commit_us``, µs since the epoch; 0: unchanged) and, with ``error``,
    the error in place of a batch."""
    conn.execute(_UPSERT, {
        # 0: not known yet (an error before the checkpoint was read): the last one stays
        "slot": slot, "state": state, "lsn": format_lsn(lsn) if lsn else None,
        "commit": commit_us / 1e6 if commit_us else None, "err": error,
        "bf": backfilled, "n": None if error else documents_written,
    })
