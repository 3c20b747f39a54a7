"""Pure decoding of PostgreSQL's ``pgoutput`` logical replication messages (protocol v1).

Turns the bytes of one XLogData payload into a small typed record. No I/O and no
state beyond what the caller passes: the relation cache lives in ``Decoder``.
Accepts every message type v1 can send, including ``Y`` (type) — pgvector columns
make the server send those — and ``M`` (logical decoding messages: our heartbeats).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Begin",
    "Change",
    "Commit",
    "DecodeError",
    "Decoder",
    "Message",
    "Relation",
    "Truncate",
    "format_lsn",
    "parse_lsn",
]

_PG_EPOCH_OFFSET_US = 946_684_800_000_000  # 2000-01-01 in unix microseconds


class DecodeError(ValueError):
    """The payload is not a pgoutput v1 message we understand."""


def format_lsn(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    hi, sep, lo = text.partition("/")
    if not sep:
        raise ValueError(f"not an LSN: {text!r}")
    return (int(hi, 16) << 32) | int(lo, 16)


@dataclass(frozen=True, slots=True)
class Begin:
    final_lsn: int
    commit_time_us: int  # unix microseconds
    xid: int


@dataclass(frozen=True, slots=True)
class Commit:
    commit_lsn: int
    end_lsn: int
    commit_time_us: int


@dataclass(frozen=True, slots=True)
class Relation:
    oid: int
    schema: str
    name: str
    replica_identity: str
    columns: tuple[str, ...]
    key_columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Change:
    """A row change. ``values`` holds text values by column name; unchanged TOAST
    columns are absent (pgoutput sends only a marker for them)."""

    op: Literal["insert", "update", "delete"]
    schema: str
    table: str
    values: dict[str, str | None]
    old_key: dict[str, str | None] | None = None


@dataclass(frozen=True, slots=True)
class Truncate:
    tables: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Message:
    transactional: bool
    lsn: int
    prefix: str
    content: bytes


Decoded = Begin | Commit | Relation | Change | Truncate | Message | None


class _Reader:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.buf) or n < 0:
            raise DecodeError("message truncated")
        out = self.buf[self.pos:end]
        self.pos = end
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def i16(self) -> int:
        return int(struct.unpack("!h", self.take(2))[0])

    def i32(self) -> int:
        return int(struct.unpack("!i", self.take(4))[0])

    def u32(self) -> int:
        return int(struct.unpack("!I", self.take(4))[0])

    def i64(self) -> int:
        return int(struct.unpack("!q", self.take(8))[0])

    def u64(self) -> int:
        return int(struct.unpack("!Q", self.take(8))[0])

    def cstr(self) -> str:
        end = self.buf.find(b"\0", self.pos)
        if end < 0:
            raise DecodeError("unterminated string")
        out = self.buf[self.pos:end].decode("utf-8", "replace")
        self.pos = end + 1
        return out


def _tuple(r: _Reader, columns: tuple[str, ...]) -> dict[str, str | None]:
    n = r.i16()
    values: dict[str, str | None] = {}
    for i in range(n):
        kind = chr(r.u8())
        name = columns[i] if i < len(columns) else f"col{i}"
        if kind == "n":
            values[name] = None
        elif kind == "u":
            continue  # unchanged TOAST value: not sent; re-read the row instead
        elif kind in ("t", "b"):
            values[name] = r.take(r.i32()).decode("utf-8", "replace")
        else:
            raise DecodeError(f"unknown tuple column kind {kind!r}")
    return values


class Decoder:
    """Decodes messages in stream order, remembering Relation messages by OID.

    pgoutput names a relation as it was named when the change was made: a change made
    while a table was renamed (and replayed after it got its name back) comes under the
    other name. ``names`` (OID → name) gives the tables' own names, which win."""

    def __init__(self, names: dict[int, str] | None = None) -> None:
        self.relations: dict[int, Relation] = {}
        self.names = dict(names or {})

    def _relation(self, oid: int) -> Relation:
        try:
            return self.relations[oid]
        except KeyError:
            raise DecodeError(f"change for unknown relation {oid}") from None

    def decode(self, payload: bytes) -> Decoded:
        if not payload:
            raise DecodeError("empty message")
        r = _Reader(payload)
        tag = chr(r.u8())
        if tag == "B":
            lsn, ts, xid = r.u64(), r.i64(), r.u32()
            return Begin(lsn, ts + _PG_EPOCH_OFFSET_US, xid)
        if tag == "C":
            r.u8()
            commit_lsn, end_lsn, ts = r.u64(), r.u64(), r.i64()
            return Commit(commit_lsn, end_lsn, ts + _PG_EPOCH_OFFSET_US)
        if tag == "R":
            oid = r.u32()
            schema, name, ident = r.cstr(), r.cstr(), chr(r.u8())
            cols, keys = [], []
            for _ in range(r.i16()):
                flags = r.u8()
                col = r.cstr()
                r.u32()  # type oid
                r.i32()  # type modifier
                cols.append(col)
                if flags & 1:
                    keys.append(col)
            rel = Relation(oid, schema or "public", self.names.get(oid, name), ident,
                           tuple(cols), tuple(keys))
            self.relations[oid] = rel
            return rel
        if tag == "I":
            rel = self._relation(r.u32())
            if chr(r.u8()) != "N":
                raise DecodeError("insert without a new tuple")
            return Change("insert", rel.schema, rel.name, _tuple(r, rel.columns))
        if tag == "U":
            rel = self._relation(r.u32())
            kind = chr(r.u8())
            old: dict[str, str | None] | None = None
            if kind in ("K", "O"):
                old = _tuple(r, rel.columns)
                kind = chr(r.u8())
            if kind != "N":
                raise DecodeError("update without a new tuple")
            return Change("update", rel.schema, rel.name, _tuple(r, rel.columns), old)
        if tag == "D":
            rel = self._relation(r.u32())
            kind = chr(r.u8())
            if kind not in ("K", "O"):
                raise DecodeError("delete without an old key")
            old = _tuple(r, rel.columns)
            return Change("delete", rel.schema, rel.name, old, old)
        if tag == "T":
            n = r.i32()
            r.u8()  # options (cascade / restart identity)
            oids = [r.u32() for _ in range(n)]
            rels = [self._relation(o) for o in oids]
            return Truncate(tuple((rel.schema, rel.name) for rel in rels))
        if tag == "M":
            flags = r.u8()
            lsn = r.u64()
            prefix = r.cstr()
            content = r.take(r.i32())
            return Message(bool(flags & 1), lsn, prefix, content)
        if tag in ("Y", "O"):
            return None  # type and origin messages carry nothing we index
        raise DecodeError(f"unknown pgoutput message {tag!r}")
