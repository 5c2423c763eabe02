"""Kafka Connect's topic creation (`topic.creation.*`) against the real broker.

The bridge creates every topic it writes (table topics, the transaction topic, the heartbeat
topic) before its first record, with the settings of the first listed group whose include list
matches and exclude list does not, else the default group's; read back with the admin client
(partitions, replicas, and `describe_configs` for the topic configs the broker holds). A topic
that exists beforehand keeps its own settings. The real Debezium on Kafka Connect, given the
same groups, creates the same topics. A creation the broker refuses stops the bridge
with one error naming the topic and the broker's reason, and the slot stays before the change.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from tests.integration.support import (DEBEZIUM_STOP, confirmed_flush, consume, slot_active,
                                       start_debezium_with, wait_until)


@pytest.fixture
def admin(kafka_bootstrap, unique_name):
    """An admin client; afterwards every topic of the test's prefix is deleted."""
    client = AdminClient({"bootstrap.servers": kafka_bootstrap})
    yield client
    ours = [t for t in client.list_topics(timeout=10).topics if unique_name in t]
    if ours:
        for future in client.delete_topics(ours).values():
            future.result(30)


def shape(admin: AdminClient, topic: str) -> tuple[int, int]:
    """(partitions, replicas of partition 0) of `topic`."""
    meta = admin.list_topics(topic, timeout=10).topics[topic]
    return len(meta.partitions), len(meta.partitions[0].replicas)


def topic_configs(admin: AdminClient, topic: str) -> dict[str, str]:
    """The configs set on `topic` itself (not the broker's defaults), as the broker reports them."""
    (future,) = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)]).values()
    return {name: entry.value for name, entry in future.result(30).items()
            if entry.source == 1}  # ConfigSource.DYNAMIC_TOPIC_CONFIG


# Groups in this order: `compacted` (customers only, the broker's default partition count), then
# `wide` (every topic but orders, the customers topic included); the default group for the rest.
# The expressions do not name the prefix: Debezium and pgbridge run them side by side.
GROUPS = {
    "provide.transaction.metadata": "true",
    "heartbeat.interval.ms": "500",
    "topic.creation.default.replication.factor": "1",
    "topic.creation.default.partitions": "3",
    "topic.creation.default.retention.ms": "86400000",
    "topic.creation.default.compression.type": "gzip",
    "topic.creation.groups": "compacted, wide",
    "topic.creation.compacted.include": r".*\.public\..*_customers",
    "topic.creation.compacted.partitions": "-1",
    "topic.creation.compacted.cleanup.policy": "compact",
    "topic.creation.wide.include": r"tc_.*",
    "topic.creation.wide.exclude": r".*\.orders, .*_never",
    "topic.creation.wide.partitions": "5",
}
SUFFIXES = ("customers", "orders", "items", "kept")


def make_tables(pg, tag: str) -> list[str]:
    tables = [f"{tag}_{t}" for t in SUFFIXES]
    with pg.cursor() as cur:
        for table in tables:
            cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
    return tables


def precreate(admin: AdminClient, topic: str) -> None:
    """A topic that exists before the connector, with settings no group has."""
    for future in admin.create_topics([NewTopic(topic, 2, 1, config={"retention.ms": "123456"})]).values():
        future.result(30)


def stream_a_row_each(pg, kafka_bootstrap: str, prefix: str, tables: list[str]) -> None:
    with pg.cursor() as cur:
        for i, table in enumerate(tables):
            cur.execute(f"INSERT INTO {table} VALUES (%s, 'x')", (i,))
    for table in tables:
        assert len(consume(kafka_bootstrap, f"{prefix}.public.{table}", count=1)) == 1, table
    consume(kafka_bootstrap, f"__debezium-heartbeat.{prefix}", count=1)


def created(admin: AdminClient, prefix: str, tables: list[str]) -> dict[str, tuple]:
    """{topic by role: ((partitions, replicas), topic configs)} of one connector's topics."""
    topics = {s: f"{prefix}.public.{t}" for s, t in zip(SUFFIXES, tables)}
    topics |= {"transaction": f"{prefix}.transaction", "heartbeat": f"__debezium-heartbeat.{prefix}"}
    return {role: (shape(admin, topic), topic_configs(admin, topic)) for role, topic in topics.items()}


EXPECTED = {
    "customers": ((1, 1), {"cleanup.policy": "compact"}),  # compacted, first in order; -1: num.partitions=1
    "items": ((5, 1), {}),  # wide: nothing of the default group's configs
    "transaction": ((5, 1), {}),  # wide
    "orders": ((3, 1), {"retention.ms": "86400000", "compression.type": "gzip"}),  # excluded from wide
    "heartbeat": ((3, 1), {"retention.ms": "86400000", "compression.type": "gzip"}),  # no group: default
    "kept": ((2, 1), {"retention.ms": "123456"}),  # existed: left as it was
}


def test_topics_are_created_per_group_in_order_and_existing_ones_are_left_alone(
        pg, admin, bridge_factory, kafka_bootstrap, unique_name):
    prefix = f"tc_{unique_name}"
    tables = make_tables(pg, prefix)
    # GIVEN a topic that exists before the bridge, and the groups above
    precreate(admin, f"{prefix}.public.{tables[-1]}")
    bridge = bridge_factory(prefix, {"bridge.producers": "2", **{f"debezium.source.{k}": v for k, v in GROUPS.items()}},
                            tables=tables)
    bridge.start()
    try:
        wait_until(lambda: slot_active(pg, f"{prefix}_slot"), timeout=60, what="the bridge to stream")
        # WHEN a row of each table streams
        stream_a_row_each(pg, kafka_bootstrap, prefix, tables)
        assert bridge.stop() == 0, bridge.log()
    finally:
        if bridge.running():
            bridge.kill()
    # THEN each topic has its group's partitions, replication factor and configs; the one that existed its own
    assert created(admin, prefix, tables) == EXPECTED
    assert f"topic {prefix}.public.{tables[-1]} exists: left as it is" in bridge.log()


def test_debezium_on_kafka_connect_creates_the_same_topics(pg, pg_dsn, admin, bridge_factory, kafka_bootstrap,
                                                           unique_name, tmp_path):
    # GIVEN the same groups given to the real Debezium on Kafka Connect (topic.creation.enable is
    # true on its worker, Connect's default) and to pgbridge, each with its own tables and prefix
    dbz, ours = f"tc_{unique_name}_dbz", f"tc_{unique_name}_pgb"
    dbz_tables, our_tables = make_tables(pg, dbz), make_tables(pg, ours)
    for prefix, tables in ((dbz, dbz_tables), (ours, our_tables)):
        precreate(admin, f"{prefix}.public.{tables[-1]}")
    env = {**os.environ, "BRIDGE_PG_DSN": pg_dsn, "BRIDGE_KAFKA_BOOTSTRAP": kafka_bootstrap}
    with pg.cursor() as cur:
        cur.execute(f'CREATE PUBLICATION "{dbz}_pub" FOR TABLE {", ".join(dbz_tables)}')
    bridge = bridge_factory(ours, {f"debezium.source.{k}": v for k, v in GROUPS.items()}, tables=our_tables)
    try:
        start_debezium_with(tmp_path, dbz, {**GROUPS, "snapshot.mode": "no_data",
                                            "publication.autocreate.mode": "disabled"}, env)
        bridge.start()
        wait_until(lambda: slot_active(pg, f"{ours}_slot"), timeout=60, what="the bridge to stream")
        # WHEN a row of each table streams through each
        stream_a_row_each(pg, kafka_bootstrap, dbz, dbz_tables)
        stream_a_row_each(pg, kafka_bootstrap, ours, our_tables)
        assert bridge.stop() == 0, bridge.log()
    finally:
        if bridge.running():
            bridge.kill()
        subprocess.run([str(DEBEZIUM_STOP), dbz, "--purge"], env=env, capture_output=True, timeout=120, check=False)
        with pg.cursor() as cur:
            wait_until(lambda: not slot_active(pg, dbz), timeout=30, what="Debezium's slot to be released")
            cur.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                        (dbz,))
            cur.execute(f'DROP PUBLICATION IF EXISTS "{dbz}_pub"')
    # THEN Connect created Debezium's topics as pgbridge created its own
    assert created(admin, dbz, dbz_tables) == EXPECTED
    assert created(admin, ours, our_tables) == EXPECTED


def test_a_topic_the_broker_refuses_to_create_stops_the_bridge_before_the_slot_moves(
        pg, admin, bridge_factory, kafka_bootstrap, unique_name):
    prefix = unique_name
    table = f"{unique_name}_t"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
    # GIVEN a replication factor the one-broker cluster cannot give
    bridge = bridge_factory(prefix, {
        "debezium.source.topic.creation.default.replication.factor": "3",
        "debezium.source.topic.creation.default.partitions": "1",
    }, tables=[table])
    bridge.start()
    try:
        wait_until(lambda: slot_active(pg, f"{prefix}_slot"), timeout=60, what="the bridge to stream")
        before = confirmed_flush(pg, f"{prefix}_slot")
        # WHEN a row streams
        with pg.cursor() as cur:
            cur.execute(f"INSERT INTO {table} VALUES (1)")
            cur.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
            after_insert = int(cur.fetchone()[0])
        # THEN the bridge stops with one error naming the topic and the broker's reason
        assert bridge.wait(90) == 7, bridge.log()
        log = bridge.log()
        assert (f"cannot create topic '{prefix}.public.{table}' (group default: partitions 1, replication factor 3): "
                in log), log
        assert "Unable to replicate" in log or "replication factor" in log.lower(), log
        # AND the slot did not move past the change that has no topic; the topic does not exist
        assert before <= confirmed_flush(pg, f"{prefix}_slot") < after_insert
        assert f"{prefix}.public.{table}" not in admin.list_topics(timeout=10).topics
    finally:
        if bridge.running():
            bridge.kill()
