"""The producer's fast path (`EventBuilder.fast_change`, `bridge.produce.fastrows`) against the
general one (`PgOutputDecoder.decode` + `EventBuilder.change`): byte for byte the same records,
and None — the general path's turn — for whatever it does not cover. No servers."""

from __future__ import annotations

import json
import logging

import pytest

from bridge.config import config_from_properties
from bridge.convert.options import ConversionOptions
from bridge.convert.types import TypeRegistry
from bridge.errors import ProtocolError
from bridge.pgoutput import messages as m
from bridge.pgoutput.messages import UNCHANGED_TOAST, BinaryValue, Delete, Insert, Relation, RelationColumn, Update
from bridge.pgoutput.protocol import PgOutputDecoder
from bridge.produce import events as events_module
from bridge.produce.events import EventBuilder, TxnContext
from bridge.produce.worker import ProducerWorker
from bridge.ring.records import iter_records
from bridge.route import records as rec
from bridge.route.records import NEW_KEY_HALF, OLD_KEY_HALF
from bridge.route.router import Router
from bridge.route.topics import TopicNames
from bridge.source.catalog import TableInfo
from tests.pgoutput_encoder import encode
from tests.fakes import FakeProducer, RecordingSink
from tests.unit.builders import MINIMAL, events

INT4, INT8, TEXT, FLOAT8, NUMERIC, TSTZ, BOOL, JSONB = 23, 20, 25, 701, 1700, 1184, 16, 3802
NUMERIC_12_2 = ((12 << 16) | 2) + 4
UNSUPPORTED = 791  # money[]: Debezium has no converter, the column is left out of the events
TXN = TxnContext(xid=700, commit_ts_us=1_700_000_000_123_456, last_commit_lsn=1000)
FIRST_TXN = TxnContext(xid=701, commit_ts_us=1_700_000_000_123_456, last_commit_lsn=None)

# id, qty, email, price, created_at, note, active, attrs: the benchmark's row, plus NULLs
WIDE = [("id", INT8, -1), ("qty", INT4, -1), ("email", TEXT, -1), ("price", NUMERIC, NUMERIC_12_2),
        ("created_at", TSTZ, -1), ("note", TEXT, -1), ("active", BOOL, -1), ("attrs", JSONB, -1)]
ROW = (b"1000001", b"7", b"user1@example.com", b"12.50", b"2024-05-01 12:34:56.789012+00",
       b"a note", b"t", b'{"tier": "gold"}')


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    """Both paths stamp ts_ms/ts_us/ts_ns with the processing time: freeze it."""
    monkeypatch.setattr(events_module, "_time_ns", lambda: 1_750_000_000_987_654_321)


def builder(columns, key=("id",), not_null=("id",), excluded=(), defaults=(), **overrides) -> EventBuilder:
    """A builder that knows `public.t` (relation id 1) with `columns` = [(name, oid, typmod)]."""
    ev = events(**overrides)
    b = EventBuilder(ev, ConversionOptions(), TypeRegistry(), "db", run_id="run-1")
    rel = Relation(1, "public", "t", "d", tuple(RelationColumn(n in key, n, oid, mod) for n, oid, mod in columns))
    b.relation(rel, TableInfo(tuple(key), frozenset(not_null), frozenset(excluded), tuple(defaults)),
               TopicNames.of(ev).table("public", "t"))
    return b


def general(b: EventBuilder, msg, txn=TXN, lsn=4096, half=0) -> list[tuple]:
    return [tuple(r) for r in b.change(PgOutputDecoder(1).decode(encode(msg)), txn, lsn, half)]


def fast(b: EventBuilder, msg, txn=TXN, lsn=4096, half=0):
    """`fast_change` of `msg` inside a ring batch: other bytes before and after it."""
    raw = encode(msg)
    buf = b"\x00garbage" + raw + b"Wnext record"
    out = b.fast_change(buf, 8, 8 + len(raw), txn, lsn, half)
    return None if out is None else [tuple(r) for r in out]


def same(b: EventBuilder, msg, **kw) -> list[tuple]:
    """Assert the fast path covers `msg` and makes exactly the general path's records."""
    got = fast(b, msg, **kw)
    assert got is not None, "the fast path left this change to the general path"
    expected = general(b, msg, **kw)
    assert got == expected
    return got


# --- covered: the same bytes -----------------------------------------------------------------------

SCHEMAS = pytest.mark.parametrize("schemas", [True, False], ids=["schemas", "no-schemas"])


@SCHEMAS
def test_insert_update_delete_of_the_benchmark_row(schemas):
    b = builder(WIDE, key_schemas_enable=schemas, value_schemas_enable=schemas)
    same(b, Insert(1, ROW))
    same(b, Insert(1, ROW), txn=FIRST_TXN)  # no previous commit: sequence [null, lsn]
    same(b, Update(1, None, None, ROW))
    same(b, Update(1, "K", (ROW[0],) + (None,) * 7, ROW))
    records = same(b, Delete(1, "K", (ROW[0],) + (None,) * 7))
    assert len(records) == 2 and records[1][2] is None  # the tombstone



def test_without_extended_headers_the_fast_path_writes_none_as_the_general_path():
    b = builder(WIDE, extended_headers=False)
    records = same(b, Insert(1, ROW)) + same(b, Delete(1, "K", (ROW[0],) + (None,) * 7))
    assert [r[3] for r in records] == [[], [], []]

@SCHEMAS
def test_nulls_and_not_null_fallbacks(schemas):
    b = builder(WIDE, not_null=("id", "qty", "email", "active"), key_schemas_enable=schemas,
                value_schemas_enable=schemas)
    same(b, Insert(1, (b"1",) + (None,) * 7))
    same(b, Delete(1, "K", (b"1",) + (None,) * 7))  # qty 0, email "", active false


@SCHEMAS
def test_required_columns_of_every_family_are_never_null_in_a_delete(schemas):
    # GIVEN every column NOT NULL: numeric(12,2), timestamptz and jsonb included (issue 11)
    b = builder(WIDE, not_null=[c[0] for c in WIDE], key_schemas_enable=schemas, value_schemas_enable=schemas)
    # WHEN a delete under REPLICA IDENTITY DEFAULT carries only the key
    (record, _) = same(b, Delete(1, "K", (b"1",) + (None,) * 7))
    # THEN both paths fill each column with its fallback, never null
    before = json.loads(record[2])
    before = (before["payload"] if schemas else before)["before"]
    assert before == {"id": 1, "qty": 0, "email": "", "price": "AA==", "created_at": "1970-01-01T00:00:00Z",
                      "note": "", "active": False, "attrs": ""}


@SCHEMAS
def test_nulls_become_the_column_defaults_in_every_image(schemas):
    # GIVEN defaults on a NOT NULL serial key, a NOT NULL numeric(12,2) and timestamptz, and a
    # nullable text column
    defaults = (("id", "nextval('t_id_seq'::regclass)"), ("price", "'5'::numeric"),
                ("created_at", "now()"), ("note", "'n/a'::text"))
    b = builder(WIDE, not_null=("id", "price", "created_at"), defaults=defaults, key_schemas_enable=schemas,
                value_schemas_enable=schemas)
    # WHEN a row with NULLs is inserted and a delete carries only the key
    (insert,) = same(b, Insert(1, (b"1",) + (None,) * 7))
    (delete, _) = same(b, Delete(1, "K", (b"1",) + (None,) * 7))
    # THEN both paths write each default where the value is NULL (nullable column included)
    for record, image in ((insert, "after"), (delete, "before")):
        doc = json.loads(record[2])
        row = (doc["payload"] if schemas else doc)[image]
        assert row == {"id": 1, "qty": None, "email": None, "price": "AfQ=", "created_at": "1970-01-01T00:00:00.000000Z",
                       "note": "n/a", "active": None, "attrs": None}
    if schemas:
        # AND the fields declare them, in the key's schema too
        doc = json.loads(insert[2])
        fields = {f["field"]: f for f in doc["schema"]["fields"][0]["fields"]}
        assert fields["price"]["default"] == "AfQ=" and fields["note"]["default"] == "n/a"
        assert fields["note"]["optional"] is True and "default" not in fields["email"]
        assert json.loads(insert[1])["schema"]["fields"] == [
            {"type": "int64", "optional": False, "default": 0, "field": "id"}]


@SCHEMAS
def test_unchanged_toast_outside_the_key_keeps_the_placeholder(schemas):
    b = builder([("id", INT4, -1), ("big", TEXT, -1), ("j", JSONB, -1)], key_schemas_enable=schemas,
                value_schemas_enable=schemas)
    same(b, Update(1, None, None, (b"1", UNCHANGED_TOAST, UNCHANGED_TOAST)))
    same(b, Update(1, "K", (b"1", None, None), (b"1", UNCHANGED_TOAST, b"{}")))


@SCHEMAS
def test_non_ascii_astral_and_control_characters(schemas):
    b = builder([("id", TEXT, -1), ("t", TEXT, -1), ("f", FLOAT8, -1)], key_schemas_enable=schemas,
                value_schemas_enable=schemas)
    text = "é 日 🎉 \x1f \\u001f \" end".encode()
    same(b, Insert(1, ("ключ🎉".encode(), text, b"1e+10")))
    same(b, Insert(1, (b"k", "a%sb%d".encode(), b"NaN")))  # float NaN is a string; '%' is literal
    same(b, Delete(1, "K", ("ключ🎉".encode(), None, None)))


def test_key_not_first_composite_and_in_key_order():
    # PRIMARY KEY (a, b) on columns (v, b, a): the key follows the key's order
    b = builder([("v", TEXT, -1), ("b", TEXT, -1), ("a", INT4, -1)], key=("a", "b"), not_null=("a", "b"))
    records = same(b, Insert(1, (b"v1", b"x", b"1")))
    assert records[0][1].endswith(b'"payload":{"a":1,"b":"x"}}')
    same(b, Update(1, "K", (None, b"x", b"1"), (b"v2", b"x", b"1")))
    same(b, Delete(1, "K", (None, b"x", b"1")))


def test_table_without_key():
    b = builder([("a", INT4, -1), ("v", TEXT, -1)], key=(), not_null=())
    records = same(b, Insert(1, (b"1", b"v")))
    assert records[0][1] is None
    same(b, Update(1, "O", (b"1", b"v"), (b"1", b"w")))
    same(b, Delete(1, "O", (b"1", b"w")))


def test_replica_identity_full():
    b = builder(WIDE)
    old = ROW[:5] + (b"old note", b"f", None)
    same(b, Update(1, "O", old, ROW))
    same(b, Delete(1, "O", old))


def test_left_out_columns_are_stepped_over():
    b = builder([("id", INT4, -1), ("gone", TEXT, -1), ("m", UNSUPPORTED, -1), ("v", TEXT, -1)], excluded=("gone",))
    same(b, Insert(1, (b"1", b"excluded", b"{$1.00}", b"v")))
    same(b, Insert(1, (b"2", None, UNCHANGED_TOAST, b"v")))


def test_transaction_metadata_and_tombstones_off():
    b = builder(WIDE, tombstones_on_delete=False)
    txn = TxnContext(xid=9, commit_ts_us=1_700_000_000_000_001, last_commit_lsn=77, metadata=True)
    txn.order = (5, 3)
    same(b, Insert(1, ROW), txn=txn)
    assert len(same(b, Delete(1, "K", (ROW[0],) + (None,) * 7), txn=txn)) == 1


def test_a_new_transaction_or_table_shape_renews_the_envelope():
    b = builder(WIDE)
    same(b, Insert(1, ROW), txn=TXN)
    same(b, Insert(1, ROW), txn=FIRST_TXN)
    same(b, Insert(1, ROW), txn=TXN)
    # ALTER TABLE: a new Relation message replaces the reader and the envelope's schema
    b.relation(Relation(1, "public", "t", "d", (RelationColumn(True, "id", INT8, -1),
                                                RelationColumn(False, "extra", TEXT, -1))),
               TableInfo(("id",), frozenset({"id"})), "srv.public.t")
    same(b, Insert(1, (b"5", b"x")), txn=TXN)


# --- left to the general path --------------------------------------------------------------------


@pytest.mark.parametrize("msg", [
    Update(1, "K", (b"1", None), (b"2", b"v")),  # primary-key change: split in halves
    Update(1, "K", (b"1", None), (UNCHANGED_TOAST, b"v")),  # key column as unchanged TOAST
    Update(1, "O", (b"1", b"x" * 3000), (b"1", UNCHANGED_TOAST)),  # FULL: TOAST filled from the old row
    Update(1, "O", (b"1", UNCHANGED_TOAST), (b"1", b"v")),  # TOAST in the old row
    Delete(1, "O", (b"1", UNCHANGED_TOAST)),
], ids=["pk-change", "toast-key", "full-toast", "old-toast", "delete-toast"])
def test_left_to_the_general_path(msg):
    b = builder([("id", INT4, -1), ("v", TEXT, -1)])
    assert fast(b, msg) is None
    assert general(b, msg)  # which handles it


@pytest.mark.parametrize("msg", [
    Update(1, None, None, (UNCHANGED_TOAST, b"v")),  # key column as unchanged TOAST, no old key
    Insert(1, (b"1", BinaryValue(b"\x00\x01"))),  # binary format
    Insert(1, (b"1",)),  # column count differs from the relation's
    Insert(2, (b"1", b"v")),  # unknown relation
], ids=["toast-key", "binary", "ncols", "relation"])
def test_what_the_general_path_refuses_is_left_to_it(msg):
    b = builder([("id", INT4, -1), ("v", TEXT, -1)])
    assert fast(b, msg) is None
    with pytest.raises(Exception):  # noqa: B017 - whatever it raises is the general path's answer
        general(b, msg)


def test_primary_key_change_halves_are_left_to_the_general_path():
    b = builder([("id", INT4, -1), ("v", TEXT, -1)])
    msg = Update(1, "K", (b"1", None), (b"2", b"v"))
    for half in (OLD_KEY_HALF, NEW_KEY_HALF):
        assert fast(b, msg, half=half) is None


@pytest.mark.parametrize("op", ["c", "u", "d"])
def test_skipped_operations_are_left_to_the_general_path(op):
    b = builder([("id", INT4, -1), ("v", TEXT, -1)], skipped_operations=frozenset({op, "t"}))
    msg = {"c": Insert(1, (b"1", b"v")), "u": Update(1, None, None, (b"1", b"v")),
           "d": Delete(1, "K", (b"1", None))}[op]
    assert fast(b, msg) is None


def test_unrepresentable_value_goes_the_general_way_with_its_warning(caplog):
    b = builder([("id", INT4, -1), ("n", NUMERIC, -1)])
    assert fast(b, Insert(1, (b"4", b"NaN"))) is None
    with caplog.at_level(logging.WARNING, logger="bridge.produce.events"):
        records = general(b, Insert(1, (b"4", b"NaN")))
    assert b'"n":null' in records[0][2] and "NaN" in caplog.text


@pytest.mark.parametrize("cut", [1, 3, 6, 9, 12])
def test_malformed_messages_are_left_to_the_decoder(cut):
    b = builder([("id", INT4, -1), ("v", TEXT, -1)])
    raw = encode(Insert(1, (b"1", b"value")))
    # truncated inside a batch: the next record's bytes follow
    buf = raw[:-cut] + encode(Insert(1, (b"2", b"other")))
    assert b.fast_change(buf, 0, len(raw) - cut, TXN, 1) is None
    with pytest.raises(ProtocolError):
        PgOutputDecoder(1).decode(raw[:-cut])


def test_column_names_are_data_never_code():
    # column names arrive from the database: they are field names of the reader's Structs, never
    # its source text; names msgspec cannot spell as field names leave the table to the general path
    b = builder([("id", INT4, -1), ("x) or __import__('os') #", TEXT, -1), ("ключ 🎉 日", TEXT, -1)])
    records = same(b, Insert(1, (b"1", b"v", b"w")))
    assert "\"x) or __import__('os') #\":\"v\",\"ключ \\uD83C\\uDF89 日\":\"w\"".encode() in records[0][2]
    b = builder([("é🎉", INT4, -1), ("v", TEXT, -1)], key=("é🎉",), not_null=("é🎉",))
    assert "{\"\u00e9\\uD83C\\uDF89\":1}".encode() in same(b, Insert(1, (b"1", b"v")))[0][1]
    for evil in ('x": 1}; import os  # \n"', "back\\slash", "tab\t"):
        b = builder([("id", INT4, -1), (evil, TEXT, -1)])
        assert fast(b, Insert(1, (b"1", b"v"))) is None
        general(b, Insert(1, (b"1", b"v")))


# --- the worker: the same records reach Kafka --------------------------------------------------


def worker_records(batch: bytes, use_fast: bool, **props) -> list[tuple]:
    config = config_from_properties({**MINIMAL, "bridge.producers": "1", "debezium.source.topic.prefix": "p",
                                     **props})
    sink = RecordingSink()
    worker = ProducerWorker(config.producer_spec, sink, TypeRegistry(), run_id="run")
    if not use_fast:
        worker._fast_change = lambda *args: None
    worker.handle_batch(memoryview(batch))
    assert worker.tracker.safe_lsn() == 5000  # every record acknowledged: the transaction is safe
    return sink.records


@pytest.mark.parametrize("props", [{}, {"bridge.partitioner": "murmur2"},
                                   {"debezium.source.provide.transaction.metadata": "true"}],
                         ids=["hash", "murmur2", "metadata"])
def test_worker_produces_the_same_records_either_way(props):
    columns = tuple(RelationColumn(n == "id", n, oid, mod) for n, oid, mod in WIDE)
    config = config_from_properties({**MINIMAL, "bridge.producers": "1", "debezium.source.topic.prefix": "p",
                                     **props})
    router = Router(config.routing, lambda rel: TableInfo(("id",), frozenset({"id"})))
    router.handle(encode(Relation(16384, "public", "t", "d", columns)), 10)
    router.handle(encode(m.Begin(4992, 1_700_000_000_000_000, 7)), 100)
    changes = [Insert(16384, ROW), Insert(16384, (b"2",) + ROW[1:]), Update(16384, None, None, ROW),
               Update(16384, "K", (b"2",) + (None,) * 7, (b"3",) + ROW[1:]),  # PK change: general path
               Delete(16384, "K", (ROW[0],) + (None,) * 7), Insert(16384, (b"4",) + ROW[1:3] + (b"NaN",) + ROW[4:])]
    for i, change in enumerate(changes):
        router.handle(encode(change), 200 + i)
    router.handle(encode(m.Commit(0, 4992, 5000, 1_700_000_000_000_000)), 5000)
    batch = bytes(router.builders[0].buffer)
    fast_records = worker_records(batch, True, **props)
    assert fast_records == worker_records(batch, False, **props)
    rows = [r for r in fast_records if r[0] == "p.public.t"]
    assert len(rows) == 9 and rows[-1][2] is not None and b'"price":null' in rows[-1][2]


def test_a_null_last_column_at_the_very_end_of_a_batch():
    # the reader takes a column's kind and length in one read, which for a trailing NULL runs
    # past the end of the buffer when the change is the batch's last bytes: the general path
    # then makes the records, the same ones
    b = builder(WIDE)
    row = ROW[:7] + (None,)
    raw = encode(Insert(1, row))
    at_end = b.fast_change(raw, 0, len(raw), TXN, 4096, 0)
    assert at_end is None
    assert [tuple(r) for r in b.fast_change(raw + b"more", 0, len(raw), TXN, 4096, 0)] == general(b, Insert(1, row))


# --- Kafka's answers on the hot path -------------------------------------------------------------


def kafka_worker(producer: FakeProducer):
    from bridge.kafka.settings import KafkaSettings
    from bridge.produce.kafka import KafkaWriter
    config = config_from_properties({**MINIMAL, "bridge.producers": "1", "debezium.source.topic.prefix": "p"})
    sink = KafkaWriter(KafkaSettings.split({"bootstrap.servers": "127.0.0.1:1"}))
    sink._producer, sink.produce_call = producer, producer.produce
    sink.partitions = lambda topic: 1
    router = Router(config.routing, lambda rel: TableInfo(("id",), frozenset({"id"})))
    router.handle(encode(Relation(16384, "public", "t", "d", (RelationColumn(True, "id", INT4, -1),))), 10)
    router.handle(encode(m.Begin(4992, 1_700_000_000_000_000, 7)), 100)
    router.handle(encode(Insert(16384, (b"1",))), 200)
    router.handle(encode(m.Commit(0, 4992, 5000, 1_700_000_000_000_000)), 5000)
    return ProducerWorker(config.producer_spec, sink, TypeRegistry(), run_id="run"), bytes(router.builders[0].buffer)


def test_a_full_queue_is_waited_out_never_dropped():
    producer = FakeProducer()
    worker, batch = kafka_worker(producer)
    worker.handle_batch(memoryview(batch))
    assert len(producer.produced) == 1 and producer.polls == 1
    assert worker.tracker.safe_lsn() == 5000


def test_a_refused_record_is_a_delivery_error():
    from bridge.errors import DeliveryError
    worker, batch = kafka_worker(FakeProducer(refuse=True))
    with pytest.raises(DeliveryError, match="refused a record of .* bytes for p.public.t"):
        worker.handle_batch(memoryview(batch))
    assert worker.tracker.safe_lsn() == 0


def test_librdkafka_takes_the_positional_order_of_the_hot_path():
    # The hot path calls confluent-kafka's produce positionally (keywords cost ~0.4 µs a call):
    # GIVEN librdkafka's in-process mock broker, WHEN the worker produces a row through it,
    # THEN key, value, partition and headers arrive where they belong and the Txn is the callback.
    from confluent_kafka import Consumer, TopicPartition
    from bridge.kafka.settings import KafkaSettings
    from bridge.produce.kafka import KafkaWriter
    sink = KafkaWriter(KafkaSettings.split({"test.mock.num.brokers": "1", "bootstrap.servers": "127.0.0.1:1",
                                            "linger.ms": "0"}))
    bootstrap = sink._producer.list_topics(timeout=10).orig_broker_name.split("/")[0]
    config = config_from_properties({**MINIMAL, "bridge.producers": "1", "debezium.source.topic.prefix": "p"})
    router = Router(config.routing, lambda rel: TableInfo(("id",), frozenset({"id"})))
    router.handle(encode(Relation(16384, "public", "t", "d", (RelationColumn(True, "id", INT4, -1),))), 10)
    router.handle(encode(m.Begin(4992, 1_700_000_000_000_000, 7)), 100)
    router.handle(encode(Insert(16384, (b"1",))), 200)
    router.handle(encode(m.Commit(0, 4992, 5000, 1_700_000_000_000_000)), 5000)
    batch = bytes(router.builders[0].buffer)
    (row_hash,) = [rec.HEADER.unpack_from(r)[2] for r in map(bytes, iter_records(memoryview(batch)))
                   if r[0] == rec.ROW]
    worker = ProducerWorker(config.producer_spec, sink, TypeRegistry(), run_id="run")
    worker.handle_batch(memoryview(batch))
    assert sink.flush(10) == 0
    assert worker.tracker.safe_lsn() == 5000  # the delivery report reached the transaction
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "t", "auto.offset.reset": "earliest"})
    try:
        partitions = sink.partitions("p.public.t")
        consumer.assign([TopicPartition("p.public.t", p, 0) for p in range(partitions)])
        got = consumer.consume(1, 10)
    finally:
        consumer.close()
    assert len(got) == 1 and got[0].error() is None
    record = got[0]
    assert record.key() == b'{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],' \
                           b'"optional":false,"name":"p.public.t.Key"},"payload":{"id":1}}'
    assert b'"after":{"id":1}' in record.value() and b'"op":"c"' in record.value()
    assert record.partition() == row_hash % partitions
    assert [name for name, _ in record.headers()] == [
        "__debezium.context.connectorLogicalName", "__debezium.context.taskId",
        "__debezium.context.connectorName", "__debezium.context.runId"]


@pytest.mark.parametrize("mode, table, column", [("avro", "odd_table", "_1st_col"),
                                                 ("avro_unicode", "odd_u002dtable", "_u0031st_u002dcol")])
def test_adjusted_schema_and_field_names_are_in_the_templates(mode, table, column):
    # GIVEN table `odd-table` with key column `1st-col`, and both adjustment modes set
    ev = events(schema_name_adjustment=mode, field_name_adjustment=mode)
    b = EventBuilder(ev, ConversionOptions(), TypeRegistry(), "db", run_id="run-1")
    rel = Relation(1, "public", "odd-table", "d", (RelationColumn(True, "1st-col", INT4, -1),
                                                  RelationColumn(False, "v", TEXT, -1)))
    b.relation(rel, TableInfo(("1st-col",), frozenset(("1st-col",))), TopicNames.of(ev).table("public", "odd-table"))
    # WHEN a row is inserted and deleted (the fast path, as the general one)
    [(topic, key, value, _)] = same(b, Insert(1, (b"1", b"a")))
    same(b, Delete(1, "K", (b"1", None)))
    # THEN the topic keeps its name; the schema names and the field names are adjusted
    key, value = json.loads(key), json.loads(value)
    assert topic == "srv.public.odd-table"
    assert key == {"schema": {"type": "struct", "fields": [{"type": "int32", "optional": False, "field": column}],
                              "optional": False, "name": f"srv.public.{table}.Key"}, "payload": {column: 1}}
    assert value["schema"]["name"] == f"srv.public.{table}.Envelope"
    assert value["schema"]["fields"][0]["name"] == f"srv.public.{table}.Value"
    assert value["payload"]["after"] == {column: 1, "v": "a"}
