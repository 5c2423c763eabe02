"""The dead-letter topic, as Kafka Connect's DeadLetterQueueReporter writes it.

A refused record goes out with its original key, value, timestamp and headers; with
`errors.deadletterqueue.context.headers.enable=true` Connect's context headers are added
(`__connect.errors.topic`, `.partition`, `.offset`, `.connector.name`, `.task.id`, `.stage`,
`.class.name`, `.exception.class.name`, `.exception.message`, `.exception.stacktrace`), each a
UTF-8 string, so the record can be replayed from its original coordinates. A missing topic is
created with one partition and `errors.deadletterqueue.topic.replication.factor`, as Connect does.
The records are flushed before the batch that skipped them commits. Both clients connect as
Connect's would: `producer.override.*` and `admin.override.*` over the consumer's connection.
"""

from __future__ import annotations

import logging
import traceback

from confluent_kafka import KafkaException
from confluent_kafka.admin import NewTopic

from bridge.errors import DeliveryError
from bridge.kafka import clients
from bridge.kafka.settings import KafkaConnection, ProducerTuning
from bridge.sink.records import RecordRefused
from bridge.sink.settings import Errors, SinkConfig

PREFIX = "__connect.errors."
TASK_CLASS = "io.debezium.connector.jdbc.JdbcSinkConnectorTask"
CONVERTER_CLASS = "org.apache.kafka.connect.json.JsonConverter"
log = logging.getLogger(__name__)


def exception_class(error: RecordRefused) -> str:
    """The class Connect would name: the cause's (a psycopg2 error's module and name), else ours."""
    cause = error.cause or error
    kind = type(cause)
    return f"{kind.__module__}.{kind.__qualname__}"


def context_headers(error: RecordRefused, topic: str, partition: int, offset: int, connector: str,
                    task: int) -> list[tuple[str, bytes]]:
    cause = error.cause or error
    stack = "".join(traceback.format_exception(cause))
    executing = CONVERTER_CLASS if error.stage.endswith("CONVERTER") else TASK_CLASS
    pairs = [("topic", topic), ("partition", str(partition)), ("offset", str(offset)),
             ("connector.name", connector), ("task.id", str(task)), ("stage", error.stage),
             ("class.name", executing), ("exception.class.name", exception_class(error)),
             ("exception.message", str(error)), ("exception.stacktrace", stack)]
    return [(PREFIX + name, value.encode()) for name, value in pairs]


class DeadLetters:
    """The worker's dead-letter producer (None topic: refused records are only logged). The
    quarantine topic is one too (`topic`, `replication_factor`, context headers always on)."""

    def __init__(self, config: SinkConfig, task: int, topic: str | None = None,
                 replication_factor: int | None = None, context_headers: bool | None = None,
                 what: str = "dead-letter topic") -> None:
        self.errors: Errors = config.errors
        self.what = what
        self.topic = topic or self.errors.dlq_topic
        self.context_headers = self.errors.dlq_context_headers if context_headers is None else context_headers
        self.connector = config.name
        self.task = task
        self.sent = 0
        self._failed: list[str] = []
        self._producer = None
        if self.topic:
            self._producer = clients.producer(config.dlq_producer or config.kafka, ProducerTuning({}),
                                              **{"enable.idempotence": "true", "acks": "all"})
            factor = self.errors.dlq_replication_factor if replication_factor is None else replication_factor
            self._ensure_topic(config.dlq_admin or config.kafka, factor)

    def _ensure_topic(self, connection: KafkaConnection, replication_factor: int) -> None:
        admin = clients.admin(connection)
        topic = self.topic
        if topic in admin.list_topics(timeout=30).topics:
            return
        futures = admin.create_topics([NewTopic(topic, 1, replication_factor)])
        try:
            futures[topic].result(30)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise DeliveryError(f"{self.what} {topic!r} cannot be created: {exc}") from None

    def send(self, message, error: RecordRefused, extra: tuple[tuple[str, bytes], ...] = ()) -> None:
        """Queue `message` (a confluent_kafka Message) for the dead-letter topic, with `extra` headers."""
        self.sent += 1
        if self._producer is None:
            return
        headers = list(message.headers() or ())
        if self.context_headers:
            headers += context_headers(error, message.topic(), message.partition(), message.offset(),
                                       self.connector, self.task)
        headers += extra
        kind, timestamp = message.timestamp()
        extra = {"timestamp": timestamp} if kind and timestamp > 0 else {}
        self._producer.produce(self.topic, message.value(), message.key(), headers=headers,
                               on_delivery=self._delivered, **extra)

    def _delivered(self, error, _message) -> None:
        if error is not None:
            self._failed.append(str(error))

    def flush(self) -> None:
        """Wait until every queued dead letter is acknowledged."""
        if self._producer is None:
            return
        if self._producer.flush(60) > 0:
            raise DeliveryError(f"{self.what} {self.topic!r}: records not acknowledged within 60 s")
        if self._failed:
            raise DeliveryError(f"{self.what} {self.topic!r} refused a record: {self._failed[0]}")
