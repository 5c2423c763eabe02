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

    def budget_s(self) -> float:
        """The time every attempt's backoff adds up to: how long a server may keep failing."""
        return sum(min(self.initial_backoff_ms * 2**i, self.max_backoff_ms) for i in range(self.attempts)) / 1000


def read_retry(r: PropertyReader) -> RetryConfig:
    return RetryConfig(
        attempts=r.int("bridge.connect.attempts", 8, minimum=1),
        initial_backoff_ms=r.int("bridge.connect.backoff.initial.ms", 500, minimum=1),
        max_backoff_ms=r.int("bridge.connect.backoff.max.ms", 10_000, minimum=1),
    )
