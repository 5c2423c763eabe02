"""Heartbeats: Debezium's topic, key and value, and heartbeat.action.query."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.support import consume, wait_until
from tests.integration.support import slot_active

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "debezium" / "heartbeat.jsonl"


def test_heartbeats_match_debezium_and_run_the_action_query(pg, bridge_factory, kafka_bootstrap, unique_name):
    table = f"hb_{unique_name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id serial PRIMARY KEY, at timestamptz DEFAULT now())")
    bridge = bridge_factory(unique_name, {
        "debezium.source.heartbeat.interval.ms": "200",
        "debezium.source.heartbeat.action.query": f"INSERT INTO {table} DEFAULT VALUES",
    }, tables=[table])
    bridge.start()
    wait_until(lambda: slot_active(pg, f"{unique_name}_slot"), what="the bridge to start streaming")

    # WHEN the database is idle for a while
    events = consume(kafka_bootstrap, f"__debezium-heartbeat.{unique_name}", count=3, timeout=30)

    # THEN heartbeats look exactly like Debezium's (captured from a real one), ts_ms aside
    golden = json.loads(GOLDEN.read_text().splitlines()[0])
    golden_prefix = golden["key"]["payload"]["serverName"]
    assert events[0].key == json.loads(json.dumps(golden["key"]).replace(golden_prefix, unique_name))
    assert events[0].value["schema"] == golden["value"]["schema"]
    stamps = [e.value["payload"]["ts_ms"] for e in events]
    assert stamps == sorted(stamps) and stamps[-1] - stamps[0] >= 300
    assert all(e.headers == {} for e in events)  # Debezium sends heartbeats without headers

    # AND the action query ran on the same interval (its rows also flow through the bridge)
    with pg.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {table}")
        assert cur.fetchone()[0] >= 2
    consume(kafka_bootstrap, f"{unique_name}.public.{table}", count=2)
    assert bridge.stop() == 0, bridge.log()
