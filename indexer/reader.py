"""Re-reads source rows by primary key and turns them into documents (or deletions).

Shared by the streaming indexer and the embedding worker, each over its own connection.
Reading on the primary, after the change arrived, is what makes the result reflect the
latest state: unchanged TOAST values, joined names and visibility included.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg
from psycopg import sql

from indexer.mapping import DocumentSource, Mapping, row_to_document
from search_svc.engines.base import Document

__all__ = ["RowReader"]


class RowReader:
    def __init__(self, mapping: Mapping, conn: psycopg.Connection,
                 key_types: dict[str, str]) -> None:
        self.mapping, self.conn, self.key_types = mapping, conn, key_types

    def documents_for(self, keys: dict[str, set[str]]) -> tuple[list[Document], list[str]]:
        """Re-read rows by primary key: visible rows become upserts, the rest deletes."""
        upserts: list[Document] = []
        deletes: list[str] = []
        for table, ids in keys.items():
            src = self.mapping.source(table)
            if src is None or not ids:
                continue
            for chunk in _chunks(sorted(ids), 1000):
                where = sql.SQL("d.{} = ANY({}::{}[])").format(
                    sql.Identifier(src.id), sql.Placeholder(),
                    sql.SQL(self.key_types.get(table, "text")))
                found: set[str] = set()
                for row in self.conn.execute(self.mapping.select_documents(src, where), (chunk,)):
                    found.add(row[0])
                    doc = self._build(src, row)
                    if doc is None:
                        deletes.append(f"{src.type}:{row[0]}")
                    else:
                        upserts.append(doc)
                deletes += [f"{src.type}:{i}" for i in chunk if i not in found]
        return upserts, deletes

    def _build(self, src: DocumentSource, row: tuple[object, ...]) -> Document | None:
        try:
            return row_to_document(src, row)
        except (TypeError, ValueError, KeyError) as exc:
            # a poison row is parked, never retried forever or allowed to hold the slot
            self.conn.execute(
                "INSERT INTO search.dead_letters (source_table, row_id, error) VALUES (%s, %s, %s) "
                "ON CONFLICT (source_table, row_id) DO UPDATE SET error = excluded.error, "
                "attempts = search.dead_letters.attempts + 1, last_seen = now()",
                (src.table, str(row[0]), repr(exc)[:500]),
            )
            return None


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
