"""Routing keys read straight from raw change bytes."""

import json
import struct
from pathlib import Path

import pytest

from bridge.pgoutput.messages import (
    UNCHANGED_TOAST,
    BinaryValue,
    Delete,
    Insert,
    Relation,
    RelationColumn,
    Update,
)
from bridge.errors import ProtocolError
from bridge.pgoutput.protocol import PgOutputDecoder
from bridge.pgoutput.relations import RelationCache, UnknownRelation
from bridge.route.keys import extract_key

GOLDEN = Path(__file__).parents[1] / "data" / "pgoutput"
MANIFEST = json.loads((GOLDEN / "manifest.json").read_text())


def wire(value) -> bytes:
    """The canonical key form of one decoded value: its wire bytes."""
    if value is None:
        return b"n"
    if value is UNCHANGED_TOAST:
        return b"u"
    if isinstance(value, BinaryValue):
        return b"b" + struct.pack(">I", len(value.data)) + value.data
    return b"t" + struct.pack(">I", len(value)) + value


def key_of(values, indexes) -> bytes:
    return b"".join(wire(values[i]) for i in indexes)


def golden_changes():
    """(raw, in_stream, decoded change, cache) for every change in every capture."""
    for name, meta in MANIFEST.items():
        decoder = PgOutputDecoder(meta["proto_version"])
        cache = RelationCache()
        for line in (GOLDEN / meta["file"]).read_text().splitlines():
            raw = bytes.fromhex(json.loads(line)["hex"])
            in_stream = decoder.in_stream
            msg = decoder.decode(raw)
            if isinstance(msg, Relation):
                cache.add(msg)
            elif isinstance(msg, Insert | Update | Delete):
                yield raw, in_stream, msg, cache


def test_golden_changes_route_by_their_key_columns():
    seen = set()
    for raw, in_stream, msg, cache in golden_changes():
        idx = cache.lookup(msg.relation_id).key_indexes
        kind, relid, key, old_key = extract_key(raw, cache, in_stream)
        assert (kind, relid) == (chr(raw[0]), msg.relation_id)
        row = msg.old if isinstance(msg, Delete) else msg.new
        toasted_key = any(row[i] is UNCHANGED_TOAST for i in idx)
        assert key == key_of(msg.old if toasted_key else row, idx)
        has_old = isinstance(msg, Update) and msg.old is not None
        assert old_key == (key_of(msg.old, idx) if has_old else None)
        seen.add((kind, in_stream, has_old, toasted_key))
    # inserts in and out of streams, updates with and without old tuple (one of them with
    # a TOASTed key), deletes
    assert {("I", False, False, False), ("I", True, False, False), ("U", False, True, False),
            ("U", False, False, False), ("U", False, True, True),
            ("D", False, False, False)} <= seen


def _cache(keys=(True, False, True)):
    cache = RelationCache()
    cache.add(Relation(7, "public", "t", "d",
                       tuple(RelationColumn(k, f"c{i}", 25, -1) for i, k in enumerate(keys))))
    return cache


def tuple_bytes(*cols: bytes) -> bytes:
    return struct.pack(">H", len(cols)) + b"".join(cols)


def t(v: bytes) -> bytes:
    return b"t" + struct.pack(">I", len(v)) + v


REL = struct.pack(">I", 7)


def test_key_is_length_prefixed_and_null_is_not_empty():
    cache = _cache()
    k1 = extract_key(b"I" + REL + b"N" + tuple_bytes(t(b"a"), t(b"x"), t(b"bc")), cache)[2]
    k2 = extract_key(b"I" + REL + b"N" + tuple_bytes(t(b"ab"), t(b"y"), t(b"c")), cache)[2]
    k3 = extract_key(b"I" + REL + b"N" + tuple_bytes(t(b""), b"n", b"n"), cache)[2]
    k4 = extract_key(b"I" + REL + b"N" + tuple_bytes(b"n", b"n", t(b"")), cache)[2]
    assert len({k1, k2, k3, k4}) == 4
    # non-key columns do not matter
    same = extract_key(b"I" + REL + b"N" + tuple_bytes(t(b"a"), t(b"other"), t(b"bc")), cache)
    assert same[2] == k1


def test_update_with_toasted_key_routes_by_the_old_key():
    # GIVEN a key column stored out of line: the new tuple says 'u', the old key has the value
    cache = _cache(keys=(True, False, False))
    raw = (b"U" + REL + b"K" + tuple_bytes(t(b"long-key"), b"n", b"n")
           + b"N" + tuple_bytes(b"u", t(b"1"), b"u"))
    # THEN the key is the old key
    assert extract_key(raw, cache) == ("U", 7, t(b"long-key"), t(b"long-key"))


def test_update_with_toasted_key_and_no_old_key_is_an_error():
    raw = b"U" + REL + b"N" + tuple_bytes(b"u", t(b"1"), t(b"2"))
    with pytest.raises(ProtocolError, match="TOAST"):
        extract_key(raw, _cache())


def test_in_stream_changes_skip_the_xid():
    raw = b"D" + struct.pack(">I", 99) + REL + b"K" + tuple_bytes(t(b"k"), b"n", t(b"z"))
    assert extract_key(raw, _cache(), in_stream=True) == ("D", 7, t(b"k") + t(b"z"), None)


def test_unknown_relation():
    with pytest.raises(UnknownRelation) as err:
        extract_key(b"I" + struct.pack(">I", 8) + b"N" + tuple_bytes(), _cache())
    assert err.value.offset == 1 and err.value.msg_type == "I"


def test_column_count_must_match_the_relation():
    with pytest.raises(ProtocolError, match="columns"):
        extract_key(b"I" + REL + b"N" + tuple_bytes(t(b"a")), _cache())


@pytest.mark.parametrize("raw", [b"", b"B" + bytes(20), b"I" + REL, b"I" + REL + b"X" + bytes(2),
                                 b"U" + REL + b"K" + tuple_bytes(b"n", b"n", b"n"),
                                 b"D" + REL + b"N" + tuple_bytes(b"n", b"n", b"n")])
def test_malformed_changes(raw):
    with pytest.raises(ProtocolError):
        extract_key(raw, _cache())


def test_every_truncation_of_golden_changes_is_a_protocol_error_or_a_prefix_key():
    # Bytes after the last key column are not read, so a cut there still yields the key.
    for raw, in_stream, _, cache in golden_changes():
        full = extract_key(raw, cache, in_stream)
        for cut in range(len(raw)):
            try:
                assert extract_key(raw[:cut], cache, in_stream) == full
            except ProtocolError:
                pass
