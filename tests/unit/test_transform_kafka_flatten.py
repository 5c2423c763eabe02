"""Kafka's Flatten, SetSchemaMetadata and Filter (`bridge.transform.kafka.flatten`,
`metadata`), over Debezium's own envelope as `EventBuilder` builds it. No servers."""

from __future__ import annotations

import pytest

from bridge.config import config_from_properties
from bridge.convert.options import ConversionOptions
from bridge.convert.schema import connect_schema, field_schema, struct_schema
from bridge.convert.types import TypeRegistry
from bridge.errors import ConfigError
from bridge.pgoutput import messages as m
from bridge.pgoutput.protocol import PgOutputDecoder
from bridge.produce.events import EventBuilder, TxnContext
from bridge.source.catalog import TableInfo
from bridge.transform.kafka.structs import TransformFailed
from bridge.transform.record import ConnectRecord
from tests.fakes import FakeConnection
from tests.pgoutput_encoder import encode
from tests.unit.builders import MINIMAL, REL, events, transform_chain, transform_props, transformed

TXN = TxnContext(xid=700, commit_ts_us=1_700_000_000_123_456, last_commit_lsn=1000)
INNER = struct_schema([field_schema("x", connect_schema("int32")), field_schema("y", connect_schema("string"))],
                      optional=True, name="inner")
VALUE = struct_schema([field_schema("id", connect_schema("int32")), field_schema("in", INNER),
                       field_schema("tags", {"type": "array", "items": connect_schema("string"), "optional": False})],
                      name="t.Value", version=3)
RECORD = ConnectRecord("t", None, None, VALUE, {"id": 1, "in": None, "tags": ["a"]}, [])


def through(props: dict[str, str], msg) -> list[tuple]:
    ev = events()
    b = EventBuilder(ev, ConversionOptions(), TypeRegistry(FakeConnection({})), "db", run_id="run-1",
                     chain=transform_chain(props))
    b.relation(REL, TableInfo(("id",), frozenset({"id"})), "srv.public.t")
    return [tuple(r) for r in b.change(PgOutputDecoder(1).decode(encode(msg)), TXN, 4096)]


def test_flatten_joins_the_path_and_makes_leaves_of_optional_parents_optional():
    _, _, value, _ = transformed(transform_props(("f", "Flatten$Value", {"delimiter": "_"})), RECORD)
    assert value["schema"] == {"type": "struct", "fields": [
        {"type": "int32", "optional": False, "field": "id"},
        {"type": "int32", "optional": True, "field": "in_x"},
        {"type": "string", "optional": True, "field": "in_y"},
        {"type": "array", "items": {"type": "string", "optional": False}, "optional": False, "field": "tags"}],
        "optional": False, "name": "t.Value", "version": 3}
    assert value["payload"] == {"id": 1, "in_x": None, "in_y": None, "tags": ["a"]}


def test_flatten_of_debeziums_envelope():
    import json
    [(_, _, value, _)] = through(transform_props(("f", "Flatten$Value", {})), m.Insert(16384, (b"1", b"a")))
    doc = json.loads(value)
    names = [f["field"] for f in doc["schema"]["fields"]]
    assert names[:4] == ["before.id", "before.v", "after.id", "after.v"] and "source.snapshot" in names
    snapshot = next(f for f in doc["schema"]["fields"] if f["field"] == "source.snapshot")
    assert snapshot["default"] == "false" and snapshot["name"] == "io.debezium.data.Enum"
    assert doc["payload"]["after.v"] == "a" and doc["payload"]["before.id"] is None
    assert doc["payload"]["transaction.id"] is None and doc["payload"]["op"] == "c"


def test_flatten_refuses_maps_as_connect_does():
    schema = struct_schema([field_schema("m", {"type": "map", "keys": connect_schema("string"),
                                               "values": connect_schema("string"), "optional": False})])
    with pytest.raises(TransformFailed, match="does not support MAP"):
        transformed(transform_props(("f", "Flatten$Value", {})), RECORD._replace(value_schema=schema, value={"m": {}}))


def test_set_schema_metadata_renames_and_versions_the_schema_only():
    props = transform_props(("s", "SetSchemaMetadata$Value", {"schema.name": "x.Row", "schema.version": "9"}))
    _, _, value, _ = transformed(props, RECORD)
    assert value["schema"] == {**VALUE, "name": "x.Row", "version": 9}
    assert list(value["schema"]) == list(VALUE)  # JsonConverter's key order
    unnamed = {"type": "int32", "optional": True}
    record = RECORD._replace(value_schema=unnamed, value=3)
    only_name = transform_props(("s", "SetSchemaMetadata$Value", {"schema.name": "n"}))
    assert transformed(only_name, record)[2]["schema"] == {"type": "int32", "optional": True, "name": "n"}
    assert transformed(only_name, RECORD._replace(value_schema=None, value=None))[2] is None
    with pytest.raises(ConfigError, match="needs schema.name or schema.version"):
        config_from_properties({**MINIMAL, **transform_props(("s", "SetSchemaMetadata$Key", {}))})
    with pytest.raises(ConfigError, match="schema.version=v1 is invalid"):
        config_from_properties({**MINIMAL, **transform_props(("s", "SetSchemaMetadata$Key", {"schema.version": "v1"}))})


def test_filter_drops_what_its_predicate_matches():
    props = transform_props(("f", "Filter", {}), ("r", "org.apache.kafka.connect.transforms.RegexRouter", {
        "regex": "(.*)", "replacement": "$1.kept"}))
    gated = {**props, "debezium.transforms.f.predicate": "tomb",
             "debezium.predicates": "tomb", "debezium.predicates.tomb.type":
             "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone"}
    delete, = through(gated, m.Delete(16384, "K", (b"1", None)))
    assert delete[0] == "srv.public.t.kept" and delete[2] is not None  # its tombstone dropped
    assert through(props, m.Insert(16384, (b"1", b"a"))) == []
