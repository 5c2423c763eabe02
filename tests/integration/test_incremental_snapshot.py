"""Incremental snapshots through the signal table while streaming goes on: replaying the topic
rebuilds the table exactly although the rows change during the snapshot; stop-snapshot; a
snapshot interrupted by kill -9 resumes after what Kafka acknowledged."""

from __future__ import annotations

import json
import re
import threading
import time

import psycopg2

from tests.integration.support import Writers, consume_until, slot_active, state_from_events, table_state, wait_until


def make_tables(pg, name: str, rows: int) -> tuple[str, str]:
    table, signal = f"inc_{name}", f"sig_{name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int NOT NULL)")
        cur.execute(f"INSERT INTO {table} SELECT g, 0 FROM generate_series(0, {rows - 1}) g")
        cur.execute(f"CREATE TABLE {signal} (id varchar(64) PRIMARY KEY, type varchar(32) NOT NULL, "
                    "data varchar(2048))")
    return table, signal


def signal(pg, signal_table: str, id_: str, type_: str, data: dict) -> None:
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {signal_table} VALUES (%s, %s, %s)", (id_, type_, json.dumps(data)))


def diff(replayed: dict[int, int], final: dict[int, int], events) -> str:
    """The keys whose replay differs, each with its events (op, v, partition, offset, snapshot marker)."""
    wrong = sorted(k for k in set(replayed) | set(final) if replayed.get(k) != final.get(k))
    history: dict[int, list] = {k: [] for k in wrong[:5]}
    for e in sorted(events, key=lambda e: (e.partition, e.offset)):
        if e.value is None:
            continue
        p = e.value["payload"]
        key = (p["after"] or p["before"])["id"]
        if key in history:
            history[key].append((p["op"], (p["after"] or {}).get("v"), e.partition, e.offset, p["source"]["snapshot"],
                                 p["source"]["lsn"]))
    return (f"{len(wrong)} keys, e.g. " + "; ".join(f"{k}: table {final.get(k)}, replay {replayed.get(k)}, "
                                                      f"events {history[k]}" for k in history))


def bridge_log(bridge) -> str:
    return bridge.log_path.read_text(errors="replace") if bridge.log_path.exists() else ""


def start(pg, bridge_factory, name: str, table: str, signal_table: str, chunk_size: int):
    bridge = bridge_factory(name, {
        "debezium.source.signal.data.collection": f"public.{signal_table}",
        "debezium.source.incremental.snapshot.chunk.size": str(chunk_size),
        "bridge.producers": "2",
    }, tables=[table, signal_table])
    bridge.start()
    wait_until(lambda: slot_active(pg, f"{name}_slot"), what="the bridge to start streaming")
    return bridge


def test_incremental_snapshot_with_concurrent_changes_rebuilds_the_table(pg, pg_dsn, bridge_factory, kafka_bootstrap,
                                                                          unique_name):
    rows = 5000
    table, signal_table = make_tables(pg, unique_name, rows)
    # Small chunks, so that the snapshot lasts long enough to overlap many changes.
    bridge = start(pg, bridge_factory, unique_name, table, signal_table, chunk_size=100)

    # GIVEN writers updating random rows, and others deleting and inserting rows, during the snapshot
    writers = Writers(pg_dsn, table, keys=rows, threads=3, max_updates=3000, pause_s=0.0005).start()
    hot = Writers(pg_dsn, table, keys=300, threads=2, max_updates=3000).start()  # the first chunks' keys
    stop = threading.Event()

    def churn():
        conn = psycopg2.connect(pg_dsn)
        conn.autocommit = True
        with conn.cursor() as cur:
            for i in range(400):  # bounded
                if stop.is_set():
                    break
                cur.execute(f"DELETE FROM {table} WHERE id = %s", ((i * 7919) % rows,))
                cur.execute(f"INSERT INTO {table} VALUES (%s, 1) ON CONFLICT (id) DO UPDATE SET v = {table}.v + 1",
                            ((i * 104729) % rows,))
                cur.execute(f"INSERT INTO {table} VALUES (%s, 1)", (100_000 + i,))
                time.sleep(0.002)
        conn.close()

    churner = threading.Thread(target=churn)
    churner.start()
    time.sleep(0.2)

    # WHEN an incremental snapshot of the table is asked for through the signal table
    signal(pg, signal_table, "ad-hoc-1", "execute-snapshot",
           {"data-collections": [f"public.{table}"], "type": "incremental"})
    wait_until(lambda: "incremental snapshot completed" in bridge_log(bridge), timeout=120,
               what="the incremental snapshot to complete")
    churner.join(120)
    stop.set()
    writers.stop()
    hot.stop()

    # THEN replaying the topic per key, in partition order, gives exactly the table
    final = table_state(pg, table)
    topic = f"{unique_name}.public.{table}"
    seen: list = []

    def rebuilt(ev) -> bool:
        seen[:] = ev
        return state_from_events(ev) == final

    try:
        events = consume_until(kafka_bootstrap, topic, rebuilt, timeout=180, what="the topic to replay into the table")
    except AssertionError:
        raise AssertionError(f"replay differs from the table: {diff(state_from_events(seen), final, seen)}") from None
    reads = [e for e in events if e.value and e.value["payload"]["op"] == "r"]
    assert reads, "no snapshot rows"
    assert {e.value["payload"]["source"]["snapshot"] for e in reads} == {"incremental"}
    read_keys = [e.key["payload"]["id"] for e in reads]
    assert len(read_keys) == len(set(read_keys)), "a row was snapshotted twice"
    end = int(re.search(r"it ends at key \{'id': '(\d+)'\}", bridge_log(bridge))[1])
    assert max(read_keys) <= end, "a row beyond the maximum key fixed at the start was read"
    streamed = {e.key["payload"]["id"] for e in events if e.value and e.value["payload"]["op"] != "r"}
    # Every original row that still exists is covered, by its snapshot row or by a streamed change.
    assert {k for k in final if k < rows} <= set(read_keys) | streamed
    # The watermarks and the signal went to the signal table's own topic, as Debezium does, and
    # so did pgbridge's progress row.
    def types(ev) -> set[str]:
        return {e.value["payload"]["after"]["type"] for e in ev if e.value}

    consume_until(kafka_bootstrap, f"{unique_name}.public.{signal_table}",
                  lambda ev: types(ev) == {"execute-snapshot", "snapshot-window-open", "snapshot-window-close",
                                           "pgbridge-incremental-progress"},
                  timeout=60, what="the signal, the watermarks and the progress row")
    # The window's deduplication was exercised: some chunk rows were superseded by streamed changes.
    superseded = re.search(r"done: \d+ rows in [\d.]+s \((\d+) more superseded", bridge_log(bridge))
    assert superseded and int(superseded[1]) > 0, bridge.log()
    assert "Traceback" not in bridge_log(bridge)
    assert bridge.stop() == 0, bridge.log()


def test_stop_snapshot_stops_it(pg, bridge_factory, kafka_bootstrap, unique_name):
    rows = 20_000
    table, signal_table = make_tables(pg, unique_name, rows)
    bridge = start(pg, bridge_factory, unique_name, table, signal_table, chunk_size=5)

    # GIVEN a running incremental snapshot of 4000 chunks
    signal(pg, signal_table, "ad-hoc-1", "execute-snapshot", {"data-collections": [f"public.{table}"]})
    wait_until(lambda: f"incremental snapshot of public.{table} started" in bridge_log(bridge), timeout=60,
               what="the incremental snapshot to start")
    # WHEN it is stopped
    signal(pg, signal_table, "stop-1", "stop-snapshot",
           {"data-collections": [f"public.{table}"], "type": "incremental"})
    wait_until(lambda: "stop-snapshot 'stop-1' removed" in bridge_log(bridge), timeout=60,
               what="the stop signal to be applied")

    # THEN no further chunk is read: the topic holds part of the table
    topic = f"{unique_name}.public.{table}"
    with pg.cursor() as cur:
        cur.execute(f"UPDATE {table} SET v = 1 WHERE id = {rows - 1}")  # a marker behind the snapshot rows
    events = consume_until(kafka_bootstrap, topic, lambda ev: any(e.value and e.value["payload"]["op"] == "u"
                                                                   for e in ev), timeout=60)
    reads = [e for e in events if e.value and e.value["payload"]["op"] == "r"]
    assert 0 < len(reads) < rows
    time.sleep(1)
    assert f"incremental snapshot of public.{table} done" not in bridge_log(bridge)
    assert len([e for e in consume_until(kafka_bootstrap, topic, lambda ev: len(ev) >= len(events), timeout=60)
                if e.value and e.value["payload"]["op"] == "r"]) == len(reads), "chunks read after the stop"
    assert bridge.stop() == 0, bridge.log()


def test_filtered_publication_includes_the_signal_table(pg, bridge_factory, unique_name):
    table, signal = f"inc_pub_{unique_name}", f"inc_sig_{unique_name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
        cur.execute(f"CREATE TABLE {signal} (id varchar(64) PRIMARY KEY, type varchar(32), data varchar(2048))")
    bridge = bridge_factory(unique_name, {
        "debezium.source.publication.autocreate.mode": "filtered",
        "debezium.source.table.include.list": f"public\\.{table}",
        "debezium.source.signal.data.collection": f"public.{signal}",
    })
    bridge.start()
    wait_until(lambda: slot_active(pg, f"{unique_name}_slot"), what="the bridge to start streaming")
    with pg.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_publication_tables WHERE pubname = %s ORDER BY 1", (f"{unique_name}_pub",))
        assert [r[0] for r in cur.fetchall()] == sorted([table, signal])
    assert bridge.stop() == 0, bridge.log()


def stored_progress(pg, signal_table: str) -> dict | None:
    with pg.cursor() as cur:
        cur.execute(f"SELECT data FROM {signal_table} WHERE type = 'pgbridge-incremental-progress'")
        row = cur.fetchone()
    return None if row is None else json.loads(row[0])


def test_snapshot_interrupted_by_kill_9_resumes_where_kafka_acked_it(pg, bridge_factory, kafka_bootstrap,
                                                                     unique_name):
    rows = 20_000
    table, signal_table = make_tables(pg, unique_name, rows)
    bridge = start(pg, bridge_factory, unique_name, table, signal_table, chunk_size=100)

    # GIVEN an incremental snapshot that has got some way through the table
    signal(pg, signal_table, "ad-hoc-1", "execute-snapshot", {"data-collections": [f"public.{table}"]})

    def progressed() -> bool:
        progress = stored_progress(pg, signal_table)
        return bool(progress and progress["tables"] and progress["tables"][0]["last_key"]
                    and int(progress["tables"][0]["last_key"][0]) >= 2000)

    wait_until(progressed, timeout=120, what="the snapshot's stored progress to pass key 2000")
    # WHEN the bridge is killed mid-snapshot
    bridge.kill()
    progress = stored_progress(pg, signal_table)
    resumed_after = int(progress["tables"][0]["last_key"][0])
    assert resumed_after < rows - 1, "the snapshot finished before the kill: nothing to resume"
    assert progress["tables"][0]["max_key"] == [str(rows - 1)]

    # THEN a restart goes on after the last key Kafka had acknowledged, and completes
    bridge.start()
    wait_until(lambda: "incremental snapshot completed" in bridge_log(bridge), timeout=180,
               what="the resumed snapshot to complete")
    assert f"incremental snapshot resumed from its stored progress: public.{table} after key ['{resumed_after}']" \
        in bridge_log(bridge), bridge.log()
    topic = f"{unique_name}.public.{table}"

    def read_keys(ev) -> list[int]:
        return [e.key["payload"]["id"] for e in ev if e.value and e.value["payload"]["op"] == "r"]

    events = consume_until(kafka_bootstrap, topic, lambda ev: set(read_keys(ev)) == set(range(rows)), timeout=120,
                           what="every row of the table as a snapshot read")
    counts: dict[int, int] = {}
    for key in read_keys(events):
        counts[key] = counts.get(key, 0) + 1
    # Nothing lost; rows up to the stored key were read by the first run only (not from the start
    # again); only rows after it may be read twice, by the chunks Kafka had not acknowledged.
    assert set(counts) == set(range(rows))
    assert all(counts[k] == 1 for k in range(resumed_after + 1)), "rows before the stored progress read again"
    assert all(n <= 2 for n in counts.values())
    print(f"resumed after key {resumed_after}: {sum(n == 2 for n in counts.values())} rows read twice")
    # Once Kafka acked the last chunk, nothing is left to resume.
    wait_until(lambda: stored_progress(pg, signal_table)["tables"] == [], timeout=30, what="the progress to be emptied")
    assert "Traceback" not in bridge_log(bridge)
    assert bridge.stop() == 0, bridge.log()
