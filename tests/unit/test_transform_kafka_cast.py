"""Kafka's Cast (`bridge.transform.kafka.cast`): whole values and field:type lists, Java's
conversions and spellings. No servers."""

from __future__ import annotations

import msgspec
import pytest

from bridge.config import config_from_properties
from bridge.convert.schema import connect_schema, field_schema, struct_schema
from bridge.errors import ConfigError
from bridge.transform.kafka.cast import cast
from bridge.transform.kafka.structs import TransformFailed
from bridge.transform.record import ConnectRecord
from tests.unit.builders import MINIMAL, transform_props, transformed

DECIMAL = connect_schema("bytes", name="org.apache.kafka.connect.data.Decimal", version=1, parameters={"scale": "2"})
VALUE = struct_schema([field_schema("id", connect_schema("int32")),
                       field_schema("n", connect_schema("int64", optional=True), default=7),
                       field_schema("f", connect_schema("double", optional=True))], optional=True, name="t.Value")
KEY = struct_schema([field_schema("id", connect_schema("int32"))], name="t.Key")
RECORD = ConnectRecord("t", KEY, {"id": 1}, VALUE, {"id": 300, "n": None, "f": msgspec.Raw(b"2.75")}, [])


def run(*steps, record=RECORD):
    return transformed(transform_props(*steps), record)


def test_field_casts_keep_optionality_cast_defaults_and_keep_the_struct_optional():
    _, _, value, _ = run(("c", "Cast$Value", {"spec": "id:int8, n:string, f:int32"}))
    assert value["schema"] == {"type": "struct", "fields": [
        {"type": "int8", "optional": False, "field": "id"},
        {"type": "string", "optional": True, "default": "7", "field": "n"},
        {"type": "int32", "optional": True, "field": "f"}], "optional": True, "name": "t.Value"}
    assert value["payload"] == {"id": 44, "n": "7", "f": 2}  # 300 wraps as a byte; 2.75 truncates


def test_whole_value_casts_copy_the_schemas_basics():
    steps = [("e", "ExtractField$Key", {"field": "id"}), ("c", "Cast$Key", {"spec": "string"})]
    _, key, _, _ = run(*steps)
    assert key == {"schema": {"type": "string", "optional": False}, "payload": "1"}
    with pytest.raises(TransformFailed, match="does not support casting from struct"):
        run(("c", "Cast$Key", {"spec": "int64"}))
    tombstone = RECORD._replace(value_schema=None, value=None)
    assert run(("c", "Cast$Value", {"spec": "int64"}), record=tombstone)[2] is None


F64, F32, I64 = connect_schema("double"), connect_schema("float"), connect_schema("int64")
STRING, BOOL, BYTES = connect_schema("string"), connect_schema("boolean"), connect_schema("bytes")
TIMESTAMP = connect_schema("int64", name="org.apache.kafka.connect.data.Timestamp", version=1)
DATE = connect_schema("int32", name="org.apache.kafka.connect.data.Date", version=1)


@pytest.mark.parametrize("value, schema, target, expected", [
    (msgspec.Raw(b"1.0E10"), F64, "int32", 2147483647),  # (int) saturates, as Java's d2i
    (msgspec.Raw(b"-1.9"), F64, "int8", -1),
    ("NaN", F64, "int64", 0),
    (2**40 + 5, I64, "int16", 5),
    (True, BOOL, "int32", 1),
    (msgspec.Raw(b"0.5"), F64, "boolean", False),  # longValue() != 0
    ("TRUE", STRING, "boolean", True),
    ("yes", STRING, "boolean", False),
    (msgspec.Raw(b"0.1"), F64, "string", "0.1"),
    (msgspec.Raw(b"1.0E-5"), F32, "string", "1.0E-5"),
    (10**7, I64, "float", msgspec.Raw(b"1.0E7")),
    (b"\x01\x02", BYTES, "string", "AQI="),
    (b"\x04\xd2", DECIMAL, "string", "12.34"),
    (b"\x04\xd2", DECIMAL, "int32", 12),
    (1709212455123, TIMESTAMP, "string", "2024-02-29T13:14:15.123Z"),
    (19782, DATE, "string", "2024-02-29"),
    (1709212455123, TIMESTAMP, "int64", 1709212455123),
    ("-12", STRING, "int8", -12),
])
def test_cast_converts_as_java_does(value, schema, target, expected):
    assert cast(value, schema, target) == expected


@pytest.mark.parametrize("value, target", [("300", "int8"), ("1.5", "int32"), ("x", "double")])
def test_unparseable_strings_fail_as_in_connect(value, target):
    with pytest.raises(TransformFailed, match="out of range"):
        cast(value, STRING, target)


@pytest.mark.parametrize("spec, words", [
    ("", "Must specify at least one field"), ("a:bytes", "invalid type 'bytes'"), ("int8,a:int8", "single cast"),
    ("a:b:c", "invalid cast mapping"),
])
def test_cast_specs_are_checked_at_start(spec, words):
    with pytest.raises(ConfigError, match=words):
        config_from_properties({**MINIMAL, **transform_props(("c", "Cast$Value", {"spec": spec}))})
