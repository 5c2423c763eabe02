"""Kafka authentication failures of this process: counted for `pgbridge_kafka_auth_failures_total`
and the health check's DEGRADED.

Two sources count: an error librdkafka reports with `_AUTHENTICATION` (a refused password, an
OIDC token it could not fetch, a certificate the broker refused: every client's `error_cb`, set
by `bridge.kafka.clients`), and a failed AWS MSK IAM token refresh (`bridge.kafka.msk`).
librdkafka reports a failure that repeats unchanged once, so the count is of reports, not of
attempts. Each process counts its own; a pipeline process hands its count to the coordinator
through its LSN cell (`bind`), the coordinator reads its own here.
"""

from __future__ import annotations

import time
from typing import Callable

_count = 0
_last_us = 0  # when the last one happened (Unix µs); 0: never
_publish: Callable[[int, int], None] | None = None


def record() -> None:
    """One authentication failure, now."""
    global _count, _last_us
    _count += 1
    _last_us = time.time_ns() // 1000
    if _publish is not None:
        _publish(_count, _last_us)


def bind(publish: Callable[[int, int], None] | None) -> None:
    """From now on every failure is also handed to `publish(count, last_us)` (a child's LSN cell;
    None: no longer, the cell is closing)."""
    global _publish
    _publish = publish
    if publish is not None:
        publish(_count, _last_us)


def counts() -> tuple[int, int]:
    """(failures so far, when the last one happened in Unix µs, 0 if never)."""
    return _count, _last_us
