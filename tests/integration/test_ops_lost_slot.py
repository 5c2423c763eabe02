"""Lost-slot recovery against real PostgreSQL and Kafka: the slot of a bridge that streamed (and
ran an incremental snapshot, whose progress row remembers the slot) is dropped while the bridge
is stopped; the next start stops with exit 11 and says what to do; with
bridge.slot.lost.recovery=resnapshot it creates a new slot, snapshots every captured table
incrementally while streaming, and every row's latest state arrives in Kafka."""

from __future__ import annotations

import json

import pytest

from bridge.errors import ExitCode
from bridge.snapshot.incremental.progress import progress_id
from tests.integration.support import (
    Writers,
    consume_until,
    slot_active,
    slot_exists,
    state_from_events,
    table_state,
    wait_until,
)

pytestmark = pytest.mark.integration

ROWS = 300


def test_dropped_slot_stops_the_start_then_resnapshot_recovers(pg, pg_dsn, bridge_factory, kafka_bootstrap,
                                                               unique_name):
    table, signals, slot = f"lost_{unique_name}", f"sig_{unique_name}", f"{unique_name}_slot"
    topic = f"{unique_name}.public.{table}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int NOT NULL)")
        cur.execute(f"INSERT INTO {table} SELECT g, 0 FROM generate_series(0, {ROWS - 1}) g")
        cur.execute(f"CREATE TABLE {signals} (id varchar(64) PRIMARY KEY, type varchar(32) NOT NULL, "
                    "data varchar(2048))")
    bridge = bridge_factory(unique_name, {"debezium.source.signal.data.collection": f"public.{signals}",
                                          "debezium.source.incremental.snapshot.chunk.size": "100"},
                            tables=[table, signals])
    # GIVEN a bridge that streamed and snapshotted the table once (its progress row remembers the slot)
    bridge.start()
    wait_until(lambda: slot_active(pg, slot), timeout=60, what="the bridge to stream")
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {signals} VALUES ('first', 'execute-snapshot', %s)",
                    (json.dumps({"data-collections": [f"public.{table}"], "type": "incremental"}),))
    consume_until(kafka_bootstrap, topic, lambda ev: len({e.key["payload"]["id"] for e in ev}) == ROWS, timeout=120,
                  what="the first snapshot")
    wait_until(lambda: _progress_row(pg, signals, slot), timeout=30, what="the progress row")
    assert bridge.stop() == 0
    # WHEN changes commit while it is stopped, and the slot is dropped
    with pg.cursor() as cur:
        cur.execute(f"UPDATE {table} SET v = v + 10 WHERE id % 3 = 0")
        cur.execute(f"INSERT INTO {table} SELECT g, 7 FROM generate_series({ROWS}, {ROWS + 49}) g")
        cur.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
    # THEN the start stops with one line saying so and what to do, and creates no slot
    bridge.start()
    assert bridge.wait(120) == ExitCode.SLOT_LOST, bridge.log()
    assert "does not exist, but pgbridge streamed from it before" in bridge.log()
    assert "bridge.slot.lost.recovery=resnapshot" in bridge.log()
    assert not slot_exists(pg, slot)

    # WHEN it starts with bridge.slot.lost.recovery=resnapshot, with writers running
    with open(bridge.config_path, "a") as f:
        f.write("bridge.slot.lost.recovery=resnapshot\n")
    bridge.start()
    wait_until(lambda: slot_active(pg, slot), timeout=90, what="the new slot to stream")
    writers = Writers(pg_dsn, table, ROWS + 50, threads=2, max_updates=300, pause_s=0.002).start()
    writers.stop()
    final = table_state(pg, table)
    # THEN every row's latest state arrives: the outage's changes by the snapshot, the later ones streamed
    events = consume_until(kafka_bootstrap, topic, lambda ev: state_from_events(ev) == final, timeout=180,
                           what="every row's latest state")
    assert any(e.value["payload"]["source"]["snapshot"] == "incremental" and e.key["payload"]["id"] >= ROWS
               for e in events if e.value), "the rows inserted during the outage came from the snapshot"
    assert "bridge.slot.lost.recovery=resnapshot: created slot" in bridge.log()
    assert "Lost for good" in bridge.log()
    assert bridge.stop() == 0


def _progress_row(pg, signals: str, slot: str) -> bool:
    with pg.cursor() as cur:
        cur.execute(f"SELECT 1 FROM {signals} WHERE id = %s", (progress_id(slot),))
        return cur.fetchone() is not None
