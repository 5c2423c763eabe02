"""The Kafka side: an idempotent librdkafka producer that never drops a record.

A full local queue (`BufferError`) is answered by serving delivery reports until there is
room, never by dropping. Delivery callbacks run inside `poll()`/`flush()` on the caller's
thread, so the acked-watermark bookkeeping needs no locks. `KafkaOutput` is what a producer
worker needs from it, so that tests can stand in for Kafka.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Protocol, runtime_checkable

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import ConfigResource

from bridge.errors import ConnectionFailed, DeliveryError
from bridge.kafka import clients
from bridge.kafka.refusals import AUTHORIZATION, Persisting, authorization_hint, refusal
from bridge.kafka.settings import KafkaSettings
from bridge.kafka.topic_creation import TopicCreation, TopicCreator
from bridge.produce.failures import Unsent
from bridge.retry import RetryConfig

log = logging.getLogger(__name__)

OnDelivery = Callable[[KafkaError | None, object], None]


class ProduceCall(Protocol):
    """confluent-kafka's `Producer.produce`, called positionally (keywords cost ~0.4 µs a call)."""

    def __call__(self, topic: str, value: bytes | None, key: bytes | None, partition: int, on_delivery: OnDelivery,
                 callback: None, timestamp: int, headers: list[tuple[str, bytes]] | None, /) -> None: ...


@runtime_checkable
class KafkaOutput(Protocol):
    """What a producer worker needs from Kafka (`bridge.produce.worker`): `KafkaWriter`, or a
    test double."""

    @property
    def produce_call(self) -> ProduceCall:
        """The per-record hot path: librdkafka's produce itself. Whatever it raises, the caller
        hands the record to `produce`, which retries or reports it."""

    def produce(self, topic: str, key: bytes | None, value: bytes | None, on_delivery: OnDelivery,
                partition: int = -1, headers: list[tuple[str, bytes]] | None = None) -> None: ...

    def partitions(self, topic: str) -> int: ...

    def poll(self, timeout_s: float = 0) -> int: ...

    def flush(self, timeout_s: float) -> int: ...

    def __len__(self) -> int: ...


@runtime_checkable
class TransactionalOutput(KafkaOutput, Protocol):
    """A `KafkaOutput` writing through Kafka transactions (`bridge.produce.exactly_once`)."""

    def begin_transaction(self) -> None: ...

    def commit_transaction(self, timeout_s: float = 60.0) -> None: ...


class KafkaWriter:
    """pgbridge's producer of records: a `KafkaOutput`, and a `TransactionalOutput` when built
    with a transactional id."""

    def __init__(self, kafka: KafkaSettings, transactional_id: str | None = None,
                 topics: TopicCreation | None = None, skips_refused: bool = False,
                 refusal_budget_s: float = 60.0) -> None:
        """With a `transactional_id` the producer writes through Kafka transactions
        (`bridge.produce.exactly_once`): `init_transactions()` first, then begin/commit. With
        `topics` (Kafka Connect's `topic.creation.*`) each topic is created, if missing, when
        `partitions` first asks for it: before its first record. `skips_refused`
        (errors.tolerance=all): a record librdkafka refuses at once goes to its delivery
        callback as a failed delivery, as the Java producer reports it, instead of stopping here.
        `refusal_budget_s`: how long a refusal no retry fixes (`bridge.kafka.refusals`) may go on
        mid-run before the producer stops."""
        self._skips_refused = skips_refused
        self.bootstrap = kafka.connection.bootstrap_servers
        extra = {} if transactional_id is None else {"transactional.id": transactional_id}
        self._producer = clients.producer(kafka.connection, kafka.producer, error_cb=self._on_error, **extra)
        self._topics = None if topics is None else TopicCreator(topics, lambda: clients.admin(kafka.connection))
        self._last_error: str | None = None
        self._refused: str | None = None  # the first refusal no retry fixes (`check_reachable`)
        self._persisting = Persisting(refusal_budget_s)
        self._connection = kafka.connection
        self._admin = None  # made on first need (`record_limit`)
        self.produce_call = self._producer.produce  # the hot path's (`KafkaOutput.produce_call`)

    def _on_error(self, err: KafkaError) -> None:
        # Transport errors are retried by librdkafka on its own; remember the last one so a
        # connectivity check can name it (the cause: a refused password, an unknown CA, not
        # the "all brokers are down" that follows it). Fatal ones (idempotence broken) end the bridge.
        # A refusal no retry fixes (an untrusted certificate, a mechanism the broker does not
        # offer, a missing ACL) stops the producer once it has lasted the retry budget, or at
        # once for an authorization failure: the broker's definite answer.
        if err.code() != KafkaError._ALL_BROKERS_DOWN or self._last_error is None:
            self._last_error = err.str()
        if err.code() in AUTHORIZATION:
            raise self._unauthorized(err)
        if self._refused is None:
            self._refused = refusal(err)
        cause = self._persisting.see(err)
        if cause is not None:
            raise ConnectionFailed(f"Kafka at {self.bootstrap} refuses the connection for "
                                   f"{self._persisting.budget_s:.0f}s, no retry fixes it: {cause}")
        if err.fatal():
            log.error("fatal Kafka producer error: %s", err.str())
        else:
            log.debug("Kafka producer error: %s", err.str())

    def _unauthorized(self, err: KafkaError, what: str = "") -> ConnectionFailed:
        return ConnectionFailed(f"Kafka at {self.bootstrap} refused access{what}: {err.str()} ({err.name()}); "
                                f"{authorization_hint(err, self._connection.settings)}")

    def check_reachable(self, retry: RetryConfig) -> None:
        """Fail with a clear message when no broker answers within the retry budget."""
        total_s = retry.budget_s()
        deadline = time.monotonic() + max(total_s, 1.0)
        while True:
            try:
                self._producer.list_topics(timeout=min(5.0, max(0.5, deadline - time.monotonic())))
                return
            except KafkaException as exc:
                self._producer.poll(0)  # serves error_cb: what went wrong with each broker
                if self._refused is not None:
                    raise ConnectionFailed(
                        f"cannot reach Kafka at {self.bootstrap} (no retry fixes it): {self._refused}") from None
                if time.monotonic() >= deadline:
                    reason = self._last_error or exc.args[0].str()
                    raise ConnectionFailed(
                        f"cannot reach Kafka at {self.bootstrap} within {total_s:.0f}s: {reason}"
                    ) from None

    def partitions(self, topic: str, timeout_s: float = 30.0) -> int:
        """Partition count of `topic`: first created as `topic.creation.*` says when they are set
        (and it is missing); else asking creates it when the broker auto-creates topics."""
        if self._topics is not None:
            self._topics.ensure(topic)
        deadline = time.monotonic() + timeout_s
        reason = "no metadata"
        while time.monotonic() < deadline:
            try:
                meta = self._producer.list_topics(topic, timeout=5.0).topics.get(topic)
            except KafkaException as exc:
                reason = exc.args[0].str()
            else:
                if meta is not None and meta.error is None and meta.partitions:
                    return len(meta.partitions)
                if meta is not None and meta.error is not None and meta.error.code() in AUTHORIZATION:
                    raise self._unauthorized(meta.error, f" to topic {topic!r}")
                reason = meta.error.str() if meta is not None and meta.error is not None else "no partitions yet"
            time.sleep(0.2)
        raise ConnectionFailed(
            f"topic {topic!r} is not available on Kafka at {self.bootstrap} after {timeout_s:.0f}s: {reason} "
            "(create it, or enable auto.create.topics.enable on the broker)"
        )

    def record_limit(self, topic: str, timeout_s: float = 30.0) -> int:
        """The topic's max.message.bytes: the largest record batch its broker takes."""
        if self._admin is None:
            self._admin = clients.admin(self._connection)
        try:
            future = self._admin.describe_configs([ConfigResource("topic", topic)])
            entries = next(iter(future.values())).result(timeout_s)
            return int(entries["max.message.bytes"].value)
        except (KafkaException, KeyError, ValueError) as exc:
            raise ConnectionFailed(f"cannot read max.message.bytes of topic {topic!r} from Kafka at "
                                   f"{self.bootstrap}: {exc}") from None

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        on_delivery: OnDelivery,
        partition: int = -1,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        while True:
            try:
                self._producer.produce(
                    topic, value, key, partition=partition, on_delivery=on_delivery, headers=headers
                )
                return
            except BufferError:
                # Local queue full: serve delivery reports until librdkafka has room again.
                self._producer.poll(0.05)
            except KafkaException as exc:
                # Refused before sending (e.g. larger than message.max.bytes): permanent.
                err = exc.args[0]
                if self._skips_refused and not err.fatal():
                    on_delivery(err, Unsent(topic, partition, key, value))
                    return
                size = len(value or b"") + len(key or b"")
                raise DeliveryError(
                    f"Kafka producer refused a record of {size} bytes for {topic} [{partition}]: "
                    f"{exc.args[0].str()} (see debezium.sink.kafka.producer.message.max.bytes)"
                ) from None

    # -- transactions (exactly once) ------------------------------------------------------------
    # A failed transactional call cannot be repaired here (the records are gone from the ring):
    # it ends the process, and the slot, never confirmed past the last commit, replays them.

    def init_transactions(self, timeout_s: float = 60.0) -> None:
        self._transactional("initialise transactions", self._producer.init_transactions, timeout_s)

    def begin_transaction(self) -> None:
        self._transactional("begin a transaction", self._producer.begin_transaction)

    def commit_transaction(self, timeout_s: float = 60.0) -> None:
        self._transactional("commit a transaction", self._producer.commit_transaction, timeout_s)

    def _transactional(self, what: str, call, *args) -> None:
        try:
            call(*args)
        except KafkaException as exc:
            if exc.args[0].code() in AUTHORIZATION:
                raise self._unauthorized(exc.args[0], f" to {what}") from None
            raise DeliveryError(f"Kafka producer could not {what}: {exc.args[0].str()}") from None

    def poll(self, timeout_s: float = 0) -> int:
        return self._producer.poll(timeout_s)

    def flush(self, timeout_s: float) -> int:
        """Wait for outstanding deliveries; returns how many are still outstanding."""
        return self._producer.flush(timeout_s)

    def __len__(self) -> int:
        return len(self._producer)
