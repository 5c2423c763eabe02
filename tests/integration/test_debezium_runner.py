"""The real Debezium runs here: deploy/local/debezium/run starts Kafka Connect standalone with the
Debezium PostgreSQL connector against the local services, and its events land in Kafka.

This is what pgbridge's parity checks stand on, so it is an ordinary integration test: when
Java, Maven or the download fail, it fails with the script's message (never skipped).
"""

from __future__ import annotations

import os
import subprocess
import uuid

import psycopg2
import pytest
from confluent_kafka.admin import AdminClient

from tests.integration.support import REPO, consume, wait_until

RUN = REPO / "deploy" / "local" / "debezium" / "run"
STOP = REPO / "deploy" / "local" / "debezium" / "stop"


@pytest.fixture
def debezium(pg_dsn, kafka_bootstrap):
    """start(name, *key=value) runs Debezium via the script; everything is stopped and its slot,
    publication and topics removed afterwards."""
    env = {**os.environ, "BRIDGE_PG_DSN": pg_dsn, "BRIDGE_KAFKA_BOOTSTRAP": kafka_bootstrap}
    started: list[str] = []

    def start(name: str, *props: str) -> None:
        started.append(name)
        # The first run fetches Connect and the plugin from Maven Central: allow for it.
        proc = subprocess.run([str(RUN), name, *props], env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"deploy/local/debezium/run failed (exit {proc.returncode}):\n{proc.stderr[-5000:]}"

    yield start

    conn = psycopg2.connect(pg_dsn)
    conn.autocommit = True
    try:
        for name in started:
            subprocess.run([str(STOP), name, "--purge"], env=env, capture_output=True, timeout=120)
            with conn.cursor() as cur:
                # The walsender may take a moment to notice its client is gone.
                wait_until(lambda: _slot_idle(cur, name), timeout=30, what=f"slot {name} to become inactive")
                cur.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                            "WHERE slot_name = %s", (name,))
                cur.execute(f'DROP PUBLICATION IF EXISTS "{name}_pub"')
        admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
        topics = [t for t in admin.list_topics(timeout=10).topics
                  if any(t.startswith(f"{n}.") for n in started)]
        if topics:
            for future in admin.delete_topics(topics).values():
                future.result(30)
    finally:
        conn.close()


def _slot_idle(cur, slot: str) -> bool:
    cur.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,))
    row = cur.fetchone()
    return row is None or not row[0]


def test_real_debezium_streams_insert_update_delete(pg, debezium, kafka_bootstrap):
    name = f"dbz_{uuid.uuid4().hex[:8]}"
    table = f"runner_{name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, note text, qty int)")
    try:
        # GIVEN Debezium streaming (no snapshot) through its own filtered publication and slot
        debezium(name, "snapshot.mode=no_data", "publication.autocreate.mode=filtered",
                 f"table.include.list=public.{table}")

        # WHEN a row is inserted, updated and deleted, each in its own transaction
        with pg.cursor() as cur:
            cur.execute(f"INSERT INTO {table} VALUES (1, 'first', 5)")
            cur.execute(f"UPDATE {table} SET note = 'second' WHERE id = 1")
            cur.execute(f"DELETE FROM {table} WHERE id = 1")

        # THEN Debezium wrote c, u, d and a tombstone, all under the key {"id": 1}
        events = consume(kafka_bootstrap, f"{name}.public.{table}", count=4, timeout=60)
    finally:
        with pg.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")

    assert len(events) == 4
    assert [e.key["payload"] for e in events] == [{"id": 1}] * 4
    assert events[0].key["schema"]["name"] == f"{name}.public.{table}.Key"
    payloads = [e.value and e.value["payload"] for e in events]
    assert [p and p["op"] for p in payloads] == ["c", "u", "d", None]
    assert events[3].value is None  # tombstones.on.delete=true by default
    assert events[0].value["schema"]["name"] == f"{name}.public.{table}.Envelope"

    assert payloads[0]["before"] is None
    assert payloads[0]["after"] == {"id": 1, "note": "first", "qty": 5}
    assert payloads[1]["before"] is None  # REPLICA IDENTITY DEFAULT: no old row on update
    assert payloads[1]["after"] == {"id": 1, "note": "second", "qty": 5}
    assert payloads[2]["before"] == {"id": 1, "note": None, "qty": None}  # only the key is known
    assert payloads[2]["after"] is None

    source = payloads[0]["source"]
    assert (source["connector"], source["name"], source["db"]) == ("postgresql", name, "bridge")
    assert (source["schema"], source["table"], source["snapshot"]) == ("public", table, "false")
    assert list(payloads[0])[:5] == ["before", "after", "source", "transaction", "op"]
    lsns = [p["source"]["lsn"] for p in payloads[:3]]
    assert lsns == sorted(lsns) and len(set(lsns)) == 3
    # Debezium 3.3+ names the connector on every record, tombstones included.
    for e in events:
        assert e.headers.get("__debezium.context.connectorLogicalName") == name.encode()
        assert e.headers.get("__debezium.context.connectorName") == b"postgresql"
