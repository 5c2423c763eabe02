"""Delivery settings of the producers that are pgbridge's own: exactly once
(`bridge.exactly.once.*`, or Kafka Connect's connector key `exactly.once.support=required`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from bridge.errors import ConfigError
from bridge.properties import PropertyReader

_TOPIC_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


@dataclass(frozen=True, slots=True)
class ExactlyOnceConfig:
    """Transactional producers and per-producer positions in Kafka (`bridge.produce.exactly_once`)."""

    enabled: bool = False
    commit_interval_ms: int = 100  # how long a Kafka transaction stays open at most (roughly)
    offsets_topic: str = "pgbridge_offsets"  # compacted; holds each producer's committed position
    transactional_id_prefix: str = ""  # "<prefix>-<producer>"; empty: derived from the server and slot


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
