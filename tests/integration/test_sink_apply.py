"""The sink's writer (`bridge.sink.apply`) and offsets (`bridge.sink.offsets`) against
PostgreSQL: runs of rows through COPY into a staging table and a merge, a staging table used
twice in one transaction and again after a commit, each row written once and in record order;
the offsets' compare-and-set over several partitions in one statement."""

from __future__ import annotations

import uuid

import psycopg2
import pytest

from bridge.kafka.settings import KafkaConnection
from bridge.sink.apply import Applied, Writer
from bridge.sink.markers import Pruner, markers_table
from bridge.sink.offsets import OffsetsMoved, OffsetStore
from bridge.sink.records import CreatedRun, Readers, one_pair_each
from bridge.sink.settings import SinkConfig
from bridge.sink.statements import truncates_table
from bridge.sink.target import connect
from tests.fakes import KafkaMessage
from tests.integration.support import sink_delete, sink_record, sink_truncate

pytestmark = pytest.mark.integration

@pytest.fixture
def target(pg_dsn):
    conn = psycopg2.connect(pg_dsn)
    schema = f"sink_apply_{uuid.uuid4().hex[:8]}"
    with conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {schema}")
        cur.execute(f"CREATE TABLE {schema}.t (id bigint PRIMARY KEY, v text, writes int NOT NULL DEFAULT 0)")
        # counts the writes of each row: a row merged twice shows
        cur.execute(f"""CREATE FUNCTION {schema}.count() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN NEW.writes := coalesce(OLD.writes, 0) + 1; RETURN NEW; END $$""")
        cur.execute(f"CREATE TRIGGER c BEFORE INSERT OR UPDATE ON {schema}.t FOR EACH ROW EXECUTE FUNCTION "
                    f"{schema}.count()")
    conn.commit()
    yield conn, schema
    conn.rollback()
    with conn.cursor() as cur:
        cur.execute(f"DROP SCHEMA {schema} CASCADE")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("insert_mode, guard", [("upsert", "none"), ("upsert", "lsn"), ("insert", "none")])
def test_runs_through_one_staging_table_twice_in_a_transaction_write_each_row_once(target, insert_mode, guard):
    conn, schema = target
    config = SinkConfig(name="s", topics=("t",), topics_regex=None, dsn="", kafka=KafkaConnection({}), consumer={},
                        insert_mode=insert_mode, pk_mode="record_key", table_format=f"{schema}.t",
                        ordering_guard=guard)
    reader, writer = Readers(config, "__debezium_unavailable_value"), Writer(config, config.decode)
    # GIVEN a batch whose repeated keys split it into runs of one shape, and a second batch of it
    # (without the LSN guard, which would skip a row merged twice, only an empty staging table helps);
    # updates, which are never COPYed straight into the table
    first = [sink_record(1, "a", 10, "u"), sink_record(2, "b", 11, "u"), sink_record(3, "c\tx\\y", 12, "u")]
    again = [sink_record(1, "a2", 20, "u"), sink_record(2, "b2", 21, "u"), sink_record(4, "d", 22)]
    changes = [reader.read("t", 0, n, key, value) for n, (key, value) in enumerate(first + again)]
    if insert_mode == "insert":  # new keys only: a plain INSERT
        changes = changes[:3] + [reader.read("t", 0, 9, *sink_record(5, "e", 30, "u"))]
    with conn.cursor() as cur:
        # WHEN both runs are written in one transaction, then another batch after the commit
        applied = writer.write(cur, changes)
        conn.commit()
        writer.target.committed()
        later = [reader.read("t", 1, n, *sink_record(10 + n, "later", 40 + n, "u")) for n in range(2)]
        writer.write(cur, later)
        conn.commit()
        writer.target.committed()
        cur.execute(f"SELECT id, v, writes FROM {schema}.t ORDER BY id")
        rows = cur.fetchall()
    # THEN every row holds its last value, each change written exactly once
    assert applied.statements == (2 if insert_mode == "upsert" else 1) and applied.direct == 0
    if insert_mode == "upsert":
        assert rows == [(1, "a2", 2), (2, "b2", 2), (3, "c\tx\\y", 1), (4, "d", 1), (10, "later", 1),
                        (11, "later", 1)]
    else:
        assert rows == [(1, "a", 1), (2, "b", 1), (3, "c\tx\\y", 1), (5, "e", 1), (10, "later", 1), (11, "later", 1)]


def _config(schema: str, **options) -> SinkConfig:
    return SinkConfig(name="s", topics=("t",), topics_regex=None, dsn="", kafka=KafkaConnection({}), consumer={},
                      pk_mode="record_key", table_format=f"{schema}.t", **{"insert_mode": "upsert", **options})


def _write(conn, reader, writer, records, partition=0) -> Applied:
    changes = [reader.read("t", partition, n, key, value) for n, (key, value) in enumerate(records)]
    with conn.cursor() as cur:
        applied = writer.write(cur, changes)
    conn.commit()
    writer.target.committed()
    return applied


def _rows(conn, table: str) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT id, v, writes FROM {table} ORDER BY id")
        rows = cur.fetchall()
    conn.commit()
    return rows


def test_a_run_of_creates_is_copied_straight_in_and_one_meeting_existing_rows_is_merged(target):
    conn, schema = target
    config = _config(schema)
    reader, writer = Readers(config, "__debezium_unavailable_value"), Writer(config, config.decode)
    # GIVEN a run of creates of new keys: COPYed straight into the table (its trigger runs per row)
    applied = _write(conn, reader, writer, [sink_record(1, "a", 10), sink_record(2, "b", 11), sink_record(3, "c", 12)])
    assert applied.direct == 1 and applied.rows == {f"{schema}.t": 3}
    assert _rows(conn, f"{schema}.t") == [(1, "a", 1), (2, "b", 1), (3, "c", 1)]
    # WHEN a run of creates meets rows the table holds (a replay: key 2 older, key 3 newer) and a new key
    applied = _write(conn, reader, writer, [sink_record(2, "old", 5), sink_record(3, "c2", 20), sink_record(4, "d", 21)])
    # THEN the COPY is rolled back to its savepoint and the run merged: the guard skips the older
    # change, the newer one updates, the new key is inserted, each written once
    assert applied.direct == 0 and applied.guard_skips == 1
    assert _rows(conn, f"{schema}.t") == [(1, "a", 1), (2, "b", 1), (3, "c2", 2), (4, "d", 1)]
    # AND the table's next run skips the direct COPY (backing off), the one after tries it again
    assert _write(conn, reader, writer, [sink_record(5, "e", 30), sink_record(6, "f", 31)]).direct == 0
    assert _write(conn, reader, writer, [sink_record(7, "g", 32), sink_record(8, "h", 33)]).direct == 1
    # AND updates are merged whatever their keys
    assert _write(conn, reader, writer, [sink_record(9, "i", 40, "u"), sink_record(10, "j", 41, "u")]).direct == 0
    assert [r[0] for r in _rows(conn, f"{schema}.t")] == list(range(1, 11))


def test_no_direct_copy_into_a_table_with_rules_nor_of_creates_older_than_a_truncate(target):
    conn, schema = target
    with conn.cursor() as cur:  # COPY would not run the rule: the merge's INSERT does
        cur.execute(f"CREATE TABLE {schema}.seen (id bigint)")
        cur.execute(f"CREATE RULE log AS ON INSERT TO {schema}.t DO ALSO INSERT INTO {schema}.seen VALUES (NEW.id)")
    conn.commit()
    inserting = _config(schema, insert_mode="insert")  # PostgreSQL refuses ON CONFLICT with such rules
    writer = Writer(inserting, inserting.decode)
    reader = Readers(inserting, "__debezium_unavailable_value")
    assert _write(conn, reader, writer, [sink_record(1, "a", 10), sink_record(2, "b", 11)]).direct == 0
    with conn.cursor() as cur:
        cur.execute(f"SELECT id FROM {schema}.seen ORDER BY id")
        assert cur.fetchall() == [(1,), (2,)]
        cur.execute(f"DROP RULE log ON {schema}.t")
    conn.commit()
    # GIVEN the table truncated at LSN 100 (no rule now: a new writer reads the catalog afresh)
    config = _config(schema, truncate_enabled=True, truncates_table="truncates")
    reader, writer = Readers(config, "__debezium_unavailable_value"), Writer(config, config.decode)
    with conn.cursor() as cur:
        cur.execute(f"SET search_path = {schema}")  # the truncates table in the test's schema
        cur.execute(truncates_table(config.truncates_table))
    conn.commit()
    _write(conn, reader, writer, [sink_truncate(100)])
    # WHEN a run of creates from before and after it arrives (another partition, a replay)
    applied = _write(conn, reader, writer, [sink_record(3, "c", 50), sink_record(4, "d", 150)], partition=1)
    # THEN it is merged, which leaves the older create out; creates all newer than it go straight in
    assert applied.direct == 0 and _rows(conn, f"{schema}.t") == [(4, "d", 1)]
    assert _write(conn, reader, writer, [sink_record(5, "e", 160), sink_record(6, "f", 170)]).direct == 1
    assert _rows(conn, f"{schema}.t") == [(4, "d", 1), (5, "e", 1), (6, "f", 1)]


def test_creates_into_a_generated_always_identity_key_are_refused_as_insert_refuses_them(target):
    conn, schema = target
    with conn.cursor() as cur:  # COPY would write the column (as OVERRIDING SYSTEM VALUE): the merge refuses
        cur.execute(f"CREATE TABLE {schema}.g (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text)")
    conn.commit()
    config = SinkConfig(name="s", topics=("t",), topics_regex=None, dsn="", kafka=KafkaConnection({}), consumer={},
                        insert_mode="upsert", pk_mode="record_key", table_format=f"{schema}.g")
    reader, writer = Readers(config, "__debezium_unavailable_value"), Writer(config, config.decode)
    with pytest.raises(psycopg2.errors.GeneratedAlways), conn.cursor() as cur:
        writer.write(cur, [reader.read("t", 0, n, *sink_record(n, "a", 10 + n)) for n in (1, 2)])
    conn.rollback()
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {schema}.g")
        assert cur.fetchone() == (0,)


def test_offsets_of_several_partitions_are_compared_and_set_together(target):
    conn, schema = target
    table = "offsets"  # in the test's schema (search_path): the store quotes its name as one identifier
    mine, other = OffsetStore(table, "g"), OffsetStore(table, "g")
    with conn.cursor() as cur:
        cur.execute(f"SET search_path = {schema}")
        mine.create(cur)
        conn.commit()
        # GIVEN partitions this worker stored before (compared) and one it has not (inserted)
        mine.read(cur, [("t", 0), ("t", 1)])
        mine.write(cur, {("t", 0): 5, ("t", 1): 7})
        conn.commit()
        mine.committed({("t", 0): 5, ("t", 1): 7})
        mine.read(cur, [("t", 2)])
        mine.write(cur, {("t", 0): 9, ("t", 1): 11, ("t", 2): 3})
        conn.commit()
        mine.committed({("t", 0): 9, ("t", 1): 11, ("t", 2): 3})
        assert mine.read(cur, [("t", 0), ("t", 1), ("t", 2)]) == {("t", 0): 9, ("t", 1): 11, ("t", 2): 3}
        conn.commit()
        # WHEN another worker moved one of them meanwhile
        other.read(cur, [("t", 1)])
        other.write(cur, {("t", 1): 20})
        conn.commit()
        # THEN this worker's next write is refused as a whole, and nothing of it stays
        with pytest.raises(OffsetsMoved, match=r"t\[1\]"):
            mine.write(cur, {("t", 0): 12, ("t", 1): 14})
        conn.rollback()
        assert OffsetStore(table, "g").read(cur, [("t", 0), ("t", 1)]) == {("t", 0): 9, ("t", 1): 20}


@pytest.mark.parametrize("others", [0, 1])  # the row alone (VALUES) or in a run of two (COPY and merge)
def test_a_delete_marker_keeps_an_older_insert_from_resurrecting_the_row(target, others):
    conn, schema = target
    config = SinkConfig(name="s", topics=("t",), topics_regex=None, dsn="", kafka=KafkaConnection({}), consumer={},
                        insert_mode="upsert", pk_mode="record_key", delete_enabled=True, table_format=f"{schema}.t",
                        delete_markers=True, delete_markers_table="marks")
    reader, writer = Readers(config, "__debezium_unavailable_value"), Writer(config, config.decode)

    marked = []

    def write(record) -> list[str]:
        """Key 1's `record` (and key 2's, in the same run): key 1's value after it."""
        changes = [reader.read("t", 0, 0, *record(id_)) for id_ in range(1, 2 + others)]
        with conn.cursor() as cur:
            marked.append(writer.write(cur, changes).marked)
        conn.commit()
        writer.target.committed()
        with conn.cursor() as cur:
            cur.execute(f"SELECT v FROM {schema}.t WHERE id = 1")
            return [v for (v,) in cur.fetchall()]

    with conn.cursor() as cur:
        cur.execute(f"SET search_path = {schema}")
        for sql in markers_table("marks"):
            cur.execute(sql)
    conn.commit()
    # GIVEN a row inserted at LSN 10 and deleted at LSN 20
    assert write(lambda i: sink_record(i, "a", 10)) == ["a"]
    assert write(lambda i: sink_delete(i, 20)) == []
    # WHEN the insert at LSN 10 comes again (a redelivery, another topic, a replay), or an update at 15
    assert write(lambda i: sink_record(i, "a", 10)) == []
    assert write(lambda i: sink_record(i, "b", 15, "u")) == []
    # THEN the row stays deleted; a newer insert re-creates it, and the delete, arriving again, leaves it
    assert write(lambda i: sink_record(i, "c", 30)) == ["c"]
    assert write(lambda i: sink_delete(i, 20)) == ["c"]
    # AND the writer counted each delete it wrote with its marker (the metric), nothing else
    assert marked == [0, 1 + others, 0, 0, 0, 1 + others]
    with conn.cursor() as cur:
        cur.execute("SELECT table_name, key, lsn FROM marks WHERE key = '(1)'")
        assert cur.fetchall() == [(f"{schema}.t", "(1)", 20)]


def test_pruning_drops_the_markers_past_their_retention_only(target):
    conn, schema = target
    with conn.cursor() as cur:
        cur.execute(f"SET search_path = {schema}")
        for sql in markers_table("marks"):
            cur.execute(sql)
        # GIVEN markers written two hours ago and one a minute ago
        cur.execute("INSERT INTO marks (table_name, key, lsn, marked_at) SELECT 't', '(' || i || ')', i, "
                    "now() - interval '2 hours' FROM generate_series(1, 3) i")
        cur.execute("INSERT INTO marks (table_name, key, lsn, marked_at) VALUES ('t', '(9)', 9, now() - interval '1 minute')")
    conn.commit()
    # WHEN a worker prunes with a retention of an hour
    assert Pruner("marks", 3_600_000).prune(conn) == 3
    # THEN only the recent one is left
    with conn.cursor() as cur:
        cur.execute("SELECT key FROM marks")
        assert cur.fetchall() == [("(9)",)]


@pytest.fixture
def latin1(pg_dsn):
    """A database in LATIN1 holding `t (id, v text)`, a sink config writing into it, its reader
    and writer; yields (its DSN, reader, writer)."""
    admin = psycopg2.connect(pg_dsn)
    admin.autocommit = True
    name = f"sink_latin1_{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name} ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
    dsn = psycopg2.extensions.make_dsn(pg_dsn, dbname=name)
    try:
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE t (id bigint PRIMARY KEY, v text)")
        conn.close()
        config = SinkConfig(name="s", topics=("t",), topics_regex=None, dsn="", kafka=KafkaConnection({}),
                            consumer={}, insert_mode="upsert", pk_mode="record_key", table_format="t",
                            ordering_guard="none")
        yield dsn, Readers(config, "__debezium_unavailable_value"), Writer(config, config.decode)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def _latin1_rows(conn) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute("SELECT id, v FROM t ORDER BY id")
        return cur.fetchall()


@pytest.mark.parametrize("op", ["c", "u"])  # a create is COPYed straight into the table, an update merged
def test_text_is_copied_in_the_target_s_own_encoding(latin1, op):
    # GIVEN a LATIN1 database reached in its own encoding (the client's unless it sets another) and
    # values outside ASCII that LATIN1 holds
    dsn, reader, writer = latin1
    conn = psycopg2.connect(dsn)
    assert conn.encoding == "LATIN1"
    texts = {1: "café crème", 2: "Ärger über Öl", 3: "ñ\tà\\ÿ"}
    changes = [reader.read("t", 0, n, *sink_record(n, v, n, op)) for n, v in texts.items()]
    # WHEN the writer COPYs them in
    with conn.cursor() as cur:
        applied = writer.write(cur, changes)
    conn.commit()
    # THEN the target holds them as they were, by the path the operation takes
    assert applied.direct == (1 if op == "c" else 0)
    assert dict(_latin1_rows(conn)) == texts
    conn.close()


def test_a_character_the_target_s_encoding_cannot_hold_refuses_that_record_alone(latin1):
    # GIVEN the LATIN1 database reached as the sink reaches it (`target.connect`: UTF8 client
    # encoding) and a batch one of whose rows holds a character LATIN1 has not
    dsn, reader, writer = latin1
    conn = connect(dsn)
    assert conn.encoding == "UTF8"
    texts = {1: "café", 2: "10 €", 3: "Öl"}
    pairs = [(n, reader.read("t", 0, n, *sink_record(n, v, n))) for n, v in texts.items()]
    # WHEN the batch is written: PostgreSQL refuses it (not Python, before it is sent)
    with conn.cursor() as cur:
        with pytest.raises(psycopg2.errors.UntranslatableCharacter):
            writer.write(cur, [change for _, change in pairs])
    conn.rollback()
    writer.target.forget()
    # THEN written record by record (the worker's fallback) that record alone is refused, named
    with conn.cursor() as cur:
        applied, refused = writer.write_each(cur, pairs)
    conn.commit()
    assert [record for record, _ in refused] == [2]
    assert "LATIN1" in str(refused[0][1]) and refused[0][1].stage == "TASK_PUT"
    assert _latin1_rows(conn) == [(1, "café"), (3, "Öl")]
    conn.close()


def _batch(reader, writer, records, first_offset: int) -> list:
    messages = [KafkaMessage("t", 0, first_offset + n, *record) for n, record in enumerate(records)]
    return reader.read_batch(messages, writer.current_plan, {}, [])


def test_runs_of_creates_read_into_copy_lines_are_written_as_their_changes_would_be(target):
    conn, schema = target
    with conn.cursor() as cur:
        cur.execute(f"ALTER TABLE {schema}.t ADD CHECK (v <> 'refused')")
    conn.commit()
    config = _config(schema)
    reader, writer = Readers(config, "__debezium_unavailable_value"), Writer(config, config.decode)
    # GIVEN a first batch, written as changes (the writer makes its plan of their layout)
    first = _batch(reader, writer, [sink_record(n, f"v{n}", 10 + n) for n in (1, 2, 3)], 0)
    assert not any(isinstance(c, CreatedRun) for _, c in first)
    with conn.cursor() as cur:
        writer.write(cur, [c for _, c in first])
    conn.commit()
    writer.target.committed()
    # WHEN the next batch of creates is read with that plan: one run, COPYed straight into the table
    run = _batch(reader, writer, [sink_record(n, f"v{n}", 10 + n) for n in (4, 5, 6)], 3)
    assert [type(c) for _, c in run] == [CreatedRun]
    with conn.cursor() as cur:
        applied = writer.write(cur, [c for _, c in run])
    conn.commit()
    writer.target.committed()
    assert applied.direct == 1 and applied.rows == {f"{schema}.t": 3}
    assert _rows(conn, f"{schema}.t") == [(n, f"v{n}", 1) for n in range(1, 7)]
    # AND a run read before a rollback (its plan stale) is written as its changes: the same rows
    stale = _batch(reader, writer, [sink_record(n, f"v{n}", 10 + n) for n in (7, 8)], 6)
    assert [type(c) for _, c in stale] == [CreatedRun]
    writer.target.forget()
    with conn.cursor() as cur:
        applied = writer.write(cur, [c for _, c in stale])
    conn.commit()
    writer.target.committed()
    assert applied.rows == {f"{schema}.t": 2} and [r[0] for r in _rows(conn, f"{schema}.t")] == list(range(1, 9))
    # AND a run holding a record the target refuses: the batch fails, then, record by record, only
    # that record is refused and the others are written once
    refusing = _batch(reader, writer, [sink_record(9, "v9", 40), sink_record(10, "refused", 41),
                                       sink_record(11, "v11", 42)], 8)
    assert [type(c) for _, c in refusing] == [CreatedRun]
    with pytest.raises(psycopg2.errors.CheckViolation), conn.cursor() as cur:
        writer.write(cur, [c for _, c in refusing])
    conn.rollback()
    writer.target.forget()
    with conn.cursor() as cur:
        applied, refused = writer.write_each(cur, one_pair_each(refusing))
    conn.commit()
    assert [m.offset() for m, _ in refused] == [9] and "refused" in str(refused[0][1])
    assert _rows(conn, f"{schema}.t") == [(n, f"v{n}", 1) for n in range(1, 10)] + [(11, "v11", 1)]
