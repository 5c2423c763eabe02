"""Records of one Debezium topic as the sink's unit tests read them: its schemas and a
configuration (`bridge.sink.settings.SinkConfig`) reading it."""

from __future__ import annotations

from dataclasses import replace

from bridge.kafka.settings import KafkaConnection
from bridge.sink.settings import SinkConfig

PLACEHOLDER = "__debezium_unavailable_value"
TOPIC = "srv.Inventory.Orders"
ROW = {"type": "struct", "optional": True, "name": "srv.Inventory.Orders.Value",
       "fields": [{"field": "id", "type": "int64", "optional": False},
                  {"field": "Note", "type": "string", "optional": True},
                  {"field": "qty", "type": "int32", "optional": True}]}
VALUE_SCHEMA = {"type": "struct", "name": "srv.Inventory.Orders.Envelope", "optional": False,
                "fields": [{**ROW, "field": "before"}, {**ROW, "field": "after"},
                           {"field": "source", "type": "struct", "optional": False, "fields": []},
                           {"field": "op", "type": "string", "optional": False}]}
KEY_SCHEMA = {"type": "struct", "name": "srv.Inventory.Orders.Key", "optional": False,
              "fields": [{"field": "id", "type": "int64", "optional": False}]}
SOURCE = {"schema": "Inventory", "table": "Orders", "lsn": 1234}


def sink_config(**changes) -> SinkConfig:
    base = SinkConfig(name="s", topics=(TOPIC,), topics_regex=None, dsn="", kafka=KafkaConnection({}), consumer={},
                      insert_mode="upsert", delete_enabled=True, truncate_enabled=True, pk_mode="record_key")
    return replace(base, **changes)
