"""`bridge sink` reading Avro (`bridge.sink.avro_input`): the source's Avro records of a change
read back as the same Connect schema and payload as its JsonConverter records, over the type
matrix and the conversion modes; keys, tombstones and envelopes read into the same changes; the
Avro shapes Debezium's schemas do not use (maps with other keys, enums); registry failures
(unknown id, unreachable, stopping); and the settings. No servers: confluent's in-memory
registry."""

from __future__ import annotations

import io
import json
import math
import struct
import sys
from dataclasses import replace

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from fastavro import parse_schema, schemaless_writer

from bridge.config import config_from_properties
from bridge.convert.types import TypeRegistry
from bridge.errors import ConfigError, ConnectionFailed
from bridge.format.avro.registry import Registry
from bridge.format.converter import converters_for
from bridge.kafka.settings import KafkaConnection
from bridge.pgoutput.messages import Delete, Insert, Relation, RelationColumn, Update
from bridge.produce import events as events_module
from bridge.produce.events import EventBuilder, TxnContext
from bridge.sink.avro_input import AvroInput
from bridge.sink.files import read_sink_file, sink_config
from bridge.sink.records import Readers, RecordRefused
from bridge.sink.settings import CONFLUENT, Errors, SinkConfig
from bridge.source.catalog import TableInfo
from tests.unit.builders import MINIMAL

AVRO = {"debezium.format.key": "avro", "debezium.format.value": "avro",
        "debezium.format.schema.registry.url": "http://registry:8081"}
TXN = TxnContext(xid=700, commit_ts_us=1_700_000_000_123_456, last_commit_lsn=1000)
NUMERIC_12_2 = ((12 << 16) | 2) + 4
TOPIC = "shop.public.t"
# (type oid, typmod, values as pgoutput's text): the families the sink decodes
MATRIX = [
    (16, -1, [b"t", b"f"]), (21, -1, [b"-32768"]), (23, -1, [b"-2147483648"]), (20, -1, [b"9223372036854775807"]),
    (700, -1, [b"3.3", b"NaN", b"-Infinity", b"1.17549435e-38", b"3.4028235e38", b"-0"]),
    (701, -1, [b"0.1", b"Infinity", b"-1.5e-300", b"NaN"]), (1700, NUMERIC_12_2, [b"1234.50", b"-0.01"]),
    (1700, -1, [b"22.2200", b"-1000", b"NaN"]), (790, -1, [b"$1,234.11", b"-$0.25"]),
    (25, -1, ["žš ☃ 𝄞".encode(), b""]), (1042, -1, [b"x  "]), (114, -1, [b'{"a": 1}']),
    (3802, -1, [b'{"b": [true, null]}']), (142, -1, [b"<a/>"]), (2950, -1, [b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]),
    (17, -1, [b"\\x010203", b"\\x"]), (1082, -1, [b"2024-02-29", b"infinity"]), (1083, -1, [b"13:14:15.123456"]),
    (1266, -1, [b"13:14:15+02"]), (1114, -1, [b"2024-02-29 13:14:15.5", b"-infinity"]),
    (1184, -1, [b"2024-02-29 13:14:15.5+02"]), (1186, -1, [b"1 day 02:00:00"]), (869, -1, [b"10.0.0.1"]),
    (1560, 3, [b"101"]), (1562, -1, [b"10110"]), (600, -1, [b"(1.5,2.5)"]), (3904, -1, [b"[1,5)"]),
    (1007, -1, [b"{1,NULL,3}"]), (1009, -1, [b'{a,"b c",NULL}']), (1021, -1, [b"{1.5,NaN}"]),
    (1231, -1, [b"{1.5,-2}"]), (1001, -1, [b"{\\\\x01}"]),
]
FLOAT32 = (700, 1021)  # real, real[]: the same 4-byte floats (Java and Python spell some differently)
MODES = [{}, {"debezium.source.decimal.handling.mode": "string"},
         {"debezium.source.decimal.handling.mode": "double"},
         {"debezium.source.time.precision.mode": "connect"},
         {"debezium.source.binary.handling.mode": "base64"},
         {"debezium.source.interval.handling.mode": "string"}]


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    """Both records of a change are stamped with the processing time: freeze it."""
    monkeypatch.setattr(events_module, "_time_ns", lambda: 1_750_000_000_987_654_321)


@pytest.fixture
def client():
    c = SchemaRegistryClient.new_client({"url": "mock://sink-avro"})
    yield c
    c.clear_caches()


def _builder(client, columns, props) -> tuple[EventBuilder, object]:
    """A builder of `public.t` (relation 1, keyed by its first column) records of `props`' format."""
    config = config_from_properties({**MINIMAL, **props})
    converters = converters_for(config.events)
    for converter in (converters.key, converters.value):
        if hasattr(converter, "registry"):
            converter.registry = Registry(converter.spec, client=client)  # type: ignore[attr-defined]
    b = EventBuilder(config.events, config.conversion, TypeRegistry(), "db", run_id="run-1", converters=converters)
    rel = Relation(1, "public", "t", "d", tuple(RelationColumn(i == 0, n, oid, mod)
                                                for i, (n, oid, mod) in enumerate(columns)))
    b.relation(rel, TableInfo((columns[0][0],), frozenset([columns[0][0]]), frozenset(), ()), TOPIC)
    return b, config


def _input(client, spec, stage="VALUE_CONVERTER", **kw) -> AvroInput:
    return AvroInput(spec, kw.pop("errors", Errors()), stage, registry=Registry(spec, client=client), **kw)


def _as_json(value):
    """The Avro payload as json.loads reads JsonConverter's: NaN and the infinities as strings."""
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    return value


def _with_avro_precision(schema):
    """A Connect schema as AvroData reads its Avro schema back: a Decimal without a precision
    gets Avro's (64, what the writer gave it)."""
    if isinstance(schema, list):
        return [_with_avro_precision(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _with_avro_precision(v) for k, v in schema.items()}
    if schema.get("name") == "org.apache.kafka.connect.data.Decimal":
        out["parameters"] = {"connect.decimal.precision": "64", **schema["parameters"]}
    return out


def _float32(value):
    """Floats as the 4-byte float they read back to."""
    if isinstance(value, dict):
        return {k: _float32(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_float32(v) for v in value]
    if isinstance(value, float) and math.isfinite(value):
        return struct.pack(">f", value)
    return value


@pytest.mark.parametrize("mode", MODES, ids=lambda m: ",".join(f"{k.split('.')[-2]}={v}" for k, v in m.items())
                         or "defaults")
def test_avro_records_read_as_the_json_converters_schema_and_payload(client, mode):
    for oid, typmod, values in MATRIX:
        # GIVEN a table of the type and a builder of each format
        columns = [("id", 20, -1), ("c", oid, typmod), ("r", oid, typmod)]
        avro, config = _builder(client, columns, {**AVRO, **mode})
        plain, _ = _builder(client, columns, mode)
        value_in = _input(client, config.events.value_format.avro)
        key_in = _input(client, config.events.key_format.avro, "KEY_CONVERTER")
        for n, value in enumerate(values):
            for msg in (Insert(1, (b"%d" % n, value, value)), Insert(1, (b"%d" % n, None, value)),
                        Update(1, "O", (b"%d" % n, None, value), (b"%d" % n, value, value))):
                # WHEN the change's Avro record is read
                (a,) = avro.change(msg, TXN, 77)
                (j,) = plain.change(msg, TXN, 77)
                _, schema, payload = value_in.read(a[2])
                _, key_schema, key = key_in.read(a[1])
                # THEN it is the JSON record's schema and payload
                expected, expected_key = json.loads(j[2]), json.loads(j[1])
                assert schema == _with_avro_precision(expected["schema"]), (oid, value)
                if oid in FLOAT32:
                    payload, expected["payload"] = _float32(payload), _float32(expected["payload"])
                assert _as_json(payload) == expected["payload"], (oid, value)
                assert (key_schema, key) == (expected_key["schema"], expected_key["payload"])


def _sink_config(**changes) -> SinkConfig:
    spec = config_from_properties({**MINIMAL, **AVRO}).events.value_format.avro
    base = SinkConfig(name="s", topics=(TOPIC,), topics_regex=None, dsn="", kafka=KafkaConnection({}), consumer={},
                      insert_mode="upsert", delete_enabled=True, truncate_enabled=True, pk_mode="record_key",
                      key_avro=replace(spec, label="key.converter"), value_avro=spec)
    return replace(base, **changes)


def _readers(client, config: SinkConfig) -> Readers:
    readers = Readers(config, "__debezium_unavailable_value")
    for side in (readers._key_avro, readers._value_avro):
        side.registry = Registry(side.spec, client=client)
    return readers


def test_readers_make_the_same_changes_of_avro_as_of_json(client):
    # GIVEN the Avro and the JSON records of creates, a TOAST update, a key change, a delete and its tombstone
    columns = [("id", 20, -1), ("note", 25, -1), ("n", 1700, NUMERIC_12_2)]
    avro, _ = _builder(client, columns, AVRO)
    plain, _ = _builder(client, columns, {})
    from bridge.pgoutput.messages import UNCHANGED_TOAST
    changes = [Insert(1, (b"1", b"a", b"1.50")), Update(1, None, None, (b"1", UNCHANGED_TOAST, b"2.00")),
               Update(1, "K", (b"1", None, None), (b"2", b"b", None)), Delete(1, "K", (b"2", None, None))]
    avro_readers = _readers(client, _sink_config())
    json_readers = Readers(_sink_config(key_avro=None, value_avro=None), "__debezium_unavailable_value")
    seen = 0
    for msg in changes:
        for a, j in zip(avro.change(msg, TXN, 90), plain.change(msg, TXN, 90), strict=True):
            # WHEN each is read; THEN the same change (tombstones included)
            got = avro_readers.read(TOPIC, 0, seen, a[1], a[2])
            want = json_readers.read(TOPIC, 0, seen, j[1], j[2])
            assert got == want
            seen += 1
    assert seen == 7  # c, u, d + c, d + tombstone after each delete


def test_maps_with_other_keys_enums_and_fixed_read_as_avrodata_reads_them(client):
    # GIVEN an Avro schema with the shapes Connect's AvroData writes and reads beyond Debezium's
    entry = {"type": "record", "name": "MapEntry", "namespace": "io.confluent.connect.avro",
             "fields": [{"name": "key", "type": "int"}, {"name": "value", "type": ["null", "bytes"]}]}
    avro = {"type": "record", "name": "V", "namespace": "x", "fields": [
        {"name": "m", "type": {"type": "array", "items": entry}},
        {"name": "s", "type": {"type": "map", "values": {"type": "bytes"}}},
        {"name": "e", "type": {"type": "enum", "name": "Mood", "symbols": ["sad", "ok"]}},
        {"name": "f", "type": {"type": "fixed", "name": "F2", "size": 2}},
        {"name": "t", "type": {"type": "int", "connect.type": "int16"}},
        {"name": "d", "type": ["null", {"type": "bytes", "logicalType": "decimal", "precision": 5, "scale": 2}],
         "default": None},
        {"name": "dt", "type": {"type": "int", "logicalType": "date"}, "default": 3},
        {"name": "again", "type": ["null", "Mood"], "default": None}]}
    schema_id = client.register_schema("x-value", Schema(json.dumps(avro), "AVRO"))
    out = io.BytesIO()
    out.write(b"\x00" + schema_id.to_bytes(4, "big"))
    schemaless_writer(out, parse_schema(avro), {"m": [{"key": 1, "value": b"\x01"}, {"key": 2, "value": None}],
                                                "s": {"a": b"\xff"}, "e": "ok", "f": b"ab", "t": -3,
                                                "d": b"\x00\x96", "dt": 19782, "again": "sad"})
    # WHEN it is read
    _, schema, payload = _input(client, _sink_config().value_avro).read(out.getvalue())
    # THEN Connect's schema and JsonConverter's payload
    fields = {f["field"]: f for f in schema["fields"]}
    assert schema["name"] == "x.V"
    assert fields["m"] == {"type": "map", "optional": False, "field": "m", "keys": {"type": "int32", "optional": False},
                           "values": {"type": "bytes", "optional": True}}
    assert fields["e"]["type"] == "string" and fields["e"]["name"] == "x.Mood"
    assert fields["e"]["parameters"]["io.confluent.connect.avro.Enum.ok"] == "ok"
    assert (fields["f"]["type"], fields["t"]["type"]) == ("bytes", "int16")
    assert fields["d"] == {"type": "bytes", "optional": True, "field": "d", "name": "org.apache.kafka.connect.data.Decimal",
                           "parameters": {"scale": "2", "connect.decimal.precision": "5"}}
    assert fields["dt"] == {"type": "int32", "optional": False, "field": "dt", "default": 3,
                            "name": "org.apache.kafka.connect.data.Date"}
    assert fields["again"]["optional"] and fields["again"]["name"] == "x.Mood"
    assert payload == {"m": [[1, "AQ=="], [2, None]], "s": {"a": "/w=="}, "e": "ok", "f": "YWI=", "t": -3,
                       "d": "AJY=", "dt": 19782, "again": "sad"}


class _Down:
    """A registry client that fails `failures` times with `error`, then knows schema 1."""

    def __init__(self, error: Exception, failures: int = 10**9) -> None:
        self.error, self.failures, self.calls = error, failures, 0

    def get_schema(self, schema_id):
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return Schema('{"type": "record", "name": "K", "fields": [{"name": "id", "type": "int"}]}', "AVRO")


def _reader(client, errors=Errors(), wait=lambda s: False) -> AvroInput:
    return AvroInput(_sink_config().value_avro, errors, "VALUE_CONVERTER", wait=wait,
                     registry=Registry(_sink_config().value_avro, client=client))


def test_registry_failures_are_retried_within_errors_retry_timeout_then_refuse_the_record():
    record = b"\x00\x00\x00\x00\x01\x02"
    # an unknown id: refused at once (dead-lettered or stopping, as any undecodable record)
    unknown = _Down(SchemaRegistryError(404, 40403, "Schema not found"))
    with pytest.raises(RecordRefused, match="no schema 1: HTTP 404") as refused:
        _reader(unknown).read(record)
    assert refused.value.stage == "VALUE_CONVERTER" and unknown.calls == 1
    # unreachable with errors.retry.timeout=0 (Connect's default): refused after the one attempt
    down = _Down(ConnectionRefusedError("refused"))
    with pytest.raises(RecordRefused, match="ConnectionRefusedError"):
        _reader(down).read(record)
    # with a budget: retried 300 ms, then doubling up to errors.retry.delay.max.ms, and read once it answers
    waits: list[float] = []
    flaky = _Down(SchemaRegistryError(503, 50301, "busy"), failures=4)
    errors = Errors(retry_timeout_ms=-1, retry_delay_max_ms=1000)
    assert _reader(flaky, errors, lambda s: waits.append(s) or False).read(record)[2] == {"id": 1}
    assert waits == [0.3, 0.6, 1.0, 1.0]
    # stopping while it waits: no record is refused, the worker stops
    with pytest.raises(ConnectionFailed, match="stopped while waiting for the schema registry"):
        _reader(_Down(OSError("down")), errors, lambda s: True).read(record)


def test_records_that_are_not_confluent_framed_avro_are_refused(client):
    with pytest.raises(RecordRefused, match="not a Confluent-framed Avro record"):
        _reader(client).read(b'{"schema": null}')
    schema_id = client.register_schema("y-value", Schema('{"type": "record", "name": "R", "fields": '
                                                          '[{"name": "s", "type": "string"}]}', "AVRO"))
    with pytest.raises(RecordRefused, match="does not match its schema"):
        _reader(client).read(b"\x00" + schema_id.to_bytes(4, "big") + b"\x08ab")


SINK = {"connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector", "topics": TOPIC,
        "connection.url": "jdbc:postgresql://db.example/target", "bridge.kafka.bootstrap.servers": "127.0.0.1:9092"}
APICURIO = "io.apicurio.registry.utils.converter.AvroConverter"


def _sink(tmp_path, extra: dict):
    path = tmp_path / "sink.json"
    path.write_text(json.dumps({"name": "avro-sink", "config": {**SINK, **extra}}))
    return sink_config(read_sink_file(path), 1)


def test_avro_converters_are_read_with_the_sources_registry_options(tmp_path):
    config, keys = _sink(tmp_path, {
        "key.converter": CONFLUENT, "key.converter.schema.registry.url": "https://r1:8081,https://r2:8081",
        "key.converter.basic.auth.credentials.source": "USER_INFO", "key.converter.basic.auth.user.info": "u:pw",
        "key.converter.schema.registry.ssl.truststore.location": "/ca.pem",
        "key.converter.schema.registry.ssl.truststore.type": "PEM",
        "value.converter": APICURIO, "value.converter.apicurio.registry.url": "http://reg:8080/apis/registry/v2",
        "value.converter.apicurio.registry.as-confluent": "true",
        "value.converter.apicurio.registry.headers.enabled": "false",
        "value.converter.apicurio.registry.use-id": "contentId"})
    assert keys.refused == ()
    assert config.key_avro.urls == ("https://r1:8081", "https://r2:8081") and config.key_avro.user_info == "u:pw"
    assert config.key_avro.ca_location == "/ca.pem"
    assert config.value_avro.urls == ("http://reg:8080/apis/ccompat/v7",)
    plain, _ = _sink(tmp_path, {})
    assert plain.key_avro is None and plain.value_avro is None


@pytest.mark.parametrize("extra, message", [
    ({"value.converter": CONFLUENT}, "value.converter.schema.registry.url is required"),
    ({"value.converter": APICURIO, "value.converter.apicurio.registry.url": "http://r/apis/registry/v2"},
     "apicurio.registry.as-confluent='false' is not supported"),
    ({"value.converter": CONFLUENT, "value.converter.schema.registry.url": "http://r",
      "value.converter.use.latest.version": "true"}, "use.latest.version=true is refused: bridge sink reads each"),
    ({"value.converter": CONFLUENT, "value.converter.schema.registry.url": "http://r",
      "bridge.registry.compatibility": "FULL"}, "bridge.registry.compatibility is refused: it is the source's"),
    ({"value.converter": CONFLUENT, "value.converter.schema.registry.url": "http://r",
      "value.converter.no.such.option": "1"}, "value.converter.no.such.option is refused: converter option"),
])
def test_what_the_sink_cannot_read_is_refused_naming_the_key(tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message):
        _sink(tmp_path, extra)


def test_without_the_avro_extra_the_converter_is_refused_naming_it(tmp_path, monkeypatch):
    # GIVEN fastavro missing (and the modules that import it not loaded yet)
    monkeypatch.setitem(sys.modules, "fastavro", None)
    for name in ("bridge.sink.avro_input", "bridge.format.avro.registry"):
        monkeypatch.delitem(sys.modules, name)
    # THEN the Avro converter is refused at start with one line naming the extra
    with pytest.raises(ConfigError, match=r"value.converter='io.confluent.connect.avro.AvroConverter' needs the "
                                          r"avro extra \(pip install 'pgbridge\[avro\]'\)"):
        _sink(tmp_path, {"value.converter": CONFLUENT, "value.converter.schema.registry.url": "http://r"})
