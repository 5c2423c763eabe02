"""`bridge sink`'s configuration: a Debezium JDBC sink connector configuration, read as it is.

The keys and defaults are Debezium's `JdbcSinkConnectorConfig` and Kafka Connect's sink-connector
keys (`topics`, `errors.*`, `consumer.override.*`, `producer.override.*`, `admin.override.*`,
converters); pgbridge's own are `bridge.sink.*`
and `bridge.kafka.bootstrap.servers`. Every key is honoured, refused at start with one line naming
it (`bridge.sink.keys`), or ignored with a warning where Debezium ignores it for PostgreSQL.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from importlib import import_module
from typing import Mapping

from bridge.errors import ConfigError
from bridge.format.avro.settings import APICURIO, COMPATIBILITY, CONFLUENT, INCOMPATIBLE_TOPIC, AvroSpec, read_avro
from bridge.kafka.settings import KafkaConnection, check_with_librdkafka, is_connection_setting, read_consumer_properties
from bridge.properties import PropertyReader
from bridge.sink.breaker import BreakerConfig
from bridge.sink.dedup.settings import DedupConfig, read_dedup
from bridge.sink.flow import FlowConfig
from bridge.sink.jdbc_url import libpq_dsn
from bridge.sink.quarantine.settings import QuarantineConfig, read_quarantine
from bridge.sink.values import DecodeOptions
from bridge.status.settings import HttpConfig

CONNECTOR_CLASS = "io.debezium.connector.jdbc.JdbcSinkConnector"
JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"
BOOTSTRAP = "bridge.kafka.bootstrap.servers"
CONSUMER = "consumer.override."
# Connect gives a sink's dead-letter producer and the admin client that creates its topic these.
PRODUCER = "producer.override."
ADMIN = "admin.override."
_DEFAULT_NAMING = {
    "collection.naming.strategy": ("io.debezium.sink.naming.DefaultCollectionNamingStrategy",
                                   "io.debezium.connector.jdbc.naming.DefaultTableNamingStrategy"),
    "column.naming.strategy": ("io.debezium.connector.jdbc.naming.DefaultColumnNamingStrategy",
                               "io.debezium.sink.naming.DefaultColumnNamingStrategy"),
}
_CONNECTION_PROVIDERS = ("org.hibernate.agroal.internal.AgroalConnectionProvider",
                         "org.hibernate.c3p0.internal.C3P0ConnectionProvider")
# Settings the sink owns: offsets are its to commit, and Connect's sink consumers start at the
# beginning of a topic they have no offset for.
_CONSUMER_FORCED = {"enable.auto.commit": "false", "enable.auto.offset.store": "false",
                    "partition.assignment.strategy": "cooperative-sticky"}
# librdkafka prefetches up to 100000 records (64 MB) per partition by default; a pause at the
# buffer's bound (`bridge.sink.flow`) drops what it prefetched, which would be fetched and
# decompressed again after every resume: 1000 keeps the fetcher ahead of the poll loop (it takes
# max.poll.records at a time) and the waste small. With that small a queue, librdkafka's wait
# before it fetches again once the queue was full (fetch.queue.backoff.ms, 1000) left the poll
# loop without records most of the time (10,000 rows/s instead of 35,000): 20 ms. A worker
# learns of a rebalance at its next heartbeat: with Connect's 3 s, a worker joining a running
# group (the others started first) waited about 6 s for its partitions, and the group wrote with
# one worker meanwhile.
_CONSUMER_DEFAULTS = {"auto.offset.reset": "earliest", "queued.min.messages": "1000", "fetch.queue.backoff.ms": "20",
                      "heartbeat.interval.ms": "500"}
# Java consumer settings with a sink meaning but no librdkafka property.
_JAVA_CONSUMER = ("max.poll.records",)
# Java consumer settings librdkafka has under another name.
_JAVA_RENAMED = {"fetch.max.wait.ms": "fetch.wait.max.ms"}

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FieldFilter:
    """`field.include.list` / `field.exclude.list`: entries `field` or `topic:field`, matched
    exactly (Debezium's FieldFilterFactory); an exclude list wins."""

    entries: tuple[tuple[str | None, str], ...] = ()
    include: bool = True

    def keeps(self, topic: str, name: str) -> bool:
        if not self.entries:
            return True
        for entry_topic, entry_field in self.entries:
            if entry_field == name and (entry_topic is None or entry_topic == topic):
                return self.include
        return not self.include


@dataclass(frozen=True, slots=True)
class Errors:
    """Kafka Connect's error handling (`errors.*`) and Debezium's flush retries."""

    tolerance: str = "none"  # none | all
    dlq_topic: str | None = None
    dlq_replication_factor: int = 3
    dlq_context_headers: bool = False
    retry_timeout_ms: int = 0  # -1: forever
    retry_delay_max_ms: int = 60_000
    flush_max_retries: int = 5
    flush_retry_delay_ms: int = 1_000
    log_enable: bool = False
    log_include_messages: bool = False


@dataclass(frozen=True, slots=True)
class SinkConfig:
    name: str
    topics: tuple[str, ...]
    topics_regex: str | None
    dsn: str = field(repr=False)  # libpq; holds the password
    kafka: KafkaConnection
    consumer: Mapping[str, str]  # librdkafka settings beyond the connection
    dlq_producer: KafkaConnection | None = None  # `producer.override.*` over `kafka`; None: `kafka`
    dlq_admin: KafkaConnection | None = None  # `admin.override.*` over `kafka` (creates the DLQ topic)
    insert_mode: str = "insert"  # insert | upsert | update
    delete_enabled: bool = False
    truncate_enabled: bool = False
    pk_mode: str = "none"  # none | kafka | record_key | record_value
    pk_fields: tuple[str, ...] = ()
    schema_evolution: str = "none"  # none | basic
    table_format: str = "${topic}"
    quote_identifiers: bool = False
    batch_size: int = 500
    max_poll_records: int = 500
    reduction: bool = False
    fields: FieldFilter = field(default_factory=FieldFilter)
    time_zone: str = "UTC"
    key_schemas: bool = True
    value_schemas: bool = True
    key_avro: AvroSpec | None = None  # key.converter=AvroConverter: its registry (`bridge.sink.avro_input`)
    value_avro: AvroSpec | None = None
    errors: Errors = field(default_factory=Errors)
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    quarantine: QuarantineConfig = field(default_factory=QuarantineConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    offsets: str = "target"  # target | kafka
    synchronous_commit: bool = True  # false: the target session commits with synchronous_commit=off
    offsets_table: str = "__pgbridge_sink_offsets"
    ordering_guard: str = "lsn"  # lsn | none
    ordering_column: str = "__pgbridge_lsn"
    truncates_table: str = "__pgbridge_sink_truncates"
    delete_markers: bool = False  # bridge.sink.markers: deletes remembered (guard on, deletes applied)
    delete_markers_table: str = "__pgbridge_sink_deletes"
    delete_markers_retention_ms: int = 604_800_000
    decode: DecodeOptions = field(default_factory=DecodeOptions)  # how the source encoded (schemaless JSON)
    flow: FlowConfig = field(default_factory=FlowConfig)
    workers: int = 1
    linger_ms: int = 100
    http: HttpConfig = field(default_factory=lambda: HttpConfig(port=8083))

    @property
    def group(self) -> str:
        """Kafka Connect names a sink connector's consumer group `connect-<name>`."""
        return f"connect-{self.name}"


def read_sink(r: PropertyReader, workers: int | None = None) -> SinkConfig:
    """Every section of a JDBC sink configuration; `workers`: the command line's `--workers`."""
    connector = r.str("connector.class", CONNECTOR_CLASS)
    if connector != CONNECTOR_CLASS:
        raise ConfigError(f"{r.shown('connector.class', connector)} is not supported: bridge sink runs "
                          f"{CONNECTOR_CLASS}'s configuration")
    name = r.str("name")
    topics, regex = _topics(r)
    dsn = libpq_dsn(r.str("connection.url"), r.label("connection.url"),
                    r.str("connection.username", ""), r.str("connection.password", ""))
    _connection_pool(r)
    kafka, consumer, max_poll = _consumer(r)
    errors = _errors(r)
    offsets = r.choice("bridge.sink.offsets", "target", ("target", "kafka"))
    insert_mode = r.choice("insert.mode", "insert", ("insert", "upsert", "update"))
    pk_mode = r.choice("primary.key.mode", "none", ("none", "kafka", "record_key", "record_value", "record_header"))
    if pk_mode == "record_header":
        raise ConfigError(f"{r.label('primary.key.mode')}=record_header is refused: bridge sink reads keys from the "
                          "record key or value; use record_key or record_value")
    if insert_mode == "upsert" and r.raw("primary.key.mode") in (None, ""):
        raise ConfigError(f"{r.label('insert.mode')}=upsert needs {r.label('primary.key.mode')} (as Debezium's JDBC "
                          "sink requires)")
    delete_enabled = r.bool("delete.enabled", False)
    if delete_enabled and pk_mode not in ("record_key", "record_value"):
        raise ConfigError(f"{r.label('delete.enabled')}=true needs {r.label('primary.key.mode')}=record_key or "
                          "record_value (as Debezium's JDBC sink requires)")
    pk_fields = tuple(f.strip() for f in r.str("primary.key.fields", "").split(",") if f.strip())
    evolution = r.choice("schema.evolution", "none", ("none", "basic", "validate-only"))
    if evolution == "validate-only":
        raise ConfigError(f"{r.label('schema.evolution')}=validate-only is refused: not implemented; use none or basic")
    table_format = _alias(r, "collection.name.format", "table.name.format", "${topic}")
    for key in _DEFAULT_NAMING:
        alias = "table.naming.strategy" if key == "collection.naming.strategy" else None
        value = _alias(r, key, alias, _DEFAULT_NAMING[key][0]) if alias else r.str(key, _DEFAULT_NAMING[key][0])
        if value not in _DEFAULT_NAMING[key]:
            raise ConfigError(f"{r.label(key)}={value!r} is refused: a Java class bridge sink cannot load; "
                              "use collection.name.format for table names")
    _dialect(r)
    key_schemas, key_avro = _converter(r, "key")
    value_schemas, value_avro = _converter(r, "value")
    batch_size = r.int("batch.size", 500, minimum=1)
    time_zone = _alias(r, "use.time.zone", "database.time_zone", "UTC")
    if r.bool("enable.sces", False):
        raise ConfigError(f"{r.label('enable.sces')}=true is refused: Debezium's internal shared-sink mode is not "
                          "implemented; remove it")
    pattern = r.str("cloud.events.schema.name.pattern", r".*CloudEvents\.Envelope$")
    _regex(r, "cloud.events.schema.name.pattern", pattern)
    r.bool("connection.restart.on.errors", False)  # bridge sink reconnects inside the retry budget either way
    quarantine = read_quarantine(r, errors.dlq_replication_factor)
    # a key's changes can come again, older, after its delete: from another topic, or replayed
    replayable = (bool(regex) or len(topics) > 1 or quarantine.enabled
                  or (errors.tolerance == "all" and errors.dlq_topic is not None))
    config = SinkConfig(
        name=name, topics=topics, topics_regex=regex, dsn=dsn, kafka=kafka, consumer=consumer,
        dlq_producer=_override(r, PRODUCER, kafka), dlq_admin=_override(r, ADMIN, kafka),
        insert_mode=insert_mode, delete_enabled=delete_enabled, truncate_enabled=r.bool("truncate.enabled", False),
        pk_mode=pk_mode, pk_fields=pk_fields, schema_evolution=evolution, table_format=table_format,
        quote_identifiers=r.bool("quote.identifiers", False), batch_size=batch_size, max_poll_records=max_poll,
        reduction=r.bool("use.reduction.buffer", False), fields=_field_filter(r), time_zone=time_zone,
        key_schemas=key_schemas, value_schemas=value_schemas, key_avro=key_avro, value_avro=value_avro,
        errors=errors, breaker=_breaker(r), quarantine=quarantine,
        dedup=read_dedup(r),
        offsets=offsets, synchronous_commit=_synchronous_commit(r, offsets),
        offsets_table=r.str("bridge.sink.offsets.table", "__pgbridge_sink_offsets"),
        ordering_guard=r.choice("bridge.sink.ordering.guard", "lsn", ("lsn", "none")),
        ordering_column=r.str("bridge.sink.ordering.column", "__pgbridge_lsn"),
        truncates_table=r.str("bridge.sink.truncates.table", "__pgbridge_sink_truncates"),
        delete_markers=_delete_markers(r, delete_enabled, offsets == "kafka" or replayable),
        delete_markers_table=r.str("bridge.sink.delete.markers.table", "__pgbridge_sink_deletes"),
        delete_markers_retention_ms=r.int("bridge.sink.delete.markers.retention.ms", 604_800_000, minimum=1),
        decode=DecodeOptions.from_reader(r), flow=_flow(r, batch_size),
        workers=_workers(r, workers), linger_ms=r.int("bridge.sink.linger.ms", 100),
        http=_http(r),
    )
    r.int("tasks.max", 1, minimum=1)
    r.raw("config.action.reload")  # the file is read once at start: a change takes a restart
    return config


def _delete_markers(r: PropertyReader, delete_enabled: bool, replays: bool) -> bool:
    """`bridge.sink.delete.markers` (`bridge.sink.markers`). With offsets in the target each
    partition is applied exactly once and in order, so a key's older change can follow its delete
    only when it comes from elsewhere: another topic (several `topics`, `topics.regex`), a
    dead-letter or quarantine topic replayed, or a topic given more partitions (keys move). The
    default (`replays`) is on with the LSN guard where the configuration shows such a source or
    keeps offsets in Kafka (its redeliveries after a crash replay older changes), off otherwise:
    markers cost every insert a probe of the marker table, and the plain exactly-once path keeps
    its speed (`true` covers the resized topic). They need the guard's LSNs: `true` without it is
    refused. Without `delete.enabled` there is no delete to mark."""
    key = "bridge.sink.delete.markers"
    guard = r.choice("bridge.sink.ordering.guard", "lsn", ("lsn", "none"))
    if r.raw(key) in (None, ""):
        return guard == "lsn" and replays and delete_enabled
    wanted = r.bool(key, False)
    if wanted and guard != "lsn":
        raise ConfigError(f"{r.label(key)}=true needs {r.label('bridge.sink.ordering.guard')}=lsn (a marker "
                          "compares LSNs); remove it or turn the guard on")
    return wanted and delete_enabled


def _synchronous_commit(r: PropertyReader, offsets: str) -> bool:
    """`bridge.sink.synchronous.commit` (true): false commits each batch without waiting for its
    WAL to reach disk. Exactly once still holds with offsets=target: rows and offsets commit in
    one transaction, so a target crash loses the last batches' rows and offsets together and the
    worker reads them again from the older stored offsets. With offsets=kafka the Kafka commit
    could outlive the rows it covers (a loss): refused. Not the default, because until the sink
    catches up after such a crash a reader of the target sees rows go back to older versions."""
    key = "bridge.sink.synchronous.commit"
    synchronous = r.bool(key, True)
    if not synchronous and offsets != "target":
        raise ConfigError(f"{r.label(key)}=false needs {r.label('bridge.sink.offsets')}=target: with offsets in "
                          "Kafka a commit lost in a target crash would lose its rows; keep it true")
    return synchronous


def _alias(r: PropertyReader, key: str, deprecated: str, default: str) -> str:
    """Debezium's deprecated aliases: the current name wins when both are set."""
    value = r.raw(key)
    old = r.raw(deprecated)
    return value or old or default


def _topics(r: PropertyReader) -> tuple[tuple[str, ...], str | None]:
    topics = tuple(t.strip() for t in r.str("topics", "").split(",") if t.strip())
    regex = r.str("topics.regex", "") or None
    if topics and regex:
        raise ConfigError(f"{r.label('topics')} and {r.label('topics.regex')} are both set: Kafka Connect takes one")
    if not topics and not regex:
        raise ConfigError(f"{r.label('topics')} or {r.label('topics.regex')} is required but not set")
    if regex:
        _regex(r, "topics.regex", regex)
    return topics, regex


def _regex(r: PropertyReader, key: str, value: str) -> None:
    try:
        re.compile(value)
    except re.error as exc:
        raise ConfigError(f"{r.shown(key, value)} is not a regular expression: {exc}") from None


def _connection_pool(r: PropertyReader) -> None:
    """Pool sizes and timeout: each worker holds one connection, which any pool size allows."""
    provider = r.str("connection.provider", _CONNECTION_PROVIDERS[0])
    if provider not in _CONNECTION_PROVIDERS:
        raise ConfigError(f"{r.shown('connection.provider', provider)} is refused: a Java class bridge sink cannot "
                          "load (it holds one libpq connection per worker)")
    r.int("connection.pool.min_size", 5, minimum=0)
    r.int("connection.pool.max_size", 32, minimum=1)
    r.int("connection.pool.timeout", 1800, minimum=0)


def _dialect(r: PropertyReader) -> None:
    schema = r.str("dialect.postgres.postgis.schema", "public")
    if schema != "public":
        raise ConfigError(f"{r.shown('dialect.postgres.postgis.schema', schema)} is refused: bridge sink casts "
                          "geometry by the target column's own type; remove it")
    r.bool("dialect.postgres.unnest.insert.enabled", False)  # multi-row statements either way: the same rows


def _consumer(r: PropertyReader) -> tuple[KafkaConnection, dict[str, str], int]:
    """`consumer.override.*` by librdkafka's names (security translated as the source's clients),
    split into the connection every client gets and the consumer's own settings."""
    given = read_consumer_properties(r, CONSUMER)
    max_poll = 500
    for java in _JAVA_CONSUMER:
        if java in given:
            max_poll = r.int(CONSUMER + java, 500, minimum=1)
            del given[java]
    for java, name in _JAVA_RENAMED.items():
        if java in given:
            if name in given:
                raise ConfigError(f"{r.label(CONSUMER + java)} and {r.label(CONSUMER + name)} are both set: "
                                  "they are one setting (the Java and the librdkafka name); keep one")
            given[name] = given.pop(java)
    for name, forced in _CONSUMER_FORCED.items():
        if name in given and given[name].lower() != forced:
            raise ConfigError(f"{r.label(CONSUMER + name)}={given[name]!r} is refused: bridge sink requires "
                              f"{name}={forced} (it commits offsets itself, with the rows when offsets=target)")
    bootstrap = r.str(BOOTSTRAP, "") or given.pop("bootstrap.servers", "")
    given.pop("bootstrap.servers", None)
    if not bootstrap:
        raise ConfigError(f"{r.label(BOOTSTRAP)} (or --bootstrap-servers) is required but not set")
    settings = {**_CONSUMER_DEFAULTS, **given, **_CONSUMER_FORCED, "bootstrap.servers": bootstrap}
    check_with_librdkafka(r, {k: v for k, v in settings.items() if k != "bootstrap.servers"}, CONSUMER,
                          consumer=True)
    connection = {k: v for k, v in settings.items() if is_connection_setting(k)}
    own = {k: v for k, v in settings.items() if not is_connection_setting(k)}
    return KafkaConnection(connection), own, max_poll


def _override(r: PropertyReader, prefix: str, consumer: KafkaConnection) -> KafkaConnection | None:
    """Connect's `producer.override.*` / `admin.override.*` (the dead-letter clients): their
    connection and security settings, translated as the consumer's, over the consumer's connection,
    which stands in for the Connect worker's own (bridge sink has no worker file)."""
    given = read_consumer_properties(r, prefix)
    lines = [f"{r.label(prefix + name)} is refused: bridge sink takes only connection and security "
             "settings for its dead-letter clients (the producer's durability is its own); remove it"
             for name in given if not is_connection_setting(name)]
    if lines:
        raise ConfigError("\n".join(lines))
    if not given:
        return None
    check_with_librdkafka(r, {k: v for k, v in given.items() if k != "bootstrap.servers"}, prefix)
    return KafkaConnection({**consumer.settings, **given})


def _field_filter(r: PropertyReader) -> FieldFilter:
    include = r.str("field.include.list", "")
    exclude = r.str("field.exclude.list", "")
    if include and exclude:
        raise ConfigError(f"{r.label('field.include.list')} and {r.label('field.exclude.list')} are both set: "
                          "Debezium's JDBC sink takes one")
    text = exclude or include
    entries = []
    for entry in (e.strip() for e in text.split(",") if e.strip()):
        topic, _, name = entry.rpartition(":")
        entries.append((topic.strip() or None, name.strip()))
    return FieldFilter(tuple(entries), include=not exclude)


def _converter(r: PropertyReader, side: str) -> tuple[bool, AvroSpec | None]:
    """Whether `<side>.converter` carries schemas (JsonConverter's `schemas.enable`, default true),
    and the registry of an Avro converter."""
    key = f"{side}.converter"
    converter = r.str(key, JSON_CONVERTER)
    # Connect hands every converter `schemas.enable`; only JsonConverter reads it
    schemas = r.bool(f"{key}.schemas.enable", True)
    if converter in (CONFLUENT, APICURIO):
        return True, _avro(r, key, converter)
    if converter not in (JSON_CONVERTER, "json"):
        raise ConfigError(f"{r.shown(key, converter)} is refused: bridge sink reads JSON ({JSON_CONVERTER}, with or "
                          f"without schemas) and Avro ({CONFLUENT}, or {APICURIO} in its Confluent-compatible mode)")
    return schemas, None


# pgbridge's registry settings of the source's Avro writers: nothing the sink's reading uses
_SOURCE_REGISTRY = (COMPATIBILITY, INCOMPATIBLE_TOPIC, "bridge.connect.backoff.initial.ms",
                    "bridge.connect.backoff.max.ms")


def _avro(r: PropertyReader, key: str, converter: str) -> AvroSpec:
    """An Avro converter's registry options, read as the source reads them; the serializer's own
    (auto.register.schemas, subject name strategies...) are read and, as Connect's deserializer
    does, left alone."""
    try:  # the avro extra: confluent-kafka's registry client and fastavro
        import_module("bridge.sink.avro_input")
    except ImportError as exc:
        raise ConfigError(f"{r.shown(key, converter)} needs the avro extra (pip install 'pgbridge[avro]'): "
                          f"{exc}") from None
    for name in _SOURCE_REGISTRY:
        if r.raw(name) is not None:
            raise ConfigError(f"{r.label(name)} is refused: it is the source's (how it registers schemas); bridge sink "
                              "only reads schemas by id (registry retries follow errors.retry.timeout); remove it")
    spec = read_avro(r, key, converter, lambda option: f"{key}.{option}")
    if converter == CONFLUENT and spec.use_latest:
        raise ConfigError(f"{r.label(key + '.use.latest.version')}=true is refused: bridge sink reads each record with "
                          "the schema it was written with (the id in the record); remove it")
    return spec


def _errors(r: PropertyReader) -> Errors:
    tolerance = r.choice("errors.tolerance", "none", ("none", "all"))
    dlq = r.str("errors.deadletterqueue.topic.name", "") or None
    return Errors(
        tolerance=tolerance, dlq_topic=dlq,
        dlq_replication_factor=r.int("errors.deadletterqueue.topic.replication.factor", 3, minimum=-1, maximum=32767),
        dlq_context_headers=r.bool("errors.deadletterqueue.context.headers.enable", False),
        retry_timeout_ms=r.int("errors.retry.timeout", 0, minimum=-1),
        retry_delay_max_ms=r.int("errors.retry.delay.max.ms", 60_000, minimum=1),
        flush_max_retries=r.int("flush.max.retries", 5),
        flush_retry_delay_ms=r.int("flush.retry.delay.ms", 1_000),
        log_enable=r.bool("errors.log.enable", False),
        log_include_messages=r.bool("errors.log.include.messages", False),
    )


def _breaker(r: PropertyReader) -> BreakerConfig:
    """`bridge.sink.dlq.*`: the dead-letter circuit breaker (off unless a bound is set)."""
    key = "bridge.sink.dlq.max.ratio"
    text = r.str(key, "")
    ratio = None
    if text:
        try:
            ratio = float(text)
        except ValueError:
            ratio = -1.0
        if not 0 <= ratio < 1:
            raise ConfigError(f"{r.shown(key, text)} is invalid: a fraction from 0 (no record refused) to below 1")
    return BreakerConfig(max_consecutive=r.int("bridge.sink.dlq.max.consecutive", 0),
                         max_ratio=ratio, window=r.int("bridge.sink.dlq.window", 1000, minimum=1))


def _flow(r: PropertyReader, batch_size: int) -> FlowConfig:
    """`bridge.sink.*` flow control (`bridge.sink.flow`): catch-up batches 5000 records (or
    batch.size when larger), the buffer three of them: one being written, the next prepared, the one
    after read meanwhile (with two, reading waited for a write to end and the writer for reading)."""
    catchup = r.int("bridge.sink.catchup.batch.size", max(batch_size, 5000), minimum=1)
    return FlowConfig(buffer_max_records=r.int("bridge.sink.buffer.max.records", 3 * catchup, minimum=1),
                      catchup_batch_size=catchup,
                      lag_pause_messages=r.int("bridge.sink.lag.pause.messages", 5000, minimum=0),
                      lag_pause_ms=r.int("bridge.sink.lag.pause.ms", 120_000, minimum=0))


def _workers(r: PropertyReader, workers: int | None) -> int:
    """`--workers`, else `bridge.sink.workers`, else the CPU count (tasks.max does not bound it:
    more processes are more consumers in the same group, as more Connect tasks would be)."""
    configured = r.int("bridge.sink.workers", os.cpu_count() or 1, minimum=1, maximum=1024)
    if workers is None:
        return configured
    if workers < 1:
        raise ConfigError(f"--workers={workers} is invalid: at least 1")
    return workers


def _http(r: PropertyReader) -> HttpConfig:
    """Health and metrics; Connect's REST port, 8083, unless told otherwise."""
    return HttpConfig(enabled=r.bool("bridge.http.enabled", True), host=r.str("bridge.http.host", "127.0.0.1"),
                      port=r.int("bridge.http.port", 8083, maximum=65535))
