"""Connect schemas → Avro schemas as Confluent's/Apicurio's AvroData writes them for Debezium
(bridge.format.avro.schema), and the value adapters (bridge.format.avro.values)."""

from __future__ import annotations

import json

import msgspec
import pytest

from bridge.convert.schema import (
    array_schema, connect_schema, envelope_schema, field_schema, map_schema, struct_schema, value_schema,
)
from bridge.format.avro.schema import InvalidName, avro_schema, schema_text
from bridge.format.avro.values import adapter

DECIMAL = connect_schema("bytes", name="org.apache.kafka.connect.data.Decimal", version=1,
                         parameters={"scale": "2", "connect.decimal.precision": "12"})


def test_the_envelope_defines_value_under_before_and_references_it_under_after():
    env = envelope_schema("p.public.t", value_schema("p.public.t", [field_schema("id", connect_schema("int32"))]))
    avro = avro_schema(env)
    assert (avro["type"], avro["name"], avro["namespace"]) == ("record", "Envelope", "p.public.t")
    fields = {f["name"]: f for f in avro["fields"]}
    assert fields["before"]["type"][0] == "null" and fields["before"]["type"][1]["name"] == "Value"
    assert "namespace" not in fields["before"]["type"][1]  # the enclosing record's
    assert fields["after"] == {"name": "after", "type": ["null", "Value"], "default": None}
    assert fields["source"]["type"]["namespace"] == "io.debezium.connector.postgresql"
    assert fields["transaction"]["type"][1]["name"] == "block" and fields["transaction"]["type"][1]["namespace"] == "event"
    assert avro["connect.version"] == 2 and avro["connect.name"] == "p.public.t.Envelope"
    assert list(avro) == ["type", "name", "namespace", "fields", "connect.version", "connect.name"]


def test_a_decimal_is_bytes_with_scale_precision_the_connect_properties_and_logical_type_last():
    assert avro_schema(DECIMAL) == {
        "type": "bytes", "scale": 2, "precision": 12, "connect.version": 1,
        "connect.parameters": {"scale": "2", "connect.decimal.precision": "12"},
        "connect.name": "org.apache.kafka.connect.data.Decimal", "logicalType": "decimal"}
    money = connect_schema("bytes", name="org.apache.kafka.connect.data.Decimal", version=1, parameters={"scale": "2"})
    assert avro_schema(money)["precision"] == 64  # AvroData's default precision


def test_an_optional_field_with_a_default_puts_its_type_first_and_keeps_the_default():
    s = struct_schema([field_schema("n", connect_schema("int16"), optional=True, default=7),
                       field_schema("t", connect_schema("string"), optional=True)], name="a.B")
    n, t = avro_schema(s)["fields"]
    assert n == {"name": "n", "type": [{"type": "int", "connect.default": 7, "connect.type": "int16"}, "null"],
                 "default": 7}
    assert t == {"name": "t", "type": ["null", "string"], "default": None}


def test_bytes_defaults_are_iso_8859_1_text_and_debezium_time_types_stay_plain():
    s = struct_schema([field_schema("d", DECIMAL, default=b"\x01\xe2"),
                       field_schema("ts", connect_schema("int64", name="io.debezium.time.MicroTimestamp", version=1))],
                      name="a.B")
    d, ts = avro_schema(s)["fields"]
    assert d["default"] == "\x01\xe2" and d["type"]["connect.default"] == "\x01\xe2"
    assert ts["type"] == {"type": "long", "connect.version": 1, "connect.name": "io.debezium.time.MicroTimestamp"}


def test_connect_logical_types_get_avro_logical_types():
    date = connect_schema("int32", name="org.apache.kafka.connect.data.Date", version=1)
    assert avro_schema(date)["logicalType"] == "date"


def test_maps_with_string_keys_are_avro_maps_and_others_arrays_of_map_entries():
    assert avro_schema(map_schema(connect_schema("string"), connect_schema("int32"))) == {"type": "map", "values": "int"}
    entry = avro_schema(map_schema(connect_schema("int32"), connect_schema("string")))
    assert entry["type"] == "array" and entry["items"]["name"] == "MapEntry"
    assert [f["name"] for f in entry["items"]["fields"]] == ["key", "value"]


def test_connect_meta_data_false_writes_no_connect_properties():
    s = struct_schema([field_schema("n", connect_schema("int16"))], name="a.B", version=1)
    assert "connect" not in schema_text(avro_schema(s, meta=False))


def test_a_name_java_avro_refuses_stops_with_the_name_and_what_to_do():
    s = struct_schema([field_schema("my-col", connect_schema("int32"))], name="a.B")
    with pytest.raises(InvalidName, match="field name 'my-col'"):
        avro_schema(s, where="value of topic 't'")
    bad = struct_schema([field_schema("id", connect_schema("int32"))], name="p.public.my-table.Value")
    with pytest.raises(InvalidName, match="schema.name.adjustment.mode"):
        avro_schema(bad)


def test_values_without_floats_optional_structs_or_keyed_maps_need_no_adapter():
    s = struct_schema([field_schema("id", connect_schema("int32")), field_schema("a", array_schema(connect_schema("string")))],
                      name="a.B")
    assert adapter(s) is None


def test_floats_optional_structs_and_keyed_maps_are_adapted():
    inner = struct_schema([field_schema("x", connect_schema("double"))], optional=True, name="a.P")
    s = struct_schema([field_schema("d", connect_schema("float")), field_schema("p", inner),
                       field_schema("m", map_schema(connect_schema("int32"), connect_schema("string")))], name="a.B")
    adapt = adapter(s)
    out = adapt({"d": msgspec.Raw(b"1.5E3"), "p": {"x": "NaN"}, "m": {1: "a"}})
    assert out["d"] == 1500.0 and out["p"][0] == "a.P" and out["p"][1]["x"] != out["p"][1]["x"]  # NaN
    assert out["m"] == [{"key": 1, "value": "a"}]
    assert adapt({"d": 1.0, "p": None, "m": {}})["p"] is None


def test_the_schema_text_is_compact_json():
    text = schema_text(avro_schema(DECIMAL))
    assert json.loads(text)["logicalType"] == "decimal" and " " not in text
