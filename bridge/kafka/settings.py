"""The Kafka section: `debezium.sink.kafka.producer.*`, split into connection and producer tuning.

Debezium Server has one set of Kafka client properties, its producer's. pgbridge also opens
consumers and an admin client (exactly once, cut-over), which must reach and authenticate to
the same brokers: the connection part (`KafkaConnection`) goes into every client, the rest
(`ProducerTuning`: batching, compression, queue sizes, timeouts, the forced durability) only
into the producers.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Mapping

from bridge.errors import ConfigError
from bridge.kafka.java_security import translate_java_security
from bridge.kafka.msk import PREFIX as MSK_PREFIX
from bridge.properties import PropertyReader

PREFIX = "debezium.sink.kafka.producer."

# Java client settings that have no librdkafka equivalent (serializers are implied by JSON
# output); Debezium Server examples always carry them, so they are accepted silently.
# `client.dns.lookup` is one for a Java value librdkafka refuses (`default`); librdkafka's own
# default already tries every address of a name, as the Java client's does.
_JAVA_ONLY = frozenset({"key.serializer", "value.serializer", "buffer.memory", "max.block.ms", "client.dns.lookup"})
# Settings pgbridge owns because the no-data-loss guarantee depends on them.
_FORCED = {"enable.idempotence": "true", "acks": "all"}
_DEFAULTS = {
    "linger.ms": "20",
    "batch.size": "1000000",
    "compression.type": "lz4",
    # Bounds each producer's memory; a full queue is backpressure, not loss.
    "queue.buffering.max.messages": "200000",
    "queue.buffering.max.kbytes": "65536",
}

# librdkafka settings, valid for every client type, that say where the brokers are and how to
# reach and authenticate to them (its CONFIGURATION.md, properties marked `*`).
_CONNECTION_KEYS = frozenset({
    "bootstrap.servers", "metadata.broker.list", "security.protocol", "client.id", "client.rack",
    "broker.address.family", "broker.address.ttl", "connections.max.idle.ms",
    "enable.ssl.certificate.verification", "enable.sasl.oauthbearer.unsecure.jwt",
    "api.version.request", "api.version.request.timeout.ms", "api.version.fallback.ms", "broker.version.fallback",
    "metadata.recovery.strategy", "metadata.recovery.rebootstrap.trigger.ms",
})
_SECRET = re.compile(r"password|secret|jaas|token|credentials|\.pem$|key$", re.IGNORECASE)
_CONNECTION_PREFIXES = ("ssl.", "sasl.", "https.", "socket.", "reconnect.backoff.", "test.mock.", MSK_PREFIX)


def is_connection_setting(name: str) -> bool:
    return name in _CONNECTION_KEYS or name.startswith(_CONNECTION_PREFIXES)


@dataclass(frozen=True, slots=True)
class KafkaConnection:
    """Where the brokers are and how to reach them: librdkafka's names (`bootstrap.servers`,
    `security.protocol`, `ssl.*`, `sasl.*`, ...), given to every client."""

    settings: Mapping[str, str]

    def __repr__(self) -> str:  # what logs and tracebacks print: never a password or a JAAS line
        shown = {k: "<secret>" if _SECRET.search(k) else v for k, v in self.settings.items()}
        return f"KafkaConnection(settings={shown!r})"

    @property
    def bootstrap_servers(self) -> str:
        return self.settings["bootstrap.servers"]


@dataclass(frozen=True, slots=True)
class ProducerTuning:
    """The data producers' own settings: batching, compression, queue sizes, and the forced
    `acks=all`, `enable.idempotence=true`."""

    settings: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    connection: KafkaConnection
    producer: ProducerTuning

    @classmethod
    def split(cls, settings: Mapping[str, str]) -> KafkaSettings:
        """Librdkafka producer settings, parted into connection and tuning (order kept, so of
        two aliases the later still wins)."""
        connection = {k: v for k, v in settings.items() if is_connection_setting(k)}
        tuning = {k: v for k, v in settings.items() if not is_connection_setting(k)}
        return cls(KafkaConnection(connection), ProducerTuning(tuning))


# Deserializer classes a Java consumer names: librdkafka hands bytes over, and pgbridge's
# consumers read keys and values as the strings Java's StringDeserializer would give.
_JAVA_ONLY_CONSUMER = frozenset({"key.deserializer", "value.deserializer"})


def read_consumer_properties(r: PropertyReader, prefix: str) -> dict[str, str]:
    """Consumer properties written as Java client properties under `prefix` (Debezium's
    `signal.consumer.*`), by their librdkafka names: the same translation as the producers'
    (security settings included), without what only Java clients have."""
    out = {}
    for key, value in r.with_prefix(prefix).items():
        name = key[len(prefix):]
        if name not in _JAVA_ONLY and name not in _JAVA_ONLY_CONSUMER:
            out[name] = value.strip()
    return translate_java_security(out, lambda name: r.label(prefix + name))


def read_kafka_settings(r: PropertyReader) -> KafkaSettings:
    """`debezium.sink.kafka.producer.*`: pgbridge's defaults, the user's values (Java security
    settings translated to librdkafka's), the forced ones."""
    given = {key[len(PREFIX):]: value.strip() for key, value in r.with_prefix(PREFIX).items()}
    settings = dict(_DEFAULTS)
    for name, value in translate_java_security(given, lambda name: r.label(PREFIX + name)).items():
        key = PREFIX + name
        if name in _JAVA_ONLY:
            continue
        forced = _FORCED.get(name)
        if forced is not None and value.strip().lower() not in (forced, "-1" if name == "acks" else forced):
            raise ConfigError(
                f"{r.shown(key, value)} is invalid: pgbridge requires {name}={forced} so that no "
                "acknowledged change can be lost"
            )
        settings[name] = value
    if not settings.get("bootstrap.servers"):
        raise ConfigError(f"{r.label(PREFIX + 'bootstrap.servers')} is required but not set")
    settings.update(_FORCED)
    check_with_librdkafka(r, settings)
    return KafkaSettings.split(settings)


def check_with_librdkafka(r: PropertyReader, settings: Mapping[str, str], prefix: str = PREFIX,
                          consumer: bool = False) -> None:
    """librdkafka judges every setting's name and value now, not when the first client
    starts (a producer's settings, or with `consumer` a consumer's, written under `prefix`): a
    Java-only property left untranslated (`partitioner.class`, `ssl.protocol`, ...) or a bad value
    stops the start with one line per key. Settings that only fail together (a missing
    certificate file, a SASL mechanism without its credentials) fail when a client is built
    (`bridge.kafka.clients`). A client without brokers connects to nothing."""
    from confluent_kafka import Consumer, KafkaException, Producer

    quiet = logging.getLogger("bridge.kafka.check")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    lines = []
    for name, value in settings.items():
        if name.startswith(MSK_PREFIX):  # pgbridge's own: the token callback bridge.kafka.clients adds
            continue
        try:
            if consumer:
                Consumer({name: value, "bootstrap.servers": "", "group.id": "check", "logger": quiet}).close()
            else:
                Producer({name: value, "bootstrap.servers": "", "logger": quiet})
        except KafkaException as exc:
            why = exc.args[0].str()
            if not why.startswith("Failed to create"):  # that one needs the other settings
                key = prefix + name
                why = why.replace(value, "<secret>") if value and _SECRET.search(name) else r.hide(key, why, value)
                lines.append(f"{r.label(key)} is refused: librdkafka says: {why}")
    if lines:
        raise ConfigError("\n".join(lines))
