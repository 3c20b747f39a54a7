"""``awsm check``: whether the index holds exactly the documents the visibility rules
allow, each under its own tenant. Reads the tables and the index; never writes the
index or touches the slot (a row it cannot read is parked in ``search.dead_letters``, as
the indexer parks it). Differences still in flight (the indexer is seconds behind) are
looked at again after a pause, so what it reports is drift, not lag.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from psycopg import sql

from indexer.worker import Indexer

__all__ = ["IndexDiff", "compare_index"]


@dataclass(frozen=True, slots=True)
class IndexDiff:
    allowed: int  # documents the visibility rules allow
    indexed: int  # documents the index holds
    missing: tuple[str, ...]  # allowed, not searchable
    stale: tuple[str, ...]  # searchable, not allowed (deleted, hidden, unknown tenant)
    misfiled: tuple[str, ...]  # searchable under another tenant than the row's

    @property
    def matches(self) -> bool:
        return not (self.missing or self.stale or self.misfiled)


def compare_index(indexer: Indexer, *, settle_s: float = 3.0,
                  progress: Callable[[str], None] = lambda _m: None) -> IndexDiff:
    """Compare what ``indexer``'s tables allow with what its engine holds. The keys that
    differ are read again, from both, after ``settle_s`` seconds, and only they are
    judged again (rows written meanwhile are the indexer's, not drift)."""
    indexer.load_column_types()
    allowed: dict[str, str] = {}  # key -> tenant
    for src in indexer.mapping.documents:
        for docs in indexer.visible_documents(src):
            allowed.update((d.key, d.tenant_id) for d in docs)
        progress(f"{src.table}: {len(allowed)} documents allowed so far")
    diff = _diff(indexer, allowed)
    if diff.matches or settle_s <= 0:
        return diff
    differing = set(diff.missing) | set(diff.stale) | set(diff.misfiled)
    progress(f"{len(differing)} differ; looking again in {settle_s:g} s "
             "(changes in flight settle)")
    time.sleep(settle_s)
    now_allowed = _allowed_now(indexer, differing)
    again = _diff(indexer, now_allowed, judged=differing)
    return IndexDiff(allowed=len(allowed) - len(differing & allowed.keys()) + len(now_allowed),
                     indexed=again.indexed, missing=again.missing, stale=again.stale,
                     misfiled=again.misfiled)


def _allowed_now(indexer: Indexer, keys: set[str]) -> dict[str, str]:
    """The tenant of each of ``keys`` whose row the rules allow now. Ids are matched as
    text first, so a key no row could have (an id of the wrong type) is simply not
    allowed, rather than a failed cast the re-read would park as a bad row."""
    by_table: dict[str, set[str]] = {}
    for key in keys:
        row = indexer.mapping.row_of(key)
        if row is not None:
            by_table.setdefault(row[0].table, set()).add(row[1])
    existing: dict[str, set[str]] = {}
    for table, ids in by_table.items():
        source = indexer.mapping.source(table)
        assert source is not None
        rows = indexer.conn.execute(sql.SQL(
            "SELECT {id}::text FROM {table} WHERE {id}::text = ANY(%s)").format(
            id=sql.Identifier(source.id), table=sql.Identifier(table)), (sorted(ids),))
        existing[table] = {r[0] for r in rows}
    return {d.key: d.tenant_id for d in indexer.documents_for(existing)[0]}


def _diff(indexer: Indexer, allowed: dict[str, str],
          judged: set[str] | None = None) -> IndexDiff:
    """``allowed`` against the engine; with ``judged``, those keys only."""
    engine = indexer.engine
    indexed = engine.keys()
    total = len(indexed)
    if judged is not None:
        indexed &= judged
    tenant_of: dict[str, str] = {}
    for tenant in set(allowed.values()):
        tenant_of.update(dict.fromkeys(engine.keys(tenant), tenant))
    return IndexDiff(
        allowed=len(allowed), indexed=total,
        missing=tuple(sorted(k for k in allowed if k not in indexed)),
        stale=tuple(sorted(indexed - allowed.keys())),
        misfiled=tuple(sorted(k for k, t in allowed.items()
                              if k in indexed and tenant_of.get(k) != t)),
    )
