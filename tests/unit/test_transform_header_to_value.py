"""Debezium's HeaderToValue (`bridge.transform.header_to_value`): headers pgbridge writes from a
Connect value put back in the record's value. tests/integration/test_live_transforms_more.py
compares with Debezium."""

from __future__ import annotations

import pytest

from bridge.config import config_from_properties
from bridge.convert.schema import connect_schema, field_schema, struct_schema
from bridge.errors import ConfigError
from bridge.format.headers import ConnectHeader
from bridge.format.settings import HeaderFormat
from bridge.transform.kafka.structs import TransformFailed
from bridge.transform.record import ConnectRecord
from tests.unit.builders import MINIMAL, transform_props, transformed

CLASS = "io.debezium.transforms.HeaderToValue"
VALUE = struct_schema([field_schema("id", connect_schema("int32")),
                       field_schema("n", connect_schema("int64", optional=True), default=7)],
                      name="srv.public.t.Value", optional=True)
OPTIONAL_STRING = connect_schema("string", optional=True)
HEADERS = [ConnectHeader("op", b"c", OPTIONAL_STRING, "c"), ("__debezium.oldkey", b'{"id":0}'),
           ConnectHeader("table", b"t", OPTIONAL_STRING, "t"), ConnectHeader("op", b"u", OPTIONAL_STRING, "u")]
RECORD = ConnectRecord("srv.public.t", None, None, VALUE, {"id": 1, "n": None}, HEADERS)


def props(operation: str, headers: str = "op,table", fields: str = "operation,tbl") -> dict[str, str]:
    return transform_props(("h", CLASS, {"headers": headers, "fields": fields, "operation": operation}))


def test_copy_adds_the_headers_as_fields_and_keeps_the_headers():
    topic, _, value, headers = transformed(props("copy"), RECORD)
    assert value["schema"] == {"type": "struct", "fields": [
        {"type": "int32", "optional": False, "field": "id"},
        {"type": "int64", "optional": True, "default": 7, "field": "n"},
        {"type": "string", "optional": True, "field": "operation"},
        {"type": "string", "optional": True, "field": "tbl"}], "optional": False, "name": "srv.public.t.Value"}
    # a null with a default takes the default (Struct.get); a name twice: its last header's value
    assert value["payload"] == {"id": 1, "n": 7, "operation": "u", "tbl": "t"}
    assert headers == HEADERS


def test_move_drops_every_header_of_a_listed_name():
    _, _, value, headers = transformed(props("move"), RECORD)
    assert value["payload"]["operation"] == "u"
    assert headers == [HEADERS[1]]


def test_a_record_without_such_headers_or_a_tombstone_passes_unchanged():
    plain = RECORD._replace(headers=[HEADERS[1]])
    assert transformed(props("move"), plain)[2]["schema"] == {**VALUE}
    assert transformed(props("move"), RECORD._replace(value_schema=None, value=None))[2] is None


def test_the_first_record_of_a_schema_decides_its_fields():
    chain_props = props("copy")
    from tests.unit.builders import transform_chain
    chain = transform_chain(chain_props)
    first = chain.run(RECORD._replace(headers=[HEADERS[0]]))
    assert [f["field"] for f in first.value_schema["fields"]] == ["id", "n", "operation"]
    with pytest.raises(TransformFailed, match="tbl is not a valid field name"):
        chain.run(RECORD._replace(headers=list(HEADERS)))
    again = chain.run(RECORD._replace(headers=[HEADERS[0]]))
    assert again.value_schema is first.value_schema


def test_headers_written_as_json_carry_their_schema_and_value_through():
    from tests.unit.builders import KAFKA_TRANSFORMS
    chain = transform_props(("i", KAFKA_TRANSFORMS + "InsertHeader", {"header": "n8", "value.literal": "42"}),
                            ("h", CLASS, {"headers": "n8", "fields": "eight", "operation": "move"}))
    _, _, value, headers = transformed(chain, RECORD, header_format=HeaderFormat(json=True))
    assert value["schema"]["fields"][-1] == {"type": "int8", "optional": False, "field": "eight"}
    assert value["payload"]["eight"] == 42 and [h[0] for h in headers] == [h[0] for h in HEADERS]


def test_a_header_pgbridge_keeps_as_bytes_only_fails_the_record():
    with pytest.raises(TransformFailed, match="keeps the header '__debezium.oldkey' as bytes only"):
        transformed(props("copy", "__debezium.oldkey", "old"), RECORD)


@pytest.mark.parametrize("options, words", [
    ({"fields": "a", "operation": "copy"}, "headers is missing"),
    ({"headers": "a", "operation": "copy"}, "fields is missing"),
    ({"headers": "a,,b", "fields": "x,y,z", "operation": "copy"}, "headers: empty entries"),
    ({"headers": "a", "fields": "x y", "operation": "copy"}, "fields: entries containing a space"),
    ({"headers": "a,b", "fields": "x", "operation": "copy"}, "must have as many entries"),
    ({"headers": "a", "fields": "x"}, "operation='' is invalid"),
    ({"headers": "a", "fields": "x", "operation": "cut"}, "operation='cut' is invalid"),
])
def test_options_debezium_refuses_are_refused_naming_the_key(options, words):
    with pytest.raises(ConfigError, match=words) as err:
        config_from_properties({**MINIMAL, **transform_props(("h", CLASS, options))})
    assert "debezium.transforms.h." in str(err.value)


def test_trailing_empty_entries_are_dropped_as_java_splits():
    cfg = config_from_properties({**MINIMAL, **props(" Move ", "op,", "operation")})
    assert "debezium.transforms.h.headers" in {v.key for v in cfg.keys.honoured}


# --- dotted field names: into structs, as Debezium's ConnectRecordUtil puts them ----------------

ROW = struct_schema([field_schema("id", connect_schema("int32"))], name="srv.public.t.Value", optional=True)
ENVELOPE = struct_schema([field_schema("before", ROW), field_schema("after", ROW), field_schema("op", connect_schema("string"))],
                         name="srv.public.t.Envelope")
CREATE = ConnectRecord("srv.public.t", None, None, ENVELOPE, {"before": None, "after": {"id": 1}, "op": "c"},
                       [ConnectHeader("h1", b"a", OPTIONAL_STRING, "a"), ConnectHeader("h2", b"b", OPTIONAL_STRING, "b"),
                        ConnectHeader("h3", b"c", OPTIONAL_STRING, "c")])


def test_a_dotted_name_goes_into_an_existing_struct_or_a_new_one():
    _, _, value, _ = transformed(props("copy", "h1,h2,h3", "f1,after.f2,meta.f3"), CREATE)
    # `after` rebuilt (copySchemaBasics: required) with f2; f1 at the top; `meta` new: optional, unnamed
    assert value["schema"]["fields"][1] == {"type": "struct", "fields": [
        {"type": "int32", "optional": False, "field": "id"},
        {"type": "string", "optional": True, "field": "f2"}], "optional": False, "name": "srv.public.t.Value",
        "field": "after"}
    assert value["schema"]["fields"][3:] == [
        {"type": "string", "optional": True, "field": "f1"},
        {"type": "struct", "fields": [{"type": "string", "optional": True, "field": "f3"}], "optional": True,
         "field": "meta"}]
    assert value["payload"] == {"before": None, "after": {"id": 1, "f2": "b"}, "op": "c", "f1": "a",
                                "meta": {"f3": "c"}}


def test_a_rebuilt_struct_that_is_null_fails_the_record_as_the_converter_does():
    # `before` becomes required by copySchemaBasics: a null one cannot be written
    with pytest.raises(TransformFailed, match='null value for field "before"'):
        transformed(props("copy", "h1", "before.f"), CREATE)


def test_a_dotted_name_under_a_primitive_field_fails_the_record():
    with pytest.raises(TransformFailed, match="Field 'op' is a primitive type"):
        transformed(props("copy", "h1", "op.f"), CREATE)
    # Debezium's `contains` test: `loop.x` names `op.` too, and `op` holds a string
    with pytest.raises(TransformFailed, match="Only Struct objects supported for \\[Nested field\\]"):
        transformed(props("copy", "h1", "loop.x"), CREATE)
