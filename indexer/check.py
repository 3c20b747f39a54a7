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

from indexer.startup import check_columns
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
    """Compare what ``indexer``'s tables allow with what its engine holds; keys that
    differ are read again, from both, after ``settle_s`` seconds."""
    indexer._key_types.update(check_columns(indexer.conn, indexer.mapping))
    allowed: dict[str, str] = {}  # key -> tenant
    for src in indexer.mapping.documents:
        for docs in indexer.visible_documents(src):
            allowed.update((d.key, d.tenant_id) for d in docs)
        progress(f"{src.table}: {len(allowed)} documents allowed so far")
    diff = _diff(indexer, allowed)
    if diff.matches or settle_s <= 0:
        return diff
    progress(f"{len(diff.missing) + len(diff.stale) + len(diff.misfiled)} differ; "
             f"looking again in {settle_s:g} s (changes in flight settle)")
    time.sleep(settle_s)
    keys = set(diff.missing) | set(diff.stale) | set(diff.misfiled)
    by_table: dict[str, set[str]] = {}
    for key in keys:
        doc_type, _, row_id = key.partition(":")
        source = indexer.mapping.by_type(doc_type)
        if source is not None:
            by_table.setdefault(source.table, set()).add(row_id)
    now_allowed = {d.key: d.tenant_id for d in indexer.documents_for(by_table)[0]}
    for key in keys:  # the rows as they are now, for the keys that differed
        allowed.pop(key, None)
        if key in now_allowed:
            allowed[key] = now_allowed[key]
    return _diff(indexer, allowed)


def _diff(indexer: Indexer, allowed: dict[str, str]) -> IndexDiff:
    engine = indexer.engine
    indexed = engine.keys()
    tenant_of: dict[str, str] = {}
    for tenant in set(allowed.values()):
        tenant_of.update(dict.fromkeys(engine.keys(tenant), tenant))
    return IndexDiff(
        allowed=len(allowed), indexed=len(indexed),
        missing=tuple(sorted(k for k in allowed if k not in indexed)),
        stale=tuple(sorted(indexed - allowed.keys())),
        misfiled=tuple(sorted(k for k, t in allowed.items()
                              if k in indexed and tenant_of.get(k) != t)),
    )
