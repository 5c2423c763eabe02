"""A Debezium-format consumer nobody on this project wrote accepts pgbridge's output (issue 11).

Debezium's own JDBC sink connector (deploy/local/jdbc-sink/run: Kafka Connect standalone with the
`debezium-connector-jdbc` plugin from Maven Central, JsonConverter with schemas) rebuilds a second
database from pgbridge's topics, and the rebuilt tables must equal the source row for row.

The source tables have a primary key (one of them composite), a variety of types, NOT NULL columns
with DEFAULTs (constants, `now()`, a sequence) and nullable ones, under REPLICA IDENTITY DEFAULT
and FULL. The workload inserts (some rows taking every default), updates (to and from NULL),
changes primary keys, deletes (the before-image of a DEFAULT-identity delete holds the key and
fallbacks for the NOT NULL columns, which must still satisfy the schema) and mixes all of it in one
transaction; tombstones stay on. The sink runs with `errors.tolerance=none`, so a single record it
cannot read or write fails its task: the test fails fast with the task's trace, the first errors
of its log (the record's topic and offset) and the log's tail. At the end the sink's consumer
group must have committed the end of every topic (the last tombstones too) with the task RUNNING.
The worker reads headers as strings (see deploy/local/jdbc-sink/run for why: Debezium's own
topics need it as much).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
import uuid

import psycopg2
import psycopg2.extensions
import pytest
from confluent_kafka.admin import AdminClient

from tests.integration.support import (JDBC_SINK_RUN, JDBC_SINK_STOP, BridgeProcess, drop_slot_and_publication,
                                       group_lag, slot_active, start_bridge_with, topic_size, wait_until)

# name suffix -> (DDL with {t} for the table, key columns)
TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "dflt": ("""
        CREATE TABLE {t} (
            id       bigint PRIMARY KEY,
            name     text NOT NULL DEFAULT 'unnamed',
            qty      integer NOT NULL DEFAULT 0,
            small    smallint NOT NULL DEFAULT 1,
            price    numeric(10,2) NOT NULL DEFAULT 9.99,
            created  timestamptz NOT NULL DEFAULT '2024-01-02 03:04:05+00',
            seen     timestamptz NOT NULL DEFAULT now(),
            local_ts timestamp NOT NULL DEFAULT '2024-01-02 03:04:05.123456',
            day      date NOT NULL DEFAULT '2024-01-01',
            at_time  time,  -- no DEFAULT: the sink writes a time column's default into its CREATE
                            -- TABLE as '<today>T12:00:00Z[UTC]', which PostgreSQL refuses; so it does
                            -- with Debezium 3.7.0's own topics, whose schemas carry the same default
            active   boolean NOT NULL DEFAULT true,
            ratio    double precision,
            real_v   real,
            note     varchar(40),
            uid      uuid,
            doc      jsonb,
            raw      bytea
        )""", ("id",)),
    "full": ("""
        CREATE TABLE {t} (
            region  text,
            n       integer,
            amount  numeric(12,3) NOT NULL DEFAULT 0,
            stamp   timestamptz NOT NULL DEFAULT '2023-06-30 23:59:59.5+02',
            flag    boolean NOT NULL DEFAULT false,
            label   varchar(20) NOT NULL DEFAULT 'none',
            big     bigint,
            ts      timestamp,
            PRIMARY KEY (region, n)
        );
        ALTER TABLE {t} REPLICA IDENTITY FULL""", ("region", "n")),
    "seq": ("""
        CREATE TABLE {t} (
            id     serial PRIMARY KEY,
            amount numeric(12,3) NOT NULL DEFAULT 0,
            ts     timestamptz NOT NULL DEFAULT now(),
            label  text
        )""", ("id",)),
}


def _workload(t: dict[str, str]) -> list[str]:
    """Transactions (one string each) over the tables `t` (suffix -> table name)."""
    d, f, s = t["dflt"], t["full"], t["seq"]
    return [
        # inserts: every default taken; all columns given; nullable ones left NULL
        f"INSERT INTO {d} (id) SELECT g FROM generate_series(1, 10) g",
        f"""INSERT INTO {d} SELECT g, 'row ' || g, g * 3, g, g * 1.25, '2025-03-04 05:06:07.123456+01',
                '2025-05-06 07:08:09+00', '2025-01-01 10:11:12.5', '2025-02-03', '23:59:59.999999', g % 2 = 0,
                g / 7.0, g / 3.0, 'note ' || g, gen_random_uuid(), jsonb_build_object('g', g, 'a', array[g, 2]),
                decode(lpad(to_hex(g), 4, '0'), 'hex')
            FROM generate_series(11, 30) g""",
        f"INSERT INTO {d} (id, name, note) VALUES (31, 'nulls stay', NULL)",
        f"""INSERT INTO {f} (region, n) SELECT r, g FROM unnest(array['north', 'south']) r, generate_series(1, 5) g;
            INSERT INTO {f} VALUES ('east', 1, 12.345, '2020-02-29 12:00:00+00', true, 'leap', 9007199254740993,
                                    '1999-12-31 23:59:59.999999')""",
        f"INSERT INTO {s} (label) SELECT 'l' || g FROM generate_series(1, 12) g",
        f"INSERT INTO {s} (amount, label) VALUES (-0.001, NULL)",
        # updates: values changed, set to NULL and back
        f"UPDATE {d} SET qty = qty + 100, price = price * 2, note = NULL, doc = NULL WHERE id BETWEEN 11 AND 20",
        f"UPDATE {d} SET note = 'back', ratio = -1.5e300, raw = '\\x00ff'::bytea WHERE id BETWEEN 15 AND 17",
        f"UPDATE {d} SET name = 'renamed', active = false, seen = '2001-09-09 01:46:40+00' WHERE id <= 5",
        f"UPDATE {f} SET amount = amount + 1.5, big = n * 1000, ts = '2024-02-29 00:00:00' WHERE region = 'north'",
        f"UPDATE {s} SET amount = id * 2.5, label = NULL WHERE id % 3 = 0",
        # primary-key changes (a delete of the old key, its tombstone, a create of the new one)
        f"UPDATE {d} SET id = id + 1000 WHERE id IN (3, 12)",
        f"UPDATE {f} SET n = n + 100 WHERE region = 'south' AND n IN (1, 2)",
        f"UPDATE {f} SET region = 'west' WHERE region = 'east'",
        f"UPDATE {s} SET id = id + 500 WHERE id = 2",
        # deletes under DEFAULT identity (before-image: the key and fallbacks) and FULL
        f"DELETE FROM {d} WHERE id IN (1, 2, 13, 14, 31)",
        f"DELETE FROM {f} WHERE (region, n) IN (('north', 3), ('south', 101))",
        f"DELETE FROM {s} WHERE id IN (1, 5, 9)",
        # everything in one transaction, including a row inserted and deleted in it
        f"""INSERT INTO {d} (id, name, price) VALUES (40, 'in txn', 1.01), (41, 'short-lived', 2);
            UPDATE {d} SET qty = -1, created = '1970-01-01 00:00:00+00' WHERE id = 40;
            DELETE FROM {d} WHERE id IN (41, 20);
            UPDATE {d} SET id = 2030 WHERE id = 30;
            INSERT INTO {f} (region, n, amount) VALUES ('north', 99, 0.5);
            DELETE FROM {f} WHERE region = 'north' AND n = 5;
            UPDATE {s} SET ts = '2030-01-01 00:00:00+00' WHERE id = 4;
            DELETE FROM {s} WHERE id = 6""",
    ]


def _rows(conn, table: str, columns: list[str], keys: tuple[str, ...]) -> list[tuple]:
    """The rows of `table` as Python values, ordered by key (bytea as bytes and JSON as sorted text,
    to compare and hash)."""
    def comparable(v):
        if isinstance(v, memoryview):
            return bytes(v)
        return json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v

    with conn.cursor() as cur:
        cur.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {', '.join(keys)}")
        return [tuple(comparable(v) for v in row) for row in cur.fetchall()]


def _columns(conn, table: str) -> list[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
                    "AND table_name = %s ORDER BY ordinal_position", (table,))
        return [r[0] for r in cur.fetchall()]


def _table_exists(conn, table: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"public.{table}",))
        return cur.fetchone()[0]


class Sink:
    """The running JDBC sink: its task state over REST and its log, for waits and failures."""

    def __init__(self, name: str, exports: str) -> None:
        self.name = name
        env = dict(line[len("export "):].split("=", 1) for line in exports.splitlines() if line.startswith("export "))
        self.rest = env["BRIDGE_JDBC_SINK_REST"].strip("'")
        self.log_path = env["BRIDGE_JDBC_SINK_LOG"].strip("'")

    def status(self) -> dict:
        with urllib.request.urlopen(f"{self.rest}/connectors/{self.name}/status", timeout=5) as resp:
            return json.load(resp)

    def task_state(self) -> tuple[str, str]:
        tasks = self.status()["tasks"]
        return (tasks[0]["state"], tasks[0].get("trace", "")) if tasks else ("UNASSIGNED", "")

    def log_tail(self, lines: int = 40) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError as exc:
            return f"(no log: {exc})"

    def errors(self) -> list[str]:
        """The log's ERROR lines (with errors.log.include.messages, the first names the record)."""
        with open(self.log_path, errors="replace") as f:
            return [line.rstrip() for line in f if " ERROR " in line or "Invalid null value" in line]

    def why(self) -> str:
        """What to print when the sink failed or fell behind: first errors, then the log's tail."""
        errors = "\n".join(line[:2500] for line in self.errors()[:3])
        return f"first errors in {self.log_path}:\n{errors}\nlast lines:\n{self.log_tail()}"


@pytest.fixture
def jdbc_sink(pg_dsn, kafka_bootstrap):
    """start(name, *key=value) runs the JDBC sink via the script (in the background: the Connect
    JVM starts while the test works) and returns a function that waits for it and gives a Sink;
    stopped and purged afterwards, with its consumer group."""
    env = {**os.environ, "BRIDGE_PG_DSN": pg_dsn, "BRIDGE_KAFKA_BOOTSTRAP": kafka_bootstrap}
    started: list[str] = []

    def start(name: str, *props: str):
        started.append(name)
        proc = subprocess.Popen([str(JDBC_SINK_RUN), name, *props], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

        def ready() -> Sink:
            # The first run fetches Connect and the plugin from Maven Central: allow for it.
            out, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, f"deploy/local/jdbc-sink/run failed (exit {proc.returncode}):\n{err[-5000:]}"
            return Sink(name, out)

        return ready

    yield start
    for name in started:
        subprocess.run([str(JDBC_SINK_STOP), name, "--purge"], env=env, capture_output=True, timeout=120)
    if started:
        admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
        for future in admin.delete_consumer_groups([f"connect-{n}" for n in started]).values():
            try:
                future.result(30)
            except Exception:  # noqa: BLE001 - a group that never formed is not an error here
                pass


def test_debezium_jdbc_sink_rebuilds_the_tables_from_pgbridge_topics(pg_dsn, kafka_bootstrap, tmp_path, jdbc_sink):
    t0 = time.monotonic()
    tag = f"js_{uuid.uuid4().hex[:6]}"
    prefix, target_db = f"{tag}_pgb", f"{tag}_target"
    tables = {suffix: f"{tag}_{suffix}" for suffix in TABLES}
    src = psycopg2.connect(pg_dsn, options="-c TimeZone=UTC")
    src.autocommit = True
    target_dsn = psycopg2.extensions.make_dsn(pg_dsn, dbname=target_db, options="-c TimeZone=UTC")
    dst = None
    bridge: BridgeProcess | None = None
    try:
        # GIVEN the source tables and an empty second database in the same cluster
        with src.cursor() as cur:
            for suffix, (ddl, _) in TABLES.items():
                cur.execute(ddl.format(t=tables[suffix]))
            cur.execute(f'CREATE PUBLICATION "{prefix}_pub" FOR TABLE {", ".join(tables.values())}')
            cur.execute(f'CREATE DATABASE "{target_db}"')
        # AND pgbridge streaming them into Kafka (JSON with schemas, tombstones on)
        bridge = start_bridge_with(tmp_path, pg_dsn, kafka_bootstrap, prefix, {
            "publication.autocreate.mode": "disabled",
            "table.include.list": ",".join(f"public.{t}" for t in tables.values()),
            "tombstones.on.delete": "true",
        })
        # AND Debezium's JDBC sink on its topics, writing to the second database (its JVM starts
        # while the workload runs; it reads the topics from the beginning)
        dsn = psycopg2.extensions.parse_dsn(pg_dsn)
        ready = jdbc_sink(
            f"{tag}_sink",
            f"connection.url=jdbc:postgresql://{dsn['host']}:{dsn['port']}/{target_db}",
            f"topics.regex={prefix}\\.public\\.{tag}_.*",
            "insert.mode=upsert", "delete.enabled=true", "primary.key.mode=record_key",
            "schema.evolution=basic", "errors.tolerance=none",
            # a record it cannot take is logged (topic, partition, offset, the record) before the task fails
            "errors.log.enable=true", "errors.log.include.messages=true",
            # commit consumed offsets each second (not each minute): the end of the test waits for them
            "worker.offset.flush.interval.ms=1000",
        )
        wait_until(lambda: slot_active(src, f"{prefix}_slot") or not bridge.running(), timeout=60,
                   what="pgbridge to stream")
        assert bridge.running(), f"pgbridge stopped:\n{bridge.log()}"

        # WHEN the workload runs: inserts, updates, key changes, deletes, one mixed transaction
        with src.cursor() as cur:
            for txn in _workload(tables):
                cur.execute(txn)
        sink = ready()

        # THEN the sink rebuilds every table equal to the source, and never fails its task
        dst = psycopg2.connect(target_dsn)
        dst.autocommit = True
        columns = {s: _columns(src, t) for s, t in tables.items()}
        # The sink names a table after its topic, dots as underscores.
        rebuilt = {s: f"{prefix}_public_{t}" for s, t in tables.items()}
        expected = {s: _rows(src, t, columns[s], TABLES[s][1]) for s, t in tables.items()}
        got: dict[str, list[tuple]] = {}

        def running() -> bool:
            state, trace = sink.task_state()
            if state != "RUNNING":
                pytest.fail(f"the JDBC sink task is {state}:\n{trace[:2000]}\n{sink.why()}", pytrace=False)
            return True

        def rebuilt_equal() -> bool:
            running()
            for s in tables:
                got[s] = _rows(dst, rebuilt[s], columns[s], TABLES[s][1]) if _table_exists(dst, rebuilt[s]) else []
            return got == expected

        try:
            wait_until(rebuilt_equal, timeout=120, interval=0.5, what="the rebuilt tables to equal the source")
        except AssertionError as exc:
            diff = {s: {"missing": sorted(set(expected[s]) - set(got.get(s, [])), key=str)[:5],
                        "extra": sorted(set(got.get(s, [])) - set(expected[s]), key=str)[:5]} for s in tables}
            raise AssertionError(f"{exc}\ndifferences (first 5 each): {diff}\n{sink.why()}") from None
        # AND it took every record, the tombstones after the last deletes included: its consumer
        # group committed the topics' ends, and its task still runs with nothing logged as an error
        topics = [f"{prefix}.public.{t}" for t in tables.values()]
        wait_until(lambda: running() and not any(group_lag(kafka_bootstrap, f"connect-{sink.name}", topics).values()),
                   timeout=30, interval=0.5, what="the sink to commit every record of its topics")
        assert not sink.errors(), sink.why()
        assert bridge.running(), f"pgbridge stopped:\n{bridge.log()}"

        events = {s: topic_size(kafka_bootstrap, topic) for s, topic in zip(tables, topics)}
        print(f"JDBC sink rebuilt {tag}: rows per table {({s: len(r) for s, r in expected.items()})}, "
              f"events (with tombstones) per topic {events}, {time.monotonic() - t0:.1f} s")
        assert all(expected.values()), "a table ended empty: the comparison would prove nothing"
    finally:
        if bridge is not None and bridge.running():
            bridge.stop()
        if dst is not None:
            dst.close()
        drop_slot_and_publication(src, f"{prefix}_slot", f"{prefix}_pub")
        with src.cursor() as cur:
            for t in tables.values():
                cur.execute(f"DROP TABLE IF EXISTS {t}")
            cur.execute(f'DROP DATABASE IF EXISTS "{target_db}" WITH (FORCE)')
        src.close()
        admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
        topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(f"{prefix}.")]
        if topics:
            for future in admin.delete_topics(topics).values():
                future.result(30)
