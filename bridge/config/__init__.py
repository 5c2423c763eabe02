"""Typed, frozen configuration read from a Debezium Server `application.properties` or a Kafka
Connect connector configuration (`bridge.config.files`).

Names are Debezium's: `debezium.source.*` are the PostgreSQL connector's properties,
`debezium.sink.kafka.producer.*` are Kafka producer properties, `debezium.format.*` the
converter settings. pgbridge's own settings live under `bridge.*`. Each section is read by the
component that owns it; every key then gets a verdict (`bridge.config.keys`): honoured,
refused (the start stops, one line per key) or ignored with a warning where Debezium ignores
it too. Invalid values raise `ConfigError` naming the key, the value and what is allowed.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Mapping

from bridge.convert.options import ConversionOptions, read_conversion
from bridge.cutover.offsets import CutoverConfig, cutover_from_properties
from bridge.config.compat import read_compat
from bridge.config.drill import DrillConfig, read_drill
from bridge.config.files import CONNECT, CONNECTOR_NAME, ConfigFile, connect_json_to_properties, read_config_file
from bridge.config.keys import KeyReport, classify
from bridge.config.providers import provider_keys
from bridge.errors import ConfigError
from bridge.format.converter import converters_for
from bridge.format.settings import read_format, read_header_format
from bridge.logsettings import LogConfig, read_logging
from bridge.kafka.settings import PREFIX as PRODUCER, KafkaSettings, read_kafka_settings
from bridge.notify.settings import NotificationConfig, read_notification
from bridge.kafka.topic_creation import TopicCreation, read_topic_creation
from bridge.produce.failures import FailureHandling, read_failure_handling
from bridge.produce.poison import read_poison_topic
from bridge.produce.settings import ExactlyOnceConfig, ExactlyOnceScope, ProducerSpec, read_exactly_once
from bridge.properties import PropertyReader as _Reader
from bridge.retry import RetryConfig, read_retry
from bridge.route.filters import TableFilter
from bridge.route.settings import EventConfig, PipelineConfig, read_events, read_filters, read_pipeline
from bridge.route.spec import RoutingSpec
from bridge.snapshot.settings import IncrementalConfig, SnapshotConfig, read_incremental, read_snapshot
from bridge.source.settings import (HaConfig, PostgresConfig, ReplicationConfig, check_connector, read_ha, read_postgres,
                                    read_replication)
from bridge.status.settings import HttpConfig, WalGuardConfig, read_http, read_wal_guard
from bridge.transform.settings import NO_RULES, ColumnRules, read_columns
from bridge.transform.chain import changes_routing, compile_chain
from bridge.format.avro.settings import INCOMPATIBLE_TOPIC
from bridge.transform.smt_settings import NO_CHAIN, OUTBOX_PREFIX, ChainSpec, read_chain

log = logging.getLogger(__name__)

__all__ = ["BridgeConfig", "ConfigFile", "ConversionOptions", "CutoverConfig", "EventConfig", "ExactlyOnceConfig", "HttpConfig",
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
    keys: KeyReport = field(default_factory=KeyReport)
    cutover: CutoverConfig | None = None
    incremental: IncrementalConfig = field(default_factory=lambda: IncrementalConfig(None, 1024))
    http: HttpConfig = field(default_factory=HttpConfig)
    logging: LogConfig = field(default_factory=LogConfig)
    exactly_once: ExactlyOnceConfig = field(default_factory=ExactlyOnceConfig)
    columns: ColumnRules = NO_RULES
    notification: NotificationConfig = field(default_factory=NotificationConfig)
    topic_creation: TopicCreation | None = None  # Kafka Connect's topic.creation.* (None: create none)
    failures: FailureHandling = field(default_factory=FailureHandling)
    chain: ChainSpec = NO_CHAIN  # debezium.transforms / debezium.predicates
    wal_guard: WalGuardConfig = field(default_factory=WalGuardConfig)  # bridge.wal.*
    ha: HaConfig = field(default_factory=HaConfig)  # bridge.ha.*
    poison_topic: str | None = None  # bridge.poison.topic (`bridge.produce.poison`)
    drill: DrillConfig = field(default_factory=DrillConfig)  # bridge.drill.* (`bridge drill`)

    @property
    def exactly_once_scope(self) -> ExactlyOnceScope:
        """Whose exactly-once positions this bridge keeps, and under which routing."""
        pg = self.postgres
        return ExactlyOnceScope(self.exactly_once, self.kafka, pg.hostname, pg.port, pg.dbname,
                                self.replication.slot_name, self.pipeline.producers, self.routing.fingerprint())

    @property
    def producer_spec(self) -> ProducerSpec:
        """What a producer's work reads (`bridge.produce.worker`)."""
        return ProducerSpec(self.events, self.conversion, self.postgres.dbname, self.pipeline.partitioner,
                            columns=self.columns, failures=self.failures, chain=self.chain,
                            skips_refused=self.failures.tolerance == "all" and not self.exactly_once.enabled,
                            poison_topic=self.poison_topic,
                            quarantines_refused=self.poison_topic is not None and not self.exactly_once.enabled)

    @property
    def routing(self) -> RoutingSpec:
        """What the decoder's router reads, and exactly once's fingerprint hashes."""
        chain = self.chain
        outbox = None if chain.outbox_prefix is None else (chain.outbox_prefix, chain.outbox_fields()[1])
        return RoutingSpec.of(self.pipeline, self.events, self.filters, self.incremental.signal_table,
                              changes_routing(chain), outbox)


def load_config(path: str | os.PathLike[str], bootstrap_servers: str | None = None, *,
                refuse: bool = True) -> BridgeConfig:
    """Read and validate a Debezium Server application.properties or a Kafka Connect
    connector configuration (`bridge.config.files`). `bootstrap_servers` overrides the Kafka
    brokers of either."""
    file = read_config_file(path, bootstrap_servers)
    return config_from_properties(file.props, file.labels, refuse=refuse, secrets=file.secrets, connect=file.connect)


def config_from_properties(props: Mapping[str, str], labels: Mapping[str, str] | None = None, *,
                           refuse: bool = True, secrets: frozenset[str] = frozenset(),
                           connect: bool = False) -> BridgeConfig:
    """Every section of `bridge run`, each read by the component that owns it, and the verdict
    on every key (`bridge.config.keys`). A refused key raises `ConfigError` unless `refuse` is
    false (`bridge check` prints the whole report instead). `connect`: the properties came from a
    Kafka Connect file, whose defaults are the Connect worker's (the header converter)."""
    labels = labels or {}
    r = _Reader(props, labels, secrets)
    sink = r.str("debezium.sink.type", "kafka")
    if sink != "kafka":
        raise ConfigError(f"debezium.sink.type={sink!r} is invalid: pgbridge supports only kafka")
    for side in ("key", "value"):
        read_format(r, side)
    header_format = read_header_format(r, connect)
    check_connector(r)
    postgres = read_postgres(r)
    replication = read_replication(r)
    events = read_events(r, header_format)
    conversion = read_conversion(r)
    retry = read_retry(r)
    kafka = read_kafka_settings(r)
    pipeline = read_pipeline(r)
    filters = read_filters(r)
    snapshot = read_snapshot(r)
    r.raw(CONNECTOR_NAME)  # the JSON's "name": kept for offsets and headers
    # The PostgreSQL connector makes one task whatever tasks.max allows, as pgbridge runs one bridge.
    r.int(CONNECT + "tasks.max", 1, minimum=1)
    r.bool(CONNECT + "tasks.max.enforce", True)
    read_compat(r)
    cutover = cutover_from_properties(r.raw)
    incremental = read_incremental(r, events.topic_prefix)
    if replication.lost_recovery == "resnapshot" and (incremental.signal_table is None or not incremental.source_channel):
        raise ConfigError(f"{r.label('bridge.slot.lost.recovery')}=resnapshot signals its snapshot through the signal "
                          f"table: set {r.label('debezium.source.signal.data.collection')} and keep source in "
                          f"{r.label('debezium.source.signal.enabled.channels')} (README 'Lost slot recovery')")
    ha = read_ha(r)
    notification = read_notification(r)
    http = read_http(r)
    wal_guard = read_wal_guard(r)
    logs = read_logging(r)
    exactly_once = read_exactly_once(r, kafka.producer.settings, PRODUCER)
    columns = read_columns(r)
    chain = _chain_for(read_chain(r), events)
    if chain.outbox_prefix is not None and not filters.captures_message(chain.outbox_prefix):
        raise ConfigError(f"{r.label(OUTBOX_PREFIX)}={chain.outbox_prefix}: message.prefix.include.list / "
                          "exclude.list leave these messages out: capture them")
    if chain and any(f.avro is not None and f.avro.incompatible_topic for f in (events.key_format, events.value_format)):
        raise ConfigError(f"{r.label(INCOMPATIBLE_TOPIC)} is refused with transforms: a table whose schema the registry "
                          "refuses would stop the bridge all the same; remove the key or the transforms")
    r.used.update(provider_keys(props))  # read when the file was (bridge.config.providers)
    topic_creation = read_topic_creation(r)
    failures = read_failure_handling(r)
    poison_topic = read_poison_topic(r)
    drill = read_drill(r)
    keys = classify(props, r.used, labels)
    if refuse and keys.refused:
        raise ConfigError(keys.refusal())
    return BridgeConfig(postgres, replication, events, conversion, kafka, retry, pipeline, snapshot, filters,
                        keys, cutover=cutover, incremental=incremental, http=http, exactly_once=exactly_once,
                        logging=logs, columns=columns, notification=notification, topic_creation=topic_creation,
                        failures=failures, chain=chain, wal_guard=wal_guard, ha=ha, poison_topic=poison_topic,
                        drill=drill)


def _chain_for(chain: ChainSpec, events: EventConfig) -> ChainSpec:
    """The chain, compiled once to refuse at start what pgbridge does not run (the producers
    compile their own)."""
    compile_chain(chain, converters_for(events), events.header_format)
    return chain
