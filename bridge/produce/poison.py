"""Poison-event quarantine (`bridge.poison.topic`): an event that would stop the pipeline is
written raw to a topic of its own instead, and the stream goes on.

Without the key nothing changes: a change whose event cannot be decoded or built stops the
bridge (event.processing.failure.handling.mode=fail, `bridge.produce.failures`), as does a
record the broker refuses for good (errors.tolerance=none). With it, those two cases become
one record each in the poison topic, produced as part of the change's transaction, so the slot
is confirmed past it only once Kafka holds the poison record:

- a change that cannot be decoded or converted: the value is the row's pgoutput message as the
  server sent it (Insert/Update/Delete bytes), no key;
- a record the broker refuses with a permanent per-record error (too large, invalid record):
  the refused record itself, key and value, since that is what Kafka would not take.

A broker refuses a whole record batch when it is larger than the topic's max.message.bytes, and
librdkafka does not split a refused batch as Java's producer does: the rows batched with an
oversize one would be refused with it. So with a poison topic each record is first measured
against its topic's limit (read once per topic; the size counted uncompressed, with the record
batch's overhead), and one that cannot fit is quarantined before it is produced. That check
runs only with the key set: without it the producers call librdkafka directly, as always.

Headers say what it was and why: `pgbridge.poison.relation` (schema.table),
`pgbridge.poison.lsn` (the change's LSN; for a refused record, its transaction's commit LSN),
`pgbridge.poison.topic` (where the event was going), `pgbridge.poison.stage` (`convert` or
`delivery`), `pgbridge.poison.error.class` and `pgbridge.poison.error.message`.

What Debezium or Connect skips by its own settings (processing mode warn/skip,
errors.tolerance=all) is still skipped: the poison topic only takes what would stop. Under
exactly once a refused record fails its Kafka transaction, so it still stops the bridge there.
"""

from __future__ import annotations

import logging

from confluent_kafka import KafkaError

from bridge.errors import BridgeError, ConfigError
from bridge.lsn import format_lsn
from bridge.properties import PropertyReader

log = logging.getLogger(__name__)

POISON_TOPIC = "bridge.poison.topic"
_TOPIC_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
# Refusals that no retry can cure: the record itself is what the broker will not take.
# (librdkafka reports a record over its own message.max.bytes with the broker's code too)
PERMANENT = frozenset((KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.INVALID_MSG_SIZE, KafkaError.RECORD_LIST_TOO_LARGE,
                       KafkaError.INVALID_RECORD, KafkaError.INVALID_MSG))


def read_poison_topic(r: PropertyReader) -> str | None:
    """`bridge.poison.topic`: where poison events go (None: they stop the bridge, as by default)."""
    topic = r.str(POISON_TOPIC, "") or None
    if topic is not None and (not set(topic) <= _TOPIC_CHARS or len(topic) > 249 or topic in (".", "..")):
        raise ConfigError(f"{r.label(POISON_TOPIC)}={topic!r} is invalid: a Kafka topic name is made of letters, "
                          "digits, '.', '_' and '-' (at most 249)")
    return topic


class Quarantine:
    """One producer's writer of poison records. `produce` is `KafkaOutput.produce`; each poison
    record counts as one more record of the transaction it came from (`txn`, a `Txn`, is also its
    delivery callback), so the slot is confirmed past it only once Kafka has it."""

    def __init__(self, topic: str, produce) -> None:
        self.topic = topic
        self._produce = produce
        self.count = 0  # poison records written (pgbridge_poison_events_total)

    def row(self, raw: bytes, relation: str, target: str, lsn: int, exc: Exception, txn) -> None:
        """A change (`raw`: its pgoutput message) whose event could not be decoded or built."""
        log.error("quarantined the change event of %s at LSN %s to %s: %s: %s", relation, format_lsn(lsn),
                  self.topic, type(exc).__name__, exc, exc_info=not isinstance(exc, BridgeError))
        self._write(None, raw, relation, target, lsn, "convert", type(exc).__name__, str(exc), txn)

    def takes(self, err: KafkaError, msg) -> bool:
        """Whether a refused record is quarantined: a permanent per-record refusal, and not a
        poison record itself (one the poison topic refuses too stops the bridge)."""
        return err.code() in PERMANENT and not err.fatal() and msg.topic() != self.topic

    def refused(self, err: KafkaError, msg, relation: str, lsn: int, txn) -> None:
        """A record Kafka refused (`msg`: its delivery report's message, or `Unsent`)."""
        log.error("quarantined a record for %s [%d] (%s, transaction at LSN %s) to %s: Kafka refused it: %s",
                  msg.topic(), msg.partition(), relation, format_lsn(lsn), self.topic, err.str())
        self._write(msg.key(), msg.value(), relation, msg.topic(), lsn, "delivery", err.name(), err.str(), txn)

    def oversize(self, topic: str, key: bytes | None, value: bytes | None, size: int, limit: int, relation: str,
                 txn) -> None:
        """A record of `txn` for `topic` larger than the topic's limit: quarantined instead of
        produced (it takes over the record's place among the transaction's pending acks)."""
        message = f"a record of {size} bytes does not fit in max.message.bytes={limit} of topic {topic}"
        log.error("quarantined a record for %s (%s, transaction at LSN %s) to %s: %s", topic, relation,
                  format_lsn(txn.final_lsn), self.topic, message)
        self._write(key, value, relation, topic, txn.final_lsn, "delivery", "MSG_SIZE_TOO_LARGE", message, txn)
        txn.pending -= 1

    def _write(self, key: bytes | None, value: bytes | None, relation: str, target: str, lsn: int, stage: str,
               error_class: str, message: str, txn) -> None:
        headers = [("pgbridge.poison.relation", relation.encode()), ("pgbridge.poison.lsn", format_lsn(lsn).encode()),
                   ("pgbridge.poison.topic", target.encode()), ("pgbridge.poison.stage", stage.encode()),
                   ("pgbridge.poison.error.class", error_class.encode()),
                   ("pgbridge.poison.error.message", message.encode("utf-8", "replace"))]
        txn.pending += 1
        self.count += 1
        self._produce(self.topic, key, value, txn, -1, headers)


def record_size(key: bytes | None, value: bytes | None, headers) -> int:
    """An upper bound of the bytes one record takes in a record batch of its own (v2 format:
    61 bytes of batch header, the record's varints at their widest)."""
    size = 61 + 21 + 5 + (len(key) if key else 0) + (len(value) if value else 0)
    for name, header in headers or ():
        size += 10 + len(name) + (len(header) if header else 0)
    return size
