"""Debezium heartbeats: `{"ts_ms": now}` to `<topic.heartbeat.prefix>.<topic.prefix>` (with
`topic.delimiter`: `bridge.route.topics`) every `heartbeat.interval.ms`, keyed by
`{"serverName": <topic.prefix>}`.

Consumers use them to see the connector alive while the captured tables are quiet. pgbridge's
slot advances on idle databases without them; `heartbeat.action.query` (run by the decoder on
the same interval) is still honoured for setups that rely on it.
"""

from __future__ import annotations

from bridge.convert.schema import heartbeat_key_schema, heartbeat_value_schema
from bridge.format.converter import KEY, VALUE, Converters, converters_for
from bridge.produce.events import Record
from bridge.route.settings import EventConfig
from bridge.route.topics import TopicNames


class Heartbeat:
    """`converters`: by default the ones `events` names."""

    def __init__(self, events: EventConfig, converters: Converters | None = None) -> None:
        converters = converters or converters_for(events)
        self.interval_s = events.heartbeat_interval_ms / 1000
        self.topic = TopicNames.of(events).heartbeat()
        self._key = converters.key.prepare(heartbeat_key_schema(), self.topic, KEY).write(
            {"serverName": events.topic_prefix})
        self._value = converters.value.prepare(heartbeat_value_schema(), self.topic, VALUE)
        self._next = 0.0

    def due(self, now_s: float) -> bool:
        """True at most once per interval (never when heartbeats are off)."""
        if not self.interval_s or now_s < self._next:
            return False
        self._next = now_s + self.interval_s
        return True

    def record(self, now_ms: int) -> Record:
        return Record(self.topic, self._key, self._value.write({"ts_ms": now_ms}))
