"""`bridge sink` beside Debezium's own JDBC sink connector (Kafka Connect, deploy/local/jdbc-sink),
both given the same connector options and the same pgbridge topics, each writing into a database
of its own: the tables they make (`schema.evolution=basic`, names from `${topic}`: column types,
nullability, DEFAULTs) and the rows they hold must be the same, but for the one documented
difference: Debezium's sink writes the unchanged-TOAST placeholder into the target, `bridge sink`
leaves the column alone.
"""

from __future__ import annotations

import os
import subprocess
import uuid

import psycopg2
import psycopg2.extensions
import pytest

from tests.integration.support import (JDBC_SINK_RUN, JDBC_SINK_STOP, BridgeProcess, create_database, drop_database,
                                       drop_slot_and_publication, jdbc_url, rows_as_text, slot_active,
                                       start_bridge_with, wait_until, write_sink_config)

DDL = """
CREATE TABLE {t} (
    id    bigint PRIMARY KEY,
    name  text,
    qty   integer NOT NULL DEFAULT 0,
    price numeric(10,2) DEFAULT 1.50,
    ts    timestamptz,
    day   date DEFAULT '2024-02-29',
    flag  boolean DEFAULT true,
    doc   jsonb,
    raw   bytea,
    uid   uuid,
    big   text
)"""
BIG = "(SELECT string_agg(md5(i::text || {g}::text), '') FROM generate_series(1, 200) i)"
COLUMNS = "id, name, qty, price, ts, day, flag, doc, raw, uid"


def _workload(t: str) -> list[str]:
    return [
        f"INSERT INTO {t} SELECT g, 'n' || g, g, g * 1.25, '2024-05-06 07:08:09.123456+00'::timestamptz + g * "
        f"interval '1 hour', '2024-02-28'::date + g, g % 2 = 0, jsonb_build_object('g', g), "
        f"decode(lpad(to_hex(g), 4, '0'), 'hex'), md5(g::text)::uuid, {BIG.format(g='g')} FROM generate_series(1, 40) g",
        f"UPDATE {t} SET qty = qty * 10, name = NULL WHERE id % 4 = 0",  # big unchanged: the placeholder
        f"UPDATE {t} SET id = id + 1000 WHERE id IN (5, 6)",
        f"DELETE FROM {t} WHERE id IN (7, 8, 9)",
        f"INSERT INTO {t} (id, name) VALUES (100, 'defaults')",
    ]


def _table_shape(dsn: str, table: str) -> list[tuple]:
    return rows_as_text(dsn, "SELECT column_name, data_type, is_nullable, column_default "
                             "FROM information_schema.columns "
                             f"WHERE table_schema = 'public' AND table_name = '{table}' ORDER BY column_name")


@pytest.mark.timeout(900)
def test_bridge_sink_writes_what_debeziums_jdbc_sink_writes(tmp_path, pg, pg_dsn, kafka_bootstrap):
    tag = f"sp{uuid.uuid4().hex[:6]}"
    table, prefix = f"{tag}_items", f"{tag}_pgb"
    ours_db, theirs_db = f"{tag}_ours", f"{tag}_debezium"
    topic = f"{prefix}.public.{table}"
    target_table = topic.replace(".", "_")
    options = {"insert.mode": "upsert", "delete.enabled": "true", "primary.key.mode": "record_key",
               "schema.evolution": "basic", "topics": topic, "errors.tolerance": "none"}
    env = {**os.environ, "BRIDGE_PG_DSN": pg_dsn, "BRIDGE_KAFKA_BOOTSTRAP": kafka_bootstrap}
    bridge: BridgeProcess | None = None
    sink: BridgeProcess | None = None
    debezium_started = False
    try:
        # GIVEN a source table streamed by pgbridge, and two empty target databases
        with pg.cursor() as cur:
            cur.execute(DDL.format(t=table))
            cur.execute(f'CREATE PUBLICATION "{prefix}_pub" FOR TABLE {table}')
        ours, theirs = create_database(pg, pg_dsn, ours_db), create_database(pg, pg_dsn, theirs_db)
        bridge = start_bridge_with(tmp_path, pg_dsn, kafka_bootstrap, prefix, {"publication.autocreate.mode": "disabled"})
        wait_until(lambda: slot_active(pg, f"{prefix}_slot"), timeout=60, what="pgbridge to stream")
        # WHEN the workload runs and both sinks read its topic with the same options
        with pg.cursor() as cur:
            for sql in _workload(table):
                cur.execute(sql)
        config = write_sink_config(tmp_path / "sink.json", f"{tag}_ours", ours, kafka_bootstrap, options)
        sink = BridgeProcess(config, tmp_path / "sink.log", command="sink", args=("--workers", "1"))
        sink.start()
        debezium_started = True
        proc = subprocess.run([str(JDBC_SINK_RUN), f"{tag}_debezium", f"connection.url={jdbc_url(theirs)}",
                               *(f"{k}={v}" for k, v in options.items())],
                              env=env, capture_output=True, text=True, timeout=600, check=False)
        assert proc.returncode == 0, proc.stderr[-4000:]
        # THEN both hold the source's rows (the TOAST column aside), in tables of the same shape
        query = f"SELECT {COLUMNS} FROM {{}} ORDER BY id"
        source_rows = rows_as_text(pg_dsn, query.format(table))

        def caught_up(dsn: str) -> bool:
            try:
                return rows_as_text(dsn, query.format(target_table)) == source_rows
            except psycopg2.errors.UndefinedTable:
                return False
        try:
            wait_until(lambda: caught_up(ours), timeout=120, interval=1, what="bridge sink to catch up")
        except AssertionError as exc:
            got = caught_up(ours) and rows_as_text(ours, query.format(target_table)) or []
            raise AssertionError(f"{exc}: only in the source {sorted(set(source_rows) - set(got))[:2]}, only in the "
                                 f"target {sorted(set(got) - set(source_rows))[:2]}\n{sink.log()}") from None
        wait_until(lambda: caught_up(theirs), timeout=300, interval=1, what="Debezium's JDBC sink to catch up")
        # (ours has the LSN guard's hidden column besides)
        assert [c for c in _table_shape(ours, target_table) if c[0] != "__pgbridge_lsn"] == \
            _table_shape(theirs, target_table)
        keys = ("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                f"WHERE conrelid = '{target_table}'::regclass AND contype = 'p'")
        assert rows_as_text(ours, keys) == rows_as_text(theirs, keys) == [("PRIMARY KEY (id)",)]
        # AND the one difference: Debezium's sink wrote the placeholder where the value was left alone
        big = "SELECT id, big FROM {} WHERE id % 4 = 0 AND id <= 40 ORDER BY id"
        assert rows_as_text(ours, big.format(target_table)) == rows_as_text(pg_dsn, big.format(table))
        assert {v for _, v in rows_as_text(theirs, big.format(target_table))} == {"__debezium_unavailable_value"}
        assert sink.stop() == 0, sink.log()
    finally:
        if sink is not None and sink.running():
            sink.kill()
        if debezium_started:
            subprocess.run([str(JDBC_SINK_STOP), f"{tag}_debezium", "--purge"], env=env, capture_output=True,
                           timeout=120, check=False)
        if bridge is not None and bridge.running():
            bridge.stop()
        drop_slot_and_publication(pg, f"{prefix}_slot", f"{prefix}_pub")
        with pg.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        drop_database(pg, ours_db)
        drop_database(pg, theirs_db)
