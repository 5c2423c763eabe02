"""The DEFAULT clauses `schema.evolution=basic` writes: the Connect field's default decoded as a
value and quoted; none where Debezium's JDBC sink gives none (serial, bit, hstore/map)."""

from __future__ import annotations

import pytest

from bridge.sink.defaults import default_clause
from bridge.sink.values import DecodeOptions

DECIMAL = {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal",
           "parameters": {"scale": "2", "connect.decimal.precision": "10"}}


@pytest.mark.parametrize("field, clause", [
    ({"type": "int32", "default": 0}, " DEFAULT '0'"),
    ({"type": "int64", "default": -7}, " DEFAULT '-7'"),
    ({"type": "string", "default": "it's"}, " DEFAULT 'it''s'"),
    ({"type": "boolean", "default": True}, " DEFAULT '1'"),
    ({**DECIMAL, "default": "AJY="}, " DEFAULT '1.50'"),
    ({"type": "int32", "name": "io.debezium.time.Date", "default": 19782}, " DEFAULT '2024-02-29'"),
    ({"type": "int64", "name": "io.debezium.time.MicroTimestamp", "default": 1_700_000_000_000_000},
     " DEFAULT '2023-11-14 22:13:20'"),
    ({"type": "string"}, ""),
    ({"type": "string", "optional": True, "default": None}, ""),
    ({"type": "int32", "parameters": {"__debezium.source.column.type": "SERIAL"}, "default": 1}, ""),
    ({"type": "bytes", "name": "io.debezium.data.Bits", "parameters": {"length": "3"}, "default": "BQ=="}, ""),
    ({"type": "map", "keys": {"type": "string"}, "values": {"type": "string"}, "default": {"a": "b"}}, ""),
    ({**DECIMAL, "default": "not base64!"}, ""),
])
def test_default_clauses(field, clause):
    assert default_clause(field, DecodeOptions()) == clause
