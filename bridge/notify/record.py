"""A notification as a Kafka record of the sink channel (Debezium's `SinkNotificationChannel`).

Key: struct `io.debezium.connector.common.NotificationKey` v1 {id}. Value: struct
`io.debezium.connector.common.Notification` v1 {id, type, aggregate_type, additional_data
(optional map of strings), timestamp (int64)}. No headers. Both go through the connector's key
and value converters, like every record (CloudEventsConverter writes them as null, as it writes
every record that is not a change event).
"""

from __future__ import annotations

from bridge.convert.schema import Schema, connect_schema, field_schema, map_schema, struct_schema
from bridge.format.converter import KEY, VALUE, Converters
from bridge.notify.notification import Notification


def notification_key_schema() -> Schema:
    return struct_schema([field_schema("id", connect_schema("string"))],
                         name="io.debezium.connector.common.NotificationKey", version=1)


def notification_value_schema() -> Schema:
    text = connect_schema("string")
    return struct_schema(
        [field_schema("id", text),
         field_schema("type", text),
         field_schema("aggregate_type", text),
         field_schema("additional_data", map_schema(text, text), optional=True),
         field_schema("timestamp", connect_schema("int64"))],
        name="io.debezium.connector.common.Notification", version=1,
    )


class NotificationRecords:
    """The key and value bytes of notifications on `topic`."""

    def __init__(self, converters: Converters, topic: str) -> None:
        self.topic = topic
        self._key = converters.key.prepare(notification_key_schema(), topic, KEY)
        self._value = converters.value.prepare(notification_value_schema(), topic, VALUE)

    def key(self, n: Notification) -> bytes | None:
        return self._key.write({"id": n.id})

    def value(self, n: Notification) -> bytes | None:
        return self._value.write({"id": n.id, "type": n.type, "aggregate_type": n.aggregate_type,
                                  "additional_data": dict(n.additional_data), "timestamp": n.timestamp})
