"""The converter seam (`bridge.format`): writers prepared once per (topic, key|value), key and
value converters set independently, the `source` block's two forms, and Connect BYTES written
as Debezium's base64."""

from __future__ import annotations

import json
import random
from binascii import b2a_base64

import pytest

from bridge.convert.options import ConversionOptions
from bridge.convert.schema import source_schema
from bridge.convert.types import BUILTIN_TYPES, TypeRegistry
from bridge.convert.values import converter_for
from bridge.format.converter import KEY, VALUE, Converters
from bridge.format.json import JsonConverter, JsonWriter, json_bytes
from bridge.format.source import FIELDS, SourceTemplate, source_block
from bridge.format.tostring import StringConverter
from bridge.pgoutput.messages import Delete, Insert, LogicalMessage, Relation, RelationColumn, Update
from bridge.produce import events as events_module
from bridge.produce.events import EventBuilder, TxnContext
from bridge.produce.heartbeat import Heartbeat
from bridge.produce.side_events import MessageEvents, TransactionEvents
from bridge.source.catalog import TableInfo
from tests.pgoutput_encoder import encode
from tests.unit.builders import events

INT4, TEXT, BYTEA, NUMERIC = 23, 25, 17, 1700
NUMERIC_12_2 = ((12 << 16) | 2) + 4
COLUMNS = (("id", INT4, -1), ("v", TEXT, -1))
TXN = TxnContext(xid=700, commit_ts_us=1_700_000_000_123_456, last_commit_lsn=1000)
TOPIC = "srv.public.t"


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    """Both paths stamp ts_ms/ts_us/ts_ns with the processing time: freeze it."""
    monkeypatch.setattr(events_module, "_time_ns", lambda: 1_750_000_000_987_654_321)


class Recording:
    """A converter that records what it is asked to prepare."""

    def __init__(self, inner) -> None:
        self.inner, self.prepared = inner, []
        self.null_is_default = inner.null_is_default

    def prepare(self, schema, topic, field):
        self.prepared.append((topic, field, schema["name"]))
        return self.inner.prepare(schema, topic, field)


def relation(columns=COLUMNS) -> Relation:
    """`public.t` (relation id 1) with `columns` = [(name, type oid, typmod)], keyed by `id`."""
    return Relation(1, "public", "t", "d", tuple(RelationColumn(n == "id", n, oid, mod) for n, oid, mod in columns))


def builder(converters: Converters, columns=COLUMNS, **overrides) -> EventBuilder:
    b = EventBuilder(events(**overrides), ConversionOptions(), TypeRegistry(), "db", run_id="run-1",
                     converters=converters)
    b.relation(relation(columns), TableInfo(("id",), frozenset({"id"})), TOPIC)
    return b


def fast(b: EventBuilder, msg, lsn=4096):
    raw = encode(msg)
    buf = raw + b"Wnext"
    return b.fast_change(buf, 0, len(raw), TXN, lsn)


def general(b: EventBuilder, msg, lsn=4096):
    return [tuple(r) for r in b.change(msg, TXN, lsn)]


# --- prepared once per (topic, field) --------------------------------------------------------------


def test_a_table_prepares_its_writers_once_per_relation_not_per_record():
    # GIVEN recording converters behind an event builder that knows one table
    keys, values = Recording(JsonConverter()), Recording(JsonConverter())
    b = builder(Converters(keys, values))
    # WHEN many changes of it are built, on both paths
    for i in range(20):
        assert fast(b, Insert(1, (b"%d" % i, b"x"))) is not None
        general(b, Update(1, None, None, (b"%d" % i, b"y")))
    b.snapshot_row(Insert(1, (b"1", b"z")), TXN, 1, "true")
    # THEN each writer was prepared once, from the Connect schema of its topic and field
    assert keys.prepared == [(TOPIC, KEY, f"{TOPIC}.Key")]
    assert values.prepared == [(TOPIC, VALUE, f"{TOPIC}.Envelope")]
    # AND a new shape of the table (a Relation message after ALTER TABLE) prepares them anew
    b.relation(relation((*COLUMNS, ("w", TEXT, -1))), TableInfo(("id",), frozenset({"id"})), TOPIC)
    assert len(keys.prepared) == len(values.prepared) == 2


def test_side_streams_prepare_their_writers_once():
    keys, values = Recording(JsonConverter()), Recording(JsonConverter())
    converters = Converters(keys, values)
    messages = MessageEvents(events(), ConversionOptions(), "db", converters)
    transactions = TransactionEvents(events(), converters)
    heartbeat = Heartbeat(events(), converters)
    for i in range(5):
        messages.record(LogicalMessage(True, 100 + i, "audit", b"x"), 7, TXN.commit_ts_us, None)
        transactions.begin(7, 100 + i, TXN.commit_ts_us)
        transactions.end(7, 100 + i, TXN.commit_ts_us, 1, [("public.t", 1)])
        heartbeat.record(1000 + i)
    assert keys.prepared == [
        ("srv.message", KEY, "io.debezium.connector.postgresql.MessageKey"),
        ("srv.transaction", KEY, "io.debezium.connector.common.TransactionMetadataKey"),
        ("__debezium-heartbeat.srv", KEY, "io.debezium.connector.common.ServerNameKey"),
    ]
    assert values.prepared == [
        ("srv.message", VALUE, "io.debezium.connector.postgresql.MessageValue"),
        ("srv.transaction", VALUE, "io.debezium.connector.common.TransactionMetadataValue"),
        ("__debezium-heartbeat.srv", VALUE, "io.debezium.connector.common.Heartbeat"),
    ]


# --- key and value converters, each with its own schemas.enable ----------------------------------

BOTH = pytest.mark.parametrize(("key_schemas", "value_schemas"),
                               [(True, True), (True, False), (False, True), (False, False)])


def wrapped(record: bytes, schemas: bool, name: str) -> dict:
    """The payload of a record, checking it is wrapped with the schema `name` iff `schemas`."""
    body = json.loads(record)
    if not schemas:
        assert "schema" not in body or "payload" not in body
        return body
    assert list(body) == ["schema", "payload"] and body["schema"]["name"] == name
    return body["payload"]


@BOTH
def test_the_converters_decide_the_wrapping_of_keys_and_values_independently(key_schemas, value_schemas):
    # GIVEN converters whose schemas.enable contradicts the configuration's booleans
    converters = Converters(JsonConverter(key_schemas), JsonConverter(value_schemas))
    b = builder(converters, key_schemas_enable=not key_schemas, value_schemas_enable=not value_schemas)
    # WHEN a change is built on the fast and on the general path
    msg = Insert(1, (b"7", b"x"))
    ((topic, key, value, _),) = fast(b, msg)
    assert general(b, msg)[0][:3] == (topic, key, value)
    # THEN the converters, not the booleans, decide each wrapping
    assert wrapped(key, key_schemas, f"{TOPIC}.Key") == {"id": 7}
    assert wrapped(value, value_schemas, f"{TOPIC}.Envelope")["after"] == {"id": 7, "v": "x"}


@BOTH
def test_side_streams_follow_their_converters(key_schemas, value_schemas):
    converters = Converters(JsonConverter(key_schemas), JsonConverter(value_schemas))
    e = events(key_schemas_enable=not key_schemas, value_schemas_enable=not value_schemas)
    msg = MessageEvents(e, ConversionOptions(), "db", converters).record(
        LogicalMessage(False, 100, "audit", b"\x01\x02\x03"), None, TXN.commit_ts_us, None)
    assert wrapped(msg.key, key_schemas, "io.debezium.connector.postgresql.MessageKey") == {"prefix": "audit"}
    message = wrapped(msg.value, value_schemas, "io.debezium.connector.postgresql.MessageValue")["message"]
    assert message == {"prefix": "audit", "content": "AQID"}
    begin = TransactionEvents(e, converters).begin(7, 100, TXN.commit_ts_us)
    assert wrapped(begin.key, key_schemas, "io.debezium.connector.common.TransactionMetadataKey") == {"id": "7:100"}
    assert wrapped(begin.value, value_schemas, "io.debezium.connector.common.TransactionMetadataValue")["status"] \
        == "BEGIN"
    beat = Heartbeat(e, converters).record(1234)
    assert wrapped(beat.key, key_schemas, "io.debezium.connector.common.ServerNameKey") == {"serverName": "srv"}
    assert wrapped(beat.value, value_schemas, "io.debezium.connector.common.Heartbeat") == {"ts_ms": 1234}


class Framed:
    """A converter whose writers put their own bytes around a JSON payload (as a Confluent
    framing would), `%` included: the generated readers must take the writer's template."""

    def prepare(self, schema, topic, field):
        writer = JsonWriter(schema, topic, field, schemas_enable=False)
        writer.head, writer.tail = b"<%s " + field.encode(), b" 100%>"
        writer.template = b"<%%s " + field.encode() + b"%s 100%%>"
        return writer


def test_the_generated_readers_take_the_key_writers_template():
    b = builder(Converters(Framed(), JsonConverter(False)))
    for msg in (Insert(1, (b"7", b"x")), Update(1, None, None, (b"7", b"y")), Delete(1, "K", (b"7", None))):
        records = fast(b, msg)
        assert records is not None and [r[:3] for r in records] == [r[:3] for r in general(b, msg)]
        assert records[0][1] == b'<%s key{"id":7} 100%>'


# --- the source block, once -------------------------------------------------------------------------


def test_the_source_fields_are_the_connect_schemas_in_its_order():
    assert [field for field, _, _ in FIELDS] == [f["field"] for f in source_schema()["fields"]]


@pytest.mark.parametrize(("names", "snapshot", "txid", "last"), [
    (("srv", "db", "public", "t"), "false", 700, 1000),
    (("srv", "db", "public", "t"), "last", None, None),
    (("p-1", "d%b%d", "sch%s 🎉", "t\x01\"\\"), "incremental", 1, 0),
])
def test_the_source_templates_block_is_the_dicts_json_field_by_field(names, snapshot, txid, last):
    # GIVEN a table's source template and a transaction's values
    template = SourceTemplate(*names).txn(snapshot, TXN.commit_ts_us, txid, last)
    # WHEN an event's LSN goes into its slots (two: `sequence` and `lsn`)
    lsn = 123_456_789
    block = template % (lsn, lsn)
    # THEN it is the JSON the writer makes of the dict form, fields and order included
    expected = source_block(*names, snapshot, TXN.commit_ts_us, txid, last, lsn)
    assert list(json.loads(block).items()) == list(expected.items())
    assert block == json_bytes(expected)


def test_events_and_messages_carry_the_same_source_block():
    b = builder(Converters(JsonConverter(False), JsonConverter(False)))
    ((_, _, value, _),) = fast(b, Insert(1, (b"7", b"x")), lsn=2048)
    source = json.loads(value)["source"]
    assert source == source_block("srv", "db", "public", "t", "false", TXN.commit_ts_us, 700, 1000, 2048)
    message = MessageEvents(events(value_schemas_enable=False), ConversionOptions(), "db").record(
        LogicalMessage(True, 2048, "audit", b""), 700, TXN.commit_ts_us, 1000)
    assert list(json.loads(message.value)["source"]) == list(source)


# --- Connect BYTES and Debezium's base64 -----------------------------------------------------------


def test_bytes_are_written_as_padded_standard_base64():
    rng = random.Random(17)
    writer = JsonConverter(False).prepare({"type": "bytes", "optional": False}, "t", VALUE)
    for n in range(40):
        data = bytes(rng.randrange(256) for _ in range(n))
        assert writer.write(data) == b'"' + b2a_base64(data, newline=False) + b'"'
    assert writer.write(b"\xfb\xff") == b'"+/8="'  # the standard alphabet, not the URL-safe one


@pytest.mark.parametrize(("mode", "value", "written"), [
    ("bytes", b"\xfb\xff\x00", b'"+/8A"'),
    ("base64", "+/8A", b'"+/8A"'),
    ("base64-url-safe", "-_8A", b'"-_8A"'),
    ("hex", "fbff00", b'"fbff00"'),
])
def test_bytea_is_bytes_in_bytes_mode_and_the_modes_string_otherwise(mode, value, written):
    c = converter_for(BUILTIN_TYPES[BYTEA], -1, ConversionOptions(binary_handling_mode=mode))  # type: ignore[arg-type]
    assert c is not None
    got = c.convert(b"\\xfbff00")
    assert got == value and type(got) is type(value)
    assert json_bytes(got) == written


def test_decimals_are_bytes_written_as_base64_on_both_paths():
    # GIVEN numeric(12,2) and numeric in precise mode: Connect Decimal and VariableScaleDecimal
    # (Connect values: bytes), and bytea in bytes mode
    columns = (("id", INT4, -1), ("d", NUMERIC, NUMERIC_12_2), ("v", NUMERIC, -1), ("b", BYTEA, -1))
    b = builder(Converters(JsonConverter(False), JsonConverter(False)), columns)
    # WHEN a row is built on the fast and the general path
    msg = Insert(1, (b"1", b"-1.28", b"22.2200", b"\\x010203"))
    ((_, _, value, _),) = fast(b, msg)
    # THEN both write the same base64 Debezium's JSON holds
    assert general(b, msg)[0][2] == value
    assert json.loads(value)["after"] == {"id": 1, "d": "gA==", "v": {"scale": 2, "value": "CK4="}, "b": "AQID"}


# --- one spelling for every record --------------------------------------------------------------


def test_side_events_are_spelled_like_jackson():
    # Debezium's JsonConverter writes every record with Jackson: astral characters as escaped
    # surrogate pairs and control characters with upper-case hex, side streams included
    record = MessageEvents(events(key_schemas_enable=False), ConversionOptions(), "db").record(
        LogicalMessage(False, 100, "🎉\x1f", b""), None, TXN.commit_ts_us, None)
    assert record.key == b'{"prefix":"\\uD83C\\uDF89\\u001F"}'


# --- a NULL in a column with a default ---------------------------------------------------------------


def test_jsonconverter_writes_a_null_as_the_field_default_and_stringconverter_leaves_it_null():
    # GIVEN a nullable column with a default (v text DEFAULT 'x') and a row where it is NULL
    def record(converter) -> str:
        b = EventBuilder(events(), ConversionOptions(), TypeRegistry(), "db", run_id="run-1",
                         converters=Converters(converter, converter))
        b.relation(relation(), TableInfo(("id",), frozenset({"id"}), defaults=(("v", "'x'::text"),)), TOPIC)
        (r,) = b.change(Insert(1, (b"1", None)), TXN, 4096)
        return r.value.decode()

    # THEN JsonConverter (replace.null.with.default) writes the default, in the schema and the row
    doc = json.loads(record(JsonConverter()))
    assert doc["payload"]["after"] == {"id": 1, "v": "x"}
    assert doc["schema"]["fields"][1]["fields"][1] == {"type": "string", "optional": True, "default": "x",
                                                       "field": "v"}
    # AND StringConverter prints the Struct, whose field is null: left out
    assert "after=Struct{id=1}" in record(StringConverter())
