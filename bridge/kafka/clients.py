"""Every Kafka client pgbridge opens is built here, with the same connection settings.

A client's configuration is the connection (`KafkaConnection`: brokers, TLS, SASL), then the
producer tuning for producers, then what the caller adds (a group, a transactional id,
callbacks); AWS MSK IAM's `pgbridge.msk.*` settings become the token callback. librdkafka
refusing a setting is a configuration error, named by the keys the user wrote. librdkafka's own
log lines go through Python logging (`bridge.kafka.logs`); every client's errors pass through
`_errors`, which counts authentication failures (`bridge.kafka.auth_failures`).
"""

from __future__ import annotations

import logging
from typing import Callable, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from bridge.errors import ConfigError, ConnectionFailed
from bridge.kafka import auth_failures, msk
from bridge.kafka.logs import LIBRDKAFKA_LOG
from bridge.kafka.settings import PREFIX, KafkaConnection, ProducerTuning

_Client = TypeVar("_Client")


def producer(connection: KafkaConnection, tuning: ProducerTuning, **extra: object) -> Producer:
    return _build(Producer, "producer", {**connection.settings, **tuning.settings, **extra})


def consumer(connection: KafkaConnection, group: str, *, keys: str = PREFIX, **extra: object) -> Consumer:
    """`keys`: where the settings come from, named by a refusal (`signal.consumer.*` for the
    signal channel's consumer)."""
    return _build(Consumer, "consumer", {**connection.settings, "group.id": group, **extra}, keys)


def admin(connection: KafkaConnection, **extra: object) -> AdminClient:
    return _build(AdminClient, "admin client", {**connection.settings, **extra})


def _errors(kind: str, given: Callable[[KafkaError], None] | None) -> Callable[[KafkaError], None]:
    """The client's `error_cb`: counts authentication failures, then hands the error to the
    caller's callback, or logs it as librdkafka does for a client that has none."""

    def on_error(err: KafkaError) -> None:
        if err.code() == KafkaError._AUTHENTICATION:
            auth_failures.record()
        if given is not None:
            given(err)
        else:
            LIBRDKAFKA_LOG.log(logging.ERROR, "%s [%s] %s", "ERROR", kind, err.str())

    return on_error


def _build(client: Callable[[dict], _Client], kind: str, conf: dict, keys: str = PREFIX) -> _Client:
    conf["error_cb"] = _errors(kind, conf.get("error_cb"))  # type: ignore[arg-type]
    token = msk.token_callback(conf)
    if token is not None:
        conf["oauth_cb"] = token
    try:
        return client({"logger": LIBRDKAFKA_LOG, **conf})
    except KafkaException as exc:
        if token is not None and token.failure:  # the client waited for its first token in vain
            raise ConnectionFailed(f"cannot reach Kafka at {conf.get('bootstrap.servers')}: {token.failure}") from None
        raise ConfigError(f"invalid Kafka {kind} setting ({keys}*): {exc.args[0].str()}") from None
