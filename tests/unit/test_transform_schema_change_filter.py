"""Debezium's SchemaChangeEventFilter (`bridge.transform.schema_change_filter`): PostgreSQL
writes no schema change events, so every record passes; the option is checked as Debezium does."""

from __future__ import annotations

import pytest

from bridge.config import config_from_properties
from bridge.convert.schema import connect_schema, field_schema, struct_schema
from bridge.errors import ConfigError
from bridge.transform.record import ConnectRecord
from tests.unit.builders import MINIMAL, transform_props, transformed

CLASS = "io.debezium.transforms.SchemaChangeEventFilter"
VALUE = struct_schema([field_schema("id", connect_schema("int32"))], name="srv.public.t.Value")
RECORD = ConnectRecord("srv.public.t", None, None, VALUE, {"id": 1}, [("h", b"x")])


def props(value: str | None) -> dict[str, str]:
    return transform_props(("f", CLASS, {} if value is None else {"schema.change.event.exclude.list": value}))


@pytest.mark.parametrize("record", [RECORD, RECORD._replace(value_schema=None, value=None)])
def test_every_record_passes_unchanged(record):
    assert transformed(props("CREATE,ALTER, DROP ,TRUNCATE,DATABASE,"), record) == (
        "srv.public.t", None, None if record.value is None else {"schema": {**VALUE}, "payload": {"id": 1}},
        [("h", b"x")])


def test_the_option_is_honoured():
    cfg = config_from_properties({**MINIMAL, **props("DROP")})
    assert "debezium.transforms.f.schema.change.event.exclude.list" in {v.key for v in cfg.keys.honoured}


@pytest.mark.parametrize("value, words", [
    (None, "exclude.list is missing"), ("  ", "exclude.list is missing"),
    ("create", "'create' is not a schema change event type"), (",DROP", "'' is not a schema change event type"),
    ("DROP,,ALTER", "'' is not"), ("RENAME", "'RENAME' is not"),
])
def test_a_list_debezium_refuses_is_refused_naming_the_key(value, words):
    with pytest.raises(ConfigError, match=words) as err:
        config_from_properties({**MINIMAL, **props(value)})
    assert "debezium.transforms.f.schema.change.event.exclude.list" in str(err.value)
