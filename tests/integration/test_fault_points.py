"""The named fault points (`bridge.failpoints`) with a real bridge: the process dies exactly where
the crash loop (tests/integration/crash_loop.py) lands only by chance, and a restart delivers
every change: at least once, and exactly once to a read_committed consumer under exactly once."""

from __future__ import annotations

import re

from bridge import failpoints
from tests.integration.support import (BridgeProcess, check_exactly_once, check_per_key_sequences, confirmed_flush,
                                       consume_until, reached_final, slot_active, slot_exists, state_from_events,
                                       table_state, wait_until)

KEYS = 20


def crash_at(bridge: BridgeProcess, point: str, role: str) -> None:
    """Start `bridge` with `point` armed to kill: its `role` process must die there, and the bridge
    with it."""
    bridge.start(env={failpoints.ENV: f"{point}:kill"})
    code = bridge.wait(180)
    log = bridge.log()
    assert code != 0, log
    assert f"fault point {point}: killing process" in log, log
    assert re.search(rf"ERROR .*: {role}(-\d+)? was killed by SIGKILL", log), log


def streamed_once_then_stopped(pg, bridge: BridgeProcess, slot: str) -> None:
    """A first clean run: the slot exists, and its confirmed position stays put while stopped."""
    bridge.start()
    wait_until(lambda: slot_active(pg, slot), timeout=60, what="the bridge to start streaming")
    assert bridge.stop() == 0, bridge.log()


def write_changes(pg, table: str) -> dict[int, int]:
    """KEYS rows inserted with v = 1, then each updated twice, one transaction per statement."""
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {table} SELECT g, 1 FROM generate_series(0, {KEYS - 1}) g")
        for _ in range(2):
            cur.execute(f"UPDATE {table} SET v = v + 1")
    return {key: 3 for key in range(KEYS)}


def test_killed_before_confirming_redelivers_from_the_last_confirmed_position(pg, bridge_factory, kafka_bootstrap,
                                                                             unique_name):
    table, slot = f"fp_{unique_name}", f"{unique_name}_slot"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int NOT NULL)")
    bridge = bridge_factory(unique_name, tables=[table])
    # GIVEN a slot confirmed up to some position, and changes committed after it
    streamed_once_then_stopped(pg, bridge, slot)
    confirmed = confirmed_flush(pg, slot)
    final = write_changes(pg, table)
    # WHEN the decoder dies as it is about to confirm a new position
    crash_at(bridge, failpoints.BEFORE_CONFIRM, "decoder")
    # THEN PostgreSQL never heard of that position
    assert confirmed_flush(pg, slot) == confirmed
    # AND a restart delivers every change at least once, in per-key order, and confirms past them
    bridge.start()
    events = consume_until(kafka_bootstrap, f"{unique_name}.public.{table}", lambda ev: reached_final(ev, final))
    check_per_key_sequences(events, final)
    wait_until(lambda: confirmed_flush(pg, slot) > confirmed, what="the restarted bridge to confirm")
    assert bridge.stop() == 0, bridge.log()


def test_killed_between_produce_and_kafka_commit_writes_every_change_once(pg, bridge_factory, kafka_bootstrap,
                                                                         unique_name):
    table, slot = f"fp_{unique_name}", f"{unique_name}_slot"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int NOT NULL)")
    bridge = bridge_factory(unique_name, {
        "bridge.producers": "2", "bridge.exactly.once": "true",
        "bridge.exactly.once.offsets.topic": f"{unique_name}_offsets",
        "debezium.source.tombstones.on.delete": "false",
    }, tables=[table])
    # GIVEN exactly once, and changes committed while the bridge is stopped
    streamed_once_then_stopped(pg, bridge, slot)
    final = write_changes(pg, table)
    # WHEN a producer dies with its records and its position marker produced, its Kafka
    # transaction not committed
    crash_at(bridge, failpoints.AFTER_PRODUCE_BEFORE_COMMIT, "producer")
    # THEN after a restart a read_committed consumer sees every change exactly once
    bridge.start()
    events = consume_until(kafka_bootstrap, f"{unique_name}.public.{table}", lambda ev: reached_final(ev, final))
    check_exactly_once(events, final)
    assert bridge.stop() == 0, bridge.log()


def test_killed_mid_snapshot_takes_the_snapshot_again(pg, bridge_factory, kafka_bootstrap, unique_name):
    table, slot, rows = f"fp_{unique_name}", f"{unique_name}_slot", 5000
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int NOT NULL)")
        cur.execute(f"INSERT INTO {table} SELECT g, g % 7 FROM generate_series(1, {rows}) g")
    bridge = bridge_factory(unique_name, {"debezium.source.snapshot.mode": "initial",
                                          "debezium.source.snapshot.fetch.size": "500"}, tables=[table])
    # WHEN the decoder dies after routing a batch of the initial snapshot
    crash_at(bridge, failpoints.MID_SNAPSHOT, "decoder")
    # THEN no permanent slot records a snapshot that did not finish
    assert not slot_exists(pg, slot)
    # AND a restart takes the snapshot whole, then streams
    bridge.start()
    final = table_state(pg, table)
    consume_until(kafka_bootstrap, f"{unique_name}.public.{table}", lambda ev: state_from_events(ev) == final,
                  what=f"all {rows} rows")
    wait_until(lambda: slot_active(pg, slot), timeout=60, what="streaming after the snapshot")
    assert bridge.stop() == 0, bridge.log()
