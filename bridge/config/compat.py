"""Debezium keys that no component needs to read, judged here by their value.

- No effect here, honoured as such: tuning of Debezium's own queues, threads, offset store,
  JMX metrics and shutdown, where pgbridge's bounded rings, slot position and Prometheus
  endpoint do the same job and the events are the same whatever the value.
- Honoured at some values only: the value Debezium uses by default (or another that gives
  the same events here) is honoured; any other is refused with one line saying why and what to
  use instead, because pgbridge would not produce what Debezium produces with it.
"""

from __future__ import annotations

from bridge.errors import ConfigError
from bridge.properties import PropertyReader
from bridge.source.settings import SOURCE

# Keys whose value does not change the events pgbridge writes (Debezium's runtime tuning).
NO_EFFECT = tuple(SOURCE + k for k in (
    "max.batch.size", "max.queue.size", "max.queue.size.in.bytes", "poll.interval.ms", "poll.dispatch.interval.ms",
    "offset.storage", "offset.storage.file.filename", "offset.flush.interval.ms", "offset.flush.timeout.ms",
    "offset.commit.policy", "offset.storage.partitions", "offset.storage.replication.factor",
    "record.processing.threads", "record.processing.order", "record.processing.shutdown.timeout.ms",
    "record.processing.with.serial.consumer", "errors.retry.delay.initial.ms", "errors.retry.delay.max.ms",
    "statistics.metrics.enabled", "connection.validation.timeout.ms", "executor.shutdown.timeout.ms",
    "custom.sanitize.pattern", "topic.cache.size", "snapshot.max.threads.multiplier",
    "table.ignore.builtin", "snapshot.lock.timeout.ms",
)) + ("debezium.engine.factory", "debezium.termination.wait", "debezium.sink.kafka.wait.message.delivery.timeout.ms",
      "connect.config.action.reload", "connect.offsets.storage.topic")
# Of those, the ones Debezium validates as integers (a typo there is refused as Debezium refuses it).
_INTS = frozenset(SOURCE + k for k in ("max.batch.size", "max.queue.size", "max.queue.size.in.bytes", "poll.interval.ms",
                                       "offset.flush.interval.ms", "offset.flush.timeout.ms", "snapshot.lock.timeout.ms"))
NO_EFFECT_PREFIXES = (SOURCE + "offset.storage.", SOURCE + "snapshot.max.threads.multiplier.")

# key -> (values honoured, why another value is refused). Values compare case-insensitively.
ONLY = {
    "snapshot.isolation.mode": (("serializable", "repeatable_read"),
                                "pgbridge's snapshot is one REPEATABLE READ transaction on the slot's exported snapshot; "
                                "use serializable or repeatable_read"),
    "snapshot.locking.mode": (("none",), "pgbridge takes no table locks for a snapshot (the slot's snapshot is "
                                         "consistent without them); use none"),
    "snapshot.query.mode": (("select_all",), "custom snapshot queries are Java classes; use "
                                             "snapshot.select.statement.overrides"),
    "snapshot.tables.order.by.row.count": (("disabled",), "pgbridge snapshots tables in parallel, not by row count; "
                                                          "use disabled"),
    "snapshot.delay.ms": (("0",), "not implemented: start the bridge later instead"),
    "streaming.delay.ms": (("0",), "not implemented: pgbridge streams as soon as the snapshot ends"),
    "skip.messages.without.change": (("false",), "not implemented: pgbridge emits every update"),
    "schema.refresh.mode": (("columns_diff",), "pgbridge refreshes a table's schema from each RELATION message; "
                                               "use columns_diff"),
    "xmin.fetch.interval.ms": (("0",), "pgbridge does not track the slot's xmin; the source block's xmin stays "
                                       "null as with 0"),
    "lsn.flush.timeout.ms": (("30000",), "not implemented: pgbridge confirms asynchronously"),
    "lsn.flush.timeout.action": (("fail",), "not implemented: pgbridge confirms asynchronously"),
    "offset.mismatch.strategy": (("no_validation", "trust_slot"),
                                 "pgbridge keeps its position in the slot only; use trust_slot"),
    "publish.via.partition.root": (("false",), "not implemented: partitions stream as their own tables"),
    "slot.failover": (("false",), "not implemented: create the failover slot yourself (PostgreSQL 17)"),
    "queue.provider.type": (("memory",), "pgbridge queues in shared-memory rings"),
    "topic.naming.strategy": (("io.debezium.schema.SchemaTopicNamingStrategy",),
                              "other topic naming strategies are not implemented: use topic.prefix, "
                              "topic.delimiter, topic.transaction, topic.heartbeat.prefix"),
    "sourceinfo.struct.maker": (("io.debezium.connector.postgresql.PostgresSourceInfoStructMaker",),
                                "pgbridge writes Debezium's PostgreSQL source block"),
    "transaction.metadata.factory": (("io.debezium.pipeline.txmetadata.DefaultTransactionMetadataFactory",),
                                     "pgbridge writes Debezium's default transaction metadata"),
    "guardrail.collections.max": (("0",), "not implemented: limit the tables with table.include.list"),
    "openlineage.integration.enabled": (("false",), "OpenLineage events are not implemented"),
    "legacy.snapshot.max.threads": (("false",), "pgbridge has one parallel snapshot algorithm"),
    "read.only": (("false",), "read-only incremental snapshots are not implemented: pgbridge writes watermarks "
                              "to the signal table"),
    "database.connection.factory.class": (("",), "pgbridge connects with libpq (AWS IAM tokens: set "
                                                 "database.password from a config provider)"),
}
# Connect-level keys honoured at some values (Kafka Connect JSON: `connect.<key>`).
CONNECT_ONLY = {
    "connect.transaction.boundary": (("poll",), "pgbridge's exactly once commits on its own interval "
                                                "(bridge.exactly.once.commit.interval.ms); use poll"),
}
# Debezium Server keys honoured at some values.
SERVER_ONLY = {
    "debezium.api.enabled": (("false",), "pgbridge has no signal API: use the signal table"),
}


def read_compat(r: PropertyReader) -> None:
    """Read every key above: the ones without effect, and the value-limited ones (refused
    unless honoured)."""
    for key in NO_EFFECT:
        if key in _INTS:
            r.int(key, 0)
        else:
            r.raw(key)
    for prefix in NO_EFFECT_PREFIXES:
        r.with_prefix(prefix)
    limited = {SOURCE + k: v for k, v in ONLY.items()} | CONNECT_ONLY | SERVER_ONLY
    for key, (allowed, why) in limited.items():
        value = r.raw(key)
        if value is None or value == "" and "" not in allowed:
            continue
        if value.lower() not in (a.lower() for a in allowed):
            raise ConfigError(f"{r.shown(key, value)} is refused: {why}")
