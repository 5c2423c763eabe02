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

from bridge.convert.options import ConversionOptions, read_conversion
from bridge.cutover.offsets import CutoverConfig, cutover_from_properties
from bridge.errors import ConfigError
from bridge.kafka.settings import PREFIX as PRODUCER, KafkaSettings, read_kafka_settings
from bridge.produce.settings import ExactlyOnceConfig, ExactlyOnceScope, ProducerSpec, read_exactly_once
from bridge.properties import PropertyReader as _Reader, parse_properties
from bridge.retry import RetryConfig, read_retry
from bridge.route.filters import TableFilter
from bridge.route.settings import EventConfig, PipelineConfig, read_events, read_filters, read_pipeline
from bridge.route.spec import RoutingSpec
from bridge.snapshot.settings import IncrementalConfig, SnapshotConfig, read_incremental, read_snapshot
from bridge.source.settings import (SOURCE, PostgresConfig, ReplicationConfig, check_connector,
                                    read_postgres, read_replication)
from bridge.status.settings import HttpConfig, read_http

log = logging.getLogger(__name__)

__all__ = ["BridgeConfig", "ConversionOptions", "CutoverConfig", "EventConfig", "ExactlyOnceConfig", "HttpConfig",
           "IncrementalConfig", "KafkaSettings", "PipelineConfig", "PostgresConfig", "ReplicationConfig", "RetryConfig",
           "SnapshotConfig", "TableFilter", "config_from_properties", "connect_json_to_properties", "load_config",
           "read_config_file"]

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

    @property
    def exactly_once_scope(self) -> ExactlyOnceScope:
        """Whose exactly-once positions this bridge keeps, and under which routing."""
        pg = self.postgres
        return ExactlyOnceScope(self.exactly_once, self.kafka, pg.hostname, pg.port, pg.dbname,
                                self.replication.slot_name, self.pipeline.producers, self.routing.fingerprint())

    @property
    def producer_spec(self) -> ProducerSpec:
        """What a producer's work reads (`bridge.produce.worker`)."""
        return ProducerSpec(self.events, self.conversion, self.postgres.dbname, self.pipeline.partitioner)

    @property
    def routing(self) -> RoutingSpec:
        """What the decoder's router reads, and exactly once's fingerprint hashes."""
        return RoutingSpec.of(self.pipeline, self.events, self.filters, self.incremental.signal_table)


def load_config(path: str | os.PathLike[str], bootstrap_servers: str | None = None) -> BridgeConfig:
    """Read and validate a Debezium Server application.properties or a Kafka Connect
    connector JSON (`{"name": ..., "config": {...}}`, told apart by its first character).
    `bootstrap_servers` overrides the Kafka brokers of either."""
    return config_from_properties(*read_config_file(path, bootstrap_servers))


def read_config_file(path: str | os.PathLike[str], bootstrap_servers: str | None = None
                     ) -> tuple[dict[str, str], dict[str, str]]:
    """The file's keys as Debezium Server properties, and the labels that name each key as the
    file wrote it. A command that needs only some sections reads them from these with a
    `PropertyReader` and the sections' `read_*` functions."""
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
    return props, labels


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
    """Every section of `bridge run`, each read by the component that owns it."""
    r = _Reader(props, labels)
    sink = r.str("debezium.sink.type", "kafka")
    if sink != "kafka":
        raise ConfigError(f"debezium.sink.type={sink!r} is invalid: pgbridge supports only kafka")
    for side in ("key", "value"):
        r.choice(f"debezium.format.{side}", "json", ("json",))
    check_connector(r)
    postgres = read_postgres(r)
    replication = read_replication(r)
    events = read_events(r)
    conversion = read_conversion(r)
    retry = read_retry(r)
    kafka = read_kafka_settings(r)
    pipeline = read_pipeline(r)
    filters = read_filters(r)
    snapshot = read_snapshot(r)
    r.raw("bridge.connector.name")  # the JSON's "name": kept for offsets and headers
    _accept_no_effect_keys(r)
    cutover = cutover_from_properties(r.raw)
    incremental = read_incremental(r)
    http = read_http(r)
    exactly_once = read_exactly_once(r, kafka.producer.settings, PRODUCER)
    unknown = tuple(sorted(r.label(k) for k in props if k not in r.used))
    return BridgeConfig(postgres, replication, events, conversion, kafka, retry, pipeline, snapshot, filters,
                        unknown, cutover=cutover, incremental=incremental, http=http, exactly_once=exactly_once)


# Debezium tuning keys of its own queues and offset store: pgbridge has bounded rings instead
# and keeps its position in the slot, so they are accepted and have no effect.
_NO_EFFECT = ("max.batch.size", "max.queue.size", "max.queue.size.in.bytes", "poll.interval.ms",
              "offset.storage", "offset.storage.file.filename", "offset.flush.interval.ms",
              "offset.flush.timeout.ms")
_NO_EFFECT_INTS = frozenset(_NO_EFFECT) - {"offset.storage", "offset.storage.file.filename"}


def _accept_no_effect_keys(r: _Reader) -> None:
    for key in _NO_EFFECT:
        if key in _NO_EFFECT_INTS:
            r.int(SOURCE + key, 0)
        else:
            r.raw(SOURCE + key)
    r.with_prefix(SOURCE + "offset.storage.")  # Debezium Server's own offset store settings: the slot is ours
