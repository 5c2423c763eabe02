"""Kafka's TimestampConverter (`bridge.transform.kafka.timestamps`, with the SimpleDateFormat
subset of `dateformat`) and the refusal of TimestampRouter. No servers."""

from __future__ import annotations

import pytest

from bridge.config import config_from_properties
from bridge.convert.schema import connect_schema, field_schema, struct_schema
from bridge.errors import ConfigError
from bridge.transform.kafka.dateformat import compile_pattern, format_ms, parse_ms, parser
from bridge.transform.kafka.structs import TransformFailed
from bridge.transform.record import ConnectRecord
from tests.unit.builders import MINIMAL, transform_props, transformed

MICROS = connect_schema("int64", optional=True, name="io.debezium.time.MicroTimestamp", version=1)
ZONED = connect_schema("string", optional=True, name="io.debezium.time.ZonedTimestamp", version=1)
DATE = connect_schema("int32", optional=True, name="io.debezium.time.Date", version=1)
VALUE = struct_schema([field_schema("id", connect_schema("int32")), field_schema("at", MICROS),
                       field_schema("ts", ZONED), field_schema("day", DATE)], optional=True, name="t.Value")
RECORD = ConnectRecord("t", None, None, VALUE, {"id": 1, "at": -999, "ts": "2024-02-29T13:14:15.123456Z",
                                                "day": 3}, [])


def run(options, record=RECORD):
    return transformed(transform_props(("tc", "TimestampConverter$Value", options)), record)


def test_a_field_is_converted_and_the_struct_rebuilt_optional_as_it_was():
    _, _, value, _ = run({"field": "at", "target.type": "Timestamp", "unix.precision": "microseconds"})
    assert value["schema"]["optional"] is True and value["schema"]["name"] == "t.Value"
    assert value["schema"]["fields"][1] == {"type": "int64", "optional": True,
                                            "name": "org.apache.kafka.connect.data.Timestamp", "version": 1,
                                            "field": "at"}
    assert value["payload"]["at"] == 0  # -999 µs: Java's TimeUnit truncates toward zero


@pytest.mark.parametrize("options, expected", [
    ({"field": "ts", "target.type": "unix", "format": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSX"}, 1709212455000 + 123456),
    ({"field": "ts", "target.type": "Date", "format": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSX"}, 19782),
    ({"field": "ts", "target.type": "Time", "format": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSX"}, 47_778_456),
    ({"field": "ts", "target.type": "unix", "unix.precision": "seconds", "format": "yyyy-MM-dd'T'HH:mm:ss"},
     1709212455),
    ({"field": "at", "target.type": "string", "format": "dd/MM/yy HH:mm:ss.SSS a"}, "31/12/69 23:59:59.001 PM"),
    ({"field": "at", "target.type": "unix", "unix.precision": "nanoseconds"}, 0),  # -999 ns: 0 ms,
])
def test_conversions(options, expected):
    assert run(options)[2]["payload"][options["field"]] == expected


def test_whole_value_and_null_values():
    record = RECORD._replace(value_schema=MICROS, value=1_700_000_000_123_456)
    _, _, value, _ = run({"target.type": "string", "format": "yyyy-MM-dd HH:mm:ss.SSS EEE MMM",
                          "unix.precision": "microseconds"}, record)
    assert value == {"schema": {"type": "string", "optional": True}, "payload": "2023-11-14 22:13:20.123 Tue Nov"}
    _, _, value, _ = run({"field": "at", "target.type": "Timestamp"}, RECORD._replace(value=None))
    assert value["payload"] is None and value["schema"]["fields"][1]["name"].endswith("Timestamp")
    assert run({"target.type": "unix"}, RECORD._replace(value_schema=None, value=None))[2] is None


def test_a_field_of_no_timestamp_type_or_an_unparseable_string_fails():
    with pytest.raises(TransformFailed, match="does not correspond to a known timestamp type"):
        run({"field": "day", "target.type": "unix"})
    with pytest.raises(TransformFailed, match="could not parse"):
        run({"field": "ts", "target.type": "unix", "format": "HH:mm"})


@pytest.mark.parametrize("pattern, text, ms", [
    ("yyyy-MM-dd", "2024-02-29", 1709164800000),
    ("yyyyMMddHHmmss", "20240229131415", 1709212455000),
    ("yyyy-MM-dd HH:mm Z", "2024-02-29 13:14 +0100", 1709208840000),
    ("dd MMM yyyy", "29 Feb 2024", 1709164800000),
    ("yyyy-MM-dd", "2024-13-01", 1735689600000),  # lenient: month 13 is January next year
])
def test_parsing(pattern, text, ms):
    fields = compile_pattern(pattern)
    assert parse_ms(fields, parser(fields), text) == ms
    if "13-01" not in text and "+0100" not in text:
        assert format_ms(fields, ms) == text


@pytest.mark.parametrize("options, words", [
    ({"target.type": "string"}, "format is missing"),
    ({"target.type": "Instant"}, "target.type=Instant is invalid"),
    ({"target.type": "unix", "unix.precision": "days"}, "unix.precision=days is invalid"),
    ({"target.type": "string", "format": "yyyy-ww"}, "pattern letter 'w' is not supported"),
    ({"target.type": "string", "format": "yyyy 'x"}, "unterminated quote"),
])
def test_options_are_checked_at_start(options, words):
    with pytest.raises(ConfigError, match=words):
        config_from_properties({**MINIMAL, **transform_props(("tc", "TimestampConverter$Value", options))})


def test_timestamp_router_is_refused_with_the_reason():
    with pytest.raises(ConfigError, match="Debezium's records do not carry .*use RegexRouter"):
        config_from_properties({**MINIMAL, **transform_props(("tr", "TimestampRouter", {
            "topic.format": "${topic}-${timestamp}", "timestamp.format": "yyyyMMdd"}))})
