"""Kafka's header transforms (`bridge.transform.kafka.headers`): InsertHeader, DropHeaders,
HeaderFrom. No servers; tests/integration/test_live_transforms_kafka.py compares with Debezium."""

from __future__ import annotations

import pytest

from bridge.config import config_from_properties
from bridge.convert.schema import connect_schema, field_schema, struct_schema
from bridge.errors import ConfigError
from bridge.format.settings import HeaderFormat
from bridge.transform.kafka.headers import literal
from bridge.transform.kafka.structs import TransformFailed
from bridge.transform.record import ConnectRecord
from tests.unit.builders import MINIMAL, transform_props, transformed

VALUE = struct_schema([field_schema("id", connect_schema("int32")), field_schema("v", connect_schema("string", optional=True)),
                       field_schema("n", connect_schema("int64", optional=True), default=7)], name="srv.public.t.Value")
KEY = struct_schema([field_schema("id", connect_schema("int32"))], name="srv.public.t.Key")
RECORD = ConnectRecord("srv.public.t", KEY, {"id": 1}, VALUE, {"id": 1, "v": "a", "n": None}, [("h", b"x"), ("g", b"y")])


@pytest.mark.parametrize("text, schema_type, value", [
    ("pg", "string", "pg"), ("", "string", ""), ("true", "boolean", True), ("false", "boolean", False),
    ("42", "int8", 42), ("-129", "int16", -129), ("40000", "int32", 40000), ("5000000000", "int64", 5000000000),
    ("007", "int8", 7), ("True", "string", "True"), ("a b, c", "string", "a b, c"),
])
def test_literals_are_read_as_connects_values_parses_them(text, schema_type, value):
    schema, parsed = literal(text)
    assert (schema["type"], parsed) == (schema_type, value)


@pytest.mark.parametrize("text", ["1.5", "1e3", "2024-01-02", "12:30:00", "[1,2]", "{a:1}", "99999999999999999999"])
def test_literals_kafka_reads_as_other_types_are_refused(text):
    with pytest.raises(ConfigError, match="value.literal is not supported by pgbridge"):
        config_from_properties({**MINIMAL, **transform_props(("h", "InsertHeader", {"header": "x",
                                                                                   "value.literal": text}))})


def test_insert_header_appends_the_literal_in_the_header_converters_format():
    props = transform_props(("a", "InsertHeader", {"header": "src", "value.literal": "pg"}),
                            ("b", "InsertHeader", {"header": "n", "value.literal": "42"}))
    assert transformed(props, RECORD)[3] == [("h", b"x"), ("g", b"y"), ("src", b"pg"), ("n", b"42")]
    # with JsonConverter headers, each is a record of its schema
    headers = transformed(props, RECORD, header_format=HeaderFormat(json=True))[3]
    assert headers[-1] == ("n", b'{"schema":{"type":"int8","optional":false},"payload":42}')


def test_drop_headers_removes_every_header_of_those_names():
    record = RECORD._replace(headers=[("h", b"1"), ("g", b"2"), ("h", b"3")])
    assert transformed(transform_props(("d", "DropHeaders", {"headers": "h, z"})), record)[3] == [("g", b"2")]


def test_header_from_copy_keeps_the_value_and_move_rebuilds_the_schema():
    copy = transform_props(("c", "HeaderFrom$Value", {"fields": "v,n", "headers": "hv,hn", "operation": "copy"}))
    _, _, value, headers = transformed(copy, RECORD)
    assert headers[-2:] == [("hv", b"a"), ("hn", b"7")]  # the default, replace.null.with.default
    assert value["schema"]["name"] == "srv.public.t.Value" and value["payload"] == {"id": 1, "v": "a", "n": None}
    move = transform_props(("m", "HeaderFrom$Value", {"fields": "v", "headers": "hv", "operation": "move",
                                                      "replace.null.with.default": "false"}))
    _, _, value, headers = transformed(move, RECORD)
    assert value["schema"] == {"type": "struct", "fields": [{"type": "int32", "optional": False, "field": "id"},
                                                            {"type": "int64", "optional": True, "default": 7,
                                                             "field": "n"}],
                               "optional": False, "name": "srv.public.t.Value"}
    assert value["payload"] == {"id": 1, "n": None}
    key_side = transform_props(("k", "HeaderFrom$Key", {"fields": "id", "headers": "kid", "operation": "copy"}))
    assert transformed(key_side, RECORD)[3][-1] == ("kid", b"1")


def test_header_from_fails_on_a_missing_field_or_a_tombstone():
    props = transform_props(("c", "HeaderFrom$Value", {"fields": "nope", "headers": "x", "operation": "copy"}))
    with pytest.raises(TransformFailed, match="no field 'nope'"):
        transformed(props, RECORD)
    ok = transform_props(("c", "HeaderFrom$Value", {"fields": "v", "headers": "x", "operation": "copy"}))
    with pytest.raises(TransformFailed, match="Only Struct"):
        transformed(ok, RECORD._replace(value_schema=None, value=None))


@pytest.mark.parametrize("options, words", [
    ({"fields": "a,b", "headers": "x", "operation": "copy"}, "must have as many entries"),
    ({"fields": "a", "headers": "x", "operation": "cut"}, "operation=cut is invalid"),
    ({"fields": "a", "headers": "x"}, "operation is missing"),
    ({"fields": "", "headers": "x", "operation": "copy"}, "fields is empty"),
    ({"fields": "a", "headers": "x", "operation": "copy", "replace.null.with.default": "yes"}, "is invalid"),
])
def test_header_from_options_are_checked_at_start(options, words):
    with pytest.raises(ConfigError, match=words):
        config_from_properties({**MINIMAL, **transform_props(("hf", "HeaderFrom$Value", options))})
