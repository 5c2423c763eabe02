"""What `bridge sink` checks before it starts its workers: that the brokers accept the consumer's
credentials and certificates, that the target database accepts its connection, and that the
dedup window's Redis (when it has one) answers.

A failure no retry can fix (a refused password, a CA that did not sign the server, a host name
the certificate does not carry) stops the start with one line naming the server and the cause
(exit code 3), before any worker joins the group. A server that does not answer yet is only
reported: the workers keep trying, as Connect's sink tasks do.
"""

from __future__ import annotations

import logging
import time

import psycopg2
from confluent_kafka import KafkaError, KafkaException

from bridge.errors import ConnectionFailed
from bridge.kafka import clients
from bridge.sink.dedup.redis_store import ping
from bridge.sink.dedup.window import active
from bridge.sink.settings import SinkConfig
from bridge.source.connection import permanent_failure

log = logging.getLogger(__name__)
# librdkafka's codes for a refused SASL login and a failed TLS handshake
_REFUSED = frozenset({KafkaError._AUTHENTICATION, KafkaError._SSL})


def check(config: SinkConfig, timeout_s: float = 30.0) -> None:
    _kafka(config, timeout_s)
    _target(config)
    if active(config) and config.dedup.redis_url:
        ping(config.dedup)  # the dedup window's Redis: unreachable at start is one error, exit 3


def _kafka(config: SinkConfig, timeout_s: float) -> None:
    bootstrap = config.kafka.bootstrap_servers
    errors: list[KafkaError] = []
    admin = clients.admin(config.kafka, error_cb=errors.append)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin.list_topics(timeout=min(5.0, max(0.5, deadline - time.monotonic())))
            return
        except KafkaException as exc:
            admin.poll(0)  # serves error_cb: what each broker said
            refused = next((e for e in errors if e.code() in _REFUSED), None)
            if refused is not None:
                raise ConnectionFailed(f"cannot reach Kafka at {bootstrap}: {refused.str()}") from None
            if time.monotonic() >= deadline:
                reason = errors[-1].str() if errors else exc.args[0].str()
                log.warning("Kafka at %s does not answer yet (%s); the workers keep trying", bootstrap, reason)
                return


def _target(config: SinkConfig) -> None:
    try:
        psycopg2.connect(config.dsn).close()
    except psycopg2.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if permanent_failure(reason):
            raise ConnectionFailed(f"cannot connect to the target database: {reason}") from None
        log.warning("the target database does not answer yet (%s); the workers keep trying", reason)
