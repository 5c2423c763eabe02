"""The snapshot reader against a real PostgreSQL 15: consistency with the slot's stream under
concurrent writes, parallel = serial, values identical to pgoutput's, select overrides."""

from __future__ import annotations

import random
import select
import threading
import time
from collections import Counter
from collections.abc import Iterator

import psycopg2
import psycopg2.extras
import pytest

from bridge.convert.values import REPLICATION_SESSION_OPTIONS
from bridge.errors import ConfigError, ReplicationSetupError
from bridge.pgoutput.messages import Commit, Delete, Insert, LogicalMessage, Relation, Update
from bridge.pgoutput.protocol import PgOutputDecoder
from bridge.snapshot.copytext import Row
from bridge.snapshot.parallel import SnapshotBatch, SnapshotReader
from bridge.snapshot.plan import TablePlan, plan_snapshot
from bridge.snapshot.reader import copy_rows, open_snapshot_session
from bridge.snapshot.selection import TableSelection
from bridge.source.slots import ExportedSlot, create_slot_with_snapshot

DONE = "snapshot-test-done"


class Scene:
    """A schema with its publication and slots, all dropped at the end."""

    def __init__(self, pg, pg_dsn: str, name: str) -> None:
        self.pg, self.dsn, self.name = pg, pg_dsn, name
        self.schema = self.publication = name
        self.slots: list[str] = []
        self.sql(f"CREATE SCHEMA {name}")

    def sql(self, statement: str, params=None) -> list[tuple]:
        with self.pg.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else []

    def publish(self) -> None:
        self.sql(f"CREATE PUBLICATION {self.publication} FOR TABLES IN SCHEMA {self.schema}")

    def connect(self) -> psycopg2.extensions.connection:
        return psycopg2.connect(self.dsn)

    def exported_slot(self, suffix: str = "snap") -> ExportedSlot:
        self.slots.append(f"{self.name}_{suffix}")
        repl = psycopg2.connect(self.dsn, connection_factory=psycopg2.extras.LogicalReplicationConnection)
        return create_slot_with_snapshot(repl, self.slots[-1])

    def plain_slot(self, suffix: str) -> str:
        self.slots.append(f"{self.name}_{suffix}")
        self.sql("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (self.slots[-1],))
        return self.slots[-1]

    def sessions(self, slot: ExportedSlot, count: int) -> list[psycopg2.extensions.connection]:
        return [open_snapshot_session(self.connect, slot.snapshot_name) for _ in range(count)]

    def stream(self, slot: str) -> list:
        """Decoded pgoutput messages of `slot` up to the DONE logical message emitted now."""
        self.sql("SELECT pg_logical_emit_message(false, %s, '')", (DONE,))
        conn = psycopg2.connect(self.dsn, connection_factory=psycopg2.extras.LogicalReplicationConnection,
                                options=REPLICATION_SESSION_OPTIONS)
        try:
            cur = conn.cursor()
            cur.start_replication(slot_name=slot, decode=False, options={
                "proto_version": "1", "publication_names": self.publication, "messages": "true"})
            decoder, messages = PgOutputDecoder(1), []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                raw = cur.read_message()
                if raw is None:
                    select.select([conn], [], [], 1.0)
                    continue
                message = decoder.decode(raw.payload)
                if isinstance(message, LogicalMessage) and message.prefix == DONE:
                    return messages
                messages.append(message)
            raise AssertionError(f"no {DONE} message from slot {slot} within 60s")
        finally:
            conn.close()

    def drop(self) -> None:
        for slot in self.slots:
            self.sql("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                     "WHERE slot_name = %s AND NOT active", (slot,))
        self.sql(f"DROP PUBLICATION IF EXISTS {self.publication}")
        self.sql(f"DROP SCHEMA {self.schema} CASCADE")


@pytest.fixture
def scene(pg, pg_dsn, unique_name) -> Iterator[Scene]:
    made = Scene(pg, pg_dsn, unique_name)
    yield made
    made.drop()


def read(sessions, tables: list[TablePlan], **kwargs) -> list[SnapshotBatch]:
    with SnapshotReader(sessions, tables, **kwargs) as reader:
        return list(reader)


def rows_of(batches: list[SnapshotBatch], table: str) -> list[Row]:
    return [row for b in batches if b.table.relation.name == table for row in b.rows]


def current_rows(conn, query: str, ncols: int) -> list[Row]:
    """Rows of `query` as pgoutput text, read outside any snapshot (the final state)."""
    got: list[Row] = []
    copy_rows(conn, query, ncols, batch_rows=1000, emit=got.extend)
    return got


class Writer(threading.Thread):
    """Small transactions of inserts, updates and deletes on `table` until stopped."""

    def __init__(self, dsn: str, table: str, first_new_id: int) -> None:
        super().__init__(daemon=True)
        self.dsn, self.table, self.next_id = dsn, table, first_new_id
        self.stop = threading.Event()
        self.commits = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        rnd = random.Random(7)
        conn = psycopg2.connect(self.dsn)
        try:
            with conn.cursor() as cur:
                while not self.stop.is_set():
                    for _ in range(rnd.randint(1, 4)):
                        op = rnd.random()
                        if op < 0.5:
                            cur.execute(f"INSERT INTO {self.table} VALUES (%s, %s, %s)",
                                        (self.next_id, self.next_id, f"new\t{self.next_id}\\"))
                            self.next_id += 1
                        elif op < 0.85:
                            cur.execute(f"UPDATE {self.table} SET v = v + 1, note = note || 'u' WHERE id = %s",
                                        (rnd.randrange(self.next_id),))
                        else:
                            cur.execute(f"DELETE FROM {self.table} WHERE id = %s", (rnd.randrange(self.next_id),))
                    conn.commit()
                    self.commits += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            conn.close()


def test_snapshot_plus_stream_is_exactly_the_final_table(scene):
    # GIVEN a table under a steady stream of small write transactions
    table = f"{scene.schema}.items"
    scene.sql(f"CREATE TABLE {table} (id int PRIMARY KEY, v int NOT NULL, note text)")
    scene.sql(f"INSERT INTO {table} SELECT g, g, 'row ' || g FROM generate_series(0, 4999) g")
    scene.publish()
    writer = Writer(scene.dsn, table, 5000)
    writer.start()
    try:
        time.sleep(0.3)
        # WHEN the slot is created with an exported snapshot mid-traffic, and the snapshot read
        slot = scene.exported_slot()
        sessions = scene.sessions(slot, 2)
        slot.release()
        commits_at_snapshot = writer.commits
        plan = plan_snapshot(sessions[0], scene.publication, TableSelection(), max_threads=2, chunk_pages=4)
        batches = read(sessions, plan, fetch_size=500)
        time.sleep(0.3)
    finally:
        writer.stop.set()
        writer.join(30)
    assert writer.error is None and writer.commits > commits_at_snapshot > 0
    assert len(plan[0].queries) > 1

    # AND the slot's changes are applied on top of the snapshot
    state = {row[0]: row for row in rows_of(batches, "items")}
    snapshot_size = len(state)
    changes = 0
    for message in scene.stream(slot.slot_name):
        if isinstance(message, Insert):
            assert message.new[0] not in state, f"duplicate: insert of id {message.new[0]!r} already in the snapshot"
            state[message.new[0]] = message.new
        elif isinstance(message, Update):
            assert message.new[0] in state, f"gap: update of id {message.new[0]!r} never inserted"
            state[message.new[0]] = message.new
        elif isinstance(message, Delete):
            assert message.old[0] in state, f"gap: delete of id {message.old[0]!r} never inserted"
            del state[message.old[0]]
        elif isinstance(message, Commit):
            assert message.commit_lsn >= slot.consistent_point
            changes += 1
    assert changes > 0 and snapshot_size >= 5000 - 1000

    # THEN the result is exactly the table's final content
    with scene.connect() as conn:
        final = current_rows(conn, f"SELECT id, v, note FROM {table}", 3)
    assert state == {row[0]: row for row in final}


def test_parallel_chunked_read_equals_serial_read(scene):
    # GIVEN an integer-keyed table, a text-keyed one, a keyless one with duplicate rows, an empty one
    s = scene.schema
    scene.sql(f"CREATE TABLE {s}.by_int (id bigint PRIMARY KEY, payload text)")
    scene.sql(f"INSERT INTO {s}.by_int SELECT g * 7 - 3000, repeat(md5(g::text), g % 5) "
              "FROM generate_series(1, 20000) g")
    scene.sql(f"CREATE TABLE {s}.by_text (k text PRIMARY KEY, n numeric)")
    scene.sql(f"INSERT INTO {s}.by_text SELECT 'k' || g, g / 7.0 FROM generate_series(1, 15000) g")
    scene.sql(f"CREATE TABLE {s}.keyless (a int, b text)")
    scene.sql(f"ALTER TABLE {s}.keyless REPLICA IDENTITY FULL")
    scene.sql(f"INSERT INTO {s}.keyless SELECT g % 100, CASE WHEN g % 3 = 0 THEN NULL ELSE 'x\\y' END "
              "FROM generate_series(1, 12000) g")
    scene.sql(f"CREATE TABLE {s}.empty (a int)")
    scene.sql(f"ANALYZE {s}.by_int, {s}.by_text, {s}.keyless")
    scene.publish()

    # WHEN one snapshot is read by 1 session unchunked and by 4 sessions in chunks, while rows change
    slot = scene.exported_slot()
    sessions = scene.sessions(slot, 5)
    slot.release()
    scene.sql(f"UPDATE {s}.by_int SET payload = 'changed' WHERE id % 2 = 0")
    scene.sql(f"DELETE FROM {s}.keyless WHERE a < 50")
    serial_plan = plan_snapshot(sessions[0], scene.publication, TableSelection(), max_threads=1)
    parallel_plan = plan_snapshot(sessions[1], scene.publication, TableSelection(), max_threads=4, chunk_pages=8)
    serial = read(sessions[:1], serial_plan, fetch_size=1000)
    parallel = read(sessions[1:], parallel_plan, fetch_size=1000)

    # THEN the parallel plan really is chunked, by key range or by ctid range
    queries = {p.relation.name: p.queries for p in parallel_plan}
    assert [p.relation.name for p in parallel_plan] == ["by_int", "by_text", "empty", "keyless"]
    assert len(queries["by_int"]) > 2 and all('"id"' in q for q in queries["by_int"][:2])
    assert len(queries["by_text"]) > 2 and "ctid < '(" in queries["by_text"][0]
    assert len(queries["keyless"]) > 2 and len(queries["empty"]) == 1
    assert [len(p.queries) for p in serial_plan] == [1, 1, 1, 1]
    # AND both read the same multiset of rows, of the snapshot (not of the later changes)
    for name in ("by_int", "by_text", "keyless"):
        assert Counter(rows_of(serial, name)) == Counter(rows_of(parallel, name)), name
    assert len(rows_of(parallel, "by_int")) == 20000 and b"changed" not in {r[1] for r in rows_of(parallel, "by_int")}
    assert len(rows_of(parallel, "keyless")) == 12000
    assert rows_of(parallel, "by_text")[0][1] is not None
    # AND the markers are the serial ones
    marks = [b.marker(i) for b in parallel for i in range(len(b.rows))]
    assert marks[0] == "first" and marks[-1] == "last"
    assert Counter(marks)["first_in_data_collection"] == 2 and Counter(marks)["last_in_data_collection"] == 2


TYPED_COLUMNS = [
    ("c_int2", "smallint", "-32768"),
    ("c_int8", "bigint", "9223372036854775807"),
    ("c_num", "numeric(12,3)", "-1234.5"),
    ("c_num_free", "numeric", "'NaN'"),
    ("c_real", "real", "'-Infinity'"),
    ("c_float", "double precision", "0.1"),
    ("c_bool", "boolean", "true"),
    ("c_text", "text", "E'tab\\there\\nnewline\\rcr\\\\back\\bbs\\fff\\vvt ž☃ \\\\N'"),
    ("c_empty", "text", "''"),
    ("c_varchar", "varchar(20)", "'a,b;c'"),
    ("c_char", "char(5)", "'ab'"),
    ("c_qchar", '"char"', "'x'"),
    ("c_bytea", "bytea", "'\\x00015c7f0a09ff'::bytea"),
    ("c_date", "date", "'2016-11-04'"),
    ("c_time", "time(3)", "'13:51:30.123456'"),
    ("c_timetz", "timetz", "'13:51:30+05:30'"),
    ("c_ts", "timestamp", "'infinity'"),
    ("c_tstz", "timestamptz", "'2016-11-04 13:51:30.123456+02'"),
    ("c_interval", "interval", "'1 year 2 mons 3 days 04:05:06.78'"),
    ("c_uuid", "uuid", "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'"),
    ("c_json", "json", """'{"a": "q\\"uote", "b": [1, null]}'"""),
    ("c_jsonb", "jsonb", """'{"b": 1, "a": "x\\\\y"}'"""),
    ("c_xml", "xml", "'<foo>bar</foo>'"),
    ("c_inet", "inet", "'192.168.2.1'"),
    ("c_mac", "macaddr", "'08-00-2b-01-02-03'"),
    ("c_money", "money", "-1234.11"),
    ("c_bits", "bit(3)", "B'101'"),
    ("c_varbit", "varbit(8)", "B'1'"),
    ("c_range", "tsrange", "'[2019-03-31 15:30:00, infinity)'"),
    ("c_ints", "int[]", "'{1,NULL,3}'"),
    ("c_texts", "text[]", """ARRAY['a b', 'c"d', NULL, 'e\\f', '']"""),
    ("c_point", "point", "'(1.5,-2)'"),
    ("c_tsvector", "tsvector", "'b a a'"),
    ("c_mood", "mood", "'happy'"),
    ("c_price", "price", "12.5"),
    ("c_pair", "pair", "ROW(1, 'x y')"),
]


def test_values_are_byte_for_byte_what_pgoutput_sends(scene):
    # GIVEN a table of many types (plus a dropped and a generated column pgoutput leaves out)
    s = scene.schema
    scene.sql(f"CREATE TYPE {s}.mood AS ENUM ('sad', 'happy')")
    scene.sql(f"CREATE DOMAIN {s}.price AS numeric(10,2)")
    scene.sql(f"CREATE TYPE {s}.pair AS (n int, t text)")
    scene.sql(f"SET search_path = {s}, public")
    columns = ", ".join(f"{name} {typ}" for name, typ, _ in TYPED_COLUMNS)
    scene.sql(f"CREATE TABLE {s}.typed (id int PRIMARY KEY, gone int, {columns}, "
              "twice int GENERATED ALWAYS AS (id * 2) STORED)")
    scene.sql(f"ALTER TABLE {s}.typed DROP COLUMN gone")
    scene.publish()
    streamed_slot = scene.plain_slot("stream")
    # AND rows inserted after the streaming slot exists: every literal, then all NULLs
    names = ", ".join(name for name, _, _ in TYPED_COLUMNS)
    scene.sql(f"INSERT INTO {s}.typed (id, {names}) VALUES (1, {', '.join(v for _, _, v in TYPED_COLUMNS)})")
    scene.sql(f"INSERT INTO {s}.typed (id) VALUES (2)")
    scene.sql(f"INSERT INTO {s}.typed (id, c_text, c_bytea) VALUES (3, E'\\\\', '\\x'::bytea)")
    scene.sql("RESET search_path")

    # WHEN the same rows are read by a snapshot and streamed by pgoutput
    slot = scene.exported_slot()
    sessions = scene.sessions(slot, 1)
    slot.release()
    (plan,) = plan_snapshot(sessions[0], scene.publication, TableSelection())
    snapshot = rows_of(read(sessions, [plan]), "typed")
    messages = scene.stream(streamed_slot)

    # THEN the columns are the Relation message's and the values its Insert tuples, byte for byte
    (relation,) = [m for m in messages if isinstance(m, Relation)]
    assert plan.relation == relation
    assert [c.name for c in plan.relation.columns][:2] == ["id", "c_int2"] and "twice" not in str(plan.relation)
    inserts = [m.new for m in messages if isinstance(m, Insert)]
    assert sorted(snapshot) == sorted(inserts)
    assert len(inserts) == 3 and all(len(row) == len(TYPED_COLUMNS) + 1 for row in inserts)


def test_select_statement_overrides_apply(scene):
    # GIVEN an override that keeps even ids and leaves out one column
    s = scene.schema
    scene.sql(f"CREATE TABLE {s}.orders (id int PRIMARY KEY, name text, secret text)")
    scene.sql(f"INSERT INTO {s}.orders SELECT g, 'n' || g, 's' || g FROM generate_series(1, 5000) g")
    scene.sql(f"CREATE TABLE {s}.other (id int PRIMARY KEY)")
    scene.sql(f"INSERT INTO {s}.other VALUES (1)")
    scene.publish()
    selection = TableSelection.from_properties({
        "snapshot.select.statement.overrides": f"{s}.orders",
        f"snapshot.select.statement.overrides.{s}.orders":
            f"SELECT id, upper(name) AS name FROM {s}.orders WHERE id % 2 = 0;",
        "snapshot.include.collection.list": f"{s}\\.orders",
    })

    # WHEN the snapshot is planned for 4 threads with tiny chunks, and read
    slot = scene.exported_slot()
    sessions = scene.sessions(slot, 2)
    slot.release()
    plan = plan_snapshot(sessions[0], scene.publication, selection, max_threads=4, chunk_pages=1)
    batches = read(sessions, plan)

    # THEN only the overridden table is read, in one query, with the override's rows and columns
    assert [p.relation.name for p in plan] == ["orders"] and len(plan[0].queries) == 1
    rows = rows_of(batches, "orders")
    assert len(rows) == 2500
    assert rows[0] == (rows[0][0], b"N" + rows[0][0], None) and int(rows[0][0]) % 2 == 0


def test_the_snapshot_cannot_be_imported_once_the_slot_connection_is_released(scene):
    scene.publish()
    slot = scene.exported_slot()
    slot.release()
    with pytest.raises(ReplicationSetupError, match="exists only while the replication connection"):
        open_snapshot_session(scene.connect, slot.snapshot_name)


def test_an_existing_slot_is_refused(scene):
    scene.publish()
    existing = scene.plain_slot("snap")
    repl = psycopg2.connect(scene.dsn, connection_factory=psycopg2.extras.LogicalReplicationConnection)
    try:
        with pytest.raises(ReplicationSetupError, match=f"slot '{existing}' already exists"):
            create_slot_with_snapshot(repl, existing)
    finally:
        repl.close()


def test_stopping_early_cancels_the_reads_and_ends_the_sessions(scene):
    # GIVEN a table big enough that three workers are still copying when the consumer stops
    scene.sql(f"CREATE TABLE {scene.schema}.big (id int PRIMARY KEY, pad text)")
    scene.sql(f"INSERT INTO {scene.schema}.big SELECT g, repeat('x', 100) FROM generate_series(1, 200000) g")
    scene.publish()
    slot = scene.exported_slot()
    sessions = scene.sessions(slot, 3)
    slot.release()
    pids = [s.get_backend_pid() for s in sessions]
    plan = plan_snapshot(sessions[0], scene.publication, TableSelection(), max_threads=3, chunk_pages=64)
    # WHEN the consumer takes one batch and closes the reader
    with SnapshotReader(sessions, plan, fetch_size=100, max_buffered=1) as reader:
        next(iter(reader))
    # THEN no worker is left and the sessions' backends are gone
    assert not [t for t in threading.enumerate() if t.name.startswith("snapshot-")]
    assert all(s.closed for s in sessions)
    deadline = time.monotonic() + 10
    while scene.sql("SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert scene.sql("SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)) == []


def test_a_broken_override_names_its_key(scene):
    scene.sql(f"CREATE TABLE {scene.schema}.t (id int PRIMARY KEY)")
    scene.publish()
    key = f"snapshot.select.statement.overrides.{scene.schema}.t"
    selection = TableSelection.from_properties({
        "snapshot.select.statement.overrides": f"{scene.schema}.t", key: f"SELECT nope FROM {scene.schema}.t"})
    slot = scene.exported_slot()
    (session,) = scene.sessions(slot, 1)
    slot.release()
    try:
        with pytest.raises(ConfigError, match=f'{key}: ERROR:  column "nope" does not exist'):
            plan_snapshot(session, scene.publication, selection)
    finally:
        session.close()
