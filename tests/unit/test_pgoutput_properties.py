"""Property tests: arbitrary bytes never escape as anything but ProtocolError; valid
messages round-trip through a test-side encoder; routing keys follow key equality."""

import struct

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.decode import messages as m
from bridge.decode.pgoutput import PG_EPOCH_OFFSET_US, PgOutputDecoder
from bridge.decode.relations import RelationCache
from bridge.errors import ProtocolError
from bridge.route.keys import extract_key

FAST = settings(max_examples=300, deadline=None)

u8 = st.integers(0, 0xFF)
u32 = st.integers(0, 0xFFFF_FFFF)
i32 = st.integers(-(2**31), 2**31 - 1)
u64 = st.integers(0, 2**64 - 1)
ts = st.integers(-(2**63), 2**63 - 1).map(lambda wire: wire + PG_EPOCH_OFFSET_US)
name = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
               max_size=12)
xid = st.none() | u32
value = st.none() | st.just(m.UNCHANGED_TOAST) | st.binary(max_size=20) | st.builds(
    m.BinaryValue, st.binary(max_size=20))
row = st.lists(value, max_size=6).map(tuple)


# --- a small encoder, the inverse of the decoder -----------------------------------------

def s(text: str) -> bytes:
    return text.encode() + b"\x00"


def t64(unix_us: int) -> bytes:
    return struct.pack(">q", unix_us - PG_EPOCH_OFFSET_US)


def tup(values: tuple) -> bytes:
    out = [struct.pack(">H", len(values))]
    for v in values:
        if v is None:
            out.append(b"n")
        elif v is m.UNCHANGED_TOAST:
            out.append(b"u")
        elif isinstance(v, m.BinaryValue):
            out.append(b"b" + struct.pack(">I", len(v.data)) + v.data)
        else:
            out.append(b"t" + struct.pack(">I", len(v)) + v)
    return b"".join(out)


def x(msg) -> bytes:
    return b"" if msg.xid is None else struct.pack(">I", msg.xid)


def encode(msg) -> bytes:
    q, i = (lambda v: struct.pack(">Q", v)), (lambda v: struct.pack(">I", v))
    match msg:
        case m.Begin():
            return b"B" + q(msg.final_lsn) + t64(msg.commit_ts) + i(msg.xid)
        case m.Commit():
            return (b"C" + bytes([msg.flags]) + q(msg.commit_lsn) + q(msg.end_lsn)
                    + t64(msg.commit_ts))
        case m.Origin():
            return b"O" + q(msg.commit_lsn) + s(msg.name)
        case m.Relation():
            cols = b"".join(bytes([c.is_key]) + s(c.name)
                            + struct.pack(">Ii", c.type_oid, c.type_modifier) for c in msg.columns)
            return (b"R" + x(msg) + i(msg.relation_id) + s(msg.namespace) + s(msg.name)
                    + msg.replica_identity.encode() + struct.pack(">H", len(msg.columns)) + cols)
        case m.Type():
            return b"Y" + x(msg) + i(msg.type_oid) + s(msg.namespace) + s(msg.name)
        case m.Insert():
            return b"I" + x(msg) + i(msg.relation_id) + b"N" + tup(msg.new)
        case m.Update():
            old = b"" if msg.old_kind is None else msg.old_kind.encode() + tup(msg.old)
            return b"U" + x(msg) + i(msg.relation_id) + old + b"N" + tup(msg.new)
        case m.Delete():
            return b"D" + x(msg) + i(msg.relation_id) + msg.old_kind.encode() + tup(msg.old)
        case m.Truncate():
            return (b"T" + x(msg) + struct.pack(">IB", len(msg.relation_ids), msg.options)
                    + b"".join(i(r) for r in msg.relation_ids))
        case m.LogicalMessage():
            return (b"M" + x(msg) + bytes([msg.transactional]) + q(msg.lsn) + s(msg.prefix)
                    + i(len(msg.content)) + msg.content)
        case m.StreamStart():
            return b"S" + i(msg.xid) + bytes([msg.first_segment])
        case m.StreamCommit():
            return (b"c" + i(msg.xid) + bytes([msg.flags]) + q(msg.commit_lsn) + q(msg.end_lsn)
                    + t64(msg.commit_ts))
        case m.StreamAbort():
            extra = b"" if msg.abort_lsn is None else q(msg.abort_lsn) + t64(msg.abort_ts)
            return b"A" + i(msg.xid) + i(msg.subxid) + extra
        case m.BeginPrepare():
            return (b"b" + q(msg.prepare_lsn) + q(msg.end_lsn) + t64(msg.prepare_ts) + i(msg.xid)
                    + s(msg.gid))
        case m.Prepare() | m.CommitPrepared() | m.StreamPrepare():
            letter = {m.Prepare: b"P", m.CommitPrepared: b"K", m.StreamPrepare: b"p"}[type(msg)]
            flags, lsn, end_lsn, at, txid, gid = msgspec.structs.astuple(msg)
            return letter + bytes([flags]) + q(lsn) + q(end_lsn) + t64(at) + i(txid) + s(gid)
        case m.RollbackPrepared():
            return (b"r" + bytes([msg.flags]) + q(msg.prepare_end_lsn) + q(msg.rollback_end_lsn)
                    + t64(msg.prepare_ts) + t64(msg.rollback_ts) + i(msg.xid) + s(msg.gid))
    raise AssertionError(msg)


# --- strategies for valid messages --------------------------------------------------------

column = st.builds(m.RelationColumn, st.booleans(), name, u32, i32)
messages = st.one_of(
    st.builds(m.Begin, u64, ts, u32),
    st.builds(m.Commit, u8, u64, u64, ts),
    st.builds(m.Origin, u64, name),
    st.builds(m.Relation, u32, name.filter(bool), name, st.sampled_from("dnfi"),
              st.lists(column, max_size=4).map(tuple), xid),
    st.builds(m.Type, u32, name.filter(bool), name, xid),
    st.builds(m.Insert, u32, row, xid),
    st.builds(m.Update, u32, st.just(None), st.just(None), row, xid),
    st.builds(m.Update, u32, st.sampled_from("KO"), row, row, xid),
    st.builds(m.Delete, u32, st.sampled_from("KO"), row, xid),
    st.builds(m.Truncate, st.lists(u32, max_size=4).map(tuple), u8, xid),
    st.builds(m.LogicalMessage, st.booleans(), u64, name, st.binary(max_size=20), xid),
    st.builds(m.StreamStart, u32, st.booleans()),
    st.builds(m.StreamCommit, u32, u8, u64, u64, ts),
    st.builds(m.StreamAbort, u32, u32),
    st.builds(m.StreamAbort, u32, u32, u64, ts),
    st.builds(m.BeginPrepare, u64, u64, ts, u32, name),
    st.builds(m.Prepare, u8, u64, u64, ts, u32, name),
    st.builds(m.CommitPrepared, u8, u64, u64, ts, u32, name),
    st.builds(m.RollbackPrepared, u8, u64, u64, ts, ts, u32, name),
    st.builds(m.StreamPrepare, u8, u64, u64, ts, u32, name),
)

STREAMABLE = (m.Relation, m.Type, m.Insert, m.Update, m.Delete, m.Truncate, m.LogicalMessage)


@FAST
@given(messages)
def test_valid_messages_round_trip(msg):
    decoder = PgOutputDecoder(4)
    # The xid of these types is on the wire only inside a streamed block.
    decoder.in_stream = isinstance(msg, STREAMABLE) and msg.xid is not None
    assert decoder.decode(encode(msg)) == msg


@FAST
@given(st.binary(max_size=64), st.integers(1, 4), st.booleans())
def test_any_bytes_decode_or_raise_protocol_error(raw, proto, in_stream):
    decoder = PgOutputDecoder(proto)
    decoder.in_stream = in_stream and proto >= 2
    try:
        assert isinstance(decoder.decode(raw), m.Message)
    except ProtocolError as err:
        assert 0 <= err.offset <= len(raw)


@FAST
@given(messages, st.data())
def test_mutated_valid_messages_decode_or_raise_protocol_error(msg, data):
    raw = bytearray(encode(msg))
    for _ in range(data.draw(st.integers(1, 3))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(u8)
    cut = data.draw(st.integers(0, len(raw) + 2))
    try:
        PgOutputDecoder(4).decode(bytes(raw[:cut]) + bytes(max(0, cut - len(raw))))
    except ProtocolError:
        pass


@FAST
@given(st.data())
def test_routing_keys_are_equal_exactly_when_keys_are_equal(data):
    ncols = data.draw(st.integers(1, 5))
    is_key = data.draw(st.lists(st.booleans(), min_size=ncols, max_size=ncols))
    cache = RelationCache()
    cache.add(m.Relation(1, "public", "t", "d", tuple(
        m.RelationColumn(k, f"c{n}", 25, -1) for n, k in enumerate(is_key))))
    key_value = st.none() | st.binary(max_size=4)  # small alphabet: collisions happen
    rows = [data.draw(st.lists(key_value, min_size=ncols, max_size=ncols)) for _ in range(2)]
    keys = [extract_key(encode(m.Insert(1, tuple(r))), cache)[2] for r in rows]
    project = [[v for v, k in zip(r, is_key) if k] for r in rows]
    assert (keys[0] == keys[1]) == (project[0] == project[1])
