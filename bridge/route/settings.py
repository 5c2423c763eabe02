"""What routing and event shape depend on: topic naming, the operations emitted, the side
streams, the producers and their partitioning, the capture filters. Debezium's connector keys
plus pgbridge's `bridge.producers`, `bridge.partition.*` and pipeline keys."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from bridge.convert.names import MODES
from bridge.errors import ConfigError
from bridge.format.settings import ConverterSpec, HeaderFormat, read_format
from bridge.properties import PropertyReader
from bridge.route.filters import TableFilter

SOURCE = "debezium.source."
SALT_PREFIX = "bridge.partition.salt."
_TOPIC_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_FILTER_KEYS = ("schema.include.list", "schema.exclude.list", "table.include.list", "table.exclude.list",
                "message.key.columns", "message.prefix.include.list", "message.prefix.exclude.list",
                "column.include.list", "column.exclude.list")


@dataclass(frozen=True, slots=True)
class EventConfig:
    topic_prefix: str
    tombstones_on_delete: bool
    skipped_operations: frozenset[str]
    key_schemas_enable: bool
    value_schemas_enable: bool
    heartbeat_interval_ms: int = 0
    heartbeat_topic_prefix: str = "__debezium-heartbeat"
    heartbeat_action_query: str | None = None
    provide_transaction_metadata: bool = False
    topic_delimiter: str = "."  # topic.delimiter: between the parts of every topic name
    topic_transaction: str = "transaction"  # topic.transaction: <prefix><delimiter><this>
    heartbeat_topic_name: str | None = None  # topic.heartbeat.name: replaces <heartbeat prefix>.<prefix>
    key_format: ConverterSpec = ConverterSpec()  # debezium.format.key (key.converter) and its options
    value_format: ConverterSpec = ConverterSpec()
    header_format: HeaderFormat = HeaderFormat()  # debezium.format.header (header.converter)
    schema_name_adjustment: str = "none"  # schema.name.adjustment.mode: a table's Key/Value/Envelope names
    field_name_adjustment: str = "none"  # field.name.adjustment.mode: its field (column) names
    extended_headers: bool = True  # extended.headers.enabled: the __debezium.context.* headers


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """The multiprocess pipeline (`bridge.*`)."""

    producers: int
    ring_bytes: int
    salt: bytes
    salts: Mapping[str, bytes]  # per-topic overrides of `salt`
    partitioner: str  # "mmh3" or "murmur2" (Kafka's Java default partitioner, for cut-overs)
    restart_policy: str  # "never" or "on-failure"
    restart_max_attempts: int
    restart_backoff_ms: int
    shutdown_timeout_ms: int


def read_events(r: PropertyReader, header_format: HeaderFormat = HeaderFormat()) -> EventConfig:
    """The events' settings; `header_format` as `read_header_format` read it for the file's form."""
    skipped = r.raw(SOURCE + "skipped.operations")
    key_format, value_format = read_format(r, "key"), read_format(r, "value")
    return EventConfig(
        topic_prefix=_topic_part(r, "topic.prefix", None),
        tombstones_on_delete=r.bool(SOURCE + "tombstones.on.delete", True),
        skipped_operations=_skipped_operations(skipped if skipped is not None else "t",
                                               r.label(SOURCE + "skipped.operations")),
        key_schemas_enable=key_format.schemas_enable,
        value_schemas_enable=value_format.schemas_enable,
        heartbeat_interval_ms=r.int(SOURCE + "heartbeat.interval.ms", 0),
        heartbeat_topic_prefix=_topic_part(r, "topic.heartbeat.prefix", "__debezium-heartbeat"),
        heartbeat_action_query=r.raw(SOURCE + "heartbeat.action.query") or None,
        provide_transaction_metadata=r.bool(SOURCE + "provide.transaction.metadata", False),
        topic_delimiter=_topic_part(r, "topic.delimiter", "."),
        topic_transaction=_topic_part(r, "topic.transaction", "transaction"),
        heartbeat_topic_name=_topic_part(r, "topic.heartbeat.name", "") or None,
        key_format=key_format,
        value_format=value_format,
        header_format=header_format,
        schema_name_adjustment=r.choice(SOURCE + "schema.name.adjustment.mode", "none", MODES),
        field_name_adjustment=r.choice(SOURCE + "field.name.adjustment.mode", "none", MODES),
        extended_headers=r.bool(SOURCE + "extended.headers.enabled", True),
    )


def read_pipeline(r: PropertyReader) -> PipelineConfig:
    ring_bytes = r.int("bridge.ring.bytes", 16 * 1024 * 1024, minimum=1024 * 1024, maximum=2**32 - 8)
    if ring_bytes % 8:
        raise ConfigError(f"bridge.ring.bytes={ring_bytes} is invalid: it must be a multiple of 8")
    salts = {key[len(SALT_PREFIX):]: value.strip().encode() for key, value in r.with_prefix(SALT_PREFIX).items()}
    return PipelineConfig(
        producers=r.int("bridge.producers", max(1, (os.cpu_count() or 2) - 1), minimum=1, maximum=256),
        ring_bytes=ring_bytes,
        salt=(r.raw("bridge.partition.salt") or "").encode(),
        salts=salts,
        partitioner=r.choice("bridge.partitioner", "mmh3", ("mmh3", "murmur2")),
        restart_policy=r.choice("bridge.restart.policy", "never", ("never", "on-failure")),
        restart_max_attempts=r.int("bridge.restart.max.attempts", 5, minimum=1),
        restart_backoff_ms=r.int("bridge.restart.backoff.ms", 2000, minimum=0),
        shutdown_timeout_ms=r.int("bridge.shutdown.timeout.ms", 60_000, minimum=1000),
    )


def read_filters(r: PropertyReader) -> TableFilter:
    lists = {k: r.raw(SOURCE + k) for k in _FILTER_KEYS}
    return TableFilter.from_lists(
        schema_include=lists["schema.include.list"],
        schema_exclude=lists["schema.exclude.list"],
        table_include=lists["table.include.list"],
        table_exclude=lists["table.exclude.list"],
        key_columns=lists["message.key.columns"],
        message_include=lists["message.prefix.include.list"],
        message_exclude=lists["message.prefix.exclude.list"],
        column_include=lists["column.include.list"],
        column_exclude=lists["column.exclude.list"],
        labels={k: r.label(SOURCE + k) for k in _FILTER_KEYS},
    )


def _topic_part(r: PropertyReader, name: str, default: str | None) -> str:
    """A topic name or part of one, checked as Debezium does (its message, its character set)."""
    value = r.str(SOURCE + name, default)
    if value and not set(value) <= _TOPIC_CHARS:
        raise ConfigError(f"{r.shown(SOURCE + name, value)} is invalid: only the underscore, hyphen, dot and "
                          "alphanumeric characters are allowed")
    return value


def _skipped_operations(value: str, label: str) -> frozenset[str]:
    ops = frozenset(p.strip() for p in value.split(",") if p.strip())
    if ops == {"none"}:
        ops = frozenset()
    bad = ops - {"c", "u", "d", "t", "r"}
    if bad:
        raise ConfigError(
            f"{label}={value!r} is invalid: allowed are a comma-separated "
            "list of c, u, d, t, r, or none"
        )
    return ops
