"""`bridge doctor`: everything that stops, slows or silently loses a bridge, found before it runs.

The PostgreSQL side reuses the preflight (`bridge.source.preflight.inspect_postgres` and
`check_postgres`: publication, slot, role, replica identity) and adds the server's settings
and headroom, the role's rights, the publication against the include/exclude lists, tables
whose events lack the old row, and clock skew; the Kafka side asks the brokers for the
captured tables' topics. Every finding has a severity, what it means and the SQL or setting
that fixes it (`bridge.source.checks.Finding`).

`start_findings` is the part cheap enough for every `bridge run` start (one query): its
warnings are logged there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

import psycopg2.extensions
from confluent_kafka import KafkaException

from bridge.config import BridgeConfig
from bridge.route.topics import TopicNames
from bridge.source.catalog import inspect_rights, inspect_server
from bridge.source.checks import (
    Finding,
    Severity,
    check_before_images,
    check_clock,
    check_coverage,
    check_rights,
    check_server,
)
from bridge.source.preflight import PostgresFacts, check_postgres, inspect_postgres
from bridge.source.slots import inspect_slot

ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
KAFKA_TIMEOUT_S = 10.0


def start_findings(conn: psycopg2.extensions.connection, config: BridgeConfig,
                   now: Callable[[], float] = time.time) -> list[Finding]:
    """The server's settings and the clock: what a start logs (the preflight checks the rest)."""
    server = inspect_server(conn)
    local = now()
    return [*check_server(server, inspect_slot(conn, config.replication.slot_name)), *check_clock(server, local)]


def postgres_findings(conn: psycopg2.extensions.connection, config: BridgeConfig, facts: PostgresFacts,
                      now: Callable[[], float] = time.time) -> list[Finding]:
    rep, filters = config.replication, config.filters
    findings, change = check_postgres(facts, rep, filters, config.incremental.signal_table)
    server = inspect_server(conn)
    local = now()
    captured = captured_tables(facts.tables, facts.publication, config)
    rights = inspect_rights(conn, rep.publication_name, captured)
    return [
        *findings,
        *check_server(server, facts.slot),
        *check_clock(server, local),
        *check_rights(facts.session, rights, change, rep.publication_name),
        *check_coverage(facts.tables, facts.publication, change, filters, rep.publication_name),
        *check_before_images(facts.tables, facts.publication, filters),
    ]


def captured_tables(tables, publication, config: BridgeConfig) -> tuple[tuple[str, str], ...]:
    """The tables the bridge streams: captured by the filters and published (every captured
    table when the publication is missing or FOR ALL TABLES)."""
    published = None if publication is None or publication.all_tables else set(publication.tables)
    return tuple((t.schema, t.name) for t in tables
                 if t.schema not in ("pg_catalog", "information_schema")
                 and config.filters.captures(t.schema, t.name)
                 and (published is None or (t.schema, t.name) in published))


def kafka_findings(metadata: Mapping[str, int] | str, topics: tuple[str, ...], producers: int,
                   creates_topics: bool, bootstrap: str) -> list[Finding]:
    """`metadata`: {topic: partitions} the brokers returned, or why they could not be asked."""
    if isinstance(metadata, str):
        fix = ("check debezium.sink.kafka.producer.bootstrap.servers and its security settings, and that a "
               "broker listens there")
        return [Finding("kafka", Severity.ERROR, f"cannot reach Kafka at {bootstrap}: {metadata}; {fix}", fix)]
    findings = []
    missing = [t for t in topics if t not in metadata]
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        if creates_topics:
            fix = "nothing: topic.creation.* creates each before its first record"
        else:
            fix = (f"create them (kafka-topics.sh --create --topic <topic> --partitions {producers}), or rely on the "
                   "broker's auto.create.topics.enable=true")
        findings.append(Finding("kafka", Severity.INFO, f"{len(missing)} topic(s) of captured tables do not exist "
                                f"yet: {shown}; {fix}", fix))
    few = [f"{t} ({metadata[t]})" for t in topics if t in metadata and metadata[t] < producers]
    if few:
        fix = (f"for more consumer parallelism create topics with at least {producers} partitions before first use "
               "(adding partitions later moves keys to other partitions)")
        findings.append(Finding("kafka", Severity.INFO, f"{len(few)} topic(s) have fewer partitions than "
                                f"bridge.producers={producers}: {', '.join(few[:10])}; producers share partitions "
                                f"(per-key order holds); {fix}", fix))
    return findings


def read_topics(admin) -> dict[str, int] | str:
    """{topic: partitions} from the brokers, or the reason they could not be asked."""
    try:
        meta = admin.list_topics(timeout=KAFKA_TIMEOUT_S)
    except KafkaException as exc:
        admin.poll(0)  # serves librdkafka's log lines: why each broker failed
        return exc.args[0].str()
    return {name: len(topic.partitions) for name, topic in meta.topics.items() if topic.error is None}


def examine(config: BridgeConfig, conn: psycopg2.extensions.connection, admin) -> list[Finding]:
    """Every finding, errors first."""
    facts = inspect_postgres(conn, config.replication)
    names = TopicNames.of(config.events)
    quiet = logging.getLogger("bridge.route.topics")  # a renamed topic is no finding: it is Debezium's name
    level, quiet.level = quiet.level, logging.ERROR
    try:
        topics = tuple(names.table(s, t) for s, t in captured_tables(facts.tables, facts.publication, config))
    finally:
        quiet.setLevel(level)
    findings = [
        *postgres_findings(conn, config, facts),
        *kafka_findings(read_topics(admin), topics, config.pipeline.producers, config.topic_creation is not None,
                        config.kafka.connection.bootstrap_servers),
    ]
    return sorted(findings, key=lambda f: ORDER[f.severity])


def report(findings: list[Finding]) -> list[str]:
    lines = []
    for f in findings:
        lines.append(f"{f.severity.name:<7} {f.check}: {f.message}")
        if f.fix not in f.message:
            lines.append(f"        fix: {f.fix}")
    counts = {s: sum(f.severity is s for f in findings) for s in ORDER}
    lines.append(f"doctor: {counts[Severity.ERROR]} error(s), {counts[Severity.WARNING]} warning(s), "
                 f"{counts[Severity.INFO]} note(s)")
    return lines
