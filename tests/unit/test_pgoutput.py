"""The pgoutput decoder against bytes captured from PostgreSQL 15 (tests/data/pgoutput/,
made by tests/data/capture_pgoutput.py) and, for protocol 4 only, hand-built bytes."""

import json
import pickle
import struct
from pathlib import Path

import pytest

from bridge.pgoutput.messages import (
    UNCHANGED_TOAST,
    Begin,
    BeginPrepare,
    BinaryValue,
    Commit,
    CommitPrepared,
    Delete,
    Insert,
    LogicalMessage,
    Origin,
    Prepare,
    Relation,
    RelationColumn,
    RollbackPrepared,
    StreamAbort,
    StreamCommit,
    StreamPrepare,
    StreamStart,
    StreamStop,
    Truncate,
    Type,
    Update,
)
from bridge.errors import ProtocolError
from bridge.pgoutput.protocol import PG_EPOCH_OFFSET_US, PgOutputDecoder

GOLDEN = Path(__file__).parents[1] / "data" / "pgoutput"
MANIFEST = json.loads((GOLDEN / "manifest.json").read_text())

ITEMS, FULL_ITEMS, TOASTY, BIG = 16551, 16558, 16565, 16572
FULL_ROW = (b"1", b"10", b"widget", b"12.50", b"2024-05-01 12:34:56.789+00", None, b"t",
            b'{"a": [1, 2]}', b"happy")
PAYLOAD = b"p" * 200


def golden(name: str) -> tuple[int, list[bytes]]:
    lines = (GOLDEN / MANIFEST[name]["file"]).read_text().splitlines()
    return MANIFEST[name]["proto_version"], [bytes.fromhex(json.loads(x)["hex"]) for x in lines]


def decode_all(name: str) -> list:
    proto, raw = golden(name)
    decoder = PgOutputDecoder(proto)
    return [decoder.decode(m) for m in raw]


def every_message():
    for name in MANIFEST:
        proto, raw = golden(name)
        decoder = PgOutputDecoder(proto)
        for m in raw:
            yield name, decoder.in_stream, proto, m
            decoder.decode(m)


# --- protocol 1 -------------------------------------------------------------------------

def test_v1_insert_transaction():
    # GIVEN the first transaction of the capture: one INSERT into a table with an enum column
    msgs = decode_all("v1")[:5]
    # THEN the enum's Type and the Relation precede the Insert, all bracketed by Begin/Commit
    assert msgs[0] == Begin(final_lsn=26282840, commit_ts=1795498362442141, xid=783)
    assert msgs[1] == Type(type_oid=16544, namespace="public", name="mood")
    assert msgs[2] == Relation(ITEMS, "public", "items", "d", (
        RelationColumn(True, "id", 20, -1),
        RelationColumn(False, "qty", 23, -1),
        RelationColumn(False, "name", 25, -1),
        RelationColumn(False, "price", 1700, (12 << 16 | 2) + 4),  # numeric(12,2)
        RelationColumn(False, "created", 1184, -1),
        RelationColumn(False, "note", 25, -1),
        RelationColumn(False, "active", 16, -1),
        RelationColumn(False, "attrs", 3802, -1),
        RelationColumn(False, "feeling", 16544, -1),
    ))
    assert msgs[3] == Insert(ITEMS, FULL_ROW)
    assert msgs[4] == Commit(0, commit_lsn=26282840, end_lsn=26282888, commit_ts=1795498362442141)


def test_v1_updates_and_deletes():
    msgs = decode_all("v1")
    nulls = (None,) * 8
    # a non-key UPDATE under REPLICA IDENTITY DEFAULT sends no old tuple
    assert msgs[6] == Update(ITEMS, None, None, (b"1", b"11") + FULL_ROW[2:])
    # changing the primary key sends the old key ('K': key columns, the rest NULL)
    assert msgs[9] == Update(ITEMS, "K", (b"1",) + nulls, (b"2", b"11") + FULL_ROW[2:])
    assert msgs[12] == Delete(ITEMS, "K", (b"2",) + nulls)
    # REPLICA IDENTITY FULL: every column is a key column and the whole old row is sent
    assert all(c.is_key for c in msgs[15].columns)
    assert msgs[19] == Update(FULL_ITEMS, "O", (b"1", b"one"), (b"1", b"uno"))
    assert msgs[22] == Delete(FULL_ITEMS, "O", (b"1", b"uno"))


def test_v1_unchanged_toast_null_and_empty_string():
    msgs = decode_all("v1")
    assert msgs[26].new == (b"1", b"0", b"x" * 3000)
    assert msgs[29] == Update(TOASTY, None, None, (b"1", b"1", UNCHANGED_TOAST))
    # NULL and '' stay distinct
    assert msgs[32] == Insert(ITEMS, (b"3", None, b"") + (None,) * 6)


def test_v1_toasted_primary_key():
    # GIVEN an UPDATE of a non-key column of a row whose text primary key is stored out of line
    msgs = decode_all("v1_toast_key")
    # THEN the new tuple says 'unchanged' for the key and the old key carries its value
    assert msgs[5] == Update(msgs[1].relation_id, "K", (b"k" * 2500, None),
                             (UNCHANGED_TOAST, b"2"))


def test_v1_logical_messages():
    msgs = decode_all("v1")
    assert msgs[33] == LogicalMessage(True, 26288208, "pgdec", b"in-txn")
    assert msgs[35] == LogicalMessage(False, 26288320, "pgdec", b"\x00\xff")


def test_v1_truncate_options():
    msgs = decode_all("v1")
    plain, restart_cascade = msgs[40], msgs[44]
    assert plain == Truncate((ITEMS, FULL_ITEMS), 0)
    assert not plain.cascade and not plain.restart_identity
    assert restart_cascade == Truncate((TOASTY,), 3)
    assert restart_cascade.cascade and restart_cascade.restart_identity


def test_v1_relation_resent_after_alter_table():
    msgs = decode_all("v1")
    assert [c.name for c in msgs[39].columns] == ["id", "label"]
    assert [c.name for c in msgs[47].columns] == ["id", "label", "extra"]
    assert msgs[48] == Insert(FULL_ITEMS, (b"2", b"two", b"7"))


def test_v1_origin():
    msgs = decode_all("v1")
    # pg_replication_origin_xact_setup('0/ABCDEF', '2024-01-02 03:04:05+00') in the writer
    assert msgs[50] == Begin(final_lsn=26300120, commit_ts=1704164645_000000, xid=796)
    assert msgs[51] == Origin(commit_lsn=0xABCDEF, name="pgdec_origin")


def test_v1_binary_columns():
    msgs = decode_all("v1_binary")
    new = msgs[3].new
    assert new[0] == BinaryValue(struct.pack(">q", 10))
    assert new[1] == BinaryValue(struct.pack(">i", -5))
    assert new[2] == BinaryValue(b"bin")
    assert new[4] == BinaryValue(struct.pack(">q", 0))  # timestamptz 2000-01-01: PG epoch
    assert new[5] is None
    assert new[6] == BinaryValue(b"\x00")


# --- protocol 2: streaming --------------------------------------------------------------

def test_v2_streamed_transaction_carries_xid():
    msgs = decode_all("v2_stream")
    assert msgs[0] == StreamStart(798, first_segment=True)
    assert msgs[1].xid == 798 and msgs[1].name == "big"
    assert msgs[2] == Insert(BIG, (b"1", PAYLOAD), xid=798)
    assert msgs[4] == StreamStop()
    assert msgs[5] == StreamStart(798, first_segment=False)
    assert msgs[24] == LogicalMessage(True, 26631504, "pgdec", b"streamed", xid=798)
    assert msgs[26] == Truncate((FULL_ITEMS,), 0, xid=798)
    assert msgs[28] == StreamCommit(798, 0, 26634544, 26634912, 1795498362849371)


def test_v2_stream_abort_of_transaction_and_subtransaction():
    msgs = decode_all("v2_stream")
    assert msgs[50] == StreamAbort(xid=799, subxid=799)
    # rows inserted after SAVEPOINT carry the subtransaction's xid, which is then aborted
    assert msgs[77] == Insert(BIG, (b"4177", PAYLOAD), xid=801)
    assert msgs[92] == StreamAbort(xid=800, subxid=801)
    assert msgs[93].xid == 800


def test_decoder_tracks_stream_state():
    decoder = PgOutputDecoder(2)
    assert not decoder.in_stream
    decoder.decode(b"S" + struct.pack(">IB", 5, 1))
    assert decoder.in_stream
    with pytest.raises(ProtocolError, match="out of order"):
        decoder.decode(b"S" + struct.pack(">IB", 5, 0))
    decoder.decode(b"E")
    assert not decoder.in_stream
    with pytest.raises(ProtocolError, match="out of order"):
        decoder.decode(b"E")


# --- protocol 3: two-phase --------------------------------------------------------------

def test_v3_two_phase():
    msgs = decode_all("v3_two_phase")
    assert msgs[0] == BeginPrepare(27628384, 27628640, 1795498363069618, 802, "pgdec-g1")
    assert msgs[2] == Insert(FULL_ITEMS, (b"100", b"prepared", None))
    assert msgs[3] == Prepare(0, 27628384, 27628640, 1795498363069618, 802, "pgdec-g1")
    assert msgs[4] == CommitPrepared(0, 27628640, 27628704, 1795498363071912, 802, "pgdec-g1")
    assert msgs[8] == RollbackPrepared(
        0, 27629096, 27629160, 1795498363074369, 1795498363076800, 803, "pgdec-g2"
    )
    assert msgs[11].xid == 804
    assert msgs[34] == StreamPrepare(0, 27960424, 27960680, 1795498363081347, 804, "pgdec-g3")
    assert msgs[35].gid == "pgdec-g3"


# --- protocol 4 (PostgreSQL 16+): hand-built ---------------------------------------------

def test_v4_stream_abort_with_abort_lsn_and_timestamp():
    # xid | subxid | abort_lsn | abort_ts (PG epoch µs), sent with streaming = parallel
    raw = b"A" + struct.pack(">IIQq", 900, 901, 0x1_0000_0010, 1_000_000)
    assert PgOutputDecoder(4).decode(raw) == StreamAbort(900, 901, 0x1_0000_0010,
                                                         1_000_000 + PG_EPOCH_OFFSET_US)


def test_v4_stream_abort_without_parallel_fields():
    assert PgOutputDecoder(4).decode(b"A" + struct.pack(">II", 9, 9)) == StreamAbort(9, 9)


def test_v4_stream_abort_rejects_partial_abort_info():
    with pytest.raises(ProtocolError) as err:
        PgOutputDecoder(4).decode(b"A" + struct.pack(">IIQ", 9, 9, 1))
    assert err.value.offset == 9 and err.value.msg_type == "A"


def test_abort_info_is_trailing_garbage_before_v4():
    with pytest.raises(ProtocolError, match="trailing") as err:
        PgOutputDecoder(3).decode(b"A" + struct.pack(">IIQq", 9, 9, 1, 1))
    assert err.value.offset == 9


# --- versions, errors, inputs -----------------------------------------------------------

@pytest.mark.parametrize(("proto", "kind"), [(1, b"S"), (1, b"A"), (2, b"b"), (2, b"P")])
def test_message_types_need_their_protocol_version(proto, kind):
    with pytest.raises(ProtocolError, match="unknown message type") as err:
        PgOutputDecoder(proto).decode(kind + bytes(40))
    assert err.value.offset == 0 and err.value.msg_type == kind.decode()


def test_proto_version_out_of_range():
    with pytest.raises(ValueError):
        PgOutputDecoder(5)


def test_empty_message():
    with pytest.raises(ProtocolError) as err:
        PgOutputDecoder().decode(b"")
    assert err.value.msg_type is None and err.value.offset == 0


def test_every_truncation_of_every_golden_message_is_a_protocol_error():
    for name, in_stream, proto, raw in every_message():
        for cut in range(1, len(raw)):
            decoder = PgOutputDecoder(proto)
            decoder.in_stream = in_stream
            with pytest.raises(ProtocolError) as err:
                decoder.decode(raw[:cut])
            assert err.value.msg_type == chr(raw[0]), (name, raw.hex(), cut)
            assert 0 < err.value.offset <= cut


def test_trailing_byte_on_every_golden_message_is_a_protocol_error():
    for _, in_stream, proto, raw in every_message():
        decoder = PgOutputDecoder(proto)
        decoder.in_stream = in_stream
        with pytest.raises(ProtocolError, match="trailing") as err:
            decoder.decode(raw + b"\x00")
        assert err.value.offset == len(raw)


def test_unknown_tuple_column_kind():
    raw = b"I" + struct.pack(">I", 1) + b"N" + struct.pack(">H", 1) + b"x"
    with pytest.raises(ProtocolError, match="column kind") as err:
        PgOutputDecoder().decode(raw)
    assert err.value.offset == 8


def test_invalid_utf8_in_a_name():
    raw = b"Y" + struct.pack(">I", 1) + b"ok\x00bad\xff\x00"
    with pytest.raises(ProtocolError, match="UTF-8") as err:
        PgOutputDecoder().decode(raw)
    assert err.value.offset == 11


@pytest.mark.parametrize("wrap", [bytearray, memoryview])
def test_accepts_bytearray_and_memoryview(wrap):
    _, raw = golden("v1")
    assert PgOutputDecoder().decode(wrap(raw[3])) == Insert(ITEMS, FULL_ROW)


def test_unchanged_toast_survives_pickling_as_the_singleton():
    assert pickle.loads(pickle.dumps(UNCHANGED_TOAST)) is UNCHANGED_TOAST
