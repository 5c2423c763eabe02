"""schema.name.adjustment.mode and field.name.adjustment.mode, live against a real Debezium 3.7.0
with JsonConverter (schemas on).

pgbridge and Debezium (deploy/local/debezium/run) read table `"odd-table"`, whose key column is
`1st-col` and whose other column `v-x`, with both modes set to `avro`, then to `avro_unicode`.
Rows go through the snapshot, an insert, an update and a delete; every topic is then compared
key by key, schemas included (tests/integration/parity.py). The names hold no `_` of their own
(the topic prefix and schema name included): `avro_unicode` spells `_` as `_u005f`, and the
comparison renames the two runs' prefixes where they stand as they are.
"""

from __future__ import annotations

import json
import os
import uuid

import psycopg2
import pytest

from tests.integration import parity
from tests.integration.support import clean_up_pair, slot_active, start_bridge_with, start_debezium_with, wait_until

NAMES = {"avro": ("odd_table", "_1st_col", "v_x"),
         "avro_unicode": ("odd_u002dtable", "_u0031st_u002dcol", "v_u002dx")}


def _ended(prefix: str, schema: str):
    return lambda records: any(r.topic == f"{prefix}.{schema}.odd-table" and r.value is None for r in records)


@pytest.mark.parametrize("mode", list(NAMES))
def test_adjusted_names_match_debezium(mode, pg_dsn, kafka_bootstrap, tmp_path):
    tag = f"na{uuid.uuid4().hex[:6]}"
    schema, dbz, ours = f"{tag}s", f"{tag}dbz", f"{tag}pgb"
    env = {**os.environ, "BRIDGE_PG_DSN": pg_dsn, "BRIDGE_KAFKA_BOOTSTRAP": kafka_bootstrap}
    conn = psycopg2.connect(pg_dsn)
    conn.autocommit = True
    slots = {dbz: f"{dbz}_pub", f"{ours}_slot": f"{ours}_pub"}
    bridge, dbz_started = None, False
    try:
        # GIVEN a table whose name and columns Avro cannot spell, with a row for the snapshot
        parity.run_sql(conn, [f"CREATE SCHEMA {schema}",
                              f'CREATE TABLE {schema}."odd-table" ("1st-col" int PRIMARY KEY, "v-x" text)',
                              f'INSERT INTO {schema}."odd-table" VALUES (1, \'snap\')',
                              *(f'CREATE PUBLICATION "{p}" FOR TABLE {schema}."odd-table"' for p in slots.values())])
        options = {"snapshot.mode": "initial", "publication.autocreate.mode": "disabled",
                   "schema.include.list": schema, "message.prefix.include.list": tag,
                   "schema.name.adjustment.mode": mode, "field.name.adjustment.mode": mode}
        # AND pgbridge and the real Debezium with the same options, both streaming
        bridge = start_bridge_with(tmp_path, pg_dsn, kafka_bootstrap, ours, options)
        dbz_started = True
        start_debezium_with(tmp_path, dbz, options, env)
        wait_until(lambda: slot_active(conn, f"{ours}_slot") or not bridge.running(), timeout=60,
                   what="pgbridge to stream")
        assert bridge.running(), f"pgbridge stopped:\n{bridge.log()}"

        # WHEN rows are inserted, updated and deleted
        parity.run_sql(conn, [f'INSERT INTO {schema}."odd-table" VALUES (2, \'two\')',
                              f'UPDATE {schema}."odd-table" SET "v-x" = \'changed\' WHERE "1st-col" = 1',
                              f'DELETE FROM {schema}."odd-table" WHERE "1st-col" = 2'])
        got_dbz, got_ours = parity.consume_together(
            kafka_bootstrap, dict(prefix=dbz, done=_ended(dbz, schema), quiet=2.0, timeout=90),
            dict(prefix=ours, done=_ended(ours, schema), quiet=1.0, timeout=60, alive=bridge.running))
        assert bridge.stop() == 0, bridge.log()

        # THEN Debezium adjusted the names as expected: its topic keeps the table's name
        table, key_field, value_field = NAMES[mode]
        record = next(r for r in got_dbz if r.value is not None and json.loads(r.value)["payload"]["op"] == "c")
        assert record.topic == f"{dbz}.{schema}.odd-table"
        value, key = json.loads(record.value), json.loads(record.key)
        assert value["schema"]["name"] == f"{dbz}.{schema}.{table}.Envelope"
        assert key["payload"] == {key_field: 2} and value["payload"]["after"] == {key_field: 2, value_field: "two"}
        # AND pgbridge's records equal Debezium's, key by key, schemas included
        problems = parity.compare(got_dbz, parity.Run(dbz, None), got_ours, parity.Run(ours, None),
                                  ignored=parity.LIVE_IGNORED, allowed=(
                                      parity.Allowed(r"[^.]+\.[^.]+", r"value\.payload\.source\.(txId|lsn|sequence|ts_(ms|us|ns))",
                                                     "snapshot position and time: each connector snapshots at its own "
                                                     "slot's consistent point", when=r'value\.payload\.op = "r"'),
                                      parity.Allowed(r"[^.]+\.[^.]+", r"value\.payload\.source\.sequence",
                                                     "the previous commit: the two slots start at different points of "
                                                     "a shared database's WAL")))
        assert not problems, parity.report(problems)
    finally:
        clean_up_pair(conn, env, bridge, dbz, dbz_started, slots, (schema,), kafka_bootstrap, (f"{dbz}.", f"{ours}."))
