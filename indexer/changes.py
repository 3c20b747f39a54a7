"""Pure: fold a stream of decoded pgoutput records into one batch of affected keys.

A batch says *which* rows to re-read, never what they contain: the worker re-reads
current rows by primary key, so unchanged TOAST columns, joined names and visibility
are always evaluated on the latest state, and repeated changes of a row coalesce.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from indexer.mapping import Mapping
from indexer.pgoutput import Begin, Change, Commit, Message, Truncate

__all__ = ["Batch", "HEARTBEAT_PREFIX", "add_record", "key_slices"]

HEARTBEAT_PREFIX = "awsm_heartbeat"


@dataclass
class Batch:
    rows: dict[str, set[str]] = field(default_factory=dict)  # document table → primary keys
    tenants: set[str] = field(default_factory=set)
    categories: set[str] = field(default_factory=set)
    # changed rows of the tables documents take values from (linked terms, a looked-up
    # image): table → ids
    related: dict[str, set[str]] = field(default_factory=dict)
    truncated: set[str] = field(default_factory=set)
    # document tables a delete of came without the row's id: a replica identity that
    # left the id out when the row went (changed while streaming), so no key to remove
    keyless: set[str] = field(default_factory=set)
    xids: set[int] = field(default_factory=set)  # transactions whose rows we will re-read
    changes: int = 0
    end_lsn: int = 0  # confirm up to here once the batch is durable
    first_commit_us: int = 0
    last_commit_us: int = 0
    open_txn: bool = False

    @property
    def empty(self) -> bool:
        return not (self.rows or self.tenants or self.categories or self.related
                    or self.truncated or self.keyless)

    @property
    def ready(self) -> bool:
        """Whole transactions only: never act on a transaction before its commit."""
        return not self.open_txn and self.end_lsn > 0


def add_record(batch: Batch, mapping: Mapping, record: object, wal_end: int = 0) -> None:
    """Fold one decoded record into ``batch``.

    Changes of a transaction are recorded as they arrive; if the stream breaks before
    the commit the whole batch is discarded and the server resends it (the slot was
    not confirmed past it), so recording early loses nothing."""
    if isinstance(record, Begin):
        batch.open_txn = True
        batch.xids.add(record.xid)
    elif isinstance(record, Commit):
        batch.open_txn = False
        batch.end_lsn = max(batch.end_lsn, record.end_lsn)
        batch.first_commit_us = batch.first_commit_us or record.commit_time_us
        batch.last_commit_us = record.commit_time_us
    elif isinstance(record, Change):
        batch.changes += 1
        _add_change(batch, mapping, record)
    elif isinstance(record, Truncate):
        batch.truncated.update(name for _schema, name in record.tables)
    elif isinstance(record, Message):
        if not record.transactional:
            batch.end_lsn = max(batch.end_lsn, record.lsn, wal_end)


def _add_change(batch: Batch, mapping: Mapping, change: Change) -> None:
    src = mapping.source(change.table)
    if src is not None:
        keys = {k for values in (change.values, change.old_key or {})
                if (k := values.get(src.id)) is not None}
        if keys:
            batch.rows.setdefault(src.table, set()).update(keys)
        else:
            batch.keyless.add(src.table)
        return
    # both ids of a changed key: rows that still name the old one (no cascading foreign
    # key) have lost their tenant or category and must be re-read as well
    if change.table == mapping.tenants.table:
        batch.tenants.update(_keys(change, mapping.tenants.id))
    elif mapping.categories and change.table == mapping.categories.table:
        batch.categories.update(_keys(change, mapping.categories.id))
    for src in mapping.documents:
        for link in src.links:
            if change.table == link.link:  # a row's link added, removed or moved
                batch.rows.setdefault(src.table, set()).update(_keys(change, link.row))
            if change.table == link.table:  # a term renamed or deleted: its rows later
                batch.related.setdefault(link.table, set()).update(_keys(change, link.id))
        lookup = src.image_lookup
        if lookup and change.table == lookup.table:  # e.g. a media row's URL changed
            batch.related.setdefault(lookup.table, set()).update(_keys(change, lookup.id))


def _keys(change: Change, column: str) -> set[str]:
    return {k for values in (change.values, change.old_key or {})
            if (k := values.get(column))}


def key_slices(keys: dict[str, set[str]], size: int) -> Iterator[dict[str, set[str]]]:
    """``keys`` (table → primary keys) in parts of at most ``size`` keys, table by table
    and in key order; nothing when there are none."""
    for table, ids in keys.items():
        ordered = sorted(ids)
        for start in range(0, len(ordered), size):
            yield {table: set(ordered[start:start + size])}
