"""Kafka's field transforms (`bridge.transform.kafka.fields`): InsertField, ReplaceField,
MaskField, and their refusals. No servers."""

from __future__ import annotations

import base64

import msgspec
import pytest

from bridge.config import config_from_properties
from bridge.convert.schema import connect_schema, field_schema, struct_schema
from bridge.errors import ConfigError
from bridge.format.converter import converters_for
from bridge.produce.heartbeat import Heartbeat
from bridge.transform.chain import side_capturing
from bridge.transform.kafka.structs import TransformFailed
from bridge.transform.record import ConnectRecord
from tests.unit.builders import MINIMAL, events, transform_chain, transform_props, transformed

DECIMAL = connect_schema("bytes", optional=True, name="org.apache.kafka.connect.data.Decimal", version=1,
                         parameters={"scale": "2", "connect.decimal.precision": "5"})
VALUE = struct_schema([
    field_schema("id", connect_schema("int32")), field_schema("v", connect_schema("string", optional=True)),
    field_schema("n", connect_schema("int64", optional=True), default=7),
    field_schema("f", connect_schema("double", optional=True)), field_schema("ok", connect_schema("boolean")),
    field_schema("d", DECIMAL), field_schema("tags", {"type": "array", "items": connect_schema("string"),
                                                      "optional": True}),
    field_schema("raw", connect_schema("bytes", optional=True)),
], optional=True, name="srv.public.t.Value")
KEY = struct_schema([field_schema("id", connect_schema("int32"))], name="srv.public.t.Key")
ROW = {"id": 1, "v": "a", "n": None, "f": msgspec.Raw(b"1.5"), "ok": True, "d": b"\x04\xd2", "tags": ["x"],
       "raw": b"\x01"}
RECORD = ConnectRecord("srv.public.t", KEY, {"id": 1}, VALUE, ROW, [("h", b"x")])


def run(*steps, record=RECORD, **overrides):
    return transformed(transform_props(*steps), record, **overrides)


def refused(*steps) -> str:
    with pytest.raises(ConfigError) as err:
        config_from_properties({**MINIMAL, **transform_props(*steps)})
    return str(err.value)


# --- InsertField --------------------------------------------------------------------------------


def test_insert_field_appends_topic_static_partition_and_timestamp_in_connects_order():
    _, _, value, _ = run(("i", "InsertField$Value", {"static.field": "origin!", "static.value": "pg",
                                                      "timestamp.field": "at", "topic.field": "topic?",
                                                      "partition.field": "part"}))
    added = value["schema"]["fields"][-4:]
    assert added == [
        {"type": "string", "optional": True, "field": "topic"},
        {"type": "int32", "optional": True, "field": "part"},
        {"type": "int64", "optional": True, "name": "org.apache.kafka.connect.data.Timestamp", "version": 1,
         "field": "at"},
        {"type": "string", "optional": False, "field": "origin"},
    ]
    # copySchemaBasics: the struct is rebuilt required; Debezium's records have no partition or timestamp
    assert value["schema"]["optional"] is False and value["schema"]["name"] == "srv.public.t.Value"
    payload = value["payload"]
    assert (payload["topic"], payload["part"], payload["at"], payload["origin"], payload["n"]) == \
        ("srv.public.t", None, None, "pg", 7)


def test_insert_field_on_the_key_passes_a_null_and_fails_on_a_duplicate_name():
    _, key, _, _ = run(("i", "InsertField$Key", {"topic.field": "t"}))
    assert key["payload"] == {"id": 1, "t": "srv.public.t"}
    tombstone = RECORD._replace(value_schema=None, value=None)
    assert run(("i", "InsertField$Value", {"topic.field": "t"}), record=tombstone)[2] is None
    with pytest.raises(TransformFailed, match="cannot create field 'v'"):
        run(("i", "InsertField$Value", {"topic.field": "v"}))


def test_insert_field_changes_side_records_as_connect_does():
    # GIVEN a heartbeat built for the chain (its Connect schema and value) and InsertField
    ev = events()
    chain = transform_chain(transform_props(("i", "InsertField$Value", {"static.field": "s", "static.value": "v"})))
    heartbeat = Heartbeat(ev, side_capturing(converters_for(ev))).record(5)
    topic, key, value, _ = chain.side(*heartbeat)
    # THEN the value has the field, its schema rebuilt; the key is written as before
    assert value == (b'{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"ts_ms"},'
                     b'{"type":"string","optional":true,"field":"s"}],"optional":false,'
                     b'"name":"io.debezium.connector.common.Heartbeat","version":1},"payload":{"ts_ms":5,"s":"v"}}')
    assert key == Heartbeat(ev).record(5).key and topic == "__debezium-heartbeat.srv"


@pytest.mark.parametrize("options, words", [
    ({"offset.field": "o"}, "offset.field is refused: the offset is a sink record's"),
    ({"timestamp.field": "t!"}, "timestamp.field=t! is refused: Debezium's records carry no timestamp"),
    ({"partition.field": "p!"}, "partition.field=p! is refused"),
    ({"static.field": "s"}, "static.value is missing"),
    ({}, "InsertField needs a field to insert"),
])
def test_insert_field_refusals(options, words):
    assert words in refused(("i", "InsertField$Value", options))


# --- ReplaceField -------------------------------------------------------------------------------


def test_replace_field_excludes_includes_and_renames_in_field_order():
    _, _, value, _ = run(("r", "ReplaceField$Value", {"include": "n,id,v", "exclude": "v", "renames": "id:ident"}))
    assert [f["field"] for f in value["schema"]["fields"]] == ["ident", "n"]
    assert value["schema"]["fields"][1]["default"] == 7 and value["schema"]["optional"] is False
    assert value["payload"] == {"ident": 1, "n": 7}
    _, _, value, _ = run(("r", "ReplaceField$Value", {"exclude": "f,ok,d,tags,raw",
                                                      "replace.null.with.default": "false"}))
    assert value["payload"] == {"id": 1, "v": "a", "n": None}
    _, key, _, _ = run(("r", "ReplaceField$Key", {"renames": "id:key_id"}))
    assert key == {"schema": {"type": "struct", "fields": [{"type": "int32", "optional": False, "field": "key_id"}],
                              "optional": False, "name": "srv.public.t.Key"}, "payload": {"key_id": 1}}


@pytest.mark.parametrize("options, words", [
    ({"whitelist": "a"}, "whitelist is refused: removed in Kafka 4.0"),
    ({"blacklist": "a"}, "blacklist is refused: removed in Kafka 4.0 (Kafka Connect ignores it, which changes the "
                         "output a file expects); use exclude"),
    ({"renames": "a:b:c"}, "renames is invalid"),
])
def test_replace_field_refusals(options, words):
    assert words in refused(("r", "ReplaceField$Value", options))


# --- MaskField ----------------------------------------------------------------------------------


def test_mask_field_puts_each_types_null_value():
    _, _, value, _ = run(("m", "MaskField$Value", {"fields": "id,v,n,f,ok,d,tags"}))
    assert value["schema"] == {**value["schema"], "optional": True}  # the schema is kept
    assert value["payload"] == {"id": 0, "v": "", "n": 0, "f": 0.0, "ok": False,
                                "d": base64.b64encode(b"\x00").decode(), "tags": [], "raw": "AQ=="}


def test_mask_field_replacement_is_read_as_the_fields_type():
    _, _, value, _ = run(("m", "MaskField$Value", {"fields": "id,v,n,f,d", "replacement": "12.50"}))
    payload = value["payload"]
    assert (payload["id"], payload["v"], payload["n"], payload["f"]) == (12, "12.50", 12, 12.5)
    assert base64.b64decode(payload["d"]) == (1250).to_bytes(2, "big")


def test_mask_field_leaves_nulls_and_fails_where_connect_does():
    record = RECORD._replace(value={**ROW, "v": None})
    assert run(("m", "MaskField$Value", {"fields": "v"}), record=record)[2]["payload"]["v"] is None
    with pytest.raises(TransformFailed, match="cannot mask a value of type bytes"):
        run(("m", "MaskField$Value", {"fields": "raw"}))
    with pytest.raises(TransformFailed, match="custom replacement"):
        run(("m", "MaskField$Value", {"fields": "ok", "replacement": "x"}))
    with pytest.raises(TransformFailed, match="mismatching scale"):
        run(("m", "MaskField$Value", {"fields": "d", "replacement": "1"}))
    with pytest.raises(TransformFailed, match="Only Struct"):  # unwrap's null-payload delete
        run(("m", "MaskField$Value", {"fields": "v"}), record=RECORD._replace(value=None))
    assert "replacement is empty" in refused(("m", "MaskField$Value", {"fields": "v", "replacement": " "}))
    assert "fields is missing" in refused(("m", "MaskField$Value", {}))
