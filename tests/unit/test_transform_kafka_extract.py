"""Kafka's key and nesting transforms (`bridge.transform.kafka.extract`): ValueToKey,
ExtractField (V1 and V2 paths), HoistField. No servers."""

from __future__ import annotations

import pytest

from bridge.config import config_from_properties
from bridge.convert.schema import connect_schema, field_schema, struct_schema
from bridge.errors import ConfigError
from bridge.format.settings import HeaderFormat
from bridge.transform.kafka.extract import field_path
from bridge.transform.kafka.steps import STEPS
from bridge.transform.kafka.structs import TransformFailed
from bridge.transform.record import ConnectRecord
from bridge.transform.smt_settings import TransformSpec
from bridge.pgoutput import messages as m
from tests.unit.builders import KAFKA_TRANSFORMS, MINIMAL, REL, pipeline, run_batch, transform_props, transformed, txn

INNER = struct_schema([field_schema("x", connect_schema("int32", optional=True), default=5)], optional=True,
                      name="inner")
VALUE = struct_schema([field_schema("id", connect_schema("int32")), field_schema("v", connect_schema("string")),
                       field_schema("in", INNER), field_schema("a.b", connect_schema("string", optional=True))],
                      optional=True, name="srv.public.t.Value")
KEY = struct_schema([field_schema("id", connect_schema("int32"))], name="srv.public.t.Key")
RECORD = ConnectRecord("srv.public.t", KEY, {"id": 1}, VALUE, {"id": 1, "v": "a", "in": {"x": None}, "a.b": "dot"},
                       [("h", b"x")])


def run(*steps, record=RECORD):
    return transformed(transform_props(*steps), record)


def test_value_to_key_builds_an_unnamed_required_struct_of_the_listed_fields():
    _, key, value, headers = run(("k", "ValueToKey", {"fields": "v,id"}))
    assert key == {"schema": {"type": "struct", "fields": [{"type": "string", "optional": False, "field": "v"},
                                                           {"type": "int32", "optional": False, "field": "id"}],
                              "optional": False}, "payload": {"v": "a", "id": 1}}
    assert value["payload"]["v"] == "a" and headers == [("h", b"x")]
    with pytest.raises(TransformFailed, match="Field does not exist: nope"):
        run(("k", "ValueToKey", {"fields": "nope"}))
    with pytest.raises(TransformFailed, match="Only Struct"):  # a tombstone: Connect fails too
        run(("k", "ValueToKey", {"fields": "v"}), record=RECORD._replace(value_schema=None, value=None))


def test_steps_that_can_change_the_kafka_key_say_so():
    def step(cls: str, **options: str):
        return STEPS[KAFKA_TRANSFORMS + cls](TransformSpec("s", KAFKA_TRANSFORMS + cls, tuple(options.items())),
                                            HeaderFormat())

    changing = [step("ValueToKey", fields="id"), step("ExtractField$Key", field="id"), step("Cast$Key", spec="string"),
                step("ReplaceField$Key", exclude="id"), step("MaskField$Key", fields="id")]
    keeping = [step("ExtractField$Value", field="id"), step("HoistField$Key", field="k"),
               step("Flatten$Key"), step("SetSchemaMetadata$Key", **{"schema.name": "x"}),
               step("InsertHeader", header="h", **{"value.literal": "x"}), step("Filter")]
    assert all(s.changes_routing for s in changing) and not any(s.changes_routing for s in keeping)


def test_extract_field_takes_the_fields_schema_and_value():
    _, key, _, _ = run(("e", "ExtractField$Key", {"field": "id"}))
    assert key == {"schema": {"type": "int32", "optional": False}, "payload": 1}
    _, _, value, _ = run(("e", "ExtractField$Value", {"field": "a.b"}))  # V1: the whole text is one name
    assert value == {"schema": {"type": "string", "optional": True}, "payload": "dot"}
    # a null value keeps the field's schema; a tombstone stays one
    _, _, value, _ = run(("e", "ExtractField$Value", {"field": "v"}), record=RECORD._replace(value=None))
    assert value == {"schema": {"type": "string", "optional": False}, "payload": None}
    assert run(("e", "ExtractField$Value", {"field": "v"}), record=RECORD._replace(value_schema=None, value=None))[2] \
        is None
    with pytest.raises(TransformFailed, match="Unknown field: nope"):
        run(("e", "ExtractField$Value", {"field": "nope"}))


def test_extract_field_v2_follows_nested_paths():
    v2 = {"field.syntax.version": "v2"}
    _, _, value, _ = run(("e", "ExtractField$Value", {"field": "in.x", **v2}))
    assert value == {"schema": {"type": "int32", "optional": True, "default": 5}, "payload": 5}
    _, _, value, _ = run(("e", "ExtractField$Value", {"field": "in.x", "replace.null.with.default": "false", **v2}))
    assert value["payload"] is None
    _, _, value, _ = run(("e", "ExtractField$Value", {"field": "`a.b`", **v2}))
    assert value["payload"] == "dot"


@pytest.mark.parametrize("text, steps", [
    ("a.b.c", ("a", "b", "c")), ("`a.b`.c", ("a.b", "c")), ("a.", ("a", "")), ("`a\\`.b`", ("a`.b",)),
    ("`a`b`", ("a`b",)), ("a`b.c", ("a`b", "c")),
])
def test_v2_paths_split_as_kafkas_single_field_path(text, steps):
    assert field_path(text, "V2") == steps
    assert field_path(text, "V1") == (text,)


def test_extract_field_refusals():
    with pytest.raises(ConfigError, match="incomplete backtick pair"):
        config_from_properties({**MINIMAL, **transform_props(("e", "ExtractField$Value", {
            "field": "`a.b", "field.syntax.version": "V2"}))})
    with pytest.raises(ConfigError, match="field.syntax.version=V3 is invalid"):
        config_from_properties({**MINIMAL, **transform_props(("e", "ExtractField$Value", {
            "field": "a", "field.syntax.version": "V3"}))})
    with pytest.raises(ConfigError, match="field is missing"):
        config_from_properties({**MINIMAL, **transform_props(("e", "ExtractField$Key", {}))})


def test_hoist_field_wraps_with_schema_or_in_a_map():
    _, key, _, _ = run(("h", "HoistField$Key", {"field": "k"}))
    assert key == {"schema": {"type": "struct", "fields": [{"type": "struct", "fields": [
        {"type": "int32", "optional": False, "field": "id"}], "optional": False, "name": "srv.public.t.Key",
        "field": "k"}], "optional": False}, "payload": {"k": {"id": 1}}}
    _, _, value, _ = run(("h", "HoistField$Value", {"field": "w"}), record=RECORD._replace(value_schema=None,
                                                                                             value=None))
    assert value == {"schema": None, "payload": {"w": None}}
    with pytest.raises(TransformFailed, match="null used for required field"):
        run(("h", "HoistField$Key", {"field": "k"}), record=RECORD._replace(key=None))


def test_a_record_a_transform_fails_on_stops_the_producer_or_is_skipped_with_errors_tolerance_all():
    # GIVEN unwrap (a delete becomes a null value with a schema) then ValueToKey, which fails on it
    chain = {**transform_props(("unwrap", "io.debezium.transforms.ExtractNewRecordState", {}),
                               ("k", "ValueToKey", {"fields": "v"}))}
    items = [REL, m.Insert(16384, (b"1", b"a")), m.Delete(16384, "K", (b"1", None)), m.Insert(16384, (b"2", b"b"))]
    router, worker, _ = pipeline(**chain)
    txn(router, 5000, items)
    # THEN by default the failure stops the producer, as it fails Connect's task
    with pytest.raises(TransformFailed, match="copying fields from value to key"):
        run_batch(router, worker)
    # AND with errors.tolerance=all the delete is skipped, the rows around it written
    router, worker, sink = pipeline(**chain, **{"connect.errors.tolerance": "all"})
    txn(router, 5000, items)
    run_batch(router, worker)
    assert [r[1]["payload"] for r in sink.records] == [{"v": "a"}, {"v": "b"}]
