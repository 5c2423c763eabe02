"""How long pgbridge keeps trying to reach a server (PostgreSQL, Kafka) before it gives up
with one clear message (`bridge.connect.*`)."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.properties import PropertyReader


@dataclass(frozen=True, slots=True)
class RetryConfig:
    attempts: int
    initial_backoff_ms: int
    max_backoff_ms: int


def read_retry(r: PropertyReader) -> RetryConfig:
    return RetryConfig(
        attempts=r.int("bridge.connect.attempts", 8, minimum=1),
        initial_backoff_ms=r.int("bridge.connect.backoff.initial.ms", 500, minimum=1),
        max_backoff_ms=r.int("bridge.connect.backoff.max.ms", 10_000, minimum=1),
    )
