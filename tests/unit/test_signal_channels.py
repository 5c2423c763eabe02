"""Signal channels (`bridge.snapshot.incremental.channels`, `kafka_channel`): the settings of
`signal.enabled.channels` and `signal.kafka.*`, reading Kafka signal records, and committing
their offsets only once what they changed is stored."""

from __future__ import annotations

import json
import logging

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from bridge.config import config_from_properties
from bridge.errors import ConfigError
from bridge.snapshot.incremental.kafka_channel import KafkaChannel, parse_kafka_signal
from bridge.snapshot.incremental.signals import Signal
from tests.unit.builders import MINIMAL

KAFKA = {"debezium.source.signal.enabled.channels": "source,kafka",
         "debezium.source.signal.data.collection": "public.sig",
         "debezium.source.signal.kafka.bootstrap.servers": "k:9093"}


def signals_config(**props):
    return config_from_properties({**MINIMAL, **KAFKA, **props})


def test_source_is_the_default_channel_and_kafka_reads_debeziums_settings():
    cfg = config_from_properties({**MINIMAL, "debezium.source.signal.data.collection": "public.sig"})
    assert cfg.incremental.channels == ("source",) and cfg.incremental.kafka is None
    cfg = signals_config()
    assert cfg.incremental.channels == ("source", "kafka") and not cfg.keys.refused
    kafka = cfg.incremental.kafka
    assert (kafka.topic, kafka.key, kafka.group_id, kafka.poll_timeout_ms) == ("shop-signal", "shop", "kafka-signal", 0)
    assert kafka.connection.settings == {"bootstrap.servers": "k:9093"}
    assert kafka.consumer == {"fetch.min.bytes": "1", "session.timeout.ms": "10000", "auto.offset.reset": "earliest",
                              "enable.auto.commit": "false", "enable.auto.offset.store": "false"}
    assert cfg.incremental.poll_interval_ms == 5000


def test_signal_consumer_properties_pass_through_and_win():
    cfg = signals_config(**{
        "debezium.source.signal.kafka.topic": "signals", "debezium.source.signal.kafka.groupId": "g1",
        "debezium.source.signal.kafka.poll.timeout.ms": "100", "debezium.source.signal.poll.interval.ms": "250",
        "debezium.source.signal.consumer.security.protocol": "SASL_SSL",
        "debezium.source.signal.consumer.sasl.mechanism": "SCRAM-SHA-512",
        "debezium.source.signal.consumer.bootstrap.servers": "secure:9094",
        "debezium.source.signal.consumer.auto.offset.reset": "latest",
        "debezium.source.signal.consumer.group.id": "g2",
        "debezium.source.signal.consumer.key.deserializer": "org.apache.kafka.common.serialization.StringDeserializer",
        "debezium.source.signal.consumer.enable.auto.commit": "true",
    })
    kafka = cfg.incremental.kafka
    assert not cfg.keys.refused
    assert (kafka.topic, kafka.group_id, kafka.poll_timeout_ms, cfg.incremental.poll_interval_ms) == \
        ("signals", "g2", 100, 250)
    assert kafka.connection.settings == {"bootstrap.servers": "secure:9094", "security.protocol": "SASL_SSL",
                                         "sasl.mechanism": "SCRAM-SHA-512"}
    # pgbridge commits the offsets itself, once the signals' effects are stored
    assert kafka.consumer["auto.offset.reset"] == "latest" and kafka.consumer["enable.auto.commit"] == "false"
    assert "key.deserializer" not in kafka.consumer


def test_kafka_channel_settings_do_nothing_while_the_channel_is_off():
    cfg = config_from_properties({**MINIMAL, "debezium.source.signal.kafka.topic": "t",
                                  "debezium.source.signal.consumer.security.protocol": "SSL"})
    assert cfg.incremental.kafka is None and not cfg.keys.refused


@pytest.mark.parametrize("props, message", [
    ({"debezium.source.signal.enabled.channels": "source,jmx"},
     r"channel 'jmx' is refused: pgbridge runs no JVM and has no MBean server \(its metrics are on its Prometheus"),
    ({"debezium.source.signal.enabled.channels": "file"}, r"channel 'file' is refused"),
    ({"debezium.source.signal.enabled.channels": "com.acme.SlackChannel"},
     r"'com\.acme\.SlackChannel' is refused: a custom signal channel is a Java class"),
    ({"debezium.source.signal.kafka.bootstrap.servers": ""}, r"signal\.kafka\.bootstrap\.servers is required"),
    ({"debezium.source.signal.data.collection": ""}, r"includes kafka but .*signal\.data\.collection is not set"),
    ({"debezium.source.signal.kafka.poll.timeout.ms": "-1"}, r"poll\.timeout\.ms='-1' is out of range"),
    ({"debezium.source.signal.kafka.nonsense": "1"}, r"signal\.kafka\.nonsense is refused: not a setting"),
])
def test_refused_signal_settings(props, message):
    with pytest.raises(ConfigError, match=message):
        signals_config(**props)


def test_kafka_signal_records():
    value = json.dumps({"id": "s1", "type": "execute-snapshot", "data": {"data-collections": ["public.t"]}})
    assert parse_kafka_signal(b"shop", value.encode(), "shop") == Signal(
        "execute-snapshot", "s1", {"data-collections": ["public.t"]})
    # the id is optional, as in Debezium's documented example
    value = json.dumps({"type": "execute-snapshot", "data": {"data-collections": ["public.t"], "type": "INCREMENTAL"}})
    assert parse_kafka_signal(b"shop", value.encode(), "shop").id is None
    assert parse_kafka_signal(b"shop", b'{"type": "pause-snapshot"}', "shop") == Signal("pause-snapshot", None, {})


def test_records_that_are_not_signals_for_this_connector_are_skipped(caplog):
    caplog.set_level(logging.INFO)
    assert parse_kafka_signal(b"other", b'{"type": "log"}', "shop") is None
    assert "key 'other' does not match topic.prefix 'shop'" in caplog.text
    assert parse_kafka_signal(None, b'{"type": "log"}', "shop") is None
    assert parse_kafka_signal(b"shop", None, "shop") is None
    assert parse_kafka_signal(b"shop", b"not json", "shop") is None
    assert parse_kafka_signal(b"shop", b"[1]", "shop") is None
    assert parse_kafka_signal(b"shop", b'{"type": "log", "data": "x"}', "shop") is None
    assert parse_kafka_signal(b"shop", b'{"type": "blocking-thing", "data": {}}', "shop") is None


class Msg:
    def __init__(self, offset: int, key: bytes | None, value: bytes | None, error: KafkaError | None = None) -> None:
        self._offset, self._key, self._value, self._error = offset, key, value, error

    def error(self):
        return self._error

    def offset(self):
        return self._offset

    def key(self):
        return self._key

    def value(self):
        return self._value


class FakeConsumer:
    def __init__(self) -> None:
        self.assigned: list[TopicPartition] = []
        self.waiting: list[Msg] = []
        self.commits: list[int] = []
        self.fail_commits = 0
        self.closed = False
        self.reads = 0

    def assign(self, partitions):
        self.assigned = partitions

    def consume(self, num_messages, timeout):
        assert timeout == 0  # never blocks the decoder loop
        self.reads += 1
        out, self.waiting = self.waiting[:num_messages], self.waiting[num_messages:]
        return out

    def commit(self, *, offsets, asynchronous):
        assert not asynchronous
        if self.fail_commits:
            self.fail_commits -= 1
            raise KafkaException(KafkaError(KafkaError._TRANSPORT))
        (tp,) = offsets
        assert (tp.topic, tp.partition) == ("shop-signal", 0)
        self.commits.append(tp.offset)

    def close(self):
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def channel() -> tuple[KafkaChannel, FakeConsumer, Clock]:
    consumer, clock = FakeConsumer(), Clock()
    made = KafkaChannel(signals_config().incremental.kafka, 5.0, consumer=consumer, clock=clock)
    return made, consumer, clock


def signal_msg(offset: int, type_: str = "log", key: bytes = b"shop") -> Msg:
    return Msg(offset, key, json.dumps({"id": f"s{offset}", "type": type_, "data": {"message": "hi"}}).encode())


def test_reads_partition_0_every_poll_interval():
    kafka, consumer, clock = channel()
    assert [(tp.topic, tp.partition) for tp in consumer.assigned] == [("shop-signal", 0)]
    consumer.waiting = [signal_msg(0), signal_msg(1, key=b"other"), Msg(2, b"shop", None),
                        Msg(-1, None, None, KafkaError(KafkaError._PARTITION_EOF))]
    assert [s.id for s in kafka.read()] == ["s0"]
    consumer.waiting = [signal_msg(3)]
    assert kafka.read() == [] and consumer.reads == 1  # not before signal.poll.interval.ms
    clock.now += 5
    assert [s.id for s in kafka.read()] == ["s3"]


def test_offsets_are_committed_once_the_signals_effects_are_stored():
    kafka, consumer, clock = channel()
    consumer.waiting = [signal_msg(0, "execute-snapshot"), signal_msg(1, key=b"other")]
    kafka.read()
    kafka.acted(generation=4)  # what the signals changed is generation 4 of the snapshot's state
    kafka.stored(generation=3)
    assert consumer.commits == []  # a restart now would read them again
    kafka.stored(generation=4)
    assert consumer.commits == [2]  # the skipped record is consumed too
    clock.now += 5
    kafka.read()  # nothing new
    kafka.acted(generation=5)
    kafka.stored(generation=5)
    assert consumer.commits == [2]
    clock.now += 5
    consumer.waiting = [signal_msg(2)]
    kafka.read()
    kafka.acted(generation=5)
    consumer.fail_commits = 1
    kafka.stored(generation=5)
    assert consumer.commits == [2]  # failed: kept for the next time
    kafka.close()
    assert consumer.commits == [2, 3] and consumer.closed


def test_the_topic_missing_is_said_once(caplog):
    kafka, consumer, clock = channel()
    for _ in range(2):
        consumer.waiting = [Msg(-1, None, None, KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART))]
        assert kafka.read() == []
        clock.now += 5
    assert caplog.text.count("signal topic shop-signal") == 1
