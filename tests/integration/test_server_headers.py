"""A Debezium Server file's headers, end to end: pgbridge given a Debezium Server
`application.properties` (default header format: json) writes the header bytes a real Debezium
Server 3.6.1 wrote for the same changes (tests/data/debezium-server/headers.json), record by
record and in order; only the names (topic prefix, schema) and the runId differ."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.support import (BridgeProcess, consume, drop_slot_and_publication, slot_active, wait_until,
                                       write_properties)

GOLDEN = json.loads((Path(__file__).resolve().parents[1] / "data" / "debezium-server" / "headers.json").read_text())


def test_a_debezium_server_file_writes_debezium_servers_header_bytes(pg, pg_dsn, kafka_bootstrap, unique_name,
                                                                     tmp_path):
    # GIVEN the captured run's tables, in a schema named as the topic prefix (as the capture's)
    name = unique_name
    slot, publication = f"{name}_slot", f"{name}_pub"
    with pg.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {name}")
        cur.execute(f"CREATE TABLE {name}.items (id int PRIMARY KEY, name text NOT NULL)")
        cur.execute(f"CREATE TABLE {name}.pair (a int, b text, v text, PRIMARY KEY (a, b))")
        cur.execute(f'CREATE PUBLICATION "{publication}" FOR TABLE {name}.items, {name}.pair')
    cfg = write_properties(tmp_path / "application.properties", pg_dsn, kafka_bootstrap, prefix=name, slot=slot,
                           publication=publication, connect_headers=False,
                           extra={"debezium.source.publication.autocreate.mode": "disabled"})
    bridge = BridgeProcess(cfg, tmp_path / "bridge.log")
    try:
        bridge.start()
        wait_until(lambda: slot_active(pg, slot), what="the bridge to start streaming")
        # WHEN the captured changes are made: insert, update, key change, delete; insert, key change
        with pg.cursor() as cur:
            for sql in ("INSERT INTO {s}.items VALUES (1, 'one')", "UPDATE {s}.items SET name = 'uno' WHERE id = 1",
                        "UPDATE {s}.items SET id = 2 WHERE id = 1", "DELETE FROM {s}.items WHERE id = 2",
                        "INSERT INTO {s}.pair VALUES (1, 'x', 'v')", "UPDATE {s}.pair SET b = 'y' WHERE a = 1"):
                cur.execute(sql.format(s=name))
        # THEN each record's headers are Debezium Server's bytes, in its order
        for table in ("items", "pair"):
            expected = [r["headers"] for r in GOLDEN["schemas_on"] if r["topic"] == f"hdrsrv.hdrsrv.{table}"]
            events = consume(kafka_bootstrap, f"{name}.{name}.{table}", count=len(expected))
            run_id = events[0].headers["__debezium.context.runId"]
            got = [[[k, v.decode()] for k, v in e.headers.items()] for e in events]
            golden_run = json.loads(expected[0][3][1])["payload"]
            assert got == json.loads(json.dumps(expected).replace("hdrsrv", name)
                                     .replace(golden_run, json.loads(run_id)["payload"]))
        assert bridge.stop() == 0, bridge.log()
    finally:
        if bridge.running():
            bridge.kill()
        drop_slot_and_publication(pg, slot, publication)
        with pg.cursor() as cur:
            cur.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
