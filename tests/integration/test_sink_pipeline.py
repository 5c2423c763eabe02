"""`bridge sink` end to end: source tables → `bridge run` → Kafka → `bridge sink` → a second
database, which must equal the source (every column compared as PostgreSQL text).

The workload mixes inserts, updates, deletes, primary-key changes, updates that leave a large
TOASTed column alone (the event carries the unavailable-value placeholder, which must never reach
the target) and a truncate. A trigger on each target table counts the writes each row received;
with `bridge.sink.offsets=target` and the LSN guard off, a kill -9 of the worker in the middle of
the stream must still leave every row written exactly as often as it changed at the source.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import threading
import time
import urllib.request
import uuid

import psycopg2
import pytest
import redis
from confluent_kafka import Consumer, TopicPartition

from tests.integration.drills import http_port, metric_total, read_raw
from tests.integration.support import (BridgeProcess, child_pids, create_database, drop_database,
                                       drop_slot_and_publication, rows_as_text, slot_active, start_bridge_with,
                                       topic_size, wait_until, write_sink_config)

SOURCE_DDL = """
CREATE SCHEMA {s};
CREATE TABLE {s}.items (
    id    bigint PRIMARY KEY,
    name  text,
    qty   integer NOT NULL DEFAULT 0,
    price numeric(10,2),
    big   text,
    ts    timestamptz,
    ver   integer NOT NULL DEFAULT 1
);
CREATE TABLE {s}.pairs (a integer, b text, val text, PRIMARY KEY (a, b));
"""
# The target: the same tables, plus a counter of the writes each row received.
TARGET_DDL = SOURCE_DDL + """
ALTER TABLE {s}.items ADD COLUMN applied integer NOT NULL DEFAULT 0;
ALTER TABLE {s}.pairs ADD COLUMN applied integer NOT NULL DEFAULT 0;
CREATE FUNCTION {s}.count_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.applied := CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE OLD.applied + 1 END;
    RETURN NEW;
END $$;
CREATE TRIGGER counted BEFORE INSERT OR UPDATE ON {s}.items FOR EACH ROW EXECUTE FUNCTION {s}.count_apply();
CREATE TRIGGER counted BEFORE INSERT OR UPDATE ON {s}.pairs FOR EACH ROW EXECUTE FUNCTION {s}.count_apply();
"""
# ~6 kB of barely compressible text: stored out of line (TOAST)
BIG = "(SELECT string_agg(md5(i::text || {g}::text), '') FROM generate_series(1, 200) i)"
ITEMS = "SELECT id, name, qty, price, big, ts, ver FROM {s}.items ORDER BY id"
PAIRS = "SELECT a, b, val FROM {s}.pairs ORDER BY a, b"


def _workload(s: str) -> list[str]:
    big = BIG.format(g="g")
    return [
        f"INSERT INTO {s}.items (id, name, qty, price, big, ts) SELECT g, 'item ' || g, g, g * 1.5, "
        f"CASE WHEN g <= 60 THEN {big} ELSE 'short ' || g END, '2024-01-02 03:04:05+00'::timestamptz + g * "
        "interval '1 minute' FROM generate_series(1, 120) g",
        f"INSERT INTO {s}.pairs SELECT g, 'b' || g, 'v' || g FROM generate_series(1, 40) g",
        # big is left alone: the events carry the placeholder for it
        f"UPDATE {s}.items SET qty = qty + 1, ver = ver + 1 WHERE id % 3 = 0",
        f"UPDATE {s}.items SET name = NULL, ver = ver + 1 WHERE id BETWEEN 10 AND 20",
        f"UPDATE {s}.items SET big = 'was big', ver = ver + 1 WHERE id IN (7, 8)",
        f"UPDATE {s}.items SET big = {BIG.format(g='(id + 1000)')}, ver = ver + 1 WHERE id IN (70, 71)",
        f"DELETE FROM {s}.items WHERE id IN (1, 2, 99, 100)",
        # key changes: the old row deleted, the new one created, in order
        f"UPDATE {s}.pairs SET a = a + 100 WHERE a <= 5",
        f"UPDATE {s}.pairs SET b = 'moved' WHERE a = 6",
        f"DELETE FROM {s}.pairs WHERE a BETWEEN 30 AND 35",
        f"""UPDATE {s}.items SET qty = -1, ver = ver + 1 WHERE id = 50;
            INSERT INTO {s}.items (id, name) VALUES (500, 'in txn');
            UPDATE {s}.items SET ver = ver + 1, price = 0.01 WHERE id = 500;
            DELETE FROM {s}.items WHERE id = 51""",
        f"TRUNCATE {s}.pairs",
        f"INSERT INTO {s}.pairs VALUES (1, 'after truncate', 'x'), (2, 'b', NULL)",
        f"UPDATE {s}.pairs SET val = 'y' WHERE a = 1",
    ]


@pytest.fixture
def pair(tmp_path, pg, pg_dsn, kafka_bootstrap):
    """A source schema published to a fresh bridge and a target database holding the same tables."""
    uid = uuid.uuid4().hex[:8]
    schema, prefix, target_db = f"sk{uid}", f"sk{uid}", f"sktarget_{uid}"
    with pg.cursor() as cur:
        cur.execute(SOURCE_DDL.format(s=schema))
        cur.execute(f'CREATE PUBLICATION "{prefix}_pub" FOR TABLE {schema}.items, {schema}.pairs')
    target_dsn = create_database(pg, pg_dsn, target_db)
    conn = psycopg2.connect(target_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(TARGET_DDL.format(s=schema))
    conn.close()
    made: dict = {"schema": schema, "prefix": prefix, "target": target_dsn, "sinks": []}
    yield made
    for process in made["sinks"]:
        if process.running():
            process.kill()
    bridge = made.get("bridge")
    if bridge is not None and bridge.running():
        bridge.kill()
    drop_slot_and_publication(pg, f"{prefix}_slot", f"{prefix}_pub")
    with pg.cursor() as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    drop_database(pg, target_db)


def _start_bridge(pair, tmp_path, pg, pg_dsn, kafka_bootstrap) -> BridgeProcess:
    bridge = start_bridge_with(tmp_path, pg_dsn, kafka_bootstrap, pair["prefix"],
                               {"publication.autocreate.mode": "disabled", "skipped.operations": "none"})
    pair["bridge"] = bridge
    wait_until(lambda: slot_active(pg, f"{pair['prefix']}_slot"), timeout=60, what="the bridge's slot")
    return bridge


def _sink(pair, tmp_path, kafka_bootstrap, options: dict[str, str], workers: int = 2,
          env: dict[str, str] | None = None) -> BridgeProcess:
    prefix = pair["prefix"]
    config = write_sink_config(tmp_path / f"{prefix}-sink.json", f"{prefix}-sink", pair["target"], kafka_bootstrap, {
        "topics.regex": rf"{prefix}\.{pair['schema']}\..*", "insert.mode": "upsert", "delete.enabled": "true",
        "primary.key.mode": "record_key", "truncate.enabled": "true",
        "table.name.format": "${source.schema}.${source.table}", "batch.size": "50",
        "consumer.override.metadata.max.age.ms": "1000", "consumer.override.topic.metadata.refresh.interval.ms": "500",
        **options})
    sink = BridgeProcess(config, tmp_path / f"{prefix}-sink.log", command="sink", args=("--workers", str(workers)))
    pair["sinks"].append(sink)
    sink.start(env)
    return sink


def _run(pg, statements: list[str]) -> None:
    with pg.cursor() as cur:
        for sql in statements:
            cur.execute(sql)


def _equal(pair, pg_dsn) -> bool:
    s = pair["schema"]
    try:
        return all(rows_as_text(pg_dsn, q.format(s=s)) == rows_as_text(pair["target"], q.format(s=s))
                   for q in (ITEMS, PAIRS))
    except psycopg2.errors.UndefinedTable:  # not made yet (schema.evolution=basic)
        return False


def _wait_equal(pair, pg_dsn, sink: BridgeProcess, timeout: float = 120) -> None:
    def check():
        assert sink.running(), f"bridge sink exited with {sink.proc.returncode}:\n{sink.log()}"
        return _equal(pair, pg_dsn)
    try:
        wait_until(check, timeout=timeout, interval=1, what="the target to equal the source")
    except AssertionError:
        s = pair["schema"]
        diffs = []
        for query in (ITEMS, PAIRS):
            src, dst = rows_as_text(pg_dsn, query.format(s=s)), rows_as_text(pair["target"], query.format(s=s))
            diffs.append(f"{len(src)} vs {len(dst)} rows: only in the source {sorted(set(src) - set(dst))[:3]}, "
                         f"only in the target {sorted(set(dst) - set(src))[:3]}")
        raise AssertionError("target differs: " + "; ".join(diffs) + "\n" + sink.log()) from None


def test_mixed_workload_reaches_the_target_equal_to_the_source(pair, tmp_path, pg, pg_dsn, kafka_bootstrap):
    # GIVEN a bridge streaming the source schema and a sink writing into the target database
    bridge = _start_bridge(pair, tmp_path, pg, pg_dsn, kafka_bootstrap)
    sink = _sink(pair, tmp_path, kafka_bootstrap, {})
    # WHEN the mixed workload runs
    _run(pg, _workload(pair["schema"]))
    # THEN the target equals the source, the placeholder never written, each row written once per change
    _wait_equal(pair, pg_dsn, sink)
    s = pair["schema"]
    assert rows_as_text(pair["target"], f"SELECT count(*) FROM {s}.items WHERE big LIKE '%unavailable%'") == [("0",)]
    counts = rows_as_text(pair["target"], f"SELECT id, applied FROM {s}.items ORDER BY id")
    versions = rows_as_text(pg_dsn, f"SELECT id, ver FROM {s}.items ORDER BY id")
    assert counts == versions
    # and says so on /q/health and /q/metrics
    port = re.search(r"health and metrics on http://127.0.0.1:(\d+)/", sink.log()).group(1)
    health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/q/health", timeout=10).read())
    assert health["status"] == "UP", health
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/q/metrics", timeout=10).read().decode()
    rows = sum(float(line.split()[-1]) for line in metrics.splitlines() if line.startswith("pgbridge_sink_rows_total{"))
    assert rows >= 120 + 40, metrics
    # delete markers (on: topics.regex): 5 items deleted, 6 pairs deleted and 6 key changes (their
    # delete under the old key), each marked once; none old enough to prune
    assert metric_total(int(port), "pgbridge_sink_delete_markers_total") == 17, metrics
    assert 'pgbridge_sink_delete_markers_pruned_total{worker="1"} 0' in metrics, metrics
    assert sink.stop() == 0, sink.log()
    bridge.stop()


def test_records_without_schemas_reach_the_target_equal_to_the_source(pair, tmp_path, pg, pg_dsn, kafka_bootstrap):
    # GIVEN a bridge writing keys and values as JSON without schemas, and a sink reading them so
    # (the column types from the target's catalog), its tables named by topic (no source block
    # needed: the records are read through lanes, `bridge.sink.records`)
    json_converter = "org.apache.kafka.connect.json.JsonConverter"
    plain = {f"{side}.converter{option}": value for side in ("key", "value")
             for option, value in (("", json_converter), (".schemas.enable", "false"))}
    prefix, s = pair["prefix"], pair["schema"]
    conn = psycopg2.connect(pair["target"])
    conn.autocommit = True
    with conn.cursor() as cur:
        for table in ("items", "pairs"):
            cur.execute(f"ALTER TABLE {s}.{table} RENAME TO {prefix}_{s}_{table}")
    conn.close()
    bridge = start_bridge_with(tmp_path, pg_dsn, kafka_bootstrap, prefix,
                               {"publication.autocreate.mode": "disabled", "skipped.operations": "none"},
                               converters=plain)
    pair["bridge"] = bridge
    wait_until(lambda: slot_active(pg, f"{prefix}_slot"), timeout=60, what="the bridge's slot")
    sink = _sink(pair, tmp_path, kafka_bootstrap, {"table.name.format": f"{s}.${{topic}}", **plain})
    # WHEN the mixed workload runs
    _run(pg, _workload(s))
    # THEN the target equals the source, the placeholder never written, each row written once per change
    queries = ((ITEMS.format(s=s), ITEMS.format(s=s).replace(f"{s}.items", f"{s}.{prefix}_{s}_items")),
               (PAIRS.format(s=s), PAIRS.format(s=s).replace(f"{s}.pairs", f"{s}.{prefix}_{s}_pairs")))

    def equal() -> bool:
        assert sink.running(), f"bridge sink exited with {sink.proc.returncode}:\n{sink.log()}"
        return all(rows_as_text(pg_dsn, source) == rows_as_text(pair["target"], target) for source, target in queries)

    wait_until(equal, timeout=120, interval=1, what="the target to equal the source")
    items = f"{s}.{prefix}_{s}_items"
    assert rows_as_text(pair["target"], f"SELECT count(*) FROM {items} WHERE big LIKE '%unavailable%'") == [("0",)]
    assert rows_as_text(pair["target"], f"SELECT id, applied FROM {items} ORDER BY id") == \
        rows_as_text(pg_dsn, f"SELECT id, ver FROM {s}.items ORDER BY id")
    assert sink.stop() == 0, sink.log()
    bridge.stop()


def test_schema_evolution_creates_the_tables_and_adds_columns(pair, tmp_path, pg, pg_dsn, kafka_bootstrap):
    # GIVEN a target without the tables and a sink with schema.evolution=basic
    s = pair["schema"]
    conn = psycopg2.connect(pair["target"])
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE {s}.items, {s}.pairs")
    conn.close()
    bridge = _start_bridge(pair, tmp_path, pg, pg_dsn, kafka_bootstrap)
    sink = _sink(pair, tmp_path, kafka_bootstrap, {"schema.evolution": "basic"})
    # WHEN rows arrive, and later a column is added at the source
    _run(pg, _workload(s)[:7])
    _wait_equal(pair, pg_dsn, sink)
    _run(pg, [f"ALTER TABLE {s}.items ADD COLUMN extra text DEFAULT 'it''s', ADD COLUMN born date NOT NULL DEFAULT "
              "'2024-02-29'", f"UPDATE {s}.items SET extra = 'e' || id WHERE id < 10"])
    # THEN the tables were made from the records' schemas, the columns added with their defaults
    # (the rows not updated since hold them), the rows equal
    query = f"SELECT id, extra, born FROM {s}.items ORDER BY id"

    def filled() -> bool:
        try:
            return rows_as_text(pg_dsn, query) == rows_as_text(pair["target"], query)
        except psycopg2.errors.UndefinedColumn:
            return False
    wait_until(filled, timeout=60, interval=1, what="the added column filled")
    _wait_equal(pair, pg_dsn, sink)
    key = rows_as_text(pair["target"], f"SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                                       f"WHERE conrelid = '{s}.pairs'::regclass AND contype = 'p'")
    assert key == [("PRIMARY KEY (a, b)",)]
    defaults = (f"SELECT column_name, column_default FROM information_schema.columns WHERE table_schema = '{s}' "
                "AND table_name = 'items' AND column_name IN ('qty', 'ver', 'extra', 'born') ORDER BY column_name")
    assert rows_as_text(pair["target"], defaults) == rows_as_text(pg_dsn, defaults) == [
        ("born", "'2024-02-29'::date"), ("extra", "'it''s'::text"), ("qty", "0"), ("ver", "1")]
    assert sink.stop() == 0, sink.log()
    bridge.stop()


def _worker_pid(sink: BridgeProcess) -> int:
    wait_until(lambda: "pgb-sink-0" in child_pids(sink.proc.pid), timeout=30, what="the sink worker")
    return child_pids(sink.proc.pid)["pgb-sink-0"]


def _committed_in_target(pair) -> int:
    """The records the sink has committed into the target (0 before its offsets table exists)."""
    try:
        rows = rows_as_text(pair["target"], "SELECT coalesce(sum(next_offset), 0) FROM __pgbridge_sink_offsets")
    except psycopg2.errors.UndefinedTable:
        return 0
    return int(rows[0][0])


def _updater(dsn: str, schema: str, stop: threading.Event) -> threading.Thread:
    """Small transactions bumping `ver` of random rows until `stop` is set."""
    def run():
        conn = psycopg2.connect(dsn)
        conn.autocommit = True
        rng = random.Random(7)
        with conn.cursor() as cur:
            while not stop.is_set():
                ids = rng.sample(range(1, 201), 5)
                cur.execute(f"UPDATE {schema}.items SET ver = ver + 1, qty = qty + 1 WHERE id = ANY(%s)", (ids,))
                time.sleep(0.002)
        conn.close()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("synchronous", ["true", "false"], ids=["synchronous-commit", "asynchronous-commit"])
def test_kill_9_of_a_worker_applies_every_change_exactly_once(pair, tmp_path, pg, pg_dsn, kafka_bootstrap, synchronous):
    # GIVEN offsets kept in the target and no LSN guard (so only the offsets can prevent a replay),
    # the target's commits synchronous or not (rows and offsets commit together either way)
    bridge = _start_bridge(pair, tmp_path, pg, pg_dsn, kafka_bootstrap)
    s = pair["schema"]
    _run(pg, [f"INSERT INTO {s}.items (id, name) SELECT g, 'n' || g FROM generate_series(1, 200) g"])
    options = {"bridge.sink.ordering.guard": "none", "batch.size": "20", "bridge.sink.linger.ms": "5",
               "flush.retry.delay.ms": "200", "bridge.sink.synchronous.commit": synchronous,
               "consumer.override.session.timeout.ms": "6000"}  # the killed member leaves the group soon
    sink = _sink(pair, tmp_path, kafka_bootstrap, options, workers=1)
    # WHEN updates stream in all along, the sink loses its database connection, then is killed -9
    stop = threading.Event()
    updater = _updater(pg_dsn, s, stop)
    try:
        wait_until(lambda: _committed_in_target(pair) > 400, timeout=60, what="some batches committed")
        target = psycopg2.extensions.parse_dsn(pair["target"])["dbname"]
        _run(pg, [f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{target}'"])
        wait_until(lambda: "retrying" in sink.log(), timeout=60, what="the sink to retry after losing its connection")
        wait_until(lambda: _committed_in_target(pair) > 800, timeout=60, what="batches committed after the retry")
        os.kill(_worker_pid(sink), signal.SIGKILL)
        assert sink.wait(60) != 0
        time.sleep(1)  # a commit the worker sent just before it died has landed by now
        killed_at = _committed_in_target(pair)
        sink = _sink(pair, tmp_path, kafka_bootstrap, options, workers=1)
        time.sleep(3)
    finally:
        stop.set()
        updater.join(30)
    # THEN the restarted sink resumed at the target's offsets, the target equals the source and no
    # change was written twice
    _wait_equal(pair, pg_dsn, sink)
    assert f"resuming at the target's offsets {{('{pair['prefix']}.{s}.items', 0): {killed_at}}}" in sink.log()
    assert killed_at < topic_size(kafka_bootstrap, f"{pair['prefix']}.{s}.items"), "the kill came after the end"
    counts = rows_as_text(pair["target"], f"SELECT id, applied FROM {s}.items ORDER BY id")
    versions = rows_as_text(pg_dsn, f"SELECT id, ver FROM {s}.items ORDER BY id")
    assert counts == versions
    assert ("synchronous_commit=off" in sink.log()) == (synchronous == "false")
    assert sink.stop() == 0, sink.log()
    bridge.stop()


def test_a_record_the_target_refuses_goes_to_the_dead_letter_topic(pair, tmp_path, pg, pg_dsn, kafka_bootstrap):
    # GIVEN a target column narrower than the source's, and errors.tolerance=all with a DLQ
    s, prefix = pair["schema"], pair["prefix"]
    conn = psycopg2.connect(pair["target"])
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"ALTER TABLE {s}.pairs ALTER COLUMN val TYPE varchar(3)")
    conn.close()
    bridge = _start_bridge(pair, tmp_path, pg, pg_dsn, kafka_bootstrap)
    dlq = f"{prefix}-dlq"
    sink = _sink(pair, tmp_path, kafka_bootstrap, {
        "errors.tolerance": "all", "errors.deadletterqueue.topic.name": dlq,
        "errors.deadletterqueue.topic.replication.factor": "1",
        "errors.deadletterqueue.context.headers.enable": "true", "errors.log.enable": "true"})
    # WHEN one row does not fit and the others do
    _run(pg, [f"INSERT INTO {s}.pairs VALUES (1, 'a', 'ok'), (2, 'b', 'much too long'), (3, 'c', 'ok')"])
    # THEN the others are written and the refused one is in the DLQ with Connect's context headers
    try:
        wait_until(lambda: rows_as_text(pair["target"], f"SELECT a FROM {s}.pairs ORDER BY a") == [("1",), ("3",)],
                   timeout=90, interval=1, what="the two good rows")
    except AssertionError as exc:
        debug = (rows_as_text(pair["target"], f"SELECT * FROM {s}.pairs"),
                 rows_as_text(pair["target"], "SELECT * FROM __pgbridge_sink_offsets"))
        raise AssertionError(f"{exc} {debug}\n{sink.log()}") from None
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"{prefix}-dlq-reader",
                         "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(dlq, 0, 0)])
    message = None
    deadline = time.monotonic() + 60
    while message is None and time.monotonic() < deadline:
        got = consumer.poll(1)
        if got is not None and got.error() is None:
            message = got
    consumer.close()
    assert message is not None, f"nothing in {dlq}:\n{sink.log()}"
    headers = {k: v.decode() for k, v in message.headers()}
    topic = f"{prefix}.{s}.pairs"
    assert headers["__connect.errors.topic"] == topic
    assert int(headers["__connect.errors.partition"]) >= 0 and int(headers["__connect.errors.offset"]) >= 0
    assert headers["__connect.errors.connector.name"] == f"{prefix}-sink"
    assert headers["__connect.errors.exception.class.name"] == "psycopg2.errors.StringDataRightTruncation"
    assert "value too long" in headers["__connect.errors.exception.message"]
    assert "Traceback" in headers["__connect.errors.exception.stacktrace"]
    assert json.loads(message.value())["payload"]["after"]["val"] == "much too long"
    # the original record, at its original coordinates
    original = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"{prefix}-orig"})
    original.assign([TopicPartition(topic, int(headers["__connect.errors.partition"]),
                                    int(headers["__connect.errors.offset"]))])
    same = original.poll(30)
    original.close()
    assert same is not None and same.value() == message.value() and same.key() == message.key()
    assert sink.stop() == 0, sink.log()
    bridge.stop()


def _narrow_val(pair, width: int) -> None:
    conn = psycopg2.connect(pair["target"])
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"ALTER TABLE {pair['schema']}.pairs ALTER COLUMN val TYPE varchar({width})")
    conn.close()


def _dlq_options(dlq: str) -> dict[str, str]:
    return {"errors.tolerance": "all", "errors.deadletterqueue.topic.name": dlq,
            "errors.deadletterqueue.topic.replication.factor": "1",
            "errors.deadletterqueue.context.headers.enable": "true"}


def test_the_circuit_breaker_stops_the_sink_instead_of_dead_lettering_a_topic(pair, tmp_path, pg, pg_dsn,
                                                                              kafka_bootstrap):
    # GIVEN a target column too narrow for long values, a DLQ, and at most 3 dead letters in a row
    s, prefix = pair["schema"], pair["prefix"]
    _narrow_val(pair, 3)
    bridge = _start_bridge(pair, tmp_path, pg, pg_dsn, kafka_bootstrap)
    dlq = f"{prefix}-dlq"
    sink = _sink(pair, tmp_path, kafka_bootstrap, {**_dlq_options(dlq), "bridge.sink.dlq.max.consecutive": "3"})
    _run(pg, [f"INSERT INTO {s}.pairs VALUES (1, 'a', 'ok')"])
    wait_until(lambda: rows_as_text(pair["target"], f"SELECT a FROM {s}.pairs") == [("1",)], timeout=90, interval=1,
               what="the good row")
    # WHEN four records in a row do not fit
    _run(pg, [f"INSERT INTO {s}.pairs SELECT g, 'b', 'too long' FROM generate_series(2, 5) g"])
    # THEN the sink stops with the delivery exit code and one error naming the bound
    assert sink.wait(120) == 7, sink.log()
    assert "more than bridge.sink.dlq.max.consecutive=3 records in a row refused" in sink.log()
    # AND the batch that passed the bound was not dead-lettered (nor a whole topic)
    assert topic_size(kafka_bootstrap, dlq) <= 3
    bridge.stop()


def _replay(pair, tmp_path, dlq: str) -> tuple[int, str]:
    prefix = pair["prefix"]
    replay = BridgeProcess(tmp_path / f"{prefix}-sink.json", tmp_path / f"{prefix}-replay-{uuid.uuid4().hex[:4]}.log",
                           command="sink", args=("replay", "--from-dlq", dlq))
    replay.start()
    return replay.wait(120), replay.log()


def test_replay_re_applies_dead_letters_after_the_fix_and_keeps_those_refused_again(pair, tmp_path, pg, pg_dsn,
                                                                                    kafka_bootstrap):
    # GIVEN two records dead-lettered because a target column is too narrow (varchar(3))
    s, prefix = pair["schema"], pair["prefix"]
    _narrow_val(pair, 3)
    bridge = _start_bridge(pair, tmp_path, pg, pg_dsn, kafka_bootstrap)
    dlq = f"{prefix}-dlq"
    sink = _sink(pair, tmp_path, kafka_bootstrap, _dlq_options(dlq))
    _run(pg, [f"INSERT INTO {s}.pairs VALUES (1, 'a', 'ok'), (2, 'b', 'too long'), (3, 'c', 'ok')",
              f"INSERT INTO {s}.pairs VALUES (4, 'd', 'much too long')"])
    wait_until(lambda: topic_size(kafka_bootstrap, dlq) == 2 and len(rows_as_text(pair["target"],
               f"SELECT a FROM {s}.pairs")) == 2, timeout=90, interval=1, what="two rows and two dead letters")
    assert sink.stop() == 0, sink.log()
    # (and delete markers, on with a DLQ: one past the retention, one not)
    _run_target(pair, ["INSERT INTO __pgbridge_sink_deletes (table_name, key, lsn, marked_at) VALUES "
                       "('gone', '(1)', 1, now() - interval '8 days'), ('kept', '(1)', 1, now() - interval '6 days')"])
    # WHEN the column is widened enough for one of them and the DLQ is replayed
    _narrow_val(pair, 8)
    code, out = _replay(pair, tmp_path, dlq)
    # THEN that one arrives; the other is reported and stays (the replay group stops before it)
    assert code == 7, out
    assert "replayed 1 dead letter(s)" in out and "1 refused again" in out, out
    # AND the replay pruned the marker past the retention (7 days), as a worker does
    assert "pruned 1 delete marker(s) older than bridge.sink.delete.markers.retention.ms=604800000" in out, out
    assert rows_as_text(pair["target"], "SELECT table_name FROM __pgbridge_sink_deletes") == [("kept",)]
    # (the two rows' source partitions differ: either may be the DLQ's first record; only 'much too long'
    # is too long for varchar(8))
    refused = re.search(rf"still refused: {re.escape(prefix)}\.{s}\.pairs\[\d+\]@\d+ \(dead letter @0:([01])\): "
                        r".*value too long for type character varying\(8\)", out)
    assert refused, out
    assert rows_as_text(pair["target"], f"SELECT a, val FROM {s}.pairs ORDER BY a") == [
        ("1", "ok"), ("2", "too long"), ("3", "ok")]
    # WHEN it fits too and the DLQ is replayed again: it arrives, and a third replay finds nothing left
    _narrow_val(pair, 20)
    code, out = _replay(pair, tmp_path, dlq)
    # (the replay group resumed at the refused one: when it was the first, the other is applied again, idempotently)
    again = 2 if refused.group(1) == "0" else 1
    assert code == 0 and f"replayed {again} dead letter(s)" in out and "0 refused again" in out, out
    assert rows_as_text(pair["target"], f"SELECT a, val FROM {s}.pairs ORDER BY a")[-1] == ("4", "much too long")
    code, out = _replay(pair, tmp_path, dlq)
    assert code == 0 and "replayed 0 dead letter(s)" in out, out
    # AND the source and the target are equal
    assert rows_as_text(pg_dsn, PAIRS.format(s=s)) == rows_as_text(pair["target"], PAIRS.format(s=s))
    bridge.stop()


def test_schema_mismatches_go_to_the_quarantine_topic_and_are_replayed_after_the_fix(pair, tmp_path, pg, pg_dsn,
                                                                                     kafka_bootstrap):
    # GIVEN a target without items.name, pairs.val as varchar(3), a CHECK the source does not have,
    # a DLQ and a quarantine topic
    s, prefix = pair["schema"], pair["prefix"]
    _run_target(pair, [f"ALTER TABLE {s}.items DROP COLUMN name", f"ALTER TABLE {s}.pairs ALTER COLUMN val TYPE varchar(3)",
                       f"ALTER TABLE {s}.pairs ADD CONSTRAINT small_a CHECK (a < 100)"])
    bridge = _start_bridge(pair, tmp_path, pg, pg_dsn, kafka_bootstrap)
    dlq, quarantine = f"{prefix}-dlq", f"{prefix}-quarantine"
    sink = _sink(pair, tmp_path, kafka_bootstrap, {**_dlq_options(dlq), "bridge.sink.quarantine.topic": quarantine,
                                                    "bridge.sink.quarantine.topic.replication.factor": "1"})
    # WHEN a row the dropped column cannot take, a value too long, a constraint violation and a good row arrive
    _run(pg, [f"INSERT INTO {s}.items (id, name) VALUES (1, 'one')",
              f"INSERT INTO {s}.pairs VALUES (1, 'a', 'ok'), (2, 'b', 'too long'), (500, 'c', 'ok')"])
    # THEN the two mismatches are in the quarantine topic with Connect's headers and the reason
    quarantined = sorted(read_raw(kafka_bootstrap, quarantine, 2, timeout=90), key=lambda r: r.headers[
        "__connect.errors.topic"])
    reasons = [(r.headers["__connect.errors.topic"].decode(), r.headers["__pgbridge.quarantine.reason"].decode())
               for r in quarantined]
    assert reasons == [(f"{prefix}.{s}.items", "undefined_column"), (f"{prefix}.{s}.pairs",
                                                                       "string_data_right_truncation")], reasons
    assert quarantined[0].json()["payload"]["after"]["name"] == "one"
    assert "has no column name" in quarantined[0].headers["__connect.errors.exception.message"].decode()
    assert int(quarantined[1].headers["__connect.errors.offset"]) >= 0
    # AND the constraint violation is a dead letter, the good row is written, the metrics count both
    [dead] = read_raw(kafka_bootstrap, dlq, 1, timeout=60)
    assert dead.headers["__connect.errors.exception.class.name"] == b"psycopg2.errors.CheckViolation"
    assert rows_as_text(pair["target"], f"SELECT a FROM {s}.pairs") == [("1",)]
    port = http_port(sink)
    wait_until(lambda: metric_total(port, "pgbridge_sink_quarantined_total") == 2, timeout=30, what="2 quarantined")
    assert metric_total(port, "pgbridge_sink_dead_letters_total") == 1
    assert sink.stop() == 0, sink.log()
    # WHEN the target is fixed and the quarantine topic replayed
    _run_target(pair, [f"ALTER TABLE {s}.items ADD COLUMN name text",
                       f"ALTER TABLE {s}.pairs ALTER COLUMN val TYPE text"])
    code, out = _replay(pair, tmp_path, quarantine)
    # THEN both arrive
    assert code == 0 and "replayed 2 dead letter(s)" in out, out
    assert rows_as_text(pair["target"], f"SELECT id, name FROM {s}.items") == [("1", "one")]
    assert rows_as_text(pair["target"], f"SELECT a, val FROM {s}.pairs ORDER BY a") == [("1", "ok"), ("2", "too long")]
    bridge.stop()


def _run_target(pair, statements: list[str]) -> None:
    conn = psycopg2.connect(pair["target"])
    conn.autocommit = True
    with conn.cursor() as cur:
        for sql in statements:
            cur.execute(sql)
    conn.close()


def test_the_redis_dedup_window_skips_kafkas_redeliveries_across_crashes(pair, tmp_path, pg, pg_dsn, kafka_bootstrap,
                                                                          redis_server):
    # GIVEN at-least-once offsets (Kafka), no LSN guard, and the dedup window in Redis, the password
    # from a config provider
    s = pair["schema"]
    secrets = tmp_path / "redis.properties"
    secrets.write_text(f"password={redis_server['BRIDGE_REDIS_PASSWORD']}\n")
    options = {"bridge.sink.offsets": "kafka", "bridge.sink.ordering.guard": "none", "batch.size": "20",
               "bridge.sink.linger.ms": "5", "consumer.override.session.timeout.ms": "6000",
               "bridge.sink.dedup.redis.url": redis_server["BRIDGE_REDIS_URL"],
               "bridge.sink.dedup.redis.password": f"${{file:{secrets}:password}}",
               "bridge.sink.dedup.redis.retry.ms": "1000",
               "config.providers": "file",
               "config.providers.file.class": "org.apache.kafka.common.config.provider.FileConfigProvider"}
    bridge = _start_bridge(pair, tmp_path, pg, pg_dsn, kafka_bootstrap)
    _run(pg, [f"INSERT INTO {s}.items (id, name) SELECT g, 'n' || g FROM generate_series(1, 200) g"])
    stop = threading.Event()
    updater = _updater(pg_dsn, s, stop)
    try:
        # WHEN, with writers running, a worker dies after its first batch is committed in the target
        # but before the window records it, then (restarted) after the window recorded it but before
        # Kafka's offsets are committed
        applied_before = []
        for point in ("sink_before_dedup_record", "sink_before_kafka_commit"):
            sink = _sink(pair, tmp_path, kafka_bootstrap, options, workers=1, env={"PGBRIDGE_FAILPOINTS": f"{point}:kill"})
            assert sink.wait(90) != 0, sink.log()
            assert f"fault point {point}: killing" in sink.log()
            applied_before.append(int(rows_as_text(pair["target"], f"SELECT sum(applied) FROM {s}.items")[0][0]))
        sink = _sink(pair, tmp_path, kafka_bootstrap, options, workers=1)
        port = _nth_http_port(sink, 3)  # the three starts share a log
        wait_until(lambda: metric_total(port, "pgbridge_sink_records_total") > 200, timeout=60,
                   what="the restarted sink streaming")
    finally:
        stop.set()
        updater.join(30)
    # THEN the target equals the source, nothing lost
    _wait_equal(pair, pg_dsn, sink)
    # AND the first crash's batch (committed, not yet recorded in the window) was applied once more:
    # Kafka redelivered it, a duplicate, never a loss; the second crash's batch (recorded) was
    # redelivered and skipped: no other change was applied twice
    first_batch = applied_before[0]
    assert first_batch > 0 and applied_before[1] > first_batch
    assert metric_total(port, "pgbridge_sink_dedup_skipped_total") > 0
    [(extra, short)] = rows_as_text(pair["target"], f"SELECT sum(applied - ver), count(*) FILTER (WHERE applied < ver) "
                                                    f"FROM {s}.items")
    assert (int(extra), int(short)) == (first_batch, 0)
    # WHEN Redis stops answering mid-run for longer than bridge.sink.dedup.redis.retry.ms
    paused = redis.Redis.from_url(redis_server["BRIDGE_REDIS_URL"], password=redis_server["BRIDGE_REDIS_PASSWORD"],
                                  socket_timeout=20)
    paused.execute_command("CLIENT", "PAUSE", "7000", "ALL")
    _run(pg, [f"UPDATE {s}.items SET ver = ver + 1, qty = qty + 1 WHERE id <= 10"])
    # THEN the sink stops with one error (exit 3), and once Redis is back a restart loses nothing
    assert sink.wait(60) == 3, sink.log()
    assert "failed to look up the dedup window" in sink.log() or "failed to record the dedup window" in sink.log()
    paused.ping()  # answers when the pause ends
    sink = _sink(pair, tmp_path, kafka_bootstrap, options, workers=1)
    _wait_equal(pair, pg_dsn, sink)
    assert rows_as_text(pair["target"], f"SELECT count(*) FROM {s}.items WHERE applied < ver") == [("0",)]
    assert sink.stop() == 0, sink.log()
    bridge.stop()


def _nth_http_port(sink: BridgeProcess, nth: int) -> int:
    ports = wait_until(lambda: (found := re.findall(r"health and metrics on http://127\.0\.0\.1:(\d+)/", sink.log()))
                       [nth - 1:] and found, what=f"start {nth}'s HTTP port in the log")
    return int(ports[nth - 1])


def test_an_unreachable_redis_stops_the_sink_at_start(pair, tmp_path, kafka_bootstrap):
    sink = _sink(pair, tmp_path, kafka_bootstrap, {"bridge.sink.offsets": "kafka",
                                                    "bridge.sink.dedup.redis.url": "redis://127.0.0.1:1/0"}, workers=1)
    assert sink.wait(60) == 3, sink.log()
    assert "cannot reach Redis at 127.0.0.1:1 (bridge.sink.dedup.redis.url)" in sink.log()
