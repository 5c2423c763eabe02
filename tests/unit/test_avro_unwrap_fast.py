"""The unwrap fast path in Avro (`bridge.produce.avro_unwrapped`) against the general path with
the chain (decode, Connect values, ExtractNewRecordState, RegexRouter, the Avro converter):
byte for byte the same records, keys and headers for creates and updates of a table whose
chain only unwraps it, over the type matrix, the delete modes, every kind of added field and
header; None — the general path's turn — for deletes, key changes, the first record of a schema
and the chains it does not cover. No servers: confluent's in-memory registry."""

from __future__ import annotations

import random

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from bridge.config import config_from_properties
from bridge.convert.types import TypeRegistry
from bridge.format.avro.registry import Registry
from bridge.format.converter import converters_for
from bridge.pgoutput.messages import UNCHANGED_TOAST, Delete, Insert, Relation, RelationColumn, Update
from bridge.pgoutput.protocol import PgOutputDecoder
from bridge.produce import avro_unwrapped
from bridge.produce import events as events_module
from bridge.produce.events import EventBuilder, TxnContext
from bridge.source.catalog import TableInfo
from bridge.transform.chain import compile_chain
from tests.pgoutput_encoder import encode
from tests.unit.builders import AVRO_MATRIX, AVRO_MODES, AVRO_NOT_COMPILED, MINIMAL, NUMERIC_12_2, transform_props

AVRO = {"debezium.format.key": "avro", "debezium.format.value": "avro",
        "debezium.format.schema.registry.url": "http://registry:8081"}
UNWRAP = "io.debezium.transforms.ExtractNewRecordState"
TXN = TxnContext(xid=700, commit_ts_us=1_700_000_000_123_456, last_commit_lsn=1000)
FIRST_TXN = TxnContext(xid=701, commit_ts_us=1_700_000_000_123_456, last_commit_lsn=None)
META_TXN = TxnContext(xid=702, commit_ts_us=1_700_000_000_123_456, last_commit_lsn=1000, metadata=True)
DELETE_MODES = ["tombstone", "drop", "rewrite", "rewrite-with-tombstone", "delete-to-tombstone"]
ROUTE = ("route", "RegexRouter", {"regex": "([^.]+)[.]([^.]+)[.]([^.]+)", "replacement": "$1.$2.$3.events.v1"})
# a table of the kinds of columns (NULLs, defaults and fallbacks in some), keyed by id
WIDE = [("id", 20, -1), ("qty", 23, -1), ("email", 25, -1), ("price", 1700, NUMERIC_12_2), ("at", 1184, -1),
        ("ok", 16, -1), ("attrs", 3802, -1), ("ratio", 701, -1), ("u", 2950, -1)]
ROW = (b"1000001", b"7", b"user1@example.com", b"12.50", b"2024-05-01 12:34:56.789012+00", b"t",
       b'{"tier": "gold"}', b"1.5e-7", b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
ODD = (b"2", None, "é \U0001f389 \x01".encode(), b"-0.00", None, b"f", None, b"-0", None)


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    """Both paths stamp the processing time: freeze it."""
    now = lambda: 1_750_000_000_987_654_321  # noqa: E731
    monkeypatch.setattr(events_module, "_time_ns", now)
    monkeypatch.setattr(avro_unwrapped, "_time_ns", now)


@pytest.fixture
def registry():
    client = SchemaRegistryClient.new_client({"url": "mock://avro-unwrap-fast"})
    yield client
    client.clear_caches()


def unwrap(**options: str) -> tuple[str, str, dict[str, str]]:
    return "unwrap", UNWRAP, options


def builder(client, *steps, columns=WIDE, key=("id",), not_null=("id",), defaults=(), props=None,
            predicates=None) -> EventBuilder:
    """A builder of `public.t` (relation 1, topic `shop.public.t`) with `columns` = [(name, oid,
    typmod)], its records in Avro through the chain of `steps`, which shares the builder's
    converters (as a producer's does)."""
    config = config_from_properties({**MINIMAL, **AVRO, **transform_props(*steps, **(predicates or {})),
                                     **(props or {})})
    converters = converters_for(config.events)
    for converter in (converters.key, converters.value):
        if getattr(converter, "binary", False):
            converter.registry = Registry(converter.spec, client=client)  # type: ignore[attr-defined]
    chain = compile_chain(config.chain, converters, config.events.header_format)
    b = EventBuilder(config.events, config.conversion, TypeRegistry(), "db", run_id="run-1", converters=converters,
                     chain=chain)
    rel = Relation(1, "public", "t", "d", tuple(RelationColumn(n in key, n, oid, mod) for n, oid, mod in columns))
    b.relation(rel, TableInfo(tuple(key), frozenset(not_null), frozenset(), tuple(defaults)), "shop.public.t")
    return b


def general(b: EventBuilder, msg, txn=TXN, lsn=40960) -> list[tuple]:
    return [tuple(r) for r in b.change(PgOutputDecoder(1).decode(encode(msg)), txn, lsn)]


def fast(b: EventBuilder, msg, txn=TXN, lsn=40960):
    raw = encode(msg)
    out = b.fast_change(b"\x00garbage" + raw + b"Wnext record", 8, 8 + len(raw), txn, lsn)
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
        assert got is not None, f"{msg} left to the general path"
    if got is not None:
        assert got == expected, msg
    return expected


def changes(values: tuple) -> list[tuple[object, bool]]:
    """Every shape of change of a row (`values`) keyed by its first column, and whether the fast
    path makes it: creates and updates, not deletes."""
    key_only = (values[0],) + (None,) * (len(values) - 1)
    return [(Insert(1, values), True), (Update(1, None, None, values), True), (Update(1, "K", key_only, values), True),
            (Update(1, "O", values, values), True), (Delete(1, "K", key_only), False), (Delete(1, "O", values), False)]


def all_same(b: EventBuilder, txn=TXN, rows=(ROW, ODD)) -> list[tuple]:
    out = []
    for lsn, (msg, covered) in enumerate((c for row in rows for c in changes(row)), 40960):
        out += same(b, msg, covered, txn=txn, lsn=lsn)
    return out


def decoded(client, record: tuple) -> tuple[dict | None, dict]:
    """A record's key and value as confluent-kafka's AvroDeserializer reads them."""
    topic, key, value = record[:3]
    read = AvroDeserializer(client)
    return (None if key is None else read(key, SerializationContext(topic, MessageField.KEY)),
            read(value, SerializationContext(topic, MessageField.VALUE)))


@pytest.mark.parametrize("mode", AVRO_MODES,
                         ids=lambda m: ",".join(f"{k.split('.')[-2]}={v}" for k, v in m.items()) or "defaults")
def test_the_type_matrix_makes_the_same_bytes_either_way(registry, mode):
    steps = (unwrap(**{"delete.tombstone.handling.mode": "rewrite", "add.fields": "op,table,lsn"}), ROUTE)
    for oid, typmod, values in AVRO_MATRIX:
        # GIVEN a table of the type, nullable and NOT NULL (a NULL there: the fallback), unwrapped and routed
        b = builder(registry, *steps, columns=[("id", 20, -1), ("c", oid, typmod), ("r", oid, typmod)],
                    not_null=("id", "r"), props=mode)
        general(b, Insert(1, (b"0", None, values[0])))  # the schemas' ids
        compiled = oid not in AVRO_NOT_COMPILED
        for n, value in enumerate(values):
            # WHEN its values, NULLs and unchanged TOAST go through both paths, THEN the same records
            for msg, covered in changes((b"%d" % (n + 1), value, value)) + changes((b"%d" % -n, None, value)):
                same(b, msg, covered and compiled)
            same(b, Update(1, None, None, (b"9", UNCHANGED_TOAST, value)), covered=False)  # varlena types only
        for msg, covered in changes((b"77", None, None)):
            same(b, msg, covered and compiled)


@pytest.mark.parametrize("mode", DELETE_MODES)
def test_every_delete_mode_with_fields_and_headers(registry, mode):
    # GIVEN the commonest chain: unwrap (fields and headers added) and a RegexRouter
    b = builder(registry, unwrap(**{"delete.tombstone.handling.mode": mode, "add.fields": "op,table,lsn,source.ts_ms",
                                    "add.headers": "db,op"}), ROUTE)
    assert fast(b, Insert(1, ROW)) is None  # the first record of a schema: the general path registers it
    general(b, Insert(1, ROW))
    # WHEN creates and updates (and deletes, the general path's) go both ways, THEN the same records
    records = all_same(b) + all_same(b, FIRST_TXN)
    # AND they read back as the chain left them
    key, value = decoded(registry, records[0])
    assert records[0][0] == "shop.public.t.events.v1" and key == {"id": 1000001}
    assert value["__op"] == "c" and value["__lsn"] == 40960 and value["__table"] == "t"
    assert value["__source_ts_ms"] == 1_700_000_000_123 and value["email"] == "user1@example.com"
    assert ("__deleted" in value) == mode.startswith("rewrite")
    assert [name for name, _ in records[0][3][-2:]] == ["__db", "__op"]  # in the header converter's bytes


@pytest.mark.parametrize("fields", ["", "op", "ts_ms,ts_us,ts_ns,op", "source.sequence,lsn,txId,snapshot,version",
                                    "db:DB,source.schema,name,connector,xmin,origin_lsn,source.ts_ns",
                                    "transaction.id,total_order,data_collection_order"])
@pytest.mark.parametrize("mode", ["rewrite", "tombstone"])
def test_added_fields_of_every_kind(registry, fields, mode):
    b = builder(registry, unwrap(**{"delete.tombstone.handling.mode": mode, "add.fields": fields,
                                    "add.fields.prefix": "m_"}))
    general(b, Insert(1, ROW))
    all_same(b)
    all_same(b, FIRST_TXN)  # sequence [null, lsn]


@pytest.mark.parametrize("headers", ["lsn", "op,ts_ms,source.sequence", "transaction.id,table"])
def test_headers_from_the_event_and_from_the_transaction(registry, headers):
    b = builder(registry, unwrap(**{"add.headers": headers, "add.headers.prefix": "h_", "add.fields": "op"}))
    general(b, Insert(1, ROW))
    all_same(b)
    all_same(b, META_TXN)  # transaction metadata on: the header carries the event's block


def test_transaction_fields_with_metadata_on_take_the_general_path(registry):
    b = builder(registry, unwrap(**{"add.fields": "op,transaction.id"}),
                props={"debezium.source.provide.transaction.metadata": "true"})
    general(b, Insert(1, ROW))
    assert fast(b, Insert(1, ROW), META_TXN) is None
    same(b, Insert(1, ROW), TXN)  # a transaction without metadata
    # without transaction fields, metadata changes nothing unwrap writes
    plain = builder(registry, unwrap(**{"add.fields": "op,lsn"}),
                    props={"debezium.source.provide.transaction.metadata": "true"})
    general(plain, Insert(1, ROW))
    all_same(plain, META_TXN)


def test_lsns_and_processing_times_encoded_per_record(registry, monkeypatch):
    b = builder(registry, unwrap(**{"add.fields": "lsn,ts_ms,ts_us,ts_ns,sequence"}))
    general(b, Insert(1, ROW))
    for lsn in (0, 1, 8191, 8192, 1 << 40, (1 << 63) - 1):
        for txn in (TXN, FIRST_TXN, TxnContext(9, 0, (1 << 64) - 1)):
            same(b, Insert(1, ROW), lsn=lsn, txn=txn)
    assert fast(b, Insert(1, ROW), lsn=(1 << 63) + 5) is None  # not an Avro long: the general path refuses it
    clock = [1_750_000_000_987_654_321]
    monkeypatch.setattr(events_module, "_time_ns", lambda: clock[0])
    monkeypatch.setattr(avro_unwrapped, "_time_ns", lambda: clock[0])
    rng = random.Random(7)
    for step in range(100):
        clock[0] += rng.choice((1, 999, 1_000_000, rng.randrange(1 << 34), -rng.randrange(1 << 30)))
        same(b, Insert(1, (b"%d" % step,) + ROW[1:]))


def test_a_table_without_key_and_without_extended_headers(registry):
    b = builder(registry, unwrap(), columns=[("v", 25, -1)], key=(), not_null=(),
                props={"debezium.source.extended.headers.enabled": "false"})
    assert fast(b, Insert(1, (b"a",))) is None
    general(b, Insert(1, (b"a",)))
    (record,) = same(b, Insert(1, (b"a",)))
    assert record[1] is None and record[3] == []
    assert decoded(registry, record)[1] == {"v": "a"}


def test_registered_subjects_are_the_routed_topics(registry, monkeypatch):
    # GIVEN a chain renaming the topic: the general path registers `<new topic>-key|value` once
    b = builder(registry, unwrap(**{"add.fields": "op"}), ROUTE)
    calls = []
    register = registry.register_schema
    monkeypatch.setattr(registry, "register_schema", lambda *a, **kw: calls.append(a[0]) or register(*a, **kw))
    general(b, Insert(1, ROW))
    assert sorted(calls) == ["shop.public.t.events.v1-key", "shop.public.t.events.v1-value"]
    # WHEN the fast path writes the next records, THEN under those ids, asking nothing more
    all_same(b)
    assert len(calls) == 2
    # AND a new shape of the table takes the general path for its first record again
    b.relation(Relation(1, "public", "t", "d", tuple(RelationColumn(n == "id", n, oid, mod)
                                                     for n, oid, mod in WIDE[:3])),
               TableInfo(("id",), frozenset({"id"})), "shop.public.t")
    assert fast(b, Insert(1, ROW[:3])) is None
    general(b, Insert(1, ROW[:3]))
    same(b, Insert(1, ROW[:3]))


def test_what_the_fast_path_leaves_to_the_general_one(registry):
    insert = Insert(1, ROW)
    # a step that applies to the table, one that makes the key, a route by field: the general path
    for steps in ((unwrap(), ("hdr", "InsertHeader", {"header": "h", "value.literal": "v"})),
                  (unwrap(), ("key", "ValueToKey", {"fields": "id"})),
                  (unwrap(**{"route.by.field": "email"}),),
                  (ROUTE,)):
        b = builder(registry, *steps)
        general(b, insert)
        assert fast(b, insert) is None, steps
        same(b, insert, covered=False)
    # an added field named as a column, or as __deleted
    for options in ({"add.fields": "op:email", "add.fields.prefix": ""},
                    {"add.fields": "op:deleted", "delete.tombstone.handling.mode": "rewrite"}):
        b = builder(registry, unwrap(**options))
        assert fast(b, insert) is None
    # a key change, a TOASTed key column, a value the converter refuses
    b = builder(registry, unwrap())
    general(b, insert)
    assert fast(b, Update(1, "K", (b"9",) + (None,) * 8, ROW)) is None
    assert fast(b, Update(1, None, None, (UNCHANGED_TOAST,) + ROW[1:])) is None
    assert fast(b, Insert(1, (b"x",) + ROW[1:])) is None
    # JSON keys with Avro values: the general path
    mixed = builder(registry, unwrap(), props={"debezium.format.key": "json"})
    general(mixed, insert)
    assert fast(mixed, insert) is None
    same(mixed, insert, covered=False)


def test_without_connect_meta_data_and_skipped_operations(registry):
    b = builder(registry, unwrap(**{"add.fields": "op,lsn"}), ROUTE,
                props={"debezium.format.value.connect.meta.data": "false", "debezium.source.skipped.operations": "u"})
    general(b, Insert(1, ROW))
    same(b, Insert(1, ODD))
    assert fast(b, Update(1, None, None, ROW)) is None and general(b, Update(1, None, None, ROW)) == []
