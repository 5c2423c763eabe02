"""Property tests: arbitrary bytes never escape as anything but ProtocolError; valid
messages round-trip through a test-side encoder; routing keys follow key equality."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.errors import ProtocolError
from bridge.pgoutput import messages as m
from bridge.pgoutput.protocol import PG_EPOCH_OFFSET_US, PgOutputDecoder, begin_fields, commit_end_lsn
from bridge.pgoutput.relations import RelationCache
from bridge.route.keys import extract_key, leading_key
from tests.pgoutput_encoder import encode

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


@FAST
@given(st.data())
def test_leading_key_is_extract_key_or_defers_to_it(data):
    # GIVEN a table keyed by its first columns and any change, well-formed or cut short
    ncols = data.draw(st.integers(1, 5))
    key_columns = data.draw(st.integers(1, ncols))
    cache = RelationCache()
    cache.add(m.Relation(1, "public", "t", "d", tuple(
        m.RelationColumn(n < key_columns, f"c{n}", 25, -1) for n in range(ncols))))
    values = tuple(data.draw(st.lists(value, min_size=ncols, max_size=ncols)))
    change = data.draw(st.sampled_from([m.Insert(1, values), m.Update(1, None, None, values),
                                        m.Delete(1, "K", values), m.Delete(1, "O", values)]))
    raw = encode(change)
    raw = raw[:data.draw(st.integers(0, len(raw)))] if data.draw(st.booleans()) else raw
    # WHEN the hot path reads its key
    fast = leading_key(raw, 6, ncols, key_columns) if len(raw) > 6 else None
    # THEN it either defers (None) or returns exactly the general path's key
    if fast is not None:
        assert fast == extract_key(raw, cache)[2]
    elif all(type(v) is bytes or type(v) is m.BinaryValue for v in values[:key_columns]) and raw == encode(change):
        raise AssertionError("a well-formed change with text/binary key values must take the hot path")


def test_begin_and_commit_fields_match_the_decoder_and_its_errors():
    decoder = PgOutputDecoder(1)
    begin = encode(m.Begin(0x1_0000_0010, 1_700_000_000_123_456, 4242))
    assert begin_fields(begin) == (0x1_0000_0010, 1_700_000_000_123_456, 4242)
    commit = encode(m.Commit(0, 0x20, 0x28, 1_700_000_000_123_456))
    assert commit_end_lsn(commit) == decoder.decode(commit).end_lsn == 0x28
    for fast, raw in ((begin_fields, begin), (commit_end_lsn, commit)):
        for bad in (raw[:-1], raw + b"\0"):
            with pytest.raises(ProtocolError) as fast_error:
                fast(bad)
            with pytest.raises(ProtocolError) as general_error:
                decoder.decode(bad)
            assert str(fast_error.value) == str(general_error.value)
