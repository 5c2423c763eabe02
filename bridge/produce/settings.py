"""Delivery settings of the producers that are pgbridge's own: exactly once
(`bridge.exactly.once.*`, or Kafka Connect's connector key `exactly.once.support=required`),
the scope its positions belong to, and the sections a producer's work reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from bridge.convert.options import ConversionOptions
from bridge.errors import ConfigError
from bridge.kafka.settings import KafkaSettings
from bridge.produce.failures import FailureHandling
from bridge.properties import PropertyReader
from bridge.route.settings import EventConfig
from bridge.transform.settings import NO_RULES, ColumnRules
from bridge.transform.smt_settings import NO_CHAIN, ChainSpec

_TOPIC_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


@dataclass(frozen=True, slots=True)
class ProducerSpec:
    """What a producer's work reads: the events' shape, the value conversion, the database name
    of the `source` block, which partitioner places keys (`bridge.partitioner`), the column
    masking/hashing/truncation rules, what becomes of an event that cannot be built or
    delivered, and whether a record Kafka refuses is skipped (errors.tolerance=all, not under
    exactly once: `bridge.produce.failures`); the poison topic, and whether a record Kafka refuses
    for good may go there (not under exactly once: `bridge.produce.poison`)."""

    events: EventConfig
    conversion: ConversionOptions
    dbname: str
    partitioner: str
    columns: ColumnRules = NO_RULES
    failures: FailureHandling = FailureHandling()
    skips_refused: bool = False
    chain: ChainSpec = NO_CHAIN  # the transforms (`bridge.transform.chain`)
    poison_topic: str | None = None  # bridge.poison.topic
    quarantines_refused: bool = False


@dataclass(frozen=True, slots=True)
class ExactlyOnceConfig:
    """Transactional producers and per-producer positions in Kafka (`bridge.produce.exactly_once`)."""

    enabled: bool = False
    commit_interval_ms: int = 100  # how long a Kafka transaction stays open at most (roughly)
    offsets_topic: str = "pgbridge_offsets"  # compacted; holds each producer's committed position
    transactional_id_prefix: str = ""  # "<prefix>-<producer>"; empty: derived from the server and slot


@dataclass(frozen=True, slots=True)
class ExactlyOnceScope:
    """Whose positions these are: one bridge's producers on one slot of one database, with the
    routing their record counts depend on (`RoutingSpec.fingerprint`)."""

    settings: ExactlyOnceConfig
    kafka: KafkaSettings
    host: str
    port: int
    dbname: str
    slot: str
    producers: int
    routing: str

    def transactional_id(self, index: int) -> str:
        prefix = self.settings.transactional_id_prefix
        if not prefix:
            prefix = f"pgbridge-{self.host}-{self.port}-{self.dbname}-{self.slot}"
        return f"{prefix}-{index}"

    def marker_key(self, index: int) -> bytes:
        return f"{self.host}:{self.port}/{self.dbname}/{self.slot}/{index}".encode()


def read_exactly_once(r: PropertyReader, producer: Mapping[str, str], producer_prefix: str) -> ExactlyOnceConfig:
    support = r.choice("debezium.source.exactly.once.support", "requested", ("requested", "required"))
    enabled = r.bool("bridge.exactly.once", support == "required")
    if "transactional.id" in producer:
        raise ConfigError(f"{r.label(producer_prefix + 'transactional.id')} cannot be set: pgbridge names its "
                          "transactional producers itself; use bridge.exactly.once=true (and "
                          "bridge.exactly.once.transactional.id.prefix)")
    topic = r.str("bridge.exactly.once.offsets.topic", "pgbridge_offsets")
    if not set(topic) <= _TOPIC_CHARS:
        raise ConfigError(f"bridge.exactly.once.offsets.topic={topic!r} is invalid: a Kafka topic name is made of "
                          "letters, digits, '.', '_' and '-'")
    return ExactlyOnceConfig(
        enabled=enabled,
        commit_interval_ms=r.int("bridge.exactly.once.commit.interval.ms", 100, minimum=1, maximum=600_000),
        offsets_topic=topic,
        transactional_id_prefix=r.str("bridge.exactly.once.transactional.id.prefix", ""),
    )
