"""`bridge.sink.quarantine.*`: the quarantine topic and how it is created."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.properties import PropertyReader


@dataclass(frozen=True, slots=True)
class QuarantineConfig:
    topic: str | None = None  # None: schema mismatches go where every refused record goes
    replication_factor: int = 3

    @property
    def enabled(self) -> bool:
        return self.topic is not None


def read_quarantine(r: PropertyReader, dlq_replication_factor: int) -> QuarantineConfig:
    """The topic, made (when missing) with one partition and, unless told otherwise, the
    dead-letter topic's replication factor, as Connect makes its DLQ."""
    topic = r.str("bridge.sink.quarantine.topic", "") or None
    factor = r.int("bridge.sink.quarantine.topic.replication.factor", dlq_replication_factor, minimum=-1,
                   maximum=32767)
    return QuarantineConfig(topic, factor)
