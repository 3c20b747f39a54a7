"""Re-reads source rows by primary key and turns them into documents (or deletions).

Shared by the streaming indexer and the embedding worker, each over its own connection.
Reading on the primary, after the change arrived, is what makes the result reflect the
latest state: unchanged TOAST values, joined names and visibility included.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from indexer.documents import row_to_document
from indexer.mapping import DocumentSource, Mapping
from search_svc.engines.base import Document, DocumentsRejected, KeywordEngine

__all__ = ["ROW_ERRORS", "RowReader"]

# What one row's values can make the document SELECT raise (a cast that fails, a date
# out of range; JSON nested deeper than Python's loader reads, which PostgreSQL keeps),
# as opposed to errors of the query itself (a dropped column)
ROW_ERRORS = (psycopg.DataError, psycopg.NotSupportedError, RecursionError)
# More unreadable rows than this in one re-read, and more than were readable, is not a
# few bad rows but the table or the mapping (a column changed type): stop and say so
# rather than take the whole table out of search
_SYSTEMIC = 10


class RowReader:
    def __init__(self, mapping: Mapping, conn: psycopg.Connection,
                 key_types: dict[str, str]) -> None:
        self.mapping, self.conn, self.key_types = mapping, conn, key_types
        self.parked: set[tuple[str, str]] = set()  # (table, row id) since take_parked()

    def documents_for(self, keys: dict[str, set[str]]) -> tuple[list[Document], list[str]]:
        """Re-read rows by primary key: visible rows become upserts, the rest deletes."""
        upserts: list[Document] = []
        deletes: list[str] = []
        for table, ids in keys.items():
            src = self.mapping.source(table)
            if src is None or not ids:
                continue
            for chunk in _chunks(sorted(ids), 1000):
                unreadable: list[tuple[str, Exception]] = []
                read = self._read(src, chunk, upserts, deletes, unreadable)
                if len(unreadable) > _SYSTEMIC and len(unreadable) > read:
                    exc = unreadable[0][1]
                    raise RuntimeError(
                        f"{src.table}: {len(unreadable)} of {len(chunk)} rows fail the same "
                        f"re-read: check the mapped columns' types ({exc})") from exc
                for row_id, exc in unreadable:  # a few bad rows: parked, out of search
                    self.park(src, row_id, exc)
                    deletes.append(f"{src.type}:{row_id}")
        return upserts, deletes

    def visible_documents(self, src: DocumentSource, chunk: int) -> Iterator[list[Document]]:
        """The documents the visibility rules allow from ``src``, ``chunk`` rows a page
        (keyset-paginated: no OFFSET, no long statement)."""
        last: str | None = None
        idcol = sql.SQL("d.{}").format(sql.Identifier(src.id))
        while True:
            where = sql.SQL("TRUE") if last is None else sql.SQL("{} > {}::{}").format(
                idcol, sql.Literal(last), sql.SQL(self.key_types.get(src.table, "text")))
            query = sql.SQL("{} ORDER BY {} LIMIT {}").format(
                self.mapping.select_documents(src, where), idcol, sql.Literal(chunk))
            try:
                rows = self.conn.execute(query).fetchall()
            except ROW_ERRORS:
                # a row this page cannot read: read the page by ids, which parks it alone
                ids = [r[0] for r in self.conn.execute(sql.SQL(
                    "SELECT {id}::text FROM {table} d WHERE {where} ORDER BY {id} LIMIT {n}"
                ).format(id=idcol, table=sql.Identifier(src.table), where=where,
                         n=sql.Literal(chunk)))]
                if not ids:
                    return
                last = ids[-1]
                yield self.documents_for({src.table: set(ids)})[0]
                if len(ids) < chunk:
                    return
                continue
            if not rows:
                return
            last = rows[-1][0]
            yield [d for d in (self.build(src, r) for r in rows) if d is not None]
            if len(rows) < chunk:
                return

    def _read(self, src: DocumentSource, ids: list[str], upserts: list[Document],
              deletes: list[str], unreadable: list[tuple[str, Exception]]) -> int:
        """Read ``ids``; the rows the SELECT cannot read are found by halving and listed
        in ``unreadable``, so every other row still goes through. Returns how many ids
        were read."""
        key_type = sql.SQL(self.key_types.get(src.table, "text"))
        where = sql.SQL("d.{} = ANY({}::{}[])").format(
            sql.Identifier(src.id), sql.Placeholder(), key_type)
        try:
            rows = self._select(self.mapping.select_documents(src, where), (ids,))
        except ROW_ERRORS as exc:
            if len(ids) == 1:
                unreadable.append((ids[0], exc))
                return 0
            half = len(ids) // 2
            return (self._read(src, ids[:half], upserts, deletes, unreadable)
                    + self._read(src, ids[half:], upserts, deletes, unreadable))
        found: set[str] = set()
        for row in rows:
            found.add(row[0])
            doc = self.build(src, row)
            if doc is None:
                deletes.append(f"{src.type}:{row[0]}")
            else:
                upserts.append(doc)
        missing = [i for i in ids if i not in found]
        if missing:
            # as the key's ::text writes it, which documents are keyed by: the stream
            # may write it otherwise (a char(n) key comes padded, ::text trims it)
            missing = [r[0] for r in self._select(
                sql.SQL("SELECT k::text FROM unnest({}::{}[]) k").format(
                    sql.Placeholder(), key_type), (missing,))]
        deletes += [f"{src.type}:{i}" for i in missing if i not in found]
        return len(ids)

    def _select(self, query: sql.Composed, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        if self.conn.info.transaction_status == TransactionStatus.IDLE:
            return self.conn.execute(query, params).fetchall()
        with self.conn.transaction():  # a savepoint: a failed read keeps the caller's
            return self.conn.execute(query, params).fetchall()

    def build(self, src: DocumentSource, row: tuple[object, ...]) -> Document | None:
        """The row's document; None when it is not visible or is poison (then parked)."""
        try:
            return row_to_document(src, row)
        except (TypeError, ValueError, KeyError) as exc:
            self.park(src, str(row[0]), exc)
            return None

    def write(self, engine: KeywordEngine, upserts: list[Document], deletes: list[str],
              checkpoint: str | None = None) -> list[str]:
        """``engine.write``; the documents it rejects (``DocumentsRejected``) are parked
        and written as deletes, the rest as given. Returns the keys parked."""
        try:
            engine.write(upserts, deletes, checkpoint=checkpoint)
            return []
        except DocumentsRejected as exc:
            rejected = exc.errors
            if len(rejected) > _SYSTEMIC and 2 * len(rejected) > len(upserts):
                raise RuntimeError(f"the search engine rejects {len(rejected)} of "
                                   f"{len(upserts)} documents: {exc}") from exc
        for key, error in rejected.items():
            if (row := self.mapping.row_of(key)) is not None:
                self.park(row[0], row[1], error)
        engine.write([d for d in upserts if d.key not in rejected], [*deletes, *rejected],
                     checkpoint=checkpoint)
        return list(rejected)

    def take_parked(self) -> set[tuple[str, str]]:
        """The (table, row id) pairs parked since the last call."""
        taken, self.parked = self.parked, set()
        return taken

    def unpark(self, keys: Iterable[str], parked: set[tuple[str, str]]) -> None:
        """Rows of ``keys`` written to the index (``parked``: those just parked instead)
        leave search.dead_letters, which /readyz counts: a row fixed since stays no
        longer. The embedding worker's entries (``embedding: ...``) are its own."""
        rows = [row for key in keys
                if (row := self.mapping.table_row(key)) is not None and row not in parked]
        unpark_rows(self.conn, rows, embedding=False)

    def unpark_all_but(self, parked: set[tuple[str, str]]) -> None:
        """After a rebuild read every row: only rows it parked stay parked."""
        self.conn.execute(
            "DELETE FROM search.dead_letters d WHERE d.error NOT LIKE 'embedding: %%' "
            "AND NOT EXISTS (SELECT 1 FROM unnest(%s::text[], %s::text[]) AS u(t, r) "
            "WHERE d.source_table = u.t AND d.row_id = u.r)",
            ([t for t, _r in parked], [r for _t, r in parked]))

    def park(self, src: DocumentSource, row_id: str, exc: BaseException) -> None:
        """A poison row is parked in search.dead_letters (shown in /readyz), never retried
        forever or allowed to hold the slot; a later change of the row reads it again."""
        self.parked.add((src.table, row_id))
        self.conn.execute(
            "INSERT INTO search.dead_letters (source_table, row_id, error) VALUES (%s, %s, %s) "
            "ON CONFLICT (source_table, row_id) DO UPDATE SET error = excluded.error, "
            "attempts = search.dead_letters.attempts + 1, last_seen = now()",
            (src.table, row_id, repr(exc)[:500]),
        )


# search.dead_letters holds the rows of both writers: the embedding worker's entries are
# those whose error starts "embedding: ", the rest are the indexer's
_WHOSE = {True: sql.SQL("LIKE"), False: sql.SQL("NOT LIKE")}


def unpark_rows(conn: psycopg.Connection, rows: Sequence[tuple[str, str]], *,
                embedding: bool) -> None:
    """``rows`` (table, row id) leave search.dead_letters: the embedding worker's
    entries (``embedding``) or the indexer's."""
    if rows:
        conn.execute(sql.SQL(
            "DELETE FROM search.dead_letters d USING unnest(%s::text[], %s::text[]) "
            "AS u(t, r) WHERE d.source_table = u.t AND d.row_id = u.r "
            "AND d.error {} 'embedding: %%'").format(_WHOSE[embedding]),
            ([t for t, _r in rows], [r for _t, r in rows]))


def parked_rows(conn: psycopg.Connection,
                rows: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Those of ``rows`` (table, row id) the indexer has parked."""
    if not rows:
        return set()
    return {(t, r) for t, r in conn.execute(
        "SELECT d.source_table, d.row_id FROM search.dead_letters d JOIN "
        "unnest(%s::text[], %s::text[]) AS u(t, r) ON d.source_table = u.t "
        "AND d.row_id = u.r WHERE d.error NOT LIKE 'embedding: %%'",
        ([t for t, _r in rows], [r for _t, r in rows])).fetchall()}


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
