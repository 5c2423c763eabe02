"""Snapshot configuration: Debezium's `snapshot.*` keys for the initial snapshot, and its
signalling (`signal.*`) and `incremental.snapshot.*` keys for incremental snapshots.

Signal channels (`signal.enabled.channels`, default `source`): `source`, the signal table
(`signal.data.collection`), and `kafka`, a topic (`signal.kafka.*`, consumer properties
`signal.consumer.*`). Debezium's other channels are refused: `jmx` (pgbridge runs no JVM and has
no MBean server; its metrics are on its Prometheus endpoint), `file` and `in-process`, and
custom channels (Java classes Debezium loads)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Mapping

from bridge.errors import ConfigError
from bridge.kafka.settings import KafkaConnection, is_connection_setting, read_consumer_properties
from bridge.properties import PropertyReader
from bridge.route.filters import compile_list

log = logging.getLogger(__name__)

SOURCE = "debezium.source."
OVERRIDES = SOURCE + "snapshot.select.statement.overrides"


@dataclass(frozen=True, slots=True)
class SnapshotConfig:
    mode: str  # initial | always | initial_only | no_data | when_needed
    fetch_size: int
    max_threads: int
    include: str | None  # snapshot.include.collection.list
    select_overrides: Mapping[str, str]  # "schema.table" -> SELECT


SOURCE_CHANNEL, KAFKA_CHANNEL = "source", "kafka"
CHANNELS_KEY = SOURCE + "signal.enabled.channels"
CONSUMER_PREFIX = SOURCE + "signal.consumer."


@dataclass(frozen=True, slots=True)
class KafkaSignalConfig:
    """The kafka signal channel (Debezium's KafkaSignalChannel): partition 0 of `topic`, records
    whose key is `key` (the connector's `topic.prefix`)."""

    topic: str  # signal.kafka.topic, default <topic.prefix>-signal
    key: str
    group_id: str  # signal.kafka.groupId (signal.consumer.group.id wins)
    poll_timeout_ms: int  # signal.kafka.poll.timeout.ms
    connection: KafkaConnection  # bootstrap.servers and the signal.consumer.* connection settings
    consumer: Mapping[str, str]  # Debezium's consumer defaults, then the other signal.consumer.* settings


@dataclass(frozen=True, slots=True)
class IncrementalConfig:
    """Incremental snapshots and their signal channels (`bridge.snapshot.incremental`)."""

    signal_table: str | None  # signal.data.collection, "schema.table"; None: no signal table
    chunk_size: int  # incremental.snapshot.chunk.size
    channels: tuple[str, ...] = (SOURCE_CHANNEL,)  # signal.enabled.channels
    poll_interval_ms: int = 5000  # signal.poll.interval.ms: how often the kafka channel is read
    kafka: KafkaSignalConfig | None = None  # with the kafka channel

    @property
    def source_channel(self) -> bool:
        """Whether signals inserted into the signal table are acted on (its window markers
        always are)."""
        return SOURCE_CHANNEL in self.channels


def read_snapshot(r: PropertyReader) -> SnapshotConfig:
    raw_mode = (r.raw(SOURCE + "snapshot.mode") or "").lower()
    if raw_mode in ("configuration_based", "custom"):
        raise ConfigError(f"{r.label(SOURCE + 'snapshot.mode')}={raw_mode!r} is not supported by pgbridge: use "
                          "initial, always, initial_only, no_data (never) or when_needed")
    mode = r.choice(SOURCE + "snapshot.mode", "initial",
                    ("initial", "always", "initial_only", "no_data", "never", "when_needed"))
    if mode == "never":  # Debezium's legacy name
        mode = "no_data"
    overrides = {}
    for table in (t.strip() for t in (r.raw(OVERRIDES) or "").split(",")):
        if not table:
            continue
        statement = r.raw(f"{OVERRIDES}.{table}")
        if not statement:  # Debezium warns and reads the whole table
            log.warning("%s names %s but %s is not set; reading the whole table", r.label(OVERRIDES), table,
                        r.label(f"{OVERRIDES}.{table}"))
            continue
        overrides[table] = statement
    include_key = SOURCE + "snapshot.include.collection.list"
    include = r.raw(include_key) or None
    compile_list(r.label(include_key), include)  # checked now rather than when used
    return SnapshotConfig(
        mode=mode,
        fetch_size=r.int(SOURCE + "snapshot.fetch.size", 10240, minimum=1),
        max_threads=r.int(SOURCE + "snapshot.max.threads", 1, minimum=1, maximum=64),
        include=include,
        select_overrides=overrides,
    )


_REFUSED_CHANNELS = {
    "jmx": "pgbridge runs no JVM and has no MBean server (its metrics are on its Prometheus endpoint, "
           "bridge.http.*)",
    "file": "the file channel is not implemented",
    "in-process": "the in-process channel is an API of Debezium's embedded engine",
}


def read_incremental(r: PropertyReader, topic_prefix: str) -> IncrementalConfig:
    """`insert_insert` watermarks only; `topic_prefix` is the key the kafka channel's signals carry."""
    raw = r.raw(CHANNELS_KEY)
    channels: list[str] = []
    for name in (c.strip() for c in (raw if raw is not None else SOURCE_CHANNEL).split(",")):
        if not name or name in channels:
            continue
        if name not in (SOURCE_CHANNEL, KAFKA_CHANNEL):
            why = _REFUSED_CHANNELS.get(name, "a custom signal channel is a Java class Debezium loads, which pgbridge "
                                              "cannot run")
            raise ConfigError(f"{r.label(CHANNELS_KEY)}={raw!r}: channel {name!r} is refused: {why}. "
                              "Use source (the signal table) and/or kafka")
        channels.append(name)
    r.choice(SOURCE + "incremental.snapshot.watermarking.strategy", "insert_insert", ("insert_insert",))
    table_key = SOURCE + "signal.data.collection"
    table = r.raw(table_key) or None
    if table is not None and len(table.split(".")) != 2:
        raise ConfigError(f"{r.label(table_key)}={table!r} is invalid: expected <schema>.<table>")
    kafka = None
    if KAFKA_CHANNEL in channels:
        if table is None:
            raise ConfigError(f"{r.label(CHANNELS_KEY)} includes kafka but {r.label(table_key)} is not set: incremental "
                              "snapshots write their watermarks into the signal table, whichever channel asks for "
                              "them; create it and set the key")
        kafka = _read_kafka_signal(r, topic_prefix)
    else:  # as in Debezium, the channel's settings do nothing while the channel is off
        r.with_prefix(SOURCE + "signal.kafka.")
        r.with_prefix(CONSUMER_PREFIX)
    return IncrementalConfig(
        signal_table=table,
        chunk_size=r.int(SOURCE + "incremental.snapshot.chunk.size", 1024, minimum=1, maximum=1_000_000),
        channels=tuple(channels),
        poll_interval_ms=r.int(SOURCE + "signal.poll.interval.ms", 5000, minimum=1),
        kafka=kafka,
    )


def _read_kafka_signal(r: PropertyReader, topic_prefix: str) -> KafkaSignalConfig:
    """Debezium's KafkaSignalChannel settings and consumer defaults; `signal.consumer.*` wins."""
    prefix = SOURCE + "signal.kafka."
    servers_key = prefix + "bootstrap.servers"
    servers = r.raw(servers_key) or None
    passed = read_consumer_properties(r, CONSUMER_PREFIX)
    if servers is None and not passed.get("bootstrap.servers"):
        raise ConfigError(f"{r.label(servers_key)} is required when {r.label(CHANNELS_KEY)} includes kafka "
                          "(the brokers of the signal topic)")
    group = r.str(prefix + "groupId", "kafka-signal")
    settings = {"bootstrap.servers": servers or "", "fetch.min.bytes": "1", "session.timeout.ms": "10000",
                "auto.offset.reset": "earliest", **passed}
    # pgbridge commits a signal's offset itself, once what the signal changed is stored
    # (`bridge.snapshot.incremental.kafka_channel`); Debezium's consumer auto-commits what it read.
    settings["enable.auto.commit"] = "false"
    settings["enable.auto.offset.store"] = "false"
    connection = {k: v for k, v in settings.items() if is_connection_setting(k)}
    return KafkaSignalConfig(
        topic=r.str(prefix + "topic", f"{topic_prefix}-signal"),
        key=topic_prefix,
        group_id=settings.pop("group.id", group),
        poll_timeout_ms=r.int(prefix + "poll.timeout.ms", 0),
        connection=KafkaConnection(connection),
        consumer={k: v for k, v in settings.items() if k not in connection},
    )
