"""Converters beside JsonConverter (`bridge.format`): StringConverter's Java `toString()`,
Debezium's CloudEventsConverter (JSON/JSON), the byte array converters' delegate, and the
refusals. Expected Java renderings were printed by Java 17 with Kafka Connect 4.3.1's classes
(jshell); whole records are proven against the running Debezium by
tests/integration/test_live_converters.py."""

from __future__ import annotations

import json

import msgspec
import pytest

from bridge.config import config_from_properties, load_config
from bridge.convert.options import ConversionOptions
from bridge.convert.schema import (array_schema, connect_schema, field_schema, heartbeat_value_schema, map_schema,
                                   source_schema, struct_schema, transaction_value_schema)
from bridge.convert.types import TypeRegistry
from bridge.errors import ConfigError
from bridge.format.cloudevents import CloudEventsConverter, ce_time, extension_name
from bridge.format.converter import VALUE, Converters, converters_for
from bridge.format.json import JsonConverter
from bridge.format.settings import CLOUDEVENTS, JSON, STRING, ConverterSpec
from bridge.format.source import SOURCE_VERSION, source_block
from bridge.format.tostring import StringConverter, big_decimal, java_date, renderer
from bridge.pgoutput.messages import Delete, Insert, Relation, RelationColumn, Update
from bridge.produce import events as events_module
from bridge.produce.events import EventBuilder, TxnContext
from bridge.produce.heartbeat import Heartbeat
from bridge.produce.side_events import TransactionEvents
from bridge.source.catalog import TableInfo
from bridge.pgoutput import messages as m
from bridge.produce.worker import ProducerWorker
from bridge.route.router import Router
from tests.fakes import RecordingSink
from tests.pgoutput_encoder import encode
from tests.unit.builders import MINIMAL, REL as TABLE, events, run_batch, txn

TXN = TxnContext(xid=700, commit_ts_us=1_700_000_000_123_456, last_commit_lsn=1000)
REL = Relation(1, "public", "t", "d", (RelationColumn(True, "id", 23, -1), RelationColumn(False, "v", 25, -1)))
SOURCE = (f"source=Struct{{version={SOURCE_VERSION},connector=postgresql,name=srv,ts_ms=1700000000123,db=db,"
          'sequence=["1000","4096"],ts_us=1700000000123456,ts_ns=1700000000123456000,schema=public,table=t,'
          "txId=700,lsn=4096}")
JSON_CLASS = "org.apache.kafka.connect.json.JsonConverter"
CLOCK = "ts_ms=1750000000987,ts_us=1750000000987654,ts_ns=1750000000987654321"


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(events_module, "_time_ns", lambda: 1_750_000_000_987_654_321)


def builder(converters: Converters, **overrides) -> EventBuilder:
    b = EventBuilder(events(**overrides), ConversionOptions(), TypeRegistry(), "db", run_id="run-1",
                     converters=converters)
    b.relation(REL, TableInfo(("id",), frozenset({"id"})), "srv.public.t")
    return b


def fmt(**props) -> tuple[ConverterSpec, ConverterSpec]:
    cfg = config_from_properties({**MINIMAL, **props})
    return cfg.events.key_format, cfg.events.value_format


# --- Java's toString ---------------------------------------------------------------------------


@pytest.mark.parametrize("unscaled, scale, text", [
    (1, 7, "1E-7"), (123, -2, "1.23E+4"), (-5, 3, "-0.005"), (12345, 10, "0.0000012345"), (0, 8, "0E-8"),
    (1250, 2, "12.50"), (-123000000001, 9, "-123.000000001"), (12, 9, "1.2E-8"), (7, 0, "7"),
])
def test_decimals_print_as_java_bigdecimal(unscaled, scale, text):
    assert big_decimal(unscaled, scale) == text


@pytest.mark.parametrize("ms, text", [
    (0, "Thu Jan 01 00:00:00 UTC 1970"),
    (-1000 * 86400 * 365 * 500, "Mon Apr 23 00:00:00 UTC 1470"),  # Julian calendar before 1582-10-15
    (-1000 * 86400 * 365 * 1600, "Sun Jan 23 00:00:00 UTC 371"),
    (86_399_999, "Thu Jan 01 23:59:59 UTC 1970"),
])
def test_connect_dates_print_as_java_util_date_in_utc(ms, text):
    assert java_date(ms) == text


def test_a_struct_prints_as_connect_struct_tostring():
    # GIVEN the schema Java printed (nested struct, bytes, decimal, array, map, float, timestamp)
    inner = struct_schema([field_schema("a", connect_schema("int32", optional=True)),
                           field_schema("b", connect_schema("string", optional=True))], optional=True, name="i")
    decimal = connect_schema("bytes", optional=True, name="org.apache.kafka.connect.data.Decimal",
                             parameters={"scale": "2"})
    schema = struct_schema([
        field_schema("before", inner), field_schema("after", inner),
        field_schema("bb", connect_schema("bytes", optional=True)), field_schema("d", decimal),
        field_schema("arr", array_schema(connect_schema("string", optional=True), optional=True)),
        field_schema("m", map_schema(connect_schema("string"), connect_schema("string", optional=True))),
        field_schema("f", connect_schema("float", optional=True)),
        field_schema("dt", connect_schema("int64", optional=True, name="org.apache.kafka.connect.data.Timestamp")),
    ], name="x")
    value = {"before": None, "after": {"a": 1, "b": "x, y=z}"}, "bb": b"\x01\x02\x03",
             "d": (-1).to_bytes(1, "big", signed=True), "arr": ["a", None, "c"], "m": {"a": None, "k": "v"},
             "f": msgspec.Raw(b"1.50000005E10"), "dt": -1000 * 86400 * 365 * 500}
    # THEN it prints as Struct.toString did
    assert renderer(schema)(value) == (
        "Struct{after=Struct{a=1,b=x, y=z}},bb=java.nio.HeapByteBuffer[pos=0 lim=3 cap=3],d=-0.01,"
        "arr=[a, null, c],m={a=null, k=v},f=1.50000005E10,dt=Mon Apr 23 00:00:00 UTC 1470}")


def test_byte_arrays_print_an_identity_hash_and_streaming_snapshot_is_left_out():
    vsd = struct_schema([field_schema("scale", connect_schema("int32")), field_schema("value", connect_schema("bytes"))],
                        name="io.debezium.data.VariableScaleDecimal")
    text = renderer(vsd)({"scale": 2, "value": b"\x01"})
    assert text.startswith("Struct{scale=2,value=[B@") and text.endswith("}")
    block = source_block("srv", "db", "public", "t", "false", 1_000_000, 5, None, 16)
    assert "snapshot=" not in renderer(source_schema())(block)
    assert "snapshot=last," in renderer(source_schema())({**block, "snapshot": "last"})


# --- StringConverter through event building ----------------------------------------------------


def test_string_converter_writes_keys_and_values_as_struct_tostring_on_the_general_path():
    b = builder(Converters(StringConverter(), StringConverter()))
    insert = Insert(1, (b"1", b"a, b"))
    raw = encode(insert)
    # the fast path steps aside: it writes JSON templates
    assert b.fast_change(raw + b"Wnext", 0, len(raw), TXN, 4096) is None
    [record] = b.change(insert, TXN, 4096)
    assert record.key == b"Struct{id=1}"
    assert record.value.decode() == f"Struct{{after=Struct{{id=1,v=a, b}},{SOURCE},op=c,{CLOCK}}}"
    delete, tombstone = b.change(Delete(1, "K", (b"1", None)), TXN, 4096)
    assert delete.value.decode() == f"Struct{{before=Struct{{id=1}},{SOURCE},op=d,{CLOCK}}}"
    assert tombstone.key == b"Struct{id=1}" and tombstone.value is None


def test_a_key_change_keeps_json_headers_whatever_the_key_converter():
    # GIVEN string keys; WHEN the primary key changes
    b = builder(Converters(StringConverter(), StringConverter()))
    records = b.change(Update(1, "K", (b"1", None), (b"2", b"x")), TXN, 4096)
    # THEN the records are keyed by the string keys, and the headers name the other key as
    # Connect's SimpleHeaderConverter writes a Struct (JSON-like), as before
    assert [r.key for r in records] == [b"Struct{id=1}", b"Struct{id=1}", b"Struct{id=2}"]
    assert records[0].headers[0] == ("__debezium.newkey", b'{"id":2}')
    assert records[2].headers[0] == ("__debezium.oldkey", b'{"id":1}')


def test_string_converter_encoding_replaces_what_the_charset_cannot_hold():
    b = builder(Converters(StringConverter("latin-1"), StringConverter("latin-1")))
    [record] = b.change(Insert(1, (b"1", "é🎉".encode())), TXN, 4096)
    assert b"v=\xe9?}" in record.value


def test_side_records_print_as_structs():
    heartbeat = Heartbeat(events(heartbeat_interval_ms=10), Converters(StringConverter(), StringConverter()))
    record = heartbeat.record(1234)
    assert (record.key, record.value) == (b"Struct{serverName=srv}", b"Struct{ts_ms=1234}")
    tx = TransactionEvents(events(), Converters(StringConverter(), StringConverter()))
    assert tx.begin(7, 99, 1_000_000).value == b"Struct{status=BEGIN,id=7:99,ts_ms=1000}"


# --- CloudEvents -------------------------------------------------------------------------------


def test_cloudevents_wrap_a_change_event_with_debeziums_attributes_and_data():
    b = builder(Converters(JsonConverter(False), CloudEventsConverter()), provide_transaction_metadata=True)
    txn = TxnContext(xid=700, commit_ts_us=1_700_000_000_123_456, last_commit_lsn=1000, metadata=True)
    [record] = b.change(Insert(1, (b"1", "é".encode())), txn, 4096)
    raw = record.value.decode()
    event = json.loads(raw)
    assert list(event)[:7] == ["id", "source", "specversion", "type", "time", "datacontenttype", "iodebeziumop"]
    assert event["id"] == 'name:srv;lsn:4096;txId:700;sequence:["1000","4096"]'
    assert (event["source"], event["specversion"], event["type"], event["time"], event["datacontenttype"]) == (
        "/debezium/postgresql/srv", "1.0", "io.debezium.connector.postgresql.DataChangeEvent",
        "2023-11-14T22:13:20.123Z", "application/json")
    # the source block as extension attributes (INT64 as strings), then the transaction block's
    assert [k for k in event if k.startswith("iodebezium")] == [
        "iodebeziumop", "iodebeziumversion", "iodebeziumconnector", "iodebeziumname", "iodebeziumtsms",
        "iodebeziumsnapshot", "iodebeziumdb", "iodebeziumsequence", "iodebeziumtsus", "iodebeziumtsns",
        "iodebeziumschema", "iodebeziumtable", "iodebeziumtxId", "iodebeziumlsn", "iodebeziumxmin",
        "iodebeziumorigin", "iodebeziumoriginlsn", "iodebeziumtxid", "iodebeziumtxtotalorder",
        "iodebeziumtxdatacollectionorder"]
    assert (event["iodebeziumtsms"], event["iodebeziumtxId"], event["iodebeziumxmin"]) == ("1700000000123", "700", None)
    assert (event["iodebeziumtxid"], event["iodebeziumtxtotalorder"]) == ("700:4096", "0")  # order: set by the worker
    # data: before and after with their schema, last
    assert list(event)[-1] == "data" and raw.endswith('"payload":{"before":null,"after":{"id":1,"v":"é"}}}}')
    assert event["data"]["schema"]["name"] == "io.debezium.connector.postgresql.Data"
    assert [f["field"] for f in event["data"]["schema"]["fields"]] == ["before", "after"]
    assert record.key == b'{"id":1}'


def test_cloudevents_options_drop_extensions_and_the_data_schema():
    b = builder(Converters(StringConverter(), CloudEventsConverter(data_schemas=False, extensions=False)))
    [record] = b.change(Insert(1, (b"1", b"x")), TXN, 4096)
    event = json.loads(record.value)
    assert list(event) == ["id", "source", "specversion", "type", "time", "datacontenttype", "data"]
    assert event["data"] == {"before": None, "after": {"id": 1, "v": "x"}}


def test_cloudevents_write_null_for_what_is_not_a_change_event():
    converters = Converters(CloudEventsConverter(), CloudEventsConverter())
    b = builder(converters)
    delete, tombstone = b.change(Delete(1, "K", (b"1", None)), TXN, 4096)
    assert delete.key is None and delete.value is not None  # keys are Structs, not envelopes
    assert tombstone.value is None
    assert converters.value.prepare(heartbeat_value_schema(), "h", VALUE).write({"ts_ms": 1}) is None
    assert converters.value.prepare(transaction_value_schema(), "t", VALUE).write({"status": "BEGIN"}) is None


def test_cloudevents_names_and_times():
    assert extension_name("origin_lsn") == "iodebeziumoriginlsn" and extension_name("txId") == "iodebeziumtxId"
    assert ce_time(0) == "1970-01-01T00:00:00.000Z" and ce_time(1_700_000_000_005) == "2023-11-14T22:13:20.005Z"


# --- the configuration -------------------------------------------------------------------------


@pytest.mark.parametrize("props, key, value", [
    ({}, JSON, JSON),
    ({"debezium.format.key": "simplestring", "debezium.format.value": "cloudevents"}, STRING, CLOUDEVENTS),
    ({"debezium.format.key": "org.apache.kafka.connect.storage.StringConverter",
      "debezium.format.value": "io.debezium.converters.CloudEventsConverter"}, STRING, CLOUDEVENTS),
    ({"debezium.format.value": "jsonbytearray"}, JSON, JSON),
])
def test_formats_are_read_by_name_or_class(props, key, value):
    k, v = fmt(**props)
    assert (k.kind, v.kind) == (key, value)


def test_converter_options_are_honoured():
    _, v = fmt(**{"debezium.format.value": "cloudevents", "debezium.format.value.json.schemas.enable": "false",
                  "debezium.format.value.extension.attributes.enable": "false",
                  "debezium.format.value.serializer.type": "JSON", "debezium.format.value.data.serializer.type": "json",
                  "debezium.format.value.schema.name.adjustment.mode": "none",
                  "debezium.format.value.metadata.source": "value,id:generate,type:generate"})
    assert (v.data_schemas_enable, v.extension_attributes) == (False, False)
    k, _ = fmt(**{"debezium.format.key": "simplestring", "debezium.format.key.converter.encoding": "ISO-8859-1"})
    assert k.encoding == "latin-1"
    assert isinstance(converters_for(events(key_format=k)).key, StringConverter)


def test_debeziums_byte_array_converters_write_with_their_delegate():
    # GIVEN Debezium's BinaryDataConverter (Debezium Server's `binary`) with a JsonConverter delegate
    k, v = fmt(**{"debezium.format.value": "binary",
                  "debezium.format.value.delegate.converter.type": "org.apache.kafka.connect.json.JsonConverter",
                  "debezium.format.value.delegate.converter.type.schemas.enable": "false",
                  "debezium.format.key": "io.debezium.converters.ByteArrayConverter",
                  "debezium.format.key.delegate.converter.type": "org.apache.kafka.connect.storage.StringConverter"})
    # THEN every Struct is written by the delegate, with the delegate's options
    assert (v.kind, v.schemas_enable, k.kind) == (JSON, False, STRING)
    assert config_from_properties({**MINIMAL, "debezium.format.value": "binary",
                                   "debezium.format.value.delegate.converter.type": JSON_CLASS,
                                   "debezium.format.value.delegate.converter.type.schemas.enable": "false"}
                                  ).events.value_schemas_enable is False


@pytest.mark.parametrize("props, message", [
    ({"debezium.format.value": "io.confluent.connect.avro.AvroConverter"}, "schema.registry.url is required"),
    ({"debezium.format.key": "avro"}, "debezium.format.key.schema.registry.url is required"),
    ({"debezium.format.value": "io.confluent.connect.protobuf.ProtobufConverter"}, "is not supported"),
    ({"debezium.format.value": "io.confluent.connect.json.JsonSchemaConverter"}, "is not supported"),
    ({"debezium.format.value": "org.apache.kafka.connect.converters.ByteArrayConverter"}, "BYTES values only"),
    ({"debezium.format.value": "org.apache.kafka.connect.converters.ByteBufferConverter"}, "BYTES values only"),
    ({"debezium.format.value": "binary"}, "needs debezium.format.value.delegate.converter.type"),
    ({"debezium.format.value": "binary", "debezium.format.value.delegate.converter.type": "json"}, "names a converter class"),
    ({"debezium.format.value": "binary", "debezium.format.value.delegate.converter.type": "avro"},
     "names a converter class"),
    ({"debezium.format.value": "binary",
      "debezium.format.value.delegate.converter.type": "io.confluent.connect.avro.AvroConverter"},
     "delegate.converter.type.schema.registry.url is required"),
    ({"debezium.format.value": "cloudevents", "debezium.format.value.serializer.type": "avro"}, "Avro"),
    ({"debezium.format.value": "cloudevents", "debezium.format.value.data.serializer.type": "avro"}, "Avro"),
    ({"debezium.format.value": "cloudevents", "debezium.format.value.opentelemetry.tracing.attributes.enable": "true"},
     "traceparent"),
    ({"debezium.format.value": "cloudevents", "debezium.format.value.metadata.source": "header"}, "header"),
    ({"debezium.format.value": "cloudevents", "debezium.format.value.metadata.source": "value,id:header"}, "header"),
    ({"debezium.format.value": "cloudevents", "debezium.format.value.metadata.source": "value"}, "generates id"),
    ({"debezium.format.value": "cloudevents", "debezium.format.value.metadata.source": "value,id:nope"}, "invalid"),
    ({"debezium.format.value": "cloudevents", "debezium.format.value.schema.name.adjustment.mode": "x"}, "invalid"),
    ({"debezium.format.key": "simplestring", "debezium.format.key.converter.encoding": "EBCDIC"}, "encodes UTF-8"),
    ({"debezium.format.header": "connect"}, "sends only text or bytes headers"),
    ({"debezium.format.header": "JSON"}, "pgbridge writes headers as"),  # Debezium Server matches exactly
    ({"debezium.format.header": "org.apache.kafka.connect.storage.StringConverter"}, "pgbridge writes headers as"),
])
def test_what_pgbridge_cannot_write_as_debezium_does_is_refused_with_one_line(props, message):
    with pytest.raises(ConfigError, match=message) as err:
        config_from_properties({**MINIMAL, **props})
    assert "\n" not in str(err.value)


def test_connect_converter_keys_are_honoured_and_unknown_options_refused(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"name": "c", "config": {
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector", "database.hostname": "h",
        "database.user": "u", "database.password": "p", "database.dbname": "d", "topic.prefix": "shop",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "io.debezium.converters.CloudEventsConverter",
        "value.converter.serializer.type": "json", "value.converter.data.serializer.type": "json",
        "header.converter": "org.apache.kafka.connect.storage.SimpleHeaderConverter",
        "value.converter.json.decimal.format": "NUMERIC"}}))
    report = load_config(path, "127.0.0.1:9092", refuse=False).keys
    honoured = {v.key for v in report.honoured}
    assert {"key.converter", "value.converter", "value.converter.serializer.type", "header.converter"} <= honoured
    assert [v.key for v in report.refused] == ["value.converter.json.decimal.format"]


def test_a_pipeline_with_string_converters_writes_structs_end_to_end():
    # GIVEN a router and a producer's worker configured with StringConverter keys and values
    config = config_from_properties({**MINIMAL, "bridge.producers": "1", "debezium.source.topic.prefix": "p",
                                     "debezium.format.key": "simplestring", "debezium.format.value": "simplestring"})
    router = Router(config.routing, lambda rel: TableInfo(("id",), frozenset({"id"})))
    sink = RecordingSink()
    worker = ProducerWorker(config.producer_spec, sink, TypeRegistry(), run_id="run")
    # WHEN a transaction with an insert goes through them
    router.handle(encode(TABLE), 10)
    txn(router, 1000, [m.Insert(16384, (b"7", b"seven"))])
    run_batch(router, worker)
    # THEN the record is the Struct's text; the headers keep Debezium Server's default format, json
    [(topic, key, value, _, headers)] = sink.records
    assert (topic, key) == ("p.public.t", b"Struct{id=7}")
    assert value.startswith(b"Struct{after=Struct{id=7,v=seven},source=Struct{version=")
    assert headers[0] == ("__debezium.context.connectorLogicalName",
                          b'{"schema":{"type":"string","optional":false},"payload":"p"}')


def test_debezium_server_common_format_options_reach_both_converters_and_the_side_wins():
    k, v = fmt(**{"debezium.format.key": "simplestring", "debezium.format.value": "cloudevents",
                  "debezium.format.converter.encoding": "US-ASCII", "debezium.format.json.schemas.enable": "false",
                  "debezium.format.value.json.schemas.enable": "true"})
    assert (k.encoding, v.data_schemas_enable) == ("ascii", True)
    _, v = fmt(**{"debezium.format.value": "cloudevents", "debezium.format.extension.attributes.enable": "false"})
    assert v.extension_attributes is False
