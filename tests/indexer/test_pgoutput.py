import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from indexer.pgoutput import (
    Begin,
    Change,
    Commit,
    DecodeError,
    Decoder,
    Message,
    Relation,
    Truncate,
    format_lsn,
    parse_lsn,
)


def relation(oid: int = 16384, name: str = "blogs", cols=(("id", 1), ("title", 0), ("content", 0))) -> bytes:
    body = b"R" + struct.pack("!I", oid) + b"public\0" + name.encode() + b"\0" + b"d"
    body += struct.pack("!h", len(cols))
    for col, key in cols:
        body += struct.pack("!B", key) + col.encode() + b"\0" + struct.pack("!Ii", 25, -1)
    return body


def tuple_data(*values: bytes | None | str) -> bytes:
    out = struct.pack("!h", len(values))
    for v in values:
        if v is None:
            out += b"n"
        elif v == "u":
            out += b"u"
        else:
            assert isinstance(v, bytes)
            out += b"t" + struct.pack("!i", len(v)) + v
    return out


def test_insert_update_delete_round_trip() -> None:
    d = Decoder()
    rel = d.decode(relation())
    assert isinstance(rel, Relation) and rel.key_columns == ("id",)
    ins = d.decode(b"I" + struct.pack("!I", 16384) + b"N" + tuple_data(b"1", b"Halo", None))
    assert ins == Change("insert", "public", "blogs", {"id": "1", "title": "Halo", "content": None})
    # unchanged TOAST column: absent, never an empty string
    upd = d.decode(b"U" + struct.pack("!I", 16384) + b"N" + tuple_data(b"1", b"Baru", "u"))
    assert isinstance(upd, Change) and upd.values == {"id": "1", "title": "Baru"}
    upd_key = d.decode(b"U" + struct.pack("!I", 16384) + b"K" + tuple_data(b"1", None, None)
                       + b"N" + tuple_data(b"2", b"x", b"y"))
    assert isinstance(upd_key, Change) and upd_key.old_key == {"id": "1", "title": None, "content": None}
    dele = d.decode(b"D" + struct.pack("!I", 16384) + b"K" + tuple_data(b"1", None, None))
    assert isinstance(dele, Change) and dele.op == "delete" and dele.values["id"] == "1"


def test_begin_commit_message_truncate_and_type() -> None:
    d = Decoder()
    d.decode(relation())
    b = d.decode(b"B" + struct.pack("!QqI", 100, 0, 7))
    assert isinstance(b, Begin) and b.final_lsn == 100 and b.xid == 7
    assert b.commit_time_us == 946_684_800_000_000
    c = d.decode(b"C" + b"\0" + struct.pack("!QQq", 100, 120, 5))
    assert c == Commit(100, 120, 946_684_800_000_005)
    m = d.decode(b"M" + b"\0" + struct.pack("!Q", 130) + b"awsm_heartbeat\0" + struct.pack("!i", 2) + b"hi")
    assert m == Message(False, 130, "awsm_heartbeat", b"hi")
    t = d.decode(b"T" + struct.pack("!iB", 1, 0) + struct.pack("!I", 16384))
    assert t == Truncate((("public", "blogs"),))
    # pgvector columns make the server send type messages: accepted, ignored
    assert d.decode(b"Y" + struct.pack("!I", 99) + b"public\0vector\0") is None
    assert d.decode(b"O" + struct.pack("!Q", 1) + b"origin\0") is None


def test_a_table_known_by_its_oid_keeps_its_own_name_under_another() -> None:
    # a change made while blogs was renamed comes under the other name
    d = Decoder({16384: "blogs"})
    assert d.decode(relation(name="blogs_tmp")).name == "blogs"  # type: ignore[union-attr]
    ins = d.decode(b"I" + struct.pack("!I", 16384) + b"N" + tuple_data(b"1", b"Halo", None))
    assert isinstance(ins, Change) and ins.table == "blogs"
    t = d.decode(b"T" + struct.pack("!iB", 1, 0) + struct.pack("!I", 16384))
    assert t == Truncate((("public", "blogs"),))
    assert d.decode(relation(oid=99, name="pages")).name == "pages"  # type: ignore[union-attr]


@pytest.mark.parametrize("payload", [b"", b"I", b"Z123", b"I\0\0@\0N", b"R\0\0", b"C\0"])
def test_malformed_payloads_raise_decode_error(payload: bytes) -> None:
    d = Decoder()
    with pytest.raises(DecodeError):
        d.decode(payload)


@given(st.binary(max_size=64))
def test_arbitrary_bytes_never_raise_anything_but_decode_error(payload: bytes) -> None:
    d = Decoder()
    d.decode(relation())
    try:
        record = d.decode(payload)
    except DecodeError:
        return
    assert record is None or isinstance(record, (Begin, Commit, Relation, Change, Truncate, Message))


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_lsn_text_round_trip(lsn: int) -> None:
    assert parse_lsn(format_lsn(lsn)) == lsn
