"""The quarantine producer: the dead-letter producer (`bridge.sink.dlq`) pointed at the
quarantine topic, Connect's context headers always on (replay needs the original coordinates),
plus `__pgbridge.quarantine.reason` naming the mismatch. Like dead letters, quarantined records
are acknowledged before the transaction that skips them commits."""

from __future__ import annotations

from bridge.sink.dlq import DeadLetters
from bridge.sink.settings import SinkConfig

REASON_HEADER = "__pgbridge.quarantine.reason"


def quarantine_producer(config: SinkConfig, task: int) -> DeadLetters:
    settings = config.quarantine
    return DeadLetters(config, task, settings.topic, settings.replication_factor, context_headers=True,
                       what="quarantine topic")


def reason_headers(reason: str) -> tuple[tuple[str, bytes]]:
    return ((REASON_HEADER, reason.encode()),)
