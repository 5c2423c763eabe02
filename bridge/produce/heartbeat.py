"""Debezium heartbeats: `{"ts_ms": now}` to `<topic.heartbeat.prefix>.<topic.prefix>` (with
`topic.delimiter`: `bridge.route.topics`) every `heartbeat.interval.ms`, keyed by
`{"serverName": <topic.prefix>}`.

Consumers use them to see the connector alive while the captured tables are quiet. pgbridge's
slot advances on idle databases without them; `heartbeat.action.query` (run by the decoder on
the same interval) is still honoured for setups that rely on it.
"""

from __future__ import annotations

import msgspec

from bridge.config import EventConfig
from bridge.produce.events import Record
from bridge.route.topics import TopicNames

_encode = msgspec.json.Encoder().encode
_KEY_SCHEMA = {"type": "struct", "fields": [{"type": "string", "optional": False, "field": "serverName"}],
               "optional": False, "name": "io.debezium.connector.common.ServerNameKey", "version": 1}
_VALUE_SCHEMA = {"type": "struct", "fields": [{"type": "int64", "optional": False, "field": "ts_ms"}],
                 "optional": False, "name": "io.debezium.connector.common.Heartbeat", "version": 1}


class Heartbeat:
    def __init__(self, events: EventConfig) -> None:
        self.interval_s = events.heartbeat_interval_ms / 1000
        self.topic = TopicNames.of(events).heartbeat()
        key = {"serverName": events.topic_prefix}
        self._key = _encode({"schema": _KEY_SCHEMA, "payload": key} if events.key_schemas_enable else key)
        self._with_schema = events.value_schemas_enable
        self._next = 0.0

    def due(self, now_s: float) -> bool:
        """True at most once per interval (never when heartbeats are off)."""
        if not self.interval_s or now_s < self._next:
            return False
        self._next = now_s + self.interval_s
        return True

    def record(self, now_ms: int) -> Record:
        value = {"ts_ms": now_ms}
        body = _encode({"schema": _VALUE_SCHEMA, "payload": value} if self._with_schema else value)
        return Record(self.topic, self._key, body)
