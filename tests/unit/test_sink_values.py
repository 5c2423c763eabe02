"""bridge.sink.values: Debezium JSON values -> PostgreSQL input text, family by family, with the
edge cases (negative scale, huge precision, BC and five-digit years, leap day, 24:00:00,
microsecond boundaries, infinities, empty arrays, nested quoting). Expected texts are what
PostgreSQL reads back to the source's value (the round trip against a real server is
tests/integration/test_sink_roundtrip.py)."""

from __future__ import annotations

import base64
import struct

import pytest

from bridge.errors import ConfigError
from bridge.properties import PropertyReader
from bridge.sink.values import (DecodeOptions, ValueNotDecoded, column_type, field_decoder, is_unavailable, text_decoder,
                                unavailable_at)

D = DecodeOptions()
PH = "__debezium_unavailable_value"


def named(type_: str, name: str, **params: str) -> dict:
    return {"type": type_, "optional": True, "name": name, "version": 1, **({"parameters": params} if params else {})}


def decimal(scale: int) -> dict:
    return named("bytes", "org.apache.kafka.connect.data.Decimal", scale=str(scale))


@pytest.mark.parametrize(("field", "value", "expected"), [
    ({"type": "int16"}, -32768, "-32768"),
    ({"type": "int64"}, 9223372036854775807, "9223372036854775807"),
    ({"type": "float"}, 3.3, "3.3"),
    ({"type": "double"}, 1.0e10, "10000000000.0"),
    ({"type": "double"}, "NaN", "NaN"),
    ({"type": "double"}, "-Infinity", "-Infinity"),
    ({"type": "double"}, -0.0, "-0.0"),
    ({"type": "double"}, 4.9e-324, "5e-324"),
    ({"type": "boolean"}, True, "1"),  # read by boolean and by bit(1)
    ({"type": "boolean"}, False, "0"),
    (decimal(2), "AeI6", "1234.50"),
    (decimal(2), "/h3G", "-1234.50"),
    (decimal(2), "+w==", "-0.05"),
    (decimal(0), "AA==", "0"),
    (decimal(-2), "ew==", "12300"),  # negative scale
    (decimal(2), 1234.5, "1234.5"),  # decimal.format=NUMERIC
    (named("struct", "io.debezium.data.VariableScaleDecimal"), {"scale": 2, "value": "CK4="}, "22.22"),
    (named("struct", "io.debezium.data.VariableScaleDecimal"), {"scale": 0, "value": "A+g="}, "1000"),
    ({"type": "string"}, 'a"b\\c ☃', 'a"b\\c ☃'),
    (named("string", "io.debezium.data.Json"), '{"a": 1}', '{"a": 1}'),
    (named("string", "io.debezium.data.Enum", allowed="a,b"), "b", "b"),
])
def test_scalars(field, value, expected):
    assert field_decoder(field, D)(value) == expected


def test_huge_precision_decimal():
    unscaled = -(10**1000 - 1)
    raw = unscaled.to_bytes((unscaled.bit_length() + 8) // 8, "big", signed=True)
    text = field_decoder(decimal(500), D)(base64.b64encode(raw).decode())
    assert text == "-" + "9" * 500 + "." + "9" * 500


def test_null_is_sql_null_in_every_family():
    for field in ({"type": "int32"}, decimal(2), named("int32", "io.debezium.time.Date"),
                  {"type": "array", "items": {"type": "int32"}}, {"type": "map", "keys": {}, "values": {}}):
        assert field_decoder(field, D)(None) is None


@pytest.mark.parametrize(("mode", "pg_type", "value", "expected"), [
    ("string", "numeric(6,4)", "22.2200", "22.2200"),
    ("string", "numeric", "NAN", "NaN"),
    ("string", "numeric", "POSITIVE_INFINITY", "Infinity"),
    ("string", "numeric", "NEGATIVE_INFINITY", "-Infinity"),
    ("string", "money", "-1234.11", "-1234.11"),
    ("double", "numeric", -2.0, "-2"),
    ("double", "numeric", 1e20, "100000000000000000000"),
    ("double", "money", 12345678.9, "12345678.9"),
    ("double", "numeric", "Infinity", "Infinity"),
    ("precise", "money", "AeIT", "1234.11"),
    ("precise", "numeric", {"scale": 3, "value": "/g=="}, "-0.002"),
])
def test_decimal_modes_schemaless(mode, pg_type, value, expected):
    assert text_decoder(pg_type, DecodeOptions(decimal_handling_mode=mode))(value) == expected


def test_decimal_string_mode_needs_the_target_type_with_schemas():
    # a plain string field is text unless the target column says numeric
    assert field_decoder({"type": "string"}, D)("NAN") == "NAN"
    assert field_decoder({"type": "string"}, D, "numeric(10,2)")("NAN") == "NaN"


@pytest.mark.parametrize(("pg_type", "mode", "value", "expected"), [
    ("date", "adaptive", 17109, "2016-11-04"),
    ("date", "adaptive", -1, "1969-12-31"),
    ("date", "adaptive", -735160, "0044-03-15 BC"),
    ("date", "adaptive", -719163, "0001-12-31 BC"),  # astronomical year 0
    ("date", "adaptive", 19782, "2024-02-29"),
    ("date", "adaptive", 2932897, "10000-01-01"),
    ("date", "adaptive", 2146033979, "infinity"),
    ("date", "adaptive", -2147472691, "-infinity"),
    ("date", "adaptive", -622191234, "infinity"),  # what Debezium's snapshot writes
    ("date", "isostring", "-0043-03-15Z", "0044-03-15 BC"),
    ("time without time zone", "adaptive", 86400000000, "24:00:00"),
    ("time without time zone", "adaptive", 1, "00:00:00.000001"),
    ("time without time zone", "adaptive", 86399999999, "23:59:59.999999"),
    ("time(3) without time zone", "adaptive", 49890123, "13:51:30.123"),
    ("time without time zone", "connect", 49890123, "13:51:30.123"),
    ("time without time zone", "nanoseconds", 49890123456000, "13:51:30.123456"),
    ("time without time zone", "isostring", "13:51:30.5Z", "13:51:30.5"),
    ("timestamp without time zone", "adaptive", 1478267490123456, "2016-11-04 13:51:30.123456"),
    ("timestamp without time zone", "adaptive", -1, "1969-12-31 23:59:59.999999"),
    ("timestamp without time zone", "adaptive", -210831897600000001, "4713-12-31 23:59:59.999999 BC"),
    ("timestamp without time zone", "adaptive", 601060312290123457, "21016-11-04 13:51:30.123457"),
    ("timestamp without time zone", "adaptive", 2**63 - 1, "infinity"),
    ("timestamp without time zone", "adaptive", -(2**63), "-infinity"),
    ("timestamp(3) without time zone", "adaptive", 1478267490123, "2016-11-04 13:51:30.123"),
    ("timestamp(3) without time zone", "adaptive", 9223372036825200000, "infinity"),
    ("timestamp(3) without time zone", "adaptive", -9223372036832400000, "-infinity"),
    ("timestamp without time zone", "connect", -1047174587392, "1936-10-25 22:10:12.608"),
    ("timestamp without time zone", "nanoseconds", 1478267490123456000, "2016-11-04 13:51:30.123456"),
    ("timestamp without time zone", "isostring", "+292278994-08-16T23:00:00Z", "infinity"),
    ("timestamp without time zone", "isostring", "2016-11-04T13:51:30.5Z", "2016-11-04 13:51:30.5"),
    ("timestamp with time zone", "adaptive", "2016-11-04T11:51:30.123456Z", "2016-11-04T11:51:30.123456Z"),
    ("timestamp with time zone", "adaptive", "+21016-11-04T06:51:30.000000Z", "21016-11-04 06:51:30.000000+00"),
    ("timestamp with time zone", "adaptive", "-4713-12-31T23:59:59.999999Z", "4714-12-31 23:59:59.999999+00 BC"),
    ("timestamp with time zone", "adaptive", "-infinity", "-infinity"),
    ("time with time zone", "adaptive", "24:00:00Z", "24:00:00Z"),
    ("interval", "adaptive", 37091106780000, "10303:05:06.78"),
    ("interval", "adaptive", -1500000, "-0:00:01.5"),
])
def test_temporal(pg_type, mode, value, expected):
    assert text_decoder(pg_type, DecodeOptions(time_precision_mode=mode))(value) == expected


def test_interval_string_mode_is_iso_8601():
    decode = text_decoder("interval", DecodeOptions(interval_handling_mode="string"))
    assert decode("P1Y2M3DT4H5M6.78S") == "P1Y2M3DT4H5M6.78S"


@pytest.mark.parametrize(("mode", "value"), [
    ("bytes", "AP9cIg=="), ("base64", "AP9cIg=="), ("hex", "00ff5c22"), ("base64-url-safe", "AP9cIg=="),
])
def test_bytea_in_every_binary_mode(mode, value):
    options = DecodeOptions(binary_handling_mode=mode)
    assert text_decoder("bytea", options)(value) == "\\x00ff5c22"
    field = {"type": "bytes"} if mode == "bytes" else {"type": "string"}
    assert field_decoder(field, options, "bytea")(value) == "\\x00ff5c22"


def test_base64_url_safe_alphabet():
    assert text_decoder("bytea", DecodeOptions(binary_handling_mode="base64-url-safe"))("-_8=") == "\\xfbff"


def test_bytea_column_type_parameter_stands_for_the_target():
    field = {"type": "string", "parameters": {"__debezium.source.column.type": "BYTEA"}}
    assert field_decoder(field, DecodeOptions(binary_handling_mode="hex"))("0102") == "\\x0102"


@pytest.mark.parametrize(("pg_type", "value", "expected"), [
    ("bit(7)", "QA==", "1000000"),
    ("bit(7)", "AQ==", "0000001"),
    ("bit(24)", "AQID", "000000110000001000000001"),
    ("bit(3)", "", "000"),
    ("bit varying", "BQ==", "101"),
    ("bit varying(5)", "Aw==", "11"),
    ("bit varying", "", ""),
    ("bit(1)", True, "1"),
    ("bit varying(1)", False, "0"),
])
def test_bits(pg_type, value, expected):
    assert text_decoder(pg_type, D)(value) == expected


def test_bits_with_schema_pad_to_the_declared_length():
    field = named("bytes", "io.debezium.data.Bits", length="7")
    assert field_decoder(field, D)("AQ==") == "0000001"
    assert field_decoder(named("bytes", "io.debezium.data.Bits", length=str(2**31 - 1)), D)("AQ==") == "1"


@pytest.mark.parametrize(("pg_type", "value", "expected"), [
    ("integer[]", [1, None, 3], '{"1",NULL,"3"}'),
    ("integer[]", [], "{}"),
    ("text[]", ['a"b', "c\\d", None, "NULL", "", "{x,y}"], '{"a\\"b","c\\\\d",NULL,"NULL","","{x,y}"}'),
    ("bytea[]", ["AAEC"], '{"\\\\x000102"}'),
    ("numeric(10,2)[]", ["eA=="], '{"1.20"}'),
    ("date[]", [17109, 2146033979], '{"2016-11-04","infinity"}'),
    ("boolean[]", [True, False], '{"1","0"}'),
    ("mood[]", ["sad"], '{"sad"}'),
])
def test_arrays(pg_type, value, expected):
    assert text_decoder(pg_type, D)(value) == expected


def test_hstore_json_and_map():
    literal = '"q\\"k"=>"b\\\\s", "n"=>NULL'
    assert text_decoder("hstore", D)('{"q\\"k":"b\\\\s","n":null}') == literal
    assert text_decoder("hstore", DecodeOptions(hstore_handling_mode="map"))({'q"k': "b\\s", "n": None}) == literal
    assert field_decoder(named("string", "io.debezium.data.Json"), D, "hstore")('{"a":"1"}') == '"a"=>"1"'
    assert text_decoder("hstore", D)("{}") == ""


def _wkb_linestring(*points: tuple[float, float], kind: int = 2) -> str:
    body = struct.pack("<BII", 1, kind, len(points)) if kind == 2 else struct.pack("<BIII", 1, kind, 1, len(points))
    return base64.b64encode(body + b"".join(struct.pack("<dd", *p) for p in points)).decode()


def test_geometric_types():
    point = {"x": 1.0, "y": -2.5, "wkb": "AQEAAAAAAAAAAADwPwAAAAAAAATA", "srid": None}
    assert text_decoder("point", D)(point) == "(1.0,-2.5)"
    assert text_decoder("line", D)({"a": 1.0, "b": -1.0, "c": 0.0}) == "{1.0,-1.0,0.0}"
    assert text_decoder("circle", D)({"center": point, "radius": 10.0}) == "<(1.0,-2.5),10.0>"
    lseg = {"wkb": _wkb_linestring((0, 0), (1, 1.5)), "srid": None, "extensions": {"type": "lseg"}}
    assert text_decoder("lseg", D)(lseg) == "[(0.0,0.0),(1.0,1.5)]"
    ring = _wkb_linestring((1, 1), (1, 0), (0, 0), (0, 1), (1, 1), kind=3)
    assert text_decoder("box", D)({"wkb": ring, "srid": None, "extensions": {"type": "box"}}) == "(1.0,1.0),(0.0,0.0)"
    closed = {"wkb": _wkb_linestring((0, 0), (1, 1)), "srid": None, "extensions": {"type": "path", "closed": "true"}}
    assert text_decoder("path", D)(closed) == "((0.0,0.0),(1.0,1.0))"
    polygon = {"wkb": _wkb_linestring((0, 0), (1, 1), (2, 0), (0, 0), kind=3), "srid": None,
               "extensions": {"type": "polygon"}}
    assert field_decoder(named("struct", "io.debezium.data.geometry.Geometry"), D)(polygon) == "((0.0,0.0),(1.0,1.0),(2.0,0.0))"


def test_postgis_keeps_the_ewkb_and_adds_a_separate_srid():
    ewkb = "0101000020E6100000000000000000F03F0000000000000040"  # SRID=4326;POINT(1 2)
    value = {"wkb": base64.b64encode(bytes.fromhex(ewkb)).decode(), "srid": 4326}
    assert field_decoder(named("struct", "io.debezium.data.geometry.Geography"), D)(value) == ewkb.lower()
    plain = {"wkb": base64.b64encode(bytes.fromhex("0101000000000000000000F03F0000000000000040")).decode(),
             "srid": 4326}
    assert text_decoder("geometry", D)(plain) == ewkb.lower()


@pytest.mark.parametrize(("field", "value"), [
    ({"type": "string"}, PH),
    ({"type": "bytes"}, "X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ=="),
    ({"type": "string"}, PH.encode().hex()),
    ({"type": "array"}, [PH]),
    ({"type": "array"}, ["X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ=="]),
    ({"type": "array"}, list(PH.encode())),
    ({"type": "map"}, {PH: PH}),
    (None, '{"' + PH + '":"' + PH + '"}'),
])
def test_unavailable_placeholder_encodings(field, value):
    assert is_unavailable(field, value, PH)
    assert unavailable_at((1, value, None, value), PH) == [1, 3]  # a row's, in one call


@pytest.mark.parametrize("value", [None, "", "text", [], [1, 2], {"a": "b"}, 5, True])
def test_real_values_are_available(value):
    assert not is_unavailable(None, value, PH)
    assert unavailable_at((value, PH), PH) == [1]
    # a row without the placeholder: none (scalars only, or with a list or a map among them)
    assert unavailable_at((value, 1.5, "text", False), PH) == []
    assert unavailable_at((value, [PH + "x"], {PH: "x"}), PH) == []


def test_placeholder_is_configurable():
    assert is_unavailable(None, ["X"], "X") and not is_unavailable(None, [PH], "X")
    assert unavailable_at((["X"], [PH]), "X") == [0]


@pytest.mark.parametrize(("field", "expected"), [
    ({"type": "int8"}, "smallint"),
    ({"type": "int32"}, "integer"),
    ({"type": "float"}, "real"),
    ({"type": "double"}, "double precision"),
    ({"type": "string"}, "text"),
    ({"type": "bytes"}, "bytea"),
    ({"type": "map"}, "hstore"),
    (named("bytes", "org.apache.kafka.connect.data.Decimal", scale="2", **{"connect.decimal.precision": "12"}),
     "numeric(12,2)"),
    (decimal(2), "numeric(1000,2)"),
    (decimal(0), "numeric"),
    (named("struct", "io.debezium.data.VariableScaleDecimal"), "double precision"),
    (named("int32", "io.debezium.time.Date"), "date"),
    (named("int64", "io.debezium.time.MicroTimestamp"), "timestamp(6)"),
    (named("int64", "io.debezium.time.Timestamp", **{"__debezium.source.column.scale": "3"}), "timestamp(3)"),
    (named("string", "io.debezium.time.ZonedTimestamp"), "timestamp(6) with time zone"),
    (named("string", "io.debezium.time.ZonedTime"), "time(6) with time zone"),
    (named("int64", "io.debezium.time.MicroDuration"), "interval"),
    (named("string", "io.debezium.data.Json"), "json"),
    (named("string", "io.debezium.data.Json", **{"__debezium.source.column.type": "JSONB"}), "jsonb"),
    (named("bytes", "io.debezium.data.Bits", length="7"), "bit(7)"),
    (named("bytes", "io.debezium.data.Bits", length=str(2**31 - 1)), "bit varying"),
    (named("string", "io.debezium.data.Enum", allowed="a"), "text"),
    (named("struct", "io.debezium.data.geometry.Point"), "point"),
    (named("struct", "io.debezium.data.geometry.Geometry"), "public.geometry"),
    ({"type": "string", "parameters": {"__debezium.source.column.type": "INET"}}, "inet"),
    ({"type": "array", "items": {"type": "int32"}}, "integer[]"),
    ({"type": "array", "items": named("struct", "io.debezium.data.VariableScaleDecimal")}, "numeric[]"),
])
def test_column_type(field, expected):
    assert column_type(field) == expected


def test_malformed_values_raise_value_not_decoded():
    with pytest.raises(ValueNotDecoded, match="c1"):
        field_decoder({"type": "int32", "field": "c1"}, D)("12")
    with pytest.raises(ValueNotDecoded):
        field_decoder(decimal(2), D)("not base64!")
    with pytest.raises(ValueNotDecoded):
        field_decoder(named("struct", "com.example.Unknown"), D)


def test_options_from_reader_and_their_validation():
    r = PropertyReader({"bridge.sink.decimal.handling.mode": "string", "bridge.sink.binary.handling.mode": "hex"})
    options = DecodeOptions.from_reader(r)
    assert (options.decimal_handling_mode, options.binary_handling_mode, options.time_precision_mode) == (
        "string", "hex", "adaptive")
    assert "bridge.sink.decimal.handling.mode" in r.used
    with pytest.raises(ConfigError, match="bridge.sink.hstore.handling.mode"):
        DecodeOptions.from_reader(PropertyReader({"bridge.sink.hstore.handling.mode": "xml"}))
