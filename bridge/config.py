"""Typed, frozen configuration read from a Debezium Server `application.properties`.

Names are Debezium's: `debezium.source.*` are the PostgreSQL connector's properties,
`debezium.sink.kafka.producer.*` are Kafka producer properties, `debezium.format.*` the
converter settings. pgbridge's own settings live under `bridge.*`. Unknown keys produce one
warning naming them; invalid values raise `ConfigError` naming the key, the value and what
is allowed.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from bridge.decode.options import ConversionOptions
from bridge.errors import ConfigError
from bridge.kafka.settings import PREFIX as PRODUCER, KafkaSettings, read_kafka_settings
from bridge.properties import PropertyReader as _Reader, parse_properties
from bridge.route.filters import TableFilter, compile_list
from bridge.source.offsets import CutoverConfig, cutover_from_properties

log = logging.getLogger(__name__)

SOURCE = "debezium.source."
POSTGRES_CONNECTOR = "io.debezium.connector.postgresql.PostgresConnector"


@dataclass(frozen=True, slots=True)
class PostgresConfig:
    hostname: str
    port: int
    user: str
    password: str
    dbname: str
    sslmode: str
    connect_timeout_s: int

    def dsn_kwargs(self) -> dict[str, object]:
        return {
            "host": self.hostname,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "dbname": self.dbname,
            "sslmode": self.sslmode,
            "connect_timeout": self.connect_timeout_s,
            "application_name": "pgbridge",
        }


@dataclass(frozen=True, slots=True)
class ReplicationConfig:
    slot_name: str
    publication_name: str
    publication_autocreate_mode: str
    status_update_interval_ms: int
    slot_drop_on_stop: bool = False
    flush_lsn: bool = True  # lsn.flush.mode=manual: never confirm (an external process does)
    # After the decoder has drained the stream it waits this long before reading again, so the
    # next read finds a batch (`bridge.read.coalesce.ms`; 0 = wake for every arrival).
    read_coalesce_ms: int = 2


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


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """How long to keep trying to reach a server before giving up with a clear message."""

    attempts: int
    initial_backoff_ms: int
    max_backoff_ms: int


@dataclass(frozen=True, slots=True)
class SnapshotConfig:
    mode: str  # initial | always | initial_only | no_data | when_needed
    fetch_size: int
    max_threads: int
    include: str | None  # snapshot.include.collection.list
    select_overrides: Mapping[str, str]  # "schema.table" -> SELECT


@dataclass(frozen=True, slots=True)
class IncrementalConfig:
    """Incremental snapshots through the signal table (`bridge.snapshot.incremental`)."""

    signal_table: str | None  # signal.data.collection, "schema.table"; None: no signal table
    chunk_size: int  # incremental.snapshot.chunk.size


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


@dataclass(frozen=True, slots=True)
class ExactlyOnceConfig:
    """Transactional producers and per-producer positions in Kafka (`bridge.produce.exactly_once`)."""

    enabled: bool = False
    commit_interval_ms: int = 100  # how long a Kafka transaction stays open at most (roughly)
    offsets_topic: str = "pgbridge_offsets"  # compacted; holds each producer's committed position
    transactional_id_prefix: str = ""  # "<prefix>-<producer>"; empty: derived from the server and slot


@dataclass(frozen=True, slots=True)
class HttpConfig:
    """Health checks and Prometheus metrics over HTTP (`bridge.status`)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8080  # 0: any free port (the log says which)


@dataclass(frozen=True, slots=True)
class BridgeConfig:
    postgres: PostgresConfig
    replication: ReplicationConfig
    events: EventConfig
    conversion: ConversionOptions
    kafka: KafkaSettings
    retry: RetryConfig
    pipeline: PipelineConfig
    snapshot: SnapshotConfig
    filters: TableFilter = field(default_factory=TableFilter)
    unknown_keys: tuple[str, ...] = field(default=())
    cutover: CutoverConfig | None = None
    incremental: IncrementalConfig = field(default_factory=lambda: IncrementalConfig(None, 1024))
    http: HttpConfig = field(default_factory=HttpConfig)
    exactly_once: ExactlyOnceConfig = field(default_factory=ExactlyOnceConfig)


def load_config(path: str | os.PathLike[str], bootstrap_servers: str | None = None) -> BridgeConfig:
    """Read and validate a Debezium Server application.properties or a Kafka Connect
    connector JSON (`{"name": ..., "config": {...}}`, told apart by its first character).
    `bootstrap_servers` overrides the Kafka brokers of either."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"configuration file {str(file)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"configuration file {str(file)!r} cannot be read: {exc}") from None
    labels: dict[str, str] = {}
    if text.lstrip().startswith("{"):
        props, labels = connect_json_to_properties(text, str(file))
    else:
        try:
            props = parse_properties(text, str(file))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    if bootstrap_servers:
        props[PRODUCER + "bootstrap.servers"] = bootstrap_servers
        labels[PRODUCER + "bootstrap.servers"] = "--bootstrap-servers"
    return config_from_properties(props, labels)


# Kafka Connect names → Debezium Server names, for the keys that are not connector properties.
_CONNECT_KEYS = {
    "key.converter.schemas.enable": "debezium.format.key.schemas.enable",
    "value.converter.schemas.enable": "debezium.format.value.schemas.enable",
    "bridge.kafka.bootstrap.servers": PRODUCER + "bootstrap.servers",
}
_JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"


def connect_json_to_properties(text: str, source: str) -> tuple[dict[str, str], dict[str, str]]:
    """A Kafka Connect connector JSON as the flat properties `config_from_properties` reads,
    and the labels that name each key as the JSON wrote it."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}: not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict):
        raise ConfigError(f'{source}: a Kafka Connect connector JSON needs a "config" object')
    props: dict[str, str] = {}
    labels: dict[str, str] = {}
    for key, value in doc["config"].items():
        text_value = str(value).lower() if isinstance(value, bool) else str(value)
        if key in ("key.converter", "value.converter"):
            if text_value != _JSON_CONVERTER:
                raise ConfigError(f"{key}={text_value!r} is not supported: pgbridge writes {_JSON_CONVERTER} output")
            continue
        if key == "tasks.max":
            if text_value != "1":
                raise ConfigError(f"tasks.max={text_value!r} is invalid: the PostgreSQL connector runs one task")
            continue
        if key in _CONNECT_KEYS:
            internal = _CONNECT_KEYS[key]
        elif key.startswith("producer.override."):
            internal = PRODUCER + key[len("producer.override."):]
        elif key.startswith("bridge."):
            internal = key
        else:
            internal = SOURCE + key
        props[internal] = text_value
        labels[internal] = key
    # Connect keeps the brokers in the worker config: say where pgbridge takes them from.
    labels.setdefault(PRODUCER + "bootstrap.servers", "bridge.kafka.bootstrap.servers (or --bootstrap-servers)")
    if isinstance(doc.get("name"), str):
        props["bridge.connector.name"] = doc["name"]
        labels["bridge.connector.name"] = "name"
    return props, labels


def config_from_properties(props: Mapping[str, str], labels: Mapping[str, str] | None = None) -> BridgeConfig:
    r = _Reader(props, labels)
    sink = r.str("debezium.sink.type", "kafka")
    if sink != "kafka":
        raise ConfigError(f"debezium.sink.type={sink!r} is invalid: pgbridge supports only kafka")
    for side in ("key", "value"):
        r.choice(f"debezium.format.{side}", "json", ("json",))

    connector = r.str(SOURCE + "connector.class", POSTGRES_CONNECTOR)
    if connector != POSTGRES_CONNECTOR:
        raise ConfigError(f"{r.label(SOURCE + 'connector.class')}={connector!r} is invalid: "
                          f"pgbridge is {POSTGRES_CONNECTOR}")
    plugin = r.str(SOURCE + "plugin.name", "pgoutput")
    if plugin.lower() != "pgoutput":  # Debezium compares case-insensitively
        raise ConfigError(
            f"{r.label(SOURCE + 'plugin.name')}={plugin!r} is not supported: pgbridge reads the built-in "
            "pgoutput plugin only (decoderbufs needs a server extension pgbridge does not use)"
        )

    postgres = PostgresConfig(
        hostname=r.str(SOURCE + "database.hostname"),
        port=r.int(SOURCE + "database.port", 5432, minimum=1, maximum=65535),
        user=r.str(SOURCE + "database.user"),
        password=r.raw(SOURCE + "database.password") or "",
        dbname=r.str(SOURCE + "database.dbname"),
        sslmode=r.choice(
            SOURCE + "database.sslmode",
            "prefer",
            ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
        ),
        connect_timeout_s=max(1, r.int(SOURCE + "database.connect.timeout.ms", 10_000, minimum=1) // 1000),
    )
    replication = ReplicationConfig(
        slot_name=_slot_name(r.str(SOURCE + "slot.name", "debezium"), r.label(SOURCE + "slot.name")),
        publication_name=r.str(SOURCE + "publication.name", "dbz_publication"),
        publication_autocreate_mode=r.choice(
            SOURCE + "publication.autocreate.mode",
            "all_tables",
            ("all_tables", "disabled", "filtered", "no_tables"),
        ),
        status_update_interval_ms=r.int(SOURCE + "status.update.interval.ms", 10_000, minimum=1),
        slot_drop_on_stop=r.bool(SOURCE + "slot.drop.on.stop", False),
        flush_lsn=_flush_lsn(r),
        read_coalesce_ms=r.int("bridge.read.coalesce.ms", 2, minimum=0, maximum=1000),
    )
    skipped = r.raw(SOURCE + "skipped.operations")
    skipped_ops = _skipped_operations(skipped if skipped is not None else "t", r.label(SOURCE + "skipped.operations"))
    events = EventConfig(
        topic_prefix=_topic_part(r, "topic.prefix", None),
        tombstones_on_delete=r.bool(SOURCE + "tombstones.on.delete", True),
        skipped_operations=skipped_ops,
        key_schemas_enable=r.bool("debezium.format.key.schemas.enable", True),
        value_schemas_enable=r.bool("debezium.format.value.schemas.enable", True),
        heartbeat_interval_ms=r.int(SOURCE + "heartbeat.interval.ms", 0),
        heartbeat_topic_prefix=_topic_part(r, "topic.heartbeat.prefix", "__debezium-heartbeat"),
        heartbeat_action_query=r.raw(SOURCE + "heartbeat.action.query") or None,
        provide_transaction_metadata=r.bool(SOURCE + "provide.transaction.metadata", False),
        topic_delimiter=_topic_part(r, "topic.delimiter", "."),
        topic_transaction=_topic_part(r, "topic.transaction", "transaction"),
        heartbeat_topic_name=_topic_part(r, "topic.heartbeat.name", "") or None,
    )
    conversion = _conversion(r)
    retry = RetryConfig(
        attempts=r.int("bridge.connect.attempts", 8, minimum=1),
        initial_backoff_ms=r.int("bridge.connect.backoff.initial.ms", 500, minimum=1),
        max_backoff_ms=r.int("bridge.connect.backoff.max.ms", 10_000, minimum=1),
    )
    kafka = read_kafka_settings(props, r)
    pipeline = _pipeline(props, r)

    filter_keys = ("schema.include.list", "schema.exclude.list", "table.include.list", "table.exclude.list",
                   "message.key.columns", "message.prefix.include.list", "message.prefix.exclude.list",
                   "column.include.list", "column.exclude.list")
    filters = TableFilter.from_lists(
        schema_include=r.raw(SOURCE + "schema.include.list"),
        schema_exclude=r.raw(SOURCE + "schema.exclude.list"),
        table_include=r.raw(SOURCE + "table.include.list"),
        table_exclude=r.raw(SOURCE + "table.exclude.list"),
        key_columns=r.raw(SOURCE + "message.key.columns"),
        message_include=r.raw(SOURCE + "message.prefix.include.list"),
        message_exclude=r.raw(SOURCE + "message.prefix.exclude.list"),
        column_include=r.raw(SOURCE + "column.include.list"),
        column_exclude=r.raw(SOURCE + "column.exclude.list"),
        labels={k: r.label(SOURCE + k) for k in filter_keys},
    )
    snapshot = _snapshot(props, r)
    r.raw("bridge.connector.name")  # the JSON's "name": kept for offsets and headers
    for key in _NO_EFFECT:
        if key in _NO_EFFECT_INTS:
            r.int(SOURCE + key, 0)
        else:
            r.raw(SOURCE + key)
    for key in props:  # Debezium Server's own offset store settings: the slot is ours
        if key.startswith("debezium.source.offset.storage."):
            r.raw(key)
    cutover = cutover_from_properties(r.raw)
    incremental = _incremental(r)
    http = _http(r)
    exactly_once = _exactly_once(r, kafka)
    unknown = tuple(sorted(r.label(k) for k in props if k not in r.used))
    return BridgeConfig(postgres, replication, events, conversion, kafka, retry, pipeline, snapshot, filters,
                        unknown, cutover=cutover, incremental=incremental, http=http, exactly_once=exactly_once)


def _exactly_once(r: _Reader, kafka: KafkaSettings) -> ExactlyOnceConfig:
    """`bridge.exactly.once`, or Kafka Connect's connector key `exactly.once.support=required`."""
    support = r.choice(SOURCE + "exactly.once.support", "requested", ("requested", "required"))
    enabled = r.bool("bridge.exactly.once", support == "required")
    if "transactional.id" in kafka.producer.settings:
        raise ConfigError(f"{r.label(PRODUCER + 'transactional.id')} cannot be set: pgbridge names its transactional "
                          "producers itself; use bridge.exactly.once=true (and bridge.exactly.once.transactional.id."
                          "prefix)")
    topic = r.str("bridge.exactly.once.offsets.topic", "pgbridge_offsets")
    if any(c not in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-" for c in topic):
        raise ConfigError(f"bridge.exactly.once.offsets.topic={topic!r} is invalid: a Kafka topic name is made of "
                          "letters, digits, '.', '_' and '-'")
    return ExactlyOnceConfig(
        enabled=enabled,
        commit_interval_ms=r.int("bridge.exactly.once.commit.interval.ms", 100, minimum=1, maximum=600_000),
        offsets_topic=topic,
        transactional_id_prefix=r.str("bridge.exactly.once.transactional.id.prefix", ""),
    )


def _http(r: _Reader) -> HttpConfig:
    """`bridge.http.*`, or Debezium Server's (Quarkus) `quarkus.http.port` / `.host`."""
    enabled = r.bool("bridge.http.enabled", True)
    quarkus_port = r.int("quarkus.http.port", 8080, maximum=65535)
    quarkus_host = r.str("quarkus.http.host", "127.0.0.1")
    return HttpConfig(enabled=enabled, host=r.str("bridge.http.host", quarkus_host),
                      port=r.int("bridge.http.port", quarkus_port, maximum=65535))


OVERRIDES = SOURCE + "snapshot.select.statement.overrides"


def _snapshot(props: Mapping[str, str], r: _Reader) -> SnapshotConfig:
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
    return SnapshotConfig(
        mode=mode,
        fetch_size=r.int(SOURCE + "snapshot.fetch.size", 10240, minimum=1),
        max_threads=r.int(SOURCE + "snapshot.max.threads", 1, minimum=1, maximum=64),
        include=_regex_list(r, SOURCE + "snapshot.include.collection.list"),
        select_overrides=overrides,
    )


def _regex_list(r: _Reader, key: str) -> str | None:
    """A comma-separated list of regular expressions, checked now rather than when used."""
    text = r.raw(key) or None
    compile_list(r.label(key), text)
    return text


def _incremental(r: _Reader) -> IncrementalConfig:
    """Debezium's signalling and incremental snapshot keys (`bridge.snapshot.incremental`).
    Only the `source` channel (the signal table) and `insert_insert` watermarks exist here."""
    channels = [c.strip() for c in (r.raw(SOURCE + "signal.enabled.channels") or "source").split(",") if c.strip()]
    others = [c for c in channels if c != "source"]
    if others:
        log.warning("%s: channel(s) %s are not supported by pgbridge; only the signal table (source) is read",
                    r.label(SOURCE + "signal.enabled.channels"), ", ".join(others))
    r.choice(SOURCE + "incremental.snapshot.watermarking.strategy", "insert_insert", ("insert_insert",))
    table = r.raw(SOURCE + "signal.data.collection") or None
    if table is not None and len(table.split(".")) != 2:
        raise ConfigError(f"{r.label(SOURCE + 'signal.data.collection')}={table!r} is invalid: "
                          "expected <schema>.<table>")
    return IncrementalConfig(
        signal_table=table if "source" in channels else None,
        chunk_size=r.int(SOURCE + "incremental.snapshot.chunk.size", 1024, minimum=1, maximum=1_000_000),
    )


def _conversion(r: _Reader) -> ConversionOptions:
    def choice(name: str, allowed: tuple[str, ...]) -> str:
        return r.choice(SOURCE + name, allowed[0], allowed)

    return ConversionOptions(
        decimal_handling_mode=choice("decimal.handling.mode", ("precise", "double", "string")),
        time_precision_mode=choice("time.precision.mode", ("adaptive", "adaptive_time_microseconds", "connect",
                                                            "isostring", "microseconds", "nanoseconds")),
        binary_handling_mode=choice("binary.handling.mode", ("bytes", "base64", "base64-url-safe", "hex")),
        interval_handling_mode=choice("interval.handling.mode", ("numeric", "string")),
        hstore_handling_mode=choice("hstore.handling.mode", ("json", "map")),
        money_fraction_digits=r.int(SOURCE + "money.fraction.digits", 2, maximum=20),
        unavailable_value_placeholder=r.str(SOURCE + "unavailable.value.placeholder", "__debezium_unavailable_value"),
        include_unknown_datatypes=r.bool(SOURCE + "include.unknown.datatypes", False),
    )


SALT_PREFIX = "bridge.partition.salt."


def _pipeline(props: Mapping[str, str], r: _Reader) -> PipelineConfig:
    ring_bytes = r.int("bridge.ring.bytes", 16 * 1024 * 1024, minimum=1024 * 1024, maximum=2**32 - 8)
    if ring_bytes % 8:
        raise ConfigError(f"bridge.ring.bytes={ring_bytes} is invalid: it must be a multiple of 8")
    salts = {}
    for key, value in props.items():
        if key.startswith(SALT_PREFIX) and len(key) > len(SALT_PREFIX):
            r.used.add(key)
            salts[key[len(SALT_PREFIX):]] = value.strip().encode()
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


# Debezium tuning keys of its own queues and offset store: pgbridge has bounded rings instead
# and keeps its position in the slot, so they are accepted and have no effect.
_NO_EFFECT = ("max.batch.size", "max.queue.size", "max.queue.size.in.bytes", "poll.interval.ms",
              "offset.storage", "offset.storage.file.filename", "offset.flush.interval.ms",
              "offset.flush.timeout.ms")
_NO_EFFECT_INTS = frozenset(_NO_EFFECT) - {"offset.storage", "offset.storage.file.filename"}


def _flush_lsn(r: _Reader) -> bool:
    """`lsn.flush.mode` (connector | connector_and_driver | manual), or the legacy boolean
    `flush.lsn.source` (false = manual)."""
    legacy = r.raw(SOURCE + "flush.lsn.source")
    mode = r.choice(SOURCE + "lsn.flush.mode", "connector", ("connector", "connector_and_driver", "manual"))
    if legacy is not None and r.raw(SOURCE + "lsn.flush.mode") is None:
        return r.bool(SOURCE + "flush.lsn.source", True)
    return mode != "manual"


_TOPIC_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def _topic_part(r: _Reader, name: str, default: str | None) -> str:
    """A topic name or part of one, checked as Debezium does (its message, its character set)."""
    value = r.str(SOURCE + name, default)
    if value and not set(value) <= _TOPIC_CHARS:
        raise ConfigError(f"{r.label(SOURCE + name)}={value!r} is invalid: only the underscore, hyphen, dot and "
                          "alphanumeric characters are allowed")
    return value


def _slot_name(name: str, label: str) -> str:
    # PostgreSQL's rule for slot names (ReplicationSlotValidateName).
    if not name or len(name) > 63 or any(c not in "abcdefghijklmnopqrstuvwxyz0123456789_" for c in name):
        raise ConfigError(
            f"{label}={name!r} is invalid: allowed are 1-63 characters of "
            "lower-case letters, digits and underscores"
        )
    return name


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
