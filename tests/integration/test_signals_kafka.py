"""The kafka signal channel against the real services: an execute-snapshot signal sent to the
signal topic runs an incremental snapshot whose rows land in Kafka, notifications go to the sink
topic, and after a kill -9 and a restart the consumed signal is not run again."""

from __future__ import annotations

import json
import time

from confluent_kafka import Consumer, Producer, TopicPartition

from tests.integration.support import consume_until, slot_active, wait_until


def send_signal(kafka_bootstrap: str, topic: str, key: str, signal: dict) -> None:
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    producer.produce(topic, json.dumps(signal).encode(), key.encode())
    assert producer.flush(30) == 0


def committed(kafka_bootstrap: str, group: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group})
    try:
        return consumer.committed([TopicPartition(topic, 0)], timeout=10)[0].offset
    finally:
        consumer.close()


def incremental_rows(events) -> list[int]:
    return [e.value["payload"]["after"]["id"] for e in events
            if e.value is not None and e.value["payload"]["source"]["snapshot"] == "incremental"]


def notifications(events) -> list[tuple[str, str]]:
    return [(e.value["payload"]["aggregate_type"], e.value["payload"]["type"]) for e in events]


def test_execute_snapshot_over_kafka_and_a_restart_does_not_run_it_again(pg, bridge_factory, kafka_bootstrap,
                                                                           unique_name):
    rows = 40
    table, signal_table = f"ks_{unique_name}", f"ks_sig_{unique_name}"
    signal_topic, group, notify = f"{unique_name}-signals", f"{unique_name}-group", f"{unique_name}.notify"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v text NOT NULL)")
        cur.execute(f"INSERT INTO {table} SELECT g, 'v' || g FROM generate_series(1, {rows}) g")
        cur.execute(f"CREATE TABLE {signal_table} (id varchar(64) PRIMARY KEY, type varchar(32) NOT NULL, "
                    "data varchar(2048))")
    bridge = bridge_factory(unique_name, {
        "debezium.source.signal.data.collection": f"public.{signal_table}",
        "debezium.source.signal.enabled.channels": "source,kafka",
        "debezium.source.signal.kafka.topic": signal_topic,
        "debezium.source.signal.kafka.bootstrap.servers": kafka_bootstrap,
        "debezium.source.signal.kafka.groupId": group,
        "debezium.source.signal.poll.interval.ms": "200",
        "debezium.source.incremental.snapshot.chunk.size": "15",
        "debezium.source.notification.enabled.channels": "sink,log",
        "debezium.source.notification.sink.topic.name": notify,
    }, tables=[table, signal_table])
    bridge.start()
    wait_until(lambda: slot_active(pg, f"{unique_name}_slot") or not bridge.running(), what="the bridge to stream")
    assert bridge.running(), bridge.log()

    # GIVEN an execute-snapshot signal on the signal topic, keyed by the topic prefix (and one for
    # another connector, which is skipped)
    request = {"type": "execute-snapshot", "data": {"data-collections": [f"public.{table}"], "type": "INCREMENTAL"}}
    send_signal(kafka_bootstrap, signal_topic, "someone-else", {**request, "id": "not-mine"})
    send_signal(kafka_bootstrap, signal_topic, unique_name, {**request, "id": "over-kafka-1"})

    # THEN the table's rows land in its topic as an incremental snapshot
    topic = f"{unique_name}.public.{table}"
    events = consume_until(kafka_bootstrap, topic, lambda ev: len(incremental_rows(ev)) >= rows, timeout=90,
                           what=f"{rows} incremental snapshot rows")
    assert sorted(incremental_rows(events)) == list(range(1, rows + 1)), bridge.log()
    # AND the notifications say so: the bridge started streaming without a snapshot (no_data), then
    # the snapshot asked for by the signal, under its id
    got = consume_until(kafka_bootstrap, notify, lambda ev: ("Incremental Snapshot", "COMPLETED") in notifications(ev),
                        timeout=60, what="the incremental snapshot's COMPLETED")
    assert notifications(got) == [("Initial Snapshot", "SKIPPED")] + [("Incremental Snapshot", t) for t in (
        "STARTED", "DATA_COLLECTIONS_RESOLVED", "IN_PROGRESS", "IN_PROGRESS", "IN_PROGRESS", "TABLE_SCAN_COMPLETED",
        "COMPLETED")]
    assert {e.value["payload"]["id"] for e in got[1:]} == {"over-kafka-1"}
    assert "[Notification Service]  {id='over-kafka-1', aggregateType='Incremental Snapshot', type='COMPLETED'" \
        in bridge.log_path.read_text()
    # AND both signal records are consumed, committed once the snapshot's state was stored
    wait_until(lambda: committed(kafka_bootstrap, group, signal_topic) == 2, timeout=30,
               what="the signal offsets to be committed")

    # WHEN the bridge is killed and started again
    bridge.kill()
    bridge.start()
    wait_until(lambda: slot_active(pg, f"{unique_name}_slot") or not bridge.running(), what="the bridge to stream")
    assert bridge.running(), bridge.log()
    time.sleep(2)  # ten signal polls
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {table} VALUES (1000, 'after the restart')")

    # THEN the signal is not run again: after the restart only the new row arrives
    events = consume_until(kafka_bootstrap, topic,
                           lambda ev: any(e.value and e.value["payload"]["op"] == "c" for e in ev), timeout=60,
                           what="the row inserted after the restart")
    assert len(incremental_rows(events)) == rows
    time.sleep(1)
    got = consume_until(kafka_bootstrap, notify, lambda ev: len(ev) >= 9, timeout=30, what="the notifications")
    assert notifications(got)[8:] == [("Initial Snapshot", "SKIPPED")]
    assert bridge.stop() == 0
