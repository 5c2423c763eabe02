"""The kafka signal channel (Debezium's KafkaSignalChannel, `signal.enabled.channels=kafka`).

A signal is a record on partition 0 of `signal.kafka.topic` (default `<topic.prefix>-signal`;
Debezium reads no other partition) whose key is the connector's `topic.prefix` and whose value
is JSON: `{"id": "...", "type": "execute-snapshot", "data": {"data-collections": [...]}}` (`id`
optional). Records with another key are skipped (logged), as are values that are not JSON
objects. Every signal type of the signal table works here too: execute-snapshot, stop-snapshot,
pause-snapshot, resume-snapshot, log.

The consumer (group `signal.kafka.groupId`, default `kafka-signal`; `signal.consumer.*`
settings; no committed offset: `auto.offset.reset=earliest`, so a new group reads the topic's
old signals, as Debezium's does) is read every `signal.poll.interval.ms` from the decoder loop,
without waiting (librdkafka fetches in the background, so `signal.kafka.poll.timeout.ms` need not
block the stream). Where Debezium's consumer auto-commits what it read, pgbridge commits a
record's offset once what its signal changed is stored in the snapshot's progress
(`channels.SignalChannel.stored`): after a restart the consumer goes on after the last signal
whose effect survived, so a signal is neither lost nor acted on twice.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from bridge.kafka import clients
from bridge.snapshot.incremental.signals import Signal, SignalRow, parse_signal
from bridge.snapshot.settings import CONSUMER_PREFIX, KafkaSignalConfig

log = logging.getLogger(__name__)

BATCH = 500  # records taken per read at most


class SignalConsumer(Protocol):
    """What the channel uses of a confluent-kafka consumer (`bridge.kafka.clients.consumer`)."""

    def assign(self, partitions: list[TopicPartition]) -> None: ...

    def consume(self, num_messages: int, timeout: float) -> list[Message]: ...

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> object: ...

    def close(self) -> None: ...


def parse_kafka_signal(key: bytes | None, value: bytes | None, expected_key: str) -> Signal | None:
    """The signal a record holds; None (logged) when the record is not one for this connector."""
    text_key = None if key is None else key.decode("utf-8", "replace")
    if text_key != expected_key:
        log.info("signal record key %r does not match topic.prefix %r; skipped", text_key, expected_key)
        return None
    if not value:
        return None
    try:
        doc = json.loads(value)
    except ValueError:
        log.warning("signal record %r is not JSON; skipped", value[:200])
        return None
    if not isinstance(doc, dict):
        log.warning("signal record %r is not a JSON object; skipped", value[:200])
        return None
    id_, type_, data = doc.get("id"), doc.get("type"), doc.get("data", {})
    if not isinstance(data, dict):
        log.warning("signal %r (%s): data %r is not a JSON object; skipped", id_, type_, data)
        return None
    return parse_signal(SignalRow(id_ if isinstance(id_, str) else None, type_ if isinstance(type_, str) else None,
                                  json.dumps(data)))


class KafkaChannel:
    """Partition 0 of the signal topic, and the offsets to commit once their signals' effects
    are stored."""

    name = "kafka"

    def __init__(self, config: KafkaSignalConfig, poll_interval_s: float, *,
                 consumer: SignalConsumer | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._interval = poll_interval_s
        self._clock = clock
        self._consumer = consumer if consumer is not None else clients.consumer(
            config.connection, config.group_id, keys=CONSUMER_PREFIX, **config.consumer)
        self._partition = TopicPartition(config.topic, 0)
        self._consumer.assign([self._partition])
        self._next_read = 0.0
        self._read_to: int | None = None  # the offset after the last record read
        self._acted: deque[tuple[int, int]] = deque()  # (generation, offset to commit), oldest first
        self._to_commit: int | None = None  # stored, not yet committed
        self._committed: int | None = None
        self._warned: set[int] = set()
        log.info("signals: reading partition 0 of Kafka topic %s (records keyed %r) every %.1fs", config.topic,
                 config.key, poll_interval_s)

    def read(self) -> list[Signal]:
        now = self._clock()
        if now < self._next_read:
            return []
        self._next_read = now + self._interval
        signals = []
        for msg in self._consumer.consume(BATCH, 0):
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF and err.code() not in self._warned:
                    self._warned.add(err.code())  # e.g. the topic does not exist yet: said once
                    log.warning("signal topic %s: %s", self._config.topic, err.str())
                continue
            self._read_to = msg.offset() + 1
            signal = parse_kafka_signal(msg.key(), msg.value(), self._config.key)
            if signal is not None:
                signals.append(signal)
        return signals

    def acted(self, generation: int) -> None:
        if self._read_to is not None and (not self._acted or self._acted[-1][1] != self._read_to):
            self._acted.append((generation, self._read_to))

    def stored(self, generation: int) -> None:
        while self._acted and self._acted[0][0] <= generation:
            self._to_commit = self._acted.popleft()[1]
        self._commit()

    def _commit(self) -> None:
        if self._to_commit is None or self._to_commit == self._committed:
            return
        try:
            self._consumer.commit(offsets=[TopicPartition(self._config.topic, 0, self._to_commit)],
                                  asynchronous=False)
        except KafkaException as exc:
            log.warning("signal topic %s: offset %d not committed yet (%s); retrying", self._config.topic,
                        self._to_commit, exc.args[0].str())
            return
        self._committed = self._to_commit

    def close(self) -> None:
        self._commit()
        self._consumer.close()
