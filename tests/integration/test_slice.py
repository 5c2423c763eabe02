"""The first end-to-end slice against real PostgreSQL and Kafka: changes arrive as Debezium
events in order, and a stop/start loses nothing."""

from __future__ import annotations

import psycopg2.extras

from tests.integration.support import confirmed_flush, consume, slot_active, wait_until


def test_insert_update_delete_arrive_as_debezium_events_in_order(pg, bridge_factory, kafka_bootstrap, unique_name):
    table = f"items_{unique_name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, name text NOT NULL, qty int)")
    bridge = bridge_factory(unique_name)
    bridge.start()
    wait_until(lambda: slot_active(pg, f"{unique_name}_slot"), what="the bridge to start streaming")

    # GIVEN three inserts in one transaction, then an update and a delete in their own
    with pg.cursor() as cur:
        cur.execute("BEGIN")
        psycopg2.extras.execute_values(cur, f"INSERT INTO {table} VALUES %s",
                                       [(1, "apple", 5), (2, "pear", None), (3, "plum", 7)])
        cur.execute("COMMIT")
        cur.execute(f"UPDATE {table} SET qty = 6, name = 'green apple' WHERE id = 1")
        cur.execute(f"DELETE FROM {table} WHERE id = 2")

    # WHEN the topic is read back
    events = consume(kafka_bootstrap, f"{unique_name}.public.{table}", count=6)

    # THEN keys, ops, before/after and order match what Debezium emits
    keys = [e.key["payload"] for e in events]
    assert keys == [{"id": 1}, {"id": 2}, {"id": 3}, {"id": 1}, {"id": 2}, {"id": 2}]
    assert events[0].key["schema"]["name"] == f"{unique_name}.public.{table}.Key"
    payloads = [None if e.value is None else e.value["payload"] for e in events]
    assert [p and p["op"] for p in payloads] == ["c", "c", "c", "u", "d", None]
    assert payloads[0]["before"] is None
    assert payloads[0]["after"] == {"id": 1, "name": "apple", "qty": 5}
    assert payloads[1]["after"] == {"id": 2, "name": "pear", "qty": None}
    assert payloads[3]["before"] is None  # REPLICA IDENTITY DEFAULT sends no old row
    assert payloads[3]["after"] == {"id": 1, "name": "green apple", "qty": 6}
    assert payloads[4]["before"]["id"] == 2 and payloads[4]["after"] is None
    assert events[5].value is None  # the tombstone after a delete

    source = payloads[0]["source"]
    assert source["connector"] == "postgresql"
    assert source["name"] == unique_name
    assert source["db"] == "bridge"
    assert (source["schema"], source["table"]) == ("public", table)
    assert source["snapshot"] == "false"
    assert payloads[0]["source"]["txId"] == payloads[2]["source"]["txId"]  # one transaction
    assert payloads[3]["source"]["txId"] > payloads[0]["source"]["txId"]
    lsns = [p["source"]["lsn"] for p in payloads if p]
    assert lsns == sorted(lsns)
    assert list(payloads[0]) == ["before", "after", "source", "transaction", "op", "ts_ms", "ts_us", "ts_ns"]

    assert bridge.stop() == 0, bridge.log()


def test_stop_write_restart_loses_nothing(pg, bridge_factory, kafka_bootstrap, unique_name):
    table = f"resume_{unique_name}"
    slot = f"{unique_name}_slot"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, note text)")
    bridge = bridge_factory(unique_name, tables=[table])
    bridge.start()
    wait_until(lambda: slot_active(pg, slot), what="the bridge to start streaming")

    def write(ids):
        with pg.cursor() as cur:
            for i in ids:  # one transaction per row
                cur.execute(f"INSERT INTO {table} VALUES (%s, %s)", (i, f"row {i}"))

    # GIVEN rows written while the bridge runs, and the bridge then stopped cleanly
    write(range(0, 50))
    consume(kafka_bootstrap, f"{unique_name}.public.{table}", count=50)
    assert bridge.stop() == 0, bridge.log()
    flushed_at_stop = confirmed_flush(pg, slot)

    # WHEN more rows are committed while it is down, and it starts again
    write(range(50, 120))
    bridge.start()
    wait_until(lambda: slot_active(pg, slot), what="the bridge to restart")
    write(range(120, 150))

    # THEN every committed row is in Kafka, in commit order, and the slot moved on
    events = consume(kafka_bootstrap, f"{unique_name}.public.{table}", count=150)
    ids = [e.value["payload"]["after"]["id"] for e in events]
    assert sorted(set(ids)) == list(range(150)), "missing rows"
    first_seen = sorted(range(150), key=ids.index)
    assert first_seen == list(range(150)), "rows out of commit order"
    assert bridge.stop() == 0, bridge.log()
    assert confirmed_flush(pg, slot) > flushed_at_stop


def test_slot_drop_on_stop(pg, bridge_factory, unique_name):
    bridge = bridge_factory(unique_name, {"debezium.source.slot.drop.on.stop": "true"})
    bridge.start()
    slot = f"{unique_name}_slot"
    wait_until(lambda: slot_active(pg, slot), what="the bridge to start streaming")
    assert bridge.stop() == 0, bridge.log()
    with pg.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s", (slot,))
        assert cur.fetchone()[0] == 0


def test_lsn_flush_mode_manual_never_confirms_the_slot(pg, bridge_factory, kafka_bootstrap, unique_name):
    table = f"manual_{unique_name}"
    slot = f"{unique_name}_slot"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
    bridge = bridge_factory(unique_name, {"debezium.source.lsn.flush.mode": "manual"}, tables=[table])
    bridge.start()
    wait_until(lambda: slot_active(pg, slot), what="the bridge to start streaming")
    with pg.cursor() as cur:
        cur.execute("SELECT pg_current_wal_insert_lsn()")
        (start,) = cur.fetchone()
        cur.execute(f"INSERT INTO {table} SELECT generate_series(1, 10)")
    consume(kafka_bootstrap, f"{unique_name}.public.{table}", count=10)
    assert bridge.stop() == 0, bridge.log()
    # THEN the events were delivered, but the slot was not confirmed past any of them (someone
    # else confirms). Before the first change reaches it, psycopg2 answers the server's
    # keepalives with their position, which can move the slot over WAL that held nothing for
    # it: hence "before the transaction", not "where it was".
    with pg.cursor() as cur:
        cur.execute("SELECT %s::pg_lsn - '0/0'::pg_lsn", (start,))
        (start_lsn,) = cur.fetchone()
    assert confirmed_flush(pg, slot) <= int(start_lsn)
