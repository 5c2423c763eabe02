"""Typed, frozen configuration read from a Debezium Server `application.properties`.

Names are Debezium's: `debezium.source.*` are the PostgreSQL connector's properties,
`debezium.sink.kafka.producer.*` are Kafka producer properties, `debezium.format.*` the
converter settings. pgbridge's own settings live under `bridge.*`. Unknown keys produce one
warning naming them; invalid values raise `ConfigError` naming the key, the value and what
is allowed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from bridge.decode.options import ConversionOptions
from bridge.errors import ConfigError
from bridge.properties import parse_properties

SOURCE = "debezium.source."
PRODUCER = "debezium.sink.kafka.producer."
POSTGRES_CONNECTOR = "io.debezium.connector.postgresql.PostgresConnector"

# Java client settings that have no librdkafka equivalent (serializers are implied by JSON
# output); Debezium Server examples always carry them, so they are accepted silently.
_JAVA_ONLY_PRODUCER_KEYS = frozenset(
    {"key.serializer", "value.serializer", "buffer.memory", "max.block.ms", "client.dns.lookup"}
)
# Settings pgbridge owns because the no-data-loss guarantee depends on them.
_FORCED_PRODUCER = {"enable.idempotence": "true", "acks": "all"}
_PRODUCER_DEFAULTS = {
    "linger.ms": "20",
    "batch.size": "1000000",
    "compression.type": "lz4",
    # Bounds each producer's memory; a full queue is backpressure, not loss.
    "queue.buffering.max.messages": "200000",
    "queue.buffering.max.kbytes": "65536",
}


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


@dataclass(frozen=True, slots=True)
class EventConfig:
    topic_prefix: str
    tombstones_on_delete: bool
    skipped_operations: frozenset[str]
    key_schemas_enable: bool
    value_schemas_enable: bool


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """How long to keep trying to reach a server before giving up with a clear message."""

    attempts: int
    initial_backoff_ms: int
    max_backoff_ms: int


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
class BridgeConfig:
    postgres: PostgresConfig
    replication: ReplicationConfig
    events: EventConfig
    conversion: ConversionOptions
    producer: Mapping[str, str]
    retry: RetryConfig
    pipeline: PipelineConfig
    unknown_keys: tuple[str, ...] = field(default=())


class _Reader:
    """Typed access to a flat property map; remembers which keys were used."""

    def __init__(self, props: Mapping[str, str]) -> None:
        self._props = props
        self.used: set[str] = set()

    def raw(self, key: str) -> str | None:
        self.used.add(key)
        value = self._props.get(key)
        return None if value is None else value.strip()

    def str(self, key: str, default: str | None = None) -> str:
        value = self.raw(key)
        if value is None or value == "":
            if default is None:
                raise ConfigError(f"{key} is required but not set")
            return default
        return value

    def int(self, key: str, default: int, *, minimum: int = 0, maximum: int = 2**63 - 1) -> int:
        value = self.raw(key)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"{key}={value!r} is not an integer") from None
        if not minimum <= number <= maximum:
            raise ConfigError(f"{key}={value!r} is out of range: allowed {minimum}..{maximum}")
        return number

    def bool(self, key: str, default: bool) -> bool:
        value = self.raw(key)
        if value is None or value == "":
            return default
        lowered = value.lower()
        if lowered not in ("true", "false"):
            raise ConfigError(f"{key}={value!r} is invalid: allowed values are true, false")
        return lowered == "true"

    def choice(self, key: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.raw(key)
        if value is None or value == "":
            return default
        if value.lower() not in allowed:
            raise ConfigError(f"{key}={value!r} is invalid: allowed values are {', '.join(allowed)}")
        return value.lower()


def load_config(path: str | os.PathLike[str]) -> BridgeConfig:
    """Read and validate an application.properties file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"configuration file {str(file)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"configuration file {str(file)!r} cannot be read: {exc}") from None
    try:
        props = parse_properties(text, str(file))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return config_from_properties(props)


def config_from_properties(props: Mapping[str, str]) -> BridgeConfig:
    r = _Reader(props)
    sink = r.str("debezium.sink.type", "kafka")
    if sink != "kafka":
        raise ConfigError(f"debezium.sink.type={sink!r} is invalid: pgbridge supports only kafka")
    for side in ("key", "value"):
        r.choice(f"debezium.format.{side}", "json", ("json",))

    connector = r.str(SOURCE + "connector.class", POSTGRES_CONNECTOR)
    if connector != POSTGRES_CONNECTOR:
        raise ConfigError(f"{SOURCE}connector.class={connector!r} is invalid: pgbridge is {POSTGRES_CONNECTOR}")
    plugin = r.str(SOURCE + "plugin.name", "pgoutput")
    if plugin != "pgoutput":
        raise ConfigError(
            f"{SOURCE}plugin.name={plugin!r} is not supported: pgbridge reads the built-in "
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
        slot_name=_slot_name(r.str(SOURCE + "slot.name", "debezium")),
        publication_name=r.str(SOURCE + "publication.name", "dbz_publication"),
        publication_autocreate_mode=r.choice(
            SOURCE + "publication.autocreate.mode",
            "all_tables",
            # `filtered` arrives with table.include.list support.
            ("all_tables", "disabled", "no_tables"),
        ),
        status_update_interval_ms=r.int(SOURCE + "status.update.interval.ms", 10_000, minimum=1),
    )
    skipped = r.raw(SOURCE + "skipped.operations")
    skipped_ops = _skipped_operations(skipped if skipped is not None else "t")
    events = EventConfig(
        topic_prefix=r.str(SOURCE + "topic.prefix"),
        tombstones_on_delete=r.bool(SOURCE + "tombstones.on.delete", True),
        skipped_operations=skipped_ops,
        key_schemas_enable=r.bool("debezium.format.key.schemas.enable", True),
        value_schemas_enable=r.bool("debezium.format.value.schemas.enable", True),
    )
    conversion = ConversionOptions(
        decimal_handling_mode=r.str(SOURCE + "decimal.handling.mode", "precise").lower(),
        time_precision_mode=r.str(SOURCE + "time.precision.mode", "adaptive").lower(),
        binary_handling_mode=r.str(SOURCE + "binary.handling.mode", "bytes").lower(),
        interval_handling_mode=r.str(SOURCE + "interval.handling.mode", "numeric").lower(),
        hstore_handling_mode=r.str(SOURCE + "hstore.handling.mode", "json").lower(),
        money_fraction_digits=r.int(SOURCE + "money.fraction.digits", 2, maximum=20),
        unavailable_value_placeholder=r.str(
            SOURCE + "unavailable.value.placeholder", "__debezium_unavailable_value"
        ),
        include_unknown_datatypes=r.bool(SOURCE + "include.unknown.datatypes", False),
    )
    retry = RetryConfig(
        attempts=r.int("bridge.connect.attempts", 8, minimum=1),
        initial_backoff_ms=r.int("bridge.connect.backoff.initial.ms", 500, minimum=1),
        max_backoff_ms=r.int("bridge.connect.backoff.max.ms", 10_000, minimum=1),
    )
    producer = _producer_settings(props, r)
    pipeline = _pipeline(props, r)

    unknown = tuple(sorted(k for k in props if k not in r.used))
    return BridgeConfig(postgres, replication, events, conversion, producer, retry, pipeline, unknown)


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


def _slot_name(name: str) -> str:
    # PostgreSQL's rule for slot names (ReplicationSlotValidateName).
    if not name or len(name) > 63 or any(c not in "abcdefghijklmnopqrstuvwxyz0123456789_" for c in name):
        raise ConfigError(
            f"{SOURCE}slot.name={name!r} is invalid: allowed are 1-63 characters of "
            "lower-case letters, digits and underscores"
        )
    return name


def _skipped_operations(value: str) -> frozenset[str]:
    ops = frozenset(p.strip() for p in value.split(",") if p.strip())
    if ops == {"none"}:
        ops = frozenset()
    bad = ops - {"c", "u", "d", "t"}
    if bad:
        raise ConfigError(
            f"{SOURCE}skipped.operations={value!r} is invalid: allowed are a comma-separated "
            "list of c, u, d, t, or none"
        )
    if "t" not in ops:
        # Refused rather than silently dropped until truncate events are implemented.
        raise ConfigError(
            f"{SOURCE}skipped.operations={value!r} is not supported yet: truncate events (t) "
            "must stay skipped in this version"
        )
    return ops


def _producer_settings(props: Mapping[str, str], r: _Reader) -> Mapping[str, str]:
    settings = dict(_PRODUCER_DEFAULTS)
    for key, value in props.items():
        if not key.startswith(PRODUCER):
            continue
        r.used.add(key)
        name = key[len(PRODUCER):]
        if name in _JAVA_ONLY_PRODUCER_KEYS:
            continue
        forced = _FORCED_PRODUCER.get(name)
        if forced is not None and value.strip().lower() not in (forced, "-1" if name == "acks" else forced):
            raise ConfigError(
                f"{key}={value!r} is invalid: pgbridge requires {name}={forced} so that no "
                "acknowledged change can be lost"
            )
        settings[name] = value.strip()
    if not settings.get("bootstrap.servers"):
        raise ConfigError(f"{PRODUCER}bootstrap.servers is required but not set")
    settings.update(_FORCED_PRODUCER)
    return settings
