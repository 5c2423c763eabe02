"""What becomes of an event that cannot be built or delivered: Debezium's and Kafka Connect's
failure handling settings, applied where the failure is caught (never on the per-row path).

Debezium 3.7, PostgreSQL connector (`TableSchemaBuilder`, `EventDispatcher`, `CommonConnectorConfig`):
- A column value its converter cannot convert (here `NotRepresentable`: numeric NaN/Infinity
  with `decimal.handling.mode=precise`) is handled per `event.converting.failure.handling.mode`:
  `warn` (default) leaves the column null with a warning, `skip` likewise without one, `fail`
  fails the event.
- The event fails all the same when that column is a key column (the key generator does not
  catch) or a NOT NULL one without a default: Connect refuses the null in a required field
  ("Invalid value: null used for required field") when the envelope is built. A NOT NULL column
  with a default in its Connect schema accepts the null, and JsonConverter writes the default.
- A failed event is handled per `event.processing.failure.handling.mode`: `fail` (default)
  stops the connector ("Error while processing event at offset {...}"), `warn` logs it and
  skips it, `skip` skips it (logged at debug); `ignore` is a legacy name of `skip`. Skipped
  events count as processed: the offset, here the slot, moves past them with what follows.
  Debezium's transaction metadata does not count a skipped event; pgbridge's decoder numbers
  events before they are built, so an END record still counts it.

Kafka Connect (`ConnectorConfig`, `AbstractWorkerSourceTask`, `WorkerSourceTask`,
`RetryWithToleranceOperator`), for a source task:
- `errors.tolerance=all` skips a record a transform or converter fails on, and, since Kafka 3.2
  (KIP-779), a record the producer fails to send (too large, refused by the broker, timed out);
  the offset moves past it. With `none` (default) such a failure fails the task. pgbridge's
  converters build records Debezium's structs already validated, so what `all` changes here is
  a record a transform fails on (skipped by `bridge.transform.chain`) and the send: a record
  Kafka refuses is skipped instead of stopping the bridge. A fatal producer error is never tolerated, nor is a send failure under
  exactly once (Connect's exactly-once task fails the transaction instead).
- `errors.log.enable` logs each failure with its context; `errors.log.include.messages` adds
  the record. Connect always logs a failed send at ERROR; here that line names topic, partition
  and the reason, and carries the record's key and value only with both settings on. For
  Debezium's `warn`, the row's values are logged only with `errors.log.include.messages=true`.
- `errors.retry.timeout` and `errors.retry.delay.max.ms` retry an operation that failed with a
  retriable error in a transform or converter; no stage of this pipeline fails that way (nor do
  Connect's JsonConverter and Debezium's records), so they are read, checked, and change nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from confluent_kafka import KafkaError

from bridge.errors import ConfigError, SchemaRegistryFailed, ValueNotConverted
from bridge.lsn import format_lsn
from bridge.properties import PropertyReader

log = logging.getLogger(__name__)

CONNECT = "connect.errors."
PROCESSING = "debezium.source.event.processing.failure.handling.mode"
CONVERTING = "debezium.source.event.converting.failure.handling.mode"


@dataclass(frozen=True, slots=True)
class FailureHandling:
    processing: str = "fail"  # event.processing.failure.handling.mode ("ignore" is read as "skip")
    converting: str = "warn"  # event.converting.failure.handling.mode
    tolerance: str = "none"  # errors.tolerance
    log_enable: bool = False  # errors.log.enable
    log_messages: bool = False  # errors.log.include.messages


def read_failure_handling(r: PropertyReader) -> FailureHandling:
    processing = r.choice(PROCESSING, "fail", ("fail", "warn", "skip", "ignore"))
    tolerance = r.raw(CONNECT + "tolerance") or "none"
    if tolerance not in ("none", "all"):  # Connect's validator is case-sensitive
        raise ConfigError(f"{r.label(CONNECT + 'tolerance')}={tolerance!r} is invalid: allowed values are none, all")
    # Connect's retries of a transform or converter failing retriably: no stage here fails that
    # way, so they are checked (Connect's LONG type) and change nothing
    r.int(CONNECT + "retry.timeout", 0, minimum=-(2**63))
    r.int(CONNECT + "retry.delay.max.ms", 60_000, minimum=-(2**63))
    return FailureHandling(
        processing="skip" if processing == "ignore" else processing,
        converting=r.choice(CONVERTING, "warn", ("fail", "warn", "skip")),
        tolerance=tolerance,
        log_enable=r.bool(CONNECT + "log.enable", False),
        log_messages=r.bool(CONNECT + "log.include.messages", False),
    )


class Unsent:
    """A record librdkafka refused before sending, in the shape of a delivery report's message."""

    __slots__ = ("_topic", "_partition", "_key", "_value")

    def __init__(self, topic: str, partition: int, key: bytes | None, value: bytes | None) -> None:
        self._topic, self._partition, self._key, self._value = topic, partition, key, value

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value


class Failures:
    """One producer's handling of events it cannot build and records Kafka refuses.

    `skips_refused`: whether a record Kafka refuses is skipped (errors.tolerance=all, and not
    exactly once)."""

    def __init__(self, handling: FailureHandling, skips_refused: bool) -> None:
        self.handling = handling
        self.skips_refused = skips_refused

    def stops(self, exc: Exception) -> bool:
        """Whether an event failing with `exc` stops the bridge (what a poison topic takes instead)."""
        return self.handling.processing == "fail" or isinstance(exc, SchemaRegistryFailed)

    def event(self, exc: Exception, table: str, lsn: int, values: dict[str, str | None] | None) -> None:
        """An event of `table` at `lsn` could not be built (`exc`): raise, or log and return (the
        caller skips it). `values`: the row's values as text, logged only when asked for."""
        mode = self.handling.processing
        if isinstance(exc, SchemaRegistryFailed):
            raise exc  # a converter's registry, not the event: every later event of the table would fail too
        if mode == "fail":
            if isinstance(exc, ValueNotConverted):
                raise ValueNotConverted(
                    f"cannot build the change event of {table} at LSN {format_lsn(lsn)}: {exc}. "
                    "event.processing.failure.handling.mode=fail stops here, as Debezium does; set it to warn "
                    "or skip to skip such an event") from None
            raise exc  # not a value Debezium cannot convert either: a bug, with its traceback
        where = f"the change event of {table} at LSN {format_lsn(lsn)}"
        if self.handling.log_messages and values is not None:
            where += f" (row {values})"
        if mode == "warn":
            log.warning("skipped %s: %s (event.processing.failure.handling.mode=warn)", where, exc,
                        exc_info=not isinstance(exc, ValueNotConverted))
        else:
            log.debug("skipped %s: %s (event.processing.failure.handling.mode=skip)", where, exc, exc_info=True)

    def refused(self, err: KafkaError, msg, txn=None) -> bool:
        """A record Kafka refused (`msg`: a delivery report's message, or `Unsent`; `txn`: its
        transaction, unused here): True when it is skipped, as Kafka Connect skips a failed send
        with errors.tolerance=all, after logging it."""
        if not self.skips_refused or err.fatal():
            return False
        record = ""
        if self.handling.log_enable and self.handling.log_messages:
            record = f"; record key={_text(msg.key())} value={_text(msg.value())}"
        log.error("record for %s [%d] not delivered: %s; skipped (errors.tolerance=all)%s",
                  msg.topic(), msg.partition(), err.str(), record)
        return True


def _text(raw: bytes | None) -> str:
    return "null" if raw is None else raw.decode("utf-8", "replace")
