"""Notification settings: Debezium's `notification.enabled.channels` and `notification.sink.topic.name`.

Channels `sink` (records on a Kafka topic) and `log` (a line in the log) are Debezium's own and
pgbridge's. `jmx` is refused: pgbridge runs no JVM, so there is no MBean to notify; its
metrics are on its Prometheus endpoint (`bridge.http.*`). Any other name is a custom channel
(a Java class Debezium loads through ServiceLoader), which pgbridge cannot run.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.errors import ConfigError
from bridge.properties import PropertyReader

SOURCE = "debezium.source."
CHANNELS_KEY = SOURCE + "notification.enabled.channels"
TOPIC_KEY = SOURCE + "notification.sink.topic.name"

SINK, LOG = "sink", "log"


@dataclass(frozen=True, slots=True)
class NotificationConfig:
    channels: tuple[str, ...] = ()  # sink and/or log, as configured; empty: no notifications
    sink_topic: str | None = None  # notification.sink.topic.name, set when sink is enabled

    @property
    def enabled(self) -> bool:
        return bool(self.channels)


def read_notification(r: PropertyReader) -> NotificationConfig:
    raw = r.raw(CHANNELS_KEY) or ""
    channels: list[str] = []
    for name in (c.strip() for c in raw.split(",")):
        if not name or name in channels:
            continue
        if name == "jmx":
            raise ConfigError(f"{r.label(CHANNELS_KEY)}={raw!r}: the jmx channel is refused: pgbridge runs no JVM and "
                              "has no MBean server; its metrics are on its Prometheus endpoint (bridge.http.*). "
                              "Use sink or log")
        if name not in (SINK, LOG):
            raise ConfigError(f"{r.label(CHANNELS_KEY)}={raw!r}: channel {name!r} is refused: a custom notification "
                              "channel is a Java class Debezium loads, which pgbridge cannot run. Use sink or log")
        channels.append(name)
    topic = r.raw(TOPIC_KEY) or None
    if SINK in channels and topic is None:
        raise ConfigError(f"{r.label(TOPIC_KEY)} is required when {r.label(CHANNELS_KEY)} includes sink "
                          "(the topic the notifications are written to)")
    return NotificationConfig(tuple(channels), topic if SINK in channels else None)
