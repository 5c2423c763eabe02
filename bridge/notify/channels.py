"""Where notifications go: the `log` channel, the `sink` channel, and the `Notifier` over both.

The sink channel has a producer of its own in the process that notifies (the decoder), with the
data producers' connection and durability settings (`acks=all`, idempotence) and Kafka's Java
partitioner (murmur2 of the key), as Connect places keyed records. Notifications are not
changes of the database: they never hold back the slot's acknowledgement (DESIGN §1), and one
Kafka does not take is logged and dropped, as Debezium sends them best effort. Delivery reports
are served at every `poll` (the decoder's periodic work) and waited for at `close`.
"""

from __future__ import annotations

import logging
from typing import Protocol

from confluent_kafka import KafkaError, Message

from bridge.format.converter import converters_for, ConverterSettings
from bridge.kafka import clients
from bridge.kafka.settings import KafkaSettings
from bridge.notify.notification import Notification
from bridge.notify.record import NotificationRecords
from bridge.notify.settings import LOG, SINK, NotificationConfig

log = logging.getLogger(__name__)

_LOG_PREFIX = "[Notification Service] "
_CLOSE_TIMEOUT_S = 10.0


class Channel(Protocol):
    def send(self, notification: Notification) -> None: ...

    def poll(self) -> None: ...

    def close(self) -> None: ...


class LogChannel:
    """Debezium's `LogNotificationChannel`: `[Notification Service]  {…}` at INFO."""

    def send(self, notification: Notification) -> None:
        log.info("%s %s", _LOG_PREFIX, notification)

    def poll(self) -> None:
        pass

    def close(self) -> None:
        pass


class SinkChannel:
    """Debezium's `SinkNotificationChannel`: one record per notification on the sink topic."""

    def __init__(self, records: NotificationRecords, kafka: KafkaSettings) -> None:
        self._records = records
        self._producer = clients.producer(kafka.connection, kafka.producer, partitioner="murmur2_random")

    def send(self, notification: Notification) -> None:
        try:
            self._producer.produce(self._records.topic, self._records.value(notification),
                                   self._records.key(notification), on_delivery=self._delivered)
        except BufferError:
            log.warning("notification %s %s not sent: the notification producer's queue is full",
                        notification.aggregate_type, notification.type)
        self._producer.poll(0)

    @staticmethod
    def _delivered(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            log.warning("a notification was not written to %s: %s", msg.topic(), err.str())

    def poll(self) -> None:
        self._producer.poll(0)

    def close(self) -> None:
        left = self._producer.flush(_CLOSE_TIMEOUT_S)
        if left:
            log.warning("%d notification(s) not written to %s before stopping", left, self._records.topic)


class Notifier:
    """Sends each notification to every enabled channel."""

    def __init__(self, channels: list[Channel]) -> None:
        self._channels = channels

    def send(self, notification: Notification) -> None:
        for channel in self._channels:
            channel.send(notification)

    def poll(self) -> None:
        for channel in self._channels:
            channel.poll()

    def close(self) -> None:
        for channel in self._channels:
            channel.close()


def build_notifier(config: NotificationConfig, kafka: KafkaSettings, formats: ConverterSettings) -> Notifier | None:
    """The configured channels (None when notifications are off). Build it in the process that
    notifies: the sink channel's producer does not survive a fork."""
    if not config.enabled:
        return None
    channels: list[Channel] = []
    for name in config.channels:
        if name == LOG:
            channels.append(LogChannel())
        elif name == SINK:
            assert config.sink_topic is not None
            channels.append(SinkChannel(NotificationRecords(converters_for(formats), config.sink_topic), kafka))
    return Notifier(channels)
