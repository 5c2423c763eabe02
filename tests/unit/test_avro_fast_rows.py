"""The Avro fast path (`bridge.produce.avrorows`) against the general one (decode, Connect
values, fastavro): byte for byte the same records over the type matrix and the conversion
modes, NULLs, fallbacks, defaults and unchanged TOAST; None (the general path's turn) for what
it leaves, the first record of a schema (the registry's id) included. No servers: confluent's
in-memory registry."""

from __future__ import annotations

import io
import random

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from fastavro import parse_schema, schemaless_writer

from bridge.config import config_from_properties
from bridge.convert.types import TypeRegistry
from bridge.format.avro.binary import long_bytes
from bridge.format.avro.registry import Registry
from bridge.format.converter import Converters, converters_for
from bridge.pgoutput.messages import UNCHANGED_TOAST, Delete, Insert, Relation, RelationColumn, Update
from bridge.pgoutput.protocol import PgOutputDecoder
from bridge.produce import avrorows
from bridge.produce import events as events_module
from bridge.produce.events import EventBuilder, TxnContext
from bridge.source.catalog import TableInfo
from tests.pgoutput_encoder import encode
from tests.unit.builders import AVRO_MATRIX as MATRIX, AVRO_MODES as MODES, AVRO_NOT_COMPILED as GENERAL, \
    MINIMAL, NUMERIC_12_2

AVRO = {"debezium.format.key": "avro", "debezium.format.value": "avro",
        "debezium.format.schema.registry.url": "http://registry:8081"}
TXN = TxnContext(xid=700, commit_ts_us=1_700_000_000_123_456, last_commit_lsn=1000)
FIRST_TXN = TxnContext(xid=701, commit_ts_us=1_700_000_000_123_456, last_commit_lsn=None)


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    """Both paths stamp ts_ms/ts_us/ts_ns with the processing time: freeze it."""
    now = lambda: 1_750_000_000_987_654_321  # noqa: E731
    monkeypatch.setattr(events_module, "_time_ns", now)
    monkeypatch.setattr(avrorows, "_time_ns", now)


@pytest.fixture
def registry():
    client = SchemaRegistryClient.new_client({"url": "mock://avro-fast-rows"})
    yield client
    client.clear_caches()


def builder(client, columns, key=("id",), not_null=("id",), defaults=(), props=None) -> EventBuilder:
    """A builder of Avro records for `public.t` (relation 1) with `columns` = [(name, oid, typmod)]."""
    config = config_from_properties({**MINIMAL, **AVRO, **(props or {})})
    converters: Converters = converters_for(config.events)
    for converter in (converters.key, converters.value):
        converter.registry = Registry(converter.spec, client=client)  # type: ignore[attr-defined]
    b = EventBuilder(config.events, config.conversion, TypeRegistry(), "db", run_id="run-1", converters=converters)
    rel = Relation(1, "public", "t", "d", tuple(RelationColumn(n in key, n, oid, mod) for n, oid, mod in columns))
    b.relation(rel, TableInfo(tuple(key), frozenset(not_null), frozenset(), tuple(defaults)), "shop.public.t")
    return b


def general(b: EventBuilder, msg, txn=TXN, lsn=40960) -> list[tuple]:
    return [tuple(r) for r in b.change(PgOutputDecoder(1).decode(encode(msg)), txn, lsn)]


def fast(b: EventBuilder, msg, txn=TXN, lsn=40960):
    raw = encode(msg)
    buf = b"\x00garbage" + raw + b"Wnext record"
    out = b.fast_change(buf, 8, 8 + len(raw), txn, lsn)
    return None if out is None else [tuple(r) for r in out]


def same(b: EventBuilder, msg, covered: bool = True, **kw) -> list[tuple]:
    """The fast path's records are the general path's (and, when `covered`, it makes them)."""
    got = fast(b, msg, **kw)
    try:
        expected = general(b, msg, **kw)
    except Exception:  # noqa: BLE001 - what the general path refuses, the fast path leaves to it
        assert got is None
        return []
    if covered:
        assert got is not None, "the fast path left this change to the general path"
    if got is not None:
        assert got == expected
    return expected


def changes(values: tuple) -> list:
    """Every shape of change of a row (`values`) of a 3-column table keyed by its first."""
    key_only = (values[0], None, None)
    return [Insert(1, values), Update(1, None, None, values), Update(1, "K", key_only, values),
            Update(1, "O", values, values), Delete(1, "K", key_only), Delete(1, "O", values)]


@pytest.mark.parametrize("mode", MODES, ids=lambda m: ",".join(f"{k.split('.')[-2]}={v}" for k, v in m.items()) or "defaults")
def test_the_type_matrix_makes_the_same_bytes_either_way(registry, mode):
    for oid, typmod, values in MATRIX:
        # GIVEN a table of the type, nullable and NOT NULL (a NULL there: the fallback)
        b = builder(registry, [("id", 20, -1), ("c", oid, typmod), ("r", oid, typmod)], not_null=("id", "r"),
                    props=mode)
        b.change(PgOutputDecoder(1).decode(encode(Insert(1, (b"0", None, values[0])))), TXN, 1)  # the ids
        covered = oid not in GENERAL
        for n, value in enumerate(values):
            # WHEN its values, NULLs and unchanged TOAST go through both paths, THEN the same records
            for msg in changes((b"%d" % (n + 1), value, value)) + changes((b"%d" % -n, None, value)):
                same(b, msg, covered)
            same(b, Update(1, None, None, (b"9", UNCHANGED_TOAST, value)), covered=False)  # varlena types only
        for msg in changes((b"77", None, None)):
            same(b, msg, covered)


def test_keys_of_many_columns_in_key_order_and_key_types(registry):
    columns = [("a", 25, -1), ("id", 23, -1), ("u", 2950, -1), ("n", 1700, NUMERIC_12_2), ("t", 1184, -1)]
    b = builder(registry, columns, key=("t", "id", "u"), not_null=("t", "id", "u"))
    row = (b"x", b"-5", b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", b"1.25", b"2024-02-29 13:14:15.5+02")
    general(b, Insert(1, row))
    for msg in (Insert(1, row), Delete(1, "K", (None, b"-5", row[2], None, row[4])), Update(1, None, None, row)):
        same(b, msg)
    # a key change, and a TOASTed key column, are the general path's
    assert fast(b, Update(1, "K", (None, b"6", row[2], None, row[4]), row)) is None
    assert fast(b, Update(1, None, None, (row[0], row[1], UNCHANGED_TOAST, row[3], row[4]))) is None


def test_defaults_fallbacks_transactions_and_lsns(registry):
    defaults = (("id", "nextval('t_id_seq'::regclass)"), ("p", "'5'::numeric"), ("note", "'n/a'::text"),
                ("q", "42"))
    columns = [("id", 20, -1), ("p", 1700, NUMERIC_12_2), ("note", 25, -1), ("q", 23, -1), ("f", 701, -1),
               ("ok", 16, -1)]
    b = builder(registry, columns, not_null=("id", "p", "ok"), defaults=defaults)
    general(b, Insert(1, (b"1",) + (None,) * 5))
    for lsn in (0, 1, 8191, 8192, 1 << 40, (1 << 63) + 5):
        for txn in (TXN, FIRST_TXN, TxnContext(9, 0, (1 << 64) - 1)):
            same(b, Insert(1, (b"1",) + (None,) * 5), lsn=lsn, txn=txn)
            same(b, Delete(1, "K", (b"1",) + (None,) * 5), lsn=lsn, txn=txn)


def test_transaction_metadata_blocks_and_tombstones_off(registry):
    props = {"debezium.source.provide.transaction.metadata": "true", "debezium.source.tombstones.on.delete": "false"}
    b = builder(registry, [("id", 23, -1), ("v", 25, -1)], props=props)
    txn = TxnContext(xid=702, commit_ts_us=1_700_000_000_123_456, last_commit_lsn=1000, metadata=True)
    txn.order = (3, 2)
    general(b, Insert(1, (b"1", b"a")), txn=txn)
    same(b, Insert(1, (b"1", b"a")), txn=txn)
    assert len(same(b, Delete(1, "K", (b"1", None)), txn=txn)) == 1


def test_a_table_without_key_and_the_first_record_of_a_schema(registry):
    b = builder(registry, [("v", 25, -1)], key=(), not_null=())
    # GIVEN no id from the registry yet: the general path writes the first record (and asks)
    assert fast(b, Insert(1, (b"a",))) is None
    (record,) = general(b, Insert(1, (b"a",)))
    # THEN the fast path makes the next ones, key null, which confluent's deserializer reads
    (again,) = same(b, Insert(1, (b"a",)))
    assert again[1] is None
    value = AvroDeserializer(registry)(again[2], SerializationContext("shop.public.t", MessageField.VALUE))
    assert value["after"] == {"v": "a"} and value["op"] == "c" and value["source"]["lsn"] == 40960


def test_what_the_fast_path_leaves_to_the_general_one(registry):
    b = builder(registry, [("id", 23, -1), ("v", 25, -1)])
    general(b, Insert(1, (b"1", b"a")))
    assert fast(b, Insert(1, (b"1", b"\xff\xfe"))) is None  # not UTF-8: the general path raises
    with pytest.raises(UnicodeDecodeError):
        general(b, Insert(1, (b"1", b"\xff\xfe")))
    assert fast(b, Insert(1, (b"x", b"a"))) is None  # the converter raises
    skipping = builder(registry, [("id", 23, -1), ("v", 25, -1)], props={"debezium.source.skipped.operations": "c"})
    general(skipping, Update(1, None, None, (b"1", b"a")))
    assert fast(skipping, Insert(1, (b"1", b"a"))) is None


@pytest.mark.parametrize("props", [{}, {"debezium.format.value.connect.meta.data": "false"}], ids=["meta", "no-meta"])
def test_the_generated_source_pieces_are_the_source_block_fastavro_writes(registry, props):
    # GIVEN a table's envelope: its source block is cut into pieces by generated code
    b = builder(registry, [("id", 23, -1), ("v", 25, -1)], props=props)
    t = b._tables[1]
    envelope = t.avro.envelope
    source_schema = parse_schema(dict(envelope._fields["source"]))
    for snapshot in ("false", "true", "last", "incremental"):
        for commit_ts_us in (0, 1, 8191, 1_700_000_000_123_456, ((1 << 63) - 1) // 1000, -5):
            for txid in (None, 0, 1, (1 << 32) - 1, (1 << 62) + 1):
                for last_commit_lsn in (None, 0, 1000, (1 << 64) - 1):
                    for lsn in (0, 63, 64, 1 << 40, (1 << 63) - 1):
                        # WHEN an event's LSN goes in its slots
                        digits = b"%d" % lsn
                        pre, mid = envelope.source_pieces(object(), snapshot, commit_ts_us, txid, last_commit_lsn,
                                                          len(digits))
                        got = pre + digits + mid + long_bytes(lsn) + envelope.after_lsn
                        # THEN the bytes are fastavro's of the whole block (the general path's)
                        out = io.BytesIO()
                        schemaless_writer(out, source_schema,
                                          t.source.block(snapshot, commit_ts_us, txid, last_commit_lsn, lsn))
                        assert got == out.getvalue(), (snapshot, commit_ts_us, txid, last_commit_lsn, lsn)


def test_commit_times_moving_up_down_and_across_the_varints_windows(registry):
    # GIVEN a table's envelope, whose source block keeps the high bytes of the commit times' varints
    b = builder(registry, [("id", 23, -1), ("v", 25, -1)])
    t = b._tables[1]
    envelope = t.avro.envelope
    source_schema = parse_schema(dict(envelope._fields["source"]))
    rng = random.Random(13)
    commit_ts_us = 1_700_000_000_123_456
    for step in range(400):
        # WHEN transactions commit later by a little or a lot (across 2**27 µs, 2**27 ns), or earlier
        commit_ts_us += rng.choice((0, 1, 499, 1000, rng.randrange(1 << 28), -rng.randrange(1 << 20)))
        if step % 50 == 0:
            commit_ts_us = (commit_ts_us >> 27 << 27) - 1 - step % 3  # just below a multiple of 2**27 µs
        pre, mid = envelope.source_pieces(object(), "false", commit_ts_us, 700 + step, 4096, 5)
        # THEN each block is fastavro's
        out = io.BytesIO()
        schemaless_writer(out, source_schema, t.source.block("false", commit_ts_us, 700 + step, 4096, 40960))
        assert pre + b"40960" + mid + long_bytes(40960) + envelope.after_lsn == out.getvalue(), commit_ts_us


def test_processing_times_moving_up_down_and_across_milliseconds(registry, monkeypatch):
    # GIVEN a table whose events the fast path makes
    b = builder(registry, [("id", 23, -1), ("v", 25, -1)])
    general(b, Insert(1, (b"1", b"a")))
    clock = [1_750_000_000_987_654_321]
    monkeypatch.setattr(events_module, "_time_ns", lambda: clock[0])
    monkeypatch.setattr(avrorows, "_time_ns", lambda: clock[0])
    rng = random.Random(5)
    for step in range(300):
        # WHEN the clock moves on by a little or a lot, or back, or is near 1970 or before it
        clock[0] += rng.choice((1, 999, 1000, 7_000, 999_999, 1_000_000, rng.randrange(1 << 34), -rng.randrange(1 << 30)))
        if step in (100, 101, 102):
            clock[0] = (-1, 4_000_000, 9_000_000)[step - 100]
        if step == 103:
            clock[0] = 1_750_000_000_987_654_321
        # THEN the records are the general path's
        same(b, Insert(1, (b"%d" % step, b"a")))


@pytest.mark.parametrize("n", [0, -1, 1, 63, -64, 64, 8191, 8192, -8193, (1 << 27) - 1, 1 << 27, 1 << 40,
                               (1 << 63) - 1, -(1 << 63)])
def test_long_bytes_is_avros_zigzag_varint(n):
    z = (n << 1) ^ (n >> 63)
    expected = bytearray()
    while True:
        expected.append((z & 0x7F) | (0x80 if z > 0x7F else 0))
        z >>= 7
        if not z:
            break
    assert long_bytes(n) == bytes(expected)


def test_without_extended_headers_avro_records_carry_no_context_headers(registry):
    b = builder(registry, [("id", 20, -1), ("v", 25, -1)], props={"debezium.source.extended.headers.enabled": "false"})
    general(b, Insert(1, (b"0", b"z")))  # the schemas' first record registers them
    records = [r for msg in (Insert(1, (b"1", b"a")), Delete(1, "K", (b"1", None))) for r in same(b, msg)]
    assert len(records) == 3 and all(not r[3] for r in records)
