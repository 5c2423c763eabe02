"""Cut-over from a real Debezium to pgbridge on the same slot and topics: no gap, no duplicate.

Debezium confirms to the slot only after Kafka Connect commits offsets, so at a switch the slot
is usually behind what Debezium emitted. Here Debezium never confirms (`lsn.flush.mode=manual`),
the worst case: without the cut-over pgbridge would emit everything again.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from bridge.cutover.offsets import CutoverConfig, read_offsets_file, select_offset
from bridge.lsn import parse_lsn
from tests.integration.support import REPO, consume_until, topic_size, wait_until

RUN = REPO / "deploy" / "local" / "debezium" / "run"
STOP = REPO / "deploy" / "local" / "debezium" / "stop"


@pytest.fixture
def debezium(pg_dsn, kafka_bootstrap):
    """start(name, *key=value) → Debezium's state dir; stopped and purged afterwards (the slot and
    publication belong to the test's bridge_factory)."""
    env = {**os.environ, "BRIDGE_PG_DSN": pg_dsn, "BRIDGE_KAFKA_BOOTSTRAP": kafka_bootstrap}
    started: list[str] = []

    def start(name: str, *props: str) -> Path:
        started.append(name)
        proc = subprocess.run([str(RUN), name, *props], env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"deploy/local/debezium/run failed (exit {proc.returncode}):\n{proc.stderr[-5000:]}"
        return Path(re.search(r"^export BRIDGE_DEBEZIUM_LOG='([^']*)'$", proc.stdout, re.MULTILINE).group(1)).parent

    def stop(name: str) -> None:
        proc = subprocess.run([str(STOP), name], env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr

    start.stop = stop
    yield start
    for name in started:
        subprocess.run([str(STOP), name, "--purge"], env=env, capture_output=True, timeout=120)


@pytest.fixture
def drop_topics(kafka_bootstrap):
    prefixes: list[str] = []
    yield prefixes.append
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    topics = [t for t in admin.list_topics(timeout=10).topics if any(t.startswith(p) for p in prefixes)]
    if topics:
        for future in admin.delete_topics(topics).values():
            future.result(30)


def rows(events) -> list[tuple[str, int, int | None]]:
    """(op, id, v) of each change event, tombstones left out."""
    out = []
    for e in events:
        if e.value is not None:
            p = e.value["payload"]
            out.append((p["op"], e.key["payload"]["id"], (p["after"] or {}).get("v")))
    return out


def per_key(changes: list[tuple[str, int, int | None]]) -> dict[int, list[tuple[str, int, int | None]]]:
    out: dict[int, list] = {}
    for change in changes:
        out.setdefault(change[1], []).append(change)
    return out


def slot_confirmed(pg, slot: str) -> int:
    with pg.cursor() as cur:
        cur.execute("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s", (slot,))
        return parse_lsn(cur.fetchone()[0])


def test_switch_from_debezium_on_the_same_slot_emits_each_change_once(
        pg, kafka_bootstrap, unique_name, bridge_factory, debezium, drop_topics):
    prefix = unique_name
    table = f"public.cut_{prefix}"
    topic = f"{prefix}.{table}"
    drop_topics(f"{prefix}.")
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int NOT NULL)")
    expected: list[tuple[str, int, int | None]] = []

    def write(first: int, last: int) -> None:
        """Two transactions: insert ids first..last; then a multi-row one updating them all."""
        with pg.cursor() as cur:
            cur.execute(f"INSERT INTO {table} SELECT g, 0 FROM generate_series(%s, %s) g", (first, last))
            cur.execute(f"BEGIN; UPDATE {table} SET v = id * 10 WHERE id BETWEEN %s AND %s; "
                        f"DELETE FROM {table} WHERE id = %s; COMMIT", (first, last, first))
        expected.extend(("c", i, 0) for i in range(first, last + 1))
        expected.extend(("u", i, i * 10) for i in range(first, last + 1))
        expected.append(("d", first, None))

    # The bridge's slot and publication; Debezium uses them first.
    bridge = bridge_factory(prefix, tables=[table], extra={
        "debezium.source.snapshot.mode": "no_data",
        "bridge.producers": "2",
    })
    slot, publication = f"{prefix}_slot", f"{prefix}_pub"

    try:
        # GIVEN Debezium streaming the table through slot S, never confirming to the slot
        state = debezium(prefix, "snapshot.mode=no_data", f"slot.name={slot}", f"publication.name={publication}",
                         "publication.autocreate.mode=disabled", "lsn.flush.mode=manual",
                         "worker.offset.flush.interval.ms=100")
        offsets_file = state / "offsets.dat"
        write(1, 5)
        write(6, 8)
        dbz_events = consume_until(kafka_bootstrap, topic, lambda ev: len(rows(ev)) >= len(expected), timeout=120)
        assert rows(dbz_events) == expected
        last_lsn = dbz_events[-1].value["payload"]["source"]["lsn"] if dbz_events[-1].value else \
            dbz_events[-2].value["payload"]["source"]["lsn"]
        cfg = CutoverConfig(prefix, prefix, offsets_file=str(offsets_file))
        # ... AND its offset of the last event flushed
        wait_until(lambda: offsets_file.exists() and select_offset(read_offsets_file(offsets_file), cfg).lsn_proc
                   == last_lsn, timeout=60, what="Debezium to flush its offset")
        debezium.stop(prefix)
        offset = select_offset(read_offsets_file(offsets_file), cfg)
        assert offset.lsn_proc == last_lsn
        # (the case this is about: the slot is behind what Debezium emitted)
        assert slot_confirmed(pg, slot) < offset.lsn_commit

        # WHEN more is written while nothing runs, pgbridge starts on the same slot and prefix with
        # the cut-over pointing at Debezium's offsets file, and more is written while it runs
        write(9, 12)
        cfg_path = bridge.config_path
        cfg_path.write_text(cfg_path.read_text() + f"bridge.cutover.offsets.file={offsets_file}\n")
        bridge.start()
        write(13, 15)

        # ... AND later pgbridge restarts with the cut-over keys still set, and more is written
        records = len(dbz_events) + (2 * 4 + 2) + (2 * 3 + 2)  # c + u per id, d + tombstone per write
        wait_until(lambda: topic_size(kafka_bootstrap, topic) >= records, timeout=120, what="pgbridge's events")
        assert bridge.stop() == 0, bridge.log()
        assert "cut-over: skipped" in bridge.log()
        bridge.start()
        write(16, 17)
        wait_until(lambda: topic_size(kafka_bootstrap, topic) >= records + 2 * 2 + 2, timeout=120,
                   what="pgbridge's events after its restart")
        assert bridge.stop() == 0, bridge.log()

        # THEN the topic holds every change exactly once: Debezium's part in commit order, then
        # pgbridge's in per-key order (two producers share the partition)
        events = consume_until(kafka_bootstrap, topic,
                               lambda ev: len(ev) == topic_size(kafka_bootstrap, topic), timeout=60)
        got = rows(events)
        n = len(rows(dbz_events))
        assert got[:n] == expected[:n]
        assert per_key(got[n:]) == per_key(expected[n:]), bridge.log()
    finally:
        if bridge.running():
            bridge.kill()
        with pg.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")


def test_resume_inside_a_transaction_from_an_offsets_topic(
        pg, kafka_bootstrap, unique_name, bridge_factory, drop_topics):
    """An offset taken in the middle of a transaction, two of its three COPY rows (one LSN)
    emitted: pgbridge emits the third and everything after, nothing before."""
    prefix = unique_name
    table = f"public.cutt_{prefix}"
    topic = f"{prefix}.{table}"
    offsets_topic = f"{prefix}_connect_offsets"
    drop_topics(f"{prefix}.")
    drop_topics(offsets_topic)
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int NOT NULL)")
    bridge = bridge_factory(prefix, tables=[table], extra={
        "debezium.source.snapshot.mode": "no_data",
        "bridge.cutover.offsets.topic": offsets_topic,
        "bridge.producers": "1",  # one producer: the check below is in commit order across keys
    })
    slot, publication = f"{prefix}_slot", f"{prefix}_pub"
    try:
        # GIVEN a slot, and transactions A (ids 1, 2), B (COPY 3, 4, 5; update 3), C (id 6)
        with pg.cursor() as cur:
            cur.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
            cur.execute(f"INSERT INTO {table} VALUES (1, 1), (2, 2)")
            cur.execute("BEGIN")
            cur.copy_expert(f"COPY {table} FROM STDIN", io.StringIO("3\t3\n4\t4\n5\t5\n"))
            cur.execute(f"UPDATE {table} SET v = 30 WHERE id = 3")
            cur.execute("COMMIT")
            cur.execute(f"INSERT INTO {table} VALUES (6, 6)")
            cur.execute("SELECT lsn::text, xid::text, get_byte(data, 0) FROM pg_logical_slot_peek_binary_changes("
                        "%s, NULL, NULL, 'proto_version', '1', 'publication_names', %s)", (slot, publication))
            stream = [(parse_lsn(lsn), int(xid), chr(kind)) for lsn, xid, kind in cur.fetchall()]
        commits = [lsn for lsn, _, kind in stream if kind == "C"]
        b_rows = [(lsn, xid) for lsn, xid, kind in stream if kind == "I" and xid != stream[0][1]][:3]
        assert len(commits) == 3 and len({lsn for lsn, _ in b_rows}) == 1, stream  # COPY: one LSN
        copy_lsn, b_xid = b_rows[0]

        # ... AND Connect's offsets topic saying Debezium emitted A and B's first two COPY rows
        # (an older record of the same key, and another connector's, around it)
        key = json.dumps([prefix, {"server": prefix}], separators=(",", ":"))
        stored = {"lsn_proc": copy_lsn, "lsn_events_processed": 2, "messageType": "INSERT",
                  "lsn_commit": commits[0], "lsn": copy_lsn, "txId": b_xid, "ts_usec": 1}
        admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
        for future in admin.create_topics([NewTopic(offsets_topic, 3, 1, config={"cleanup.policy": "compact"})]).values():
            future.result(30)
        producer = Producer({"bootstrap.servers": kafka_bootstrap})
        older = {"lsn_proc": 1, "lsn_commit": 1, "lsn": 1, "messageType": "COMMIT"}
        for k, v in ((key, older), ('["other",{"server":"other"}]', older), (key, stored)):
            producer.produce(offsets_topic, key=k.encode(), value=json.dumps(v).encode(), partition=0)
        assert producer.flush(30) == 0

        # WHEN pgbridge starts with the cut-over reading that topic, and C2 (id 7) follows
        bridge.start()
        with pg.cursor() as cur:
            cur.execute(f"INSERT INTO {table} VALUES (7, 7)")

        # THEN it emits B's third COPY row, B's update, C and C2: each once, nothing of A
        expected = [("c", 5, 5), ("u", 3, 30), ("c", 6, 6), ("c", 7, 7)]
        wait_until(lambda: topic_size(kafka_bootstrap, topic) >= len(expected), timeout=90, what="pgbridge's events")
        assert bridge.stop() == 0, bridge.log()
        events = consume_until(kafka_bootstrap, topic,
                               lambda ev: len(ev) == topic_size(kafka_bootstrap, topic), timeout=60)
        assert rows(events) == expected, bridge.log()
        assert slot_confirmed(pg, slot) > commits[-1]
    finally:
        if bridge.running():
            bridge.kill()
        with pg.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
