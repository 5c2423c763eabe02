"""Initial snapshots through the whole pipeline: consistent with the slot (no gap, no duplicate),
Debezium's markers, parallel reads, crash safety, and the snapshot modes."""

from __future__ import annotations

import os
import signal
import threading

import psycopg2

from tests.integration.support import child_pids, consume, consume_until, wait_until
from tests.integration.support import slot_active, slot_exists, state_from_events, table_state, topic_size


def _topic_size(bootstrap: str, topic: str) -> int:
    try:
        return topic_size(bootstrap, topic)
    except KeyError:  # not created yet
        return 0


def make_tables(pg, name: str, rows: int) -> tuple[str, str]:
    big, small = f"snapbig_{name}", f"snapsmall_{name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {big} (id int PRIMARY KEY, v int NOT NULL, note text)")
        cur.execute(f"INSERT INTO {big} SELECT g, 0, 'row ' || g FROM generate_series(1, {rows}) g")
        cur.execute(f"CREATE TABLE {small} (id int PRIMARY KEY, label text)")
        cur.execute(f"INSERT INTO {small} VALUES (1, 'one'), (2, 'two')")
    return big, small


def snapshot_props(big: str, small: str, **extra: str) -> dict[str, str]:
    return {
        "debezium.source.snapshot.mode": "initial",
        "debezium.source.publication.autocreate.mode": "filtered",
        "debezium.source.table.include.list": f"public\\.{small},public\\.{big}",
        "bridge.producers": "2",
        **extra,
    }


def test_initial_snapshot_then_streaming_has_no_gap_and_no_duplicate(pg, pg_dsn, bridge_factory, kafka_bootstrap,
                                                                     unique_name):
    big, small = make_tables(pg, unique_name, rows=20_000)
    bridge = bridge_factory(unique_name, snapshot_props(big, small, **{"debezium.source.snapshot.max.threads": "3"}))

    # GIVEN writers changing the big table while the snapshot is being taken
    stop = threading.Event()

    def write():
        conn = psycopg2.connect(pg_dsn)
        conn.autocommit = True
        with conn.cursor() as cur:
            for i in range(3000):  # bounded
                if stop.is_set():
                    break
                cur.execute(f"UPDATE {big} SET v = v + 1 WHERE id = %s", (1 + (i * 7919) % 20_000,))
                if i % 10 == 0:
                    cur.execute(f"INSERT INTO {big} VALUES (%s, 1, 'new') ON CONFLICT DO NOTHING", (100_000 + i,))
                    cur.execute(f"DELETE FROM {big} WHERE id = %s", (1 + (i * 104729) % 20_000,))
        conn.close()

    writer = threading.Thread(target=write)
    bridge.start()
    writer.start()
    writer.join(120)
    stop.set()

    # WHEN everything is read back
    topic = f"{unique_name}.public.{big}"
    final = table_state(pg, big)
    events = consume_until(kafka_bootstrap, topic, lambda ev: state_from_events(ev) == final, timeout=240)

    # THEN snapshot + stream rebuild the table exactly, and every snapshot row was read once
    reads = [e for e in events if e.value and e.value["payload"]["op"] == "r"]
    assert len(reads) == len({e.key["payload"]["id"] for e in reads}), "a row was snapshotted twice"
    assert len(reads) >= 19_000
    small_events = consume(kafka_bootstrap, f"{unique_name}.public.{small}", count=2)
    markers = [e.value["payload"]["source"]["snapshot"] for e in small_events]
    # Debezium's order: the include list's order, so the small table comes first
    assert markers == ["first", "last_in_data_collection"]
    assert {r.value["payload"]["source"]["snapshot"] for r in reads} <= {
        "true", "first_in_data_collection", "last_in_data_collection", "last"}
    assert sum(r.value["payload"]["source"]["snapshot"] == "last" for r in reads) == 1
    assert slot_exists(pg, f"{unique_name}_slot")
    assert bridge.stop() == 0, bridge.log()


def test_crash_during_the_snapshot_takes_it_again(pg, bridge_factory, kafka_bootstrap, unique_name):
    rows = 150_000  # enough to kill it mid-snapshot (the wait polls every 50 ms)
    big, small = make_tables(pg, unique_name, rows=rows)
    slot = f"{unique_name}_slot"
    bridge = bridge_factory(unique_name, snapshot_props(big, small))
    bridge.start()
    # GIVEN the bridge killed while the snapshot is in flight (some rows already in Kafka)
    topic = f"{unique_name}.public.{big}"
    wait_until(lambda: 0 < _topic_size(kafka_bootstrap, topic) < rows, timeout=120, interval=0.05,
               what="the snapshot to be in flight")
    os.kill(bridge.proc.pid, signal.SIGKILL)
    bridge.proc.wait(30)
    wait_until(lambda: not child_pids(bridge.proc.pid), what="children to exit")
    # THEN no permanent slot records a snapshot that did not finish
    assert not slot_exists(pg, slot)

    # WHEN it starts again, the snapshot is taken whole
    bridge.start()
    ids = set()

    def complete(events):
        ids.update(e.key["payload"]["id"] for e in events[len(seen):] if e.value)
        seen[:] = events
        return len(ids) == rows

    seen: list = []

    consume_until(kafka_bootstrap, topic, complete, timeout=300)
    wait_until(lambda: slot_active(pg, slot), timeout=60, what="streaming after the snapshot")
    assert bridge.stop() == 0, bridge.log()


def test_snapshot_modes_initial_only_and_existing_slot(pg, bridge_factory, kafka_bootstrap, unique_name):
    big, small = make_tables(pg, unique_name, rows=10)
    slot = f"{unique_name}_slot"
    # GIVEN snapshot.mode=initial_only: the snapshot, then a clean exit without a slot
    bridge = bridge_factory(unique_name, snapshot_props(big, small, **{"debezium.source.snapshot.mode": "initial_only"}))
    bridge.start()
    assert bridge.proc.wait(120) == 0, bridge.log()
    assert len(consume(kafka_bootstrap, f"{unique_name}.public.{big}", count=10)) == 10
    assert not slot_exists(pg, slot)
    # WHEN the slot exists (it streamed before), initial_only has nothing to do: no snapshot, no streaming
    with pg.cursor() as cur:
        cur.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
        cur.execute(f"INSERT INTO {big} VALUES (11, 0, 'after')")
    bridge.start()
    assert bridge.proc.wait(120) == 0, bridge.log()
    assert "slot " + slot + " exists, so there is no snapshot to take; not streaming" in bridge.log()
    assert topic_size(kafka_bootstrap, f"{unique_name}.public.{big}") == 10  # nothing streamed


def test_select_statement_override_and_no_snapshot_when_the_slot_exists(pg, bridge_factory, kafka_bootstrap,
                                                                        unique_name):
    big, small = make_tables(pg, unique_name, rows=10)
    slot = f"{unique_name}_slot"
    override = "debezium.source.snapshot.select.statement.overrides"
    bridge = bridge_factory(unique_name, snapshot_props(big, small, **{
        override: f"public.{big}",
        f"{override}.public.{big}": f"SELECT * FROM public.{big} WHERE id <= 3",
    }))
    bridge.start()
    events = consume(kafka_bootstrap, f"{unique_name}.public.{big}", count=3)
    assert sorted(e.key["payload"]["id"] for e in events) == [1, 2, 3]
    wait_until(lambda: slot_active(pg, slot), what="streaming after the snapshot")
    assert bridge.stop() == 0, bridge.log()

    # WHEN it starts again with the slot in place, it streams on without a new snapshot
    bridge.start()
    wait_until(lambda: slot_active(pg, slot), what="streaming again")
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {big} VALUES (11, 0, 'after')")
    events = consume(kafka_bootstrap, f"{unique_name}.public.{big}", count=4)
    assert [e.value["payload"]["op"] for e in events] == ["r", "r", "r", "c"]
    assert bridge.stop() == 0, bridge.log()
