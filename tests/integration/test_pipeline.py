"""The multiprocess pipeline against real PostgreSQL and Kafka: per-key order with several
producers, a million-row transaction in bounded memory, an idle slot that keeps advancing."""

from __future__ import annotations

import os
import signal
import time
from collections import defaultdict

import psycopg2
import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from tests.integration.support import Writers, child_pids, check_per_key_sequences, consume, consume_until, wait_until
from tests.integration.support import confirmed_flush, slot_active, topic_size

PARTITIONS = 6


def create_topic(bootstrap: str, topic: str, partitions: int = PARTITIONS) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        future.result(30)


def keyed_table(pg, name: str, keys: int) -> None:
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, v int NOT NULL, pad text)")


def insert_keys(pg, name: str, keys: int) -> None:
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {name} SELECT g, 1, 'x' FROM generate_series(0, %s) g", (keys - 1,))


@pytest.mark.parametrize("producers", [1, 2, 4])
def test_per_key_order_under_concurrent_writers(pg, pg_dsn, bridge_factory, kafka_bootstrap, unique_name, producers):
    table, keys = f"order_{unique_name}", 40
    keyed_table(pg, table, keys)
    topic = f"{unique_name}.public.{table}"
    create_topic(kafka_bootstrap, topic)
    bridge = bridge_factory(unique_name, {"bridge.producers": str(producers)}, tables=[table])
    bridge.start()
    wait_until(lambda: slot_active(pg, f"{unique_name}_slot"), what="the bridge to start streaming")

    # GIVEN keys inserted, then 4 writers incrementing random keys concurrently
    insert_keys(pg, table, keys)
    writers = Writers(pg_dsn, table, keys, threads=4, max_updates=250).start()
    time.sleep(1.0)
    writers.stop()
    final = writers.final(pg)
    total = keys + sum(v - 1 for v in final.values())

    # WHEN everything is read back
    events = consume(kafka_bootstrap, topic, count=total, timeout=120)
    assert bridge.stop() == 0, bridge.log()

    # THEN every key's values arrive in commit order, each key on one partition
    check_per_key_sequences(events, final)
    assert len({e.partition for e in events}) > 1, "keys should spread over partitions"
    if producers > 1:
        assert f"with {producers} producer(s)" in bridge.log()


def _process_tree_hwm_kib(root_pid: int) -> dict[int, int]:
    """Peak RSS (VmHWM, KiB) of a process and its descendants."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children[ppid].append(int(entry))
    out, todo = {}, [root_pid]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        out[pid] = int(line.split()[1])
        except OSError:
            pass
        todo.extend(children.get(pid, []))
    return out


# Documented bound (README, "Memory"): the coordinator, the decoder and each producer stay well
# under 200 MiB whatever the transaction size; rings and librdkafka's queue are bounded.
PER_PROCESS_BOUND_KIB = 200 * 1024


def test_million_row_transaction_streams_with_bounded_memory(pg, bridge_factory, kafka_bootstrap, unique_name):
    rows = 1_000_000
    table = f"big_{unique_name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, n int, label text, amount numeric(12,2), "
                    "at timestamptz, flag bool)")
    bridge = bridge_factory(unique_name, {"bridge.producers": "2"}, tables=[table])
    bridge.start()
    wait_until(lambda: slot_active(pg, f"{unique_name}_slot"), what="the bridge to start streaming")

    # GIVEN one transaction of a million inserts
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {table} SELECT g, mod(g, 1000), 'label ' || g, g / 100.0, "
                    "now(), mod(g, 2) = 0 FROM generate_series(1, %s) g", (rows,))

    # WHEN the bridge streams it, sampling peak memory of all its processes
    topic = f"{unique_name}.public.{table}"
    peaks: dict[int, int] = {}

    def done():
        peaks.update({pid: max(kib, peaks.get(pid, 0)) for pid, kib in _process_tree_hwm_kib(bridge.proc.pid).items()})
        try:
            return topic_size(kafka_bootstrap, topic) >= rows
        except KeyError:
            return False

    started = time.monotonic()
    wait_until(done, timeout=600, interval=1.0, what=f"{rows} records in {topic}")
    elapsed = time.monotonic() - started
    peaks.update(_process_tree_hwm_kib(bridge.proc.pid))
    assert bridge.stop() == 0, bridge.log()

    # THEN every row arrived exactly once (no crash, no replay) and memory stayed bounded
    assert topic_size(kafka_bootstrap, topic) == rows
    print(f"\n1M-row transaction: {elapsed:.1f}s ({rows / elapsed:,.0f} rows/s); peak RSS per process (MiB): "
          + ", ".join(f"{pid}={kib / 1024:.0f}" for pid, kib in sorted(peaks.items()))
          + f"; total {sum(peaks.values()) / 1024:.0f} MiB")
    assert len(peaks) >= 4, f"expected coordinator, decoder and 2 producers: {peaks}"
    assert max(peaks.values()) < PER_PROCESS_BOUND_KIB, peaks


def test_idle_publication_keeps_the_slot_advancing(pg, pg_dsn, bridge_factory, unique_name):
    other = f"other_{unique_name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE DATABASE {other}")
    try:
        bridge = bridge_factory(unique_name)
        bridge.start()
        slot = f"{unique_name}_slot"
        wait_until(lambda: slot_active(pg, slot), what="the bridge to start streaming")
        before = confirmed_flush(pg, slot)

        # GIVEN a busy other database and nothing at all for our publication
        busy = psycopg2.connect(pg_dsn.replace("dbname=bridge", f"dbname={other}"))
        busy.autocommit = True
        with busy.cursor() as cur:
            cur.execute("CREATE TABLE noise (id serial PRIMARY KEY, pad text)")
            for _ in range(200):
                cur.execute("INSERT INTO noise (pad) SELECT repeat('x', 500) FROM generate_series(1, 50)")
        busy.close()
        with pg.cursor() as cur:
            cur.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
            server_lsn = int(cur.fetchone()[0])

        # THEN the slot's confirmed position follows the server's WAL, so no WAL is pinned
        wait_until(lambda: confirmed_flush(pg, slot) >= server_lsn, timeout=30,
                   what="confirmed_flush_lsn to pass the busy database's writes")
        assert confirmed_flush(pg, slot) > before
        assert bridge.stop() == 0, bridge.log()
    finally:
        with pg.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {other} WITH (FORCE)")


def test_permanent_delivery_error_stops_without_confirming_past_it(pg, bridge_factory, kafka_bootstrap,
                                                                   unique_name):
    table = f"reject_{unique_name}"
    topic = f"{unique_name}.public.{table}"
    slot = f"{unique_name}_slot"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, body text)")
    # GIVEN a topic whose broker-side limit rejects big records (a permanent delivery error)
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for f in admin.create_topics([NewTopic(topic, 1, 1, config={"max.message.bytes": "4096"})]).values():
        f.result(30)
    bridge = bridge_factory(unique_name, {"bridge.producers": "2"}, tables=[table])
    bridge.start()
    wait_until(lambda: slot_active(pg, slot), what="the bridge to start streaming")
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {table} VALUES (1, 'small')")
    wait_until(lambda: topic_size(kafka_bootstrap, topic) == 1, what="the small row")
    wait_until(lambda: confirmed_flush(pg, slot) > 0, what="the first confirmation")
    with pg.cursor() as cur:
        cur.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
        before_big = int(cur.fetchone()[0])
        # random text does not compress below the limit
        cur.execute(f"INSERT INTO {table} SELECT 2, string_agg(md5(random()::text), '') FROM generate_series(1, 400)")

    # WHEN Kafka refuses it, THEN the bridge stops with the delivery error, confirming nothing past it
    assert bridge.proc.wait(60) == 7, bridge.log()
    assert "MSG_SIZE_TOO_LARGE" in bridge.log() or "too large" in bridge.log().lower(), bridge.log()
    assert "Traceback" not in bridge.log()
    assert confirmed_flush(pg, slot) <= before_big

    # and after the topic is fixed a restart delivers the row: nothing was lost
    res = ConfigResource("topic", topic, incremental_configs=[
        ConfigEntry("max.message.bytes", "1048588", incremental_operation=AlterConfigOpType.SET)])
    for f in admin.incremental_alter_configs([res]).values():
        f.result(30)
    bridge.start()
    wait_until(lambda: topic_size(kafka_bootstrap, topic) >= 2, timeout=60, what="the big row after the fix")
    assert bridge.stop() == 0, bridge.log()


def test_restart_policy_on_failure_recovers_by_itself(pg, bridge_factory, kafka_bootstrap, unique_name):
    table = f"restart_{unique_name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
    bridge = bridge_factory(unique_name, {"bridge.producers": "2", "bridge.restart.policy": "on-failure",
                                          "bridge.restart.backoff.ms": "200"}, tables=[table])
    bridge.start()
    wait_until(lambda: slot_active(pg, f"{unique_name}_slot"), what="the bridge to start streaming")
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {table} SELECT generate_series(1, 100)")
    # GIVEN a producer killed under it
    producer = wait_until(lambda: child_pids(bridge.proc.pid).get("pgb-producer-1"), what="producer-1")
    os.kill(producer, signal.SIGKILL)
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {table} SELECT generate_series(101, 200)")
    # THEN the bridge restarts its pipeline and every row arrives
    def all_ids(events):
        return {e.key["payload"]["id"] for e in events} == set(range(1, 201))

    consume_until(kafka_bootstrap, f"{unique_name}.public.{table}", all_ids, timeout=90)
    assert bridge.running() and "restart 1 of" in bridge.log()
    assert bridge.stop() == 0, bridge.log()


def test_stop_while_the_pipeline_starts_is_a_clean_stop_without_restart(pg, bridge_factory, unique_name):
    bridge = bridge_factory(unique_name, {"bridge.producers": "2", "bridge.restart.policy": "on-failure",
                                          "bridge.restart.backoff.ms": "200"})
    bridge.start()
    # GIVEN a stop request as soon as the processes are spawned (before the decoder is up)
    wait_until(lambda: "with 2 producer(s)" in bridge.log(), interval=0.01, what="the processes to be spawned")
    # THEN the bridge stops cleanly, and a stop is never followed by a restart
    assert bridge.stop() == 0, bridge.log()
    assert "restart" not in bridge.log() and "Traceback" not in bridge.log()


def test_murmur2_mode_places_keys_like_the_java_default_partitioner(pg, bridge_factory, kafka_bootstrap,
                                                                     unique_name):
    from bridge.route.partitioner import java_default_partition
    table = f"m2_{unique_name}"
    topic = f"{unique_name}.public.{table}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
    create_topic(kafka_bootstrap, topic)
    bridge = bridge_factory(unique_name, {"bridge.producers": "2", "bridge.partitioner": "murmur2"}, tables=[table])
    bridge.start()
    wait_until(lambda: slot_active(pg, f"{unique_name}_slot"), what="the bridge to start streaming")
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {table} SELECT g, 'v' FROM generate_series(1, 60) g")
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"m2-{unique_name}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    seen = {}
    deadline = time.monotonic() + 60
    while len(seen) < 60 and time.monotonic() < deadline:
        for msg in consumer.consume(100, 0.5):
            if not msg.error():
                seen[msg.key()] = msg.partition()
    consumer.close()
    assert len(seen) == 60
    # THEN each record sits where Kafka's Java producer would have put its (serialized) key
    assert all(partition == java_default_partition(key, PARTITIONS) for key, partition in seen.items())
    assert len(set(seen.values())) > 1
    assert bridge.stop() == 0, bridge.log()


def test_keyless_table_rows_stream_grouped_by_transaction(pg, bridge_factory, kafka_bootstrap, unique_name):
    table = f"nokey_{unique_name}"
    topic = f"{unique_name}.public.{table}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (txn int, n int)")
        cur.execute(f"ALTER TABLE {table} REPLICA IDENTITY FULL")
    create_topic(kafka_bootstrap, topic)
    bridge = bridge_factory(unique_name, {"bridge.producers": "2"}, tables=[table])
    bridge.start()
    wait_until(lambda: slot_active(pg, f"{unique_name}_slot"), what="the bridge to start streaming")
    with pg.cursor() as cur:
        for txn in range(12):
            cur.execute(f"INSERT INTO {table} SELECT %s, g FROM generate_series(1, 5) g", (txn,))
    events = consume(kafka_bootstrap, topic, count=60)
    assert all(e.key is None for e in events)  # Debezium: no primary key → null key
    partitions_of_txn = defaultdict(set)
    order_in_txn = defaultdict(list)
    for e in sorted(events, key=lambda e: (e.partition, e.offset)):
        after = e.value["payload"]["after"]
        partitions_of_txn[after["txn"]].add(e.partition)
        order_in_txn[after["txn"]].append(after["n"])
    assert set(partitions_of_txn) == set(range(12))
    assert all(len(p) == 1 for p in partitions_of_txn.values()), "a transaction's rows were split"
    assert all(ns == [1, 2, 3, 4, 5] for ns in order_in_txn.values())
    assert len({p for ps in partitions_of_txn.values() for p in ps}) > 1, "transactions should spread"
    assert bridge.stop() == 0, bridge.log()
