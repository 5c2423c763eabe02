"""Exactly once against real PostgreSQL and Kafka: one PostgreSQL transaction far larger than a
Kafka transaction, a producer killed in its middle, and every row still in Kafka exactly once
for a read_committed consumer (the resume point's "first K units of transaction F" path)."""

from __future__ import annotations

import json
import os
import re
import signal
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from tests.integration.support import child_pids, consume_until, slot_active, wait_until

ROWS = 150_000


def wait_for_marker(kafka_bootstrap: str, topic: str, wanted, timeout: float) -> None:
    """Tail the committed markers until one satisfies `wanted(key, value)`. One consumer for the
    whole wait: the kill must land while the producer is still inside the transaction, so the
    marker has to be seen within milliseconds of its commit, not after a reconnect per look."""
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"markers-{os.getpid()}",
                         "isolation.level": "read_committed", "enable.auto.commit": False,
                         "fetch.wait.max.ms": 10})
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in consumer.consume(500, 0.02):
                if not m.error() and wanted(m.key().decode(), json.loads(m.value())):
                    return
        raise AssertionError(f"timed out after {timeout}s waiting for producer-1 to commit inside the "
                             "PostgreSQL transaction")
    finally:
        consumer.close()


def test_producer_killed_inside_a_large_transaction_writes_each_row_once(pg, bridge_factory, kafka_bootstrap,
                                                                          unique_name):
    table, offsets = f"eo_{unique_name}", f"{unique_name}_offsets"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
    bridge = bridge_factory(unique_name, {
        "bridge.producers": "2", "bridge.exactly.once": "true", "bridge.exactly.once.offsets.topic": offsets,
        "bridge.exactly.once.commit.interval.ms": "50", "bridge.restart.policy": "on-failure",
        "bridge.restart.backoff.ms": "500", "debezium.source.tombstones.on.delete": "false",
    }, tables=[table])
    bridge.start()
    wait_until(lambda: slot_active(pg, f"{unique_name}_slot"), timeout=60, what="the bridge to start streaming")

    # GIVEN one PostgreSQL transaction of 150k rows, committed in Kafka piece by piece
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {table} SELECT g, repeat('x', 50) FROM generate_series(1, {ROWS}) g")
    wait_for_marker(kafka_bootstrap, offsets, lambda k, m: k.endswith("/1") and m["txn"] and m["done"] > 1000,
                    timeout=120)
    # WHEN a producer is killed before the transaction is through
    os.kill(child_pids(bridge.proc.pid)["pgb-producer-1"], signal.SIGKILL)

    # THEN after the restart every row is in Kafka exactly once (read committed)
    topic = f"{unique_name}.public.{table}"
    counts: dict[int, int] = {}

    def complete(events) -> bool:
        for e in events[sum(counts.values()):]:
            key = e.key["payload"]["id"]
            counts[key] = counts.get(key, 0) + 1
        return len(counts) == ROWS

    consume_until(kafka_bootstrap, topic, complete, timeout=240, what=f"all {ROWS} rows")
    assert "restart 1 of" in bridge.log()
    # producer-1 resumed inside the large transaction: its first K units were skipped, not rewritten
    assert re.search(r"resuming producers after their committed positions .*1: [0-9A-F]+ \(\+\d+ of [0-9A-F]+\)",
                     bridge.log()), bridge.log()
    doubled = [k for k, n in counts.items() if n > 1]
    assert not doubled, f"{len(doubled)} rows written twice, e.g. {doubled[:5]}"
    assert bridge.stop() == 0, bridge.log()
    assert sum(counts.values()) == ROWS
