"""Every Kafka client pgbridge opens is built by `bridge.kafka.clients` with the same connection
settings (brokers, TLS, SASL); only producers get the producer tuning. No servers: the
confluent-kafka constructors are replaced in the factory module."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

import bridge
from bridge.config import config_from_properties
from bridge.cutover.offsets import read_offsets_topic
from bridge.errors import ConfigError
from bridge.kafka import clients
from bridge.kafka.settings import KafkaSettings
from bridge.produce.exactly_once import load_resume_points
from bridge.produce.kafka import KafkaOutput, KafkaWriter, TransactionalOutput

PRODUCER = "debezium.sink.kafka.producer."
SOURCE = {
    "debezium.source.database.hostname": "db.example",
    "debezium.source.database.user": "u",
    "debezium.source.database.password": "p",
    "debezium.source.database.dbname": "inventory",
    "debezium.source.topic.prefix": "shop",
}
SECURITY = {
    "bootstrap.servers": "127.0.0.1:9092",
    "security.protocol": "SASL_SSL",
    "sasl.mechanism": "SCRAM-SHA-512",
    "sasl.username": "bridge",
    "sasl.password": "s3cret",
    "ssl.ca.location": "/etc/kafka/ca.pem",
    "ssl.endpoint.identification.algorithm": "https",
    "client.id": "pgbridge",
}
TUNING = ("linger.ms", "batch.size", "compression.type", "acks", "enable.idempotence")


class FakeClient:
    """Records the configuration it was built with; answers as an empty cluster holding the
    topics the clients look for."""

    made: list[tuple[str, dict]]
    kind = ""

    def __init__(self, conf: dict) -> None:
        self.made.append((self.kind, conf))

    def list_topics(self, topic=None, timeout=None):
        meta = SimpleNamespace(partitions={0: None}, error=None)
        return SimpleNamespace(topics={"pgbridge_offsets": meta, "connect-offsets": meta})

    def produce(self, *args, **kwargs) -> None:
        raise AssertionError("nothing is produced here")

    def init_transactions(self, timeout=None) -> None:
        pass

    def get_watermark_offsets(self, partition, timeout=None):
        return 0, 0

    def assign(self, partitions) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def made(monkeypatch) -> list[tuple[str, dict]]:
    made: list[tuple[str, dict]] = []
    for name, kind in (("Producer", "producer"), ("Consumer", "consumer"), ("AdminClient", "admin")):
        monkeypatch.setattr(clients, name, type(name, (FakeClient,), {"made": made, "kind": kind}))
    return made


def secure_config(**props):
    return config_from_properties({**SOURCE, **{PRODUCER + k: v for k, v in SECURITY.items()},
                                   PRODUCER + "linger.ms": "5", **props})


def test_every_client_gets_the_same_security_settings(made):
    config = secure_config(**{"bridge.exactly.once": "true", "bridge.producers": "2"})
    KafkaWriter(config.kafka).check_reachable(config.retry)  # the data producer; preflight's check
    KafkaWriter(config.kafka, "pgbridge-0")  # a transactional data producer (exactly once)
    load_resume_points(config.exactly_once_scope, "system", slot_is_new=True)  # fencing producers, offsets topic admin and reader
    assert read_offsets_topic(config.kafka.connection, "connect-offsets") == []  # cut-over from Debezium
    assert [kind for kind, _ in made] == ["producer", "producer", "admin", "producer", "producer", "consumer",
                                          "consumer"]
    for kind, conf in made:
        assert {k: conf.get(k) for k in SECURITY} == SECURITY, kind
        if kind == "producer":
            assert {k: conf[k] for k in TUNING} == {"linger.ms": "5", "batch.size": "1000000",
                                                    "compression.type": "lz4", "acks": "all",
                                                    "enable.idempotence": "true"}
        else:
            assert not set(TUNING) & set(conf), kind
    fenced = [conf["transactional.id"] for kind, conf in made[3:5]]
    assert fenced == [config.exactly_once_scope.transactional_id(0), config.exactly_once_scope.transactional_id(1)]


def test_the_settings_split_into_connection_and_producer_tuning():
    kafka = secure_config(**{PRODUCER + "transaction.timeout.ms": "30000", PRODUCER + "message.max.bytes": "2000000",
                             PRODUCER + "socket.keepalive.enable": "true"}).kafka
    assert dict(kafka.connection.settings) == {**SECURITY, "socket.keepalive.enable": "true"}
    assert kafka.connection.bootstrap_servers == "127.0.0.1:9092"
    assert set(kafka.producer.settings) == {*TUNING, "queue.buffering.max.messages", "queue.buffering.max.kbytes",
                                            "transaction.timeout.ms", "message.max.bytes"}


def test_a_setting_librdkafka_refuses_is_a_config_error_for_every_client():
    kafka = KafkaSettings.split({"bootstrap.servers": "127.0.0.1:1", "security.protocol": "carrier-pigeon"})
    for kind, build in (("producer", lambda: KafkaWriter(kafka)),
                        ("consumer", lambda: clients.consumer(kafka.connection, "g")),
                        ("admin client", lambda: clients.admin(kafka.connection))):
        with pytest.raises(ConfigError, match=rf"invalid Kafka {kind} setting \(debezium\.sink\.kafka\.producer\.\*\)"
                                              r": .*security\.protocol"):
            build()


def test_the_writer_is_what_the_worker_and_transactions_need(made):
    writer = KafkaWriter(KafkaSettings.split({"bootstrap.servers": "127.0.0.1:1"}))
    assert isinstance(writer, KafkaOutput) and isinstance(writer, TransactionalOutput)


def test_no_kafka_client_is_built_outside_the_factory():
    root = Path(bridge.__file__).parent
    built = re.compile(r"\b(Producer|Consumer|AdminClient)\(")
    imported = re.compile(r"^from confluent_kafka(\.admin)? import .*\b(Producer|Consumer|AdminClient)\b", re.MULTILINE)
    offenders = []
    for path in sorted(root.rglob("*.py")):
        if path.parent == root / "kafka":
            continue
        text = path.read_text()
        offenders += [f"{path.relative_to(root)}: {m.group(0)}" for m in (*built.finditer(text),
                                                                          *imported.finditer(text))]
    assert offenders == []
    # the patterns do find a construction, and the factory's imports
    assert built.search('consumer = Consumer({"bootstrap.servers": bootstrap})')
    assert len(imported.findall((root / "kafka" / "clients.py").read_text())) == 2
