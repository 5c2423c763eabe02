"""`bridge sink`'s flow control end to end: source → `bridge run` → Kafka → `bridge sink` → target.

50,000 changes wait in the topic when the sink starts, and the target table is locked (another
session holds ACCESS EXCLUSIVE) for some seconds: the worker fills its buffer to
`bridge.sink.buffer.max.records`, pauses its partitions and keeps its memory bounded while it
waits; it enters catch-up mode (large batches) and says so in its log and metrics; `--progress`
prints records behind, rate and ETA as plain lines (stderr is not a terminal here). When the
lock goes, everything lands, the sink returns to normal mode (once: no flapping back and forth
while it catches up), and the target equals the source.
"""

from __future__ import annotations

import re
import time
import uuid

import psycopg2
import pytest

from tests.integration.support import (BridgeProcess, child_pids, create_database, drop_database,
                                       drop_slot_and_publication, metrics_of, rows_as_text, slot_active,
                                       start_bridge_with, topic_size, wait_until, write_sink_config)

ROWS = 50_000
BOUND = 2_000
DDL = "CREATE SCHEMA {s}; CREATE TABLE {s}.items (id integer PRIMARY KEY, name text NOT NULL, qty integer);"
ITEMS = "SELECT id, name, qty FROM {s}.items ORDER BY id"


@pytest.fixture
def filled(tmp_path, pg, pg_dsn, kafka_bootstrap):
    """A source table whose 50,000 inserts are in Kafka, and a target database with the table."""
    uid = uuid.uuid4().hex[:8]
    schema, prefix, target_db = f"sf{uid}", f"sf{uid}", f"sftarget_{uid}"
    with pg.cursor() as cur:
        cur.execute(DDL.format(s=schema))
        cur.execute(f'CREATE PUBLICATION "{prefix}_pub" FOR TABLE {schema}.items')
    target = create_database(pg, pg_dsn, target_db)
    conn = psycopg2.connect(target)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(DDL.format(s=schema))
    conn.close()
    bridge = start_bridge_with(tmp_path, pg_dsn, kafka_bootstrap, prefix, {"publication.autocreate.mode": "disabled"},
                               producers=1)
    made = {"schema": schema, "prefix": prefix, "target": target, "topic": f"{prefix}.{schema}.items"}
    try:
        wait_until(lambda: slot_active(pg, f"{prefix}_slot"), timeout=60, what="the bridge's slot")
        with pg.cursor() as cur:
            cur.execute(f"INSERT INTO {schema}.items SELECT g, 'item ' || g || repeat('x', 200), g "
                        f"FROM generate_series(1, {ROWS}) g")
        wait_until(lambda: topic_size(kafka_bootstrap, made["topic"]) >= ROWS, timeout=120, interval=1,
                   what="the inserts in Kafka")
        yield made
    finally:
        sink = made.get("sink")
        if sink is not None and sink.running():
            sink.kill()
        if bridge.running():
            bridge.kill()
        drop_slot_and_publication(pg, f"{prefix}_slot", f"{prefix}_pub")
        with pg.cursor() as cur:
            cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        drop_database(pg, target_db)


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return int(re.search(r"VmRSS:\s+(\d+) kB", status.read()).group(1))


def _gauge(metrics: dict, name: str) -> float:
    return sum(v for (n, _), v in metrics.items() if n == name)


def test_a_slow_target_pauses_the_partitions_catch_up_then_normal_mode(filled, tmp_path, pg_dsn, kafka_bootstrap):
    s, prefix = filled["schema"], filled["prefix"]
    # GIVEN the target table locked by another session
    lock = psycopg2.connect(filled["target"])
    with lock.cursor() as cur:
        cur.execute(f"LOCK TABLE {s}.items IN ACCESS EXCLUSIVE MODE")
    # WHEN the sink starts with a small buffer and catch-up past 5000 records behind
    config = write_sink_config(tmp_path / "sink.json", f"{prefix}-sink", filled["target"], kafka_bootstrap, {
        "topics": filled["topic"], "insert.mode": "upsert", "primary.key.mode": "record_key",
        "table.name.format": "${source.schema}.${source.table}", "batch.size": "200",
        "bridge.sink.buffer.max.records": str(BOUND), "bridge.sink.catchup.batch.size": "1000",
        "bridge.sink.lag.pause.messages": "5000"})
    sink = filled["sink"] = BridgeProcess(config, tmp_path / "sink.log", command="sink",
                                          args=("--workers", "1", "--progress"))
    sink.start()
    port = None

    def paused() -> bool:
        nonlocal port
        assert sink.running(), sink.log()
        found = re.search(r"health and metrics on http://127.0.0.1:(\d+)/", sink.log())
        if found is None:
            return False
        port = int(found.group(1))
        metrics = metrics_of(port)
        return _gauge(metrics, "pgbridge_sink_paused") == 1 and _gauge(metrics, "pgbridge_sink_catchup") == 1
    try:
        wait_until(paused, timeout=60, what="the worker paused and catching up")
        # THEN while the lock holds the buffer stays at its bound, and so does the worker's memory
        worker = child_pids(sink.proc.pid)["pgb-sink-0"]
        rss = [_rss_kb(worker)]
        for _ in range(3):
            time.sleep(1)
            rss.append(_rss_kb(worker))
        metrics = metrics_of(port)
        assert _gauge(metrics, "pgbridge_sink_buffered_records_max") == BOUND, metrics
        assert _gauge(metrics, "pgbridge_sink_lag_messages") + _gauge(metrics, "pgbridge_sink_buffered_records") \
            >= ROWS - 1000, metrics
        assert max(rss) - rss[0] < 10_000, f"the worker's memory grew while paused: {rss} kB"
        assert max(rss) < 200_000, f"{rss} kB"
    finally:
        lock.rollback()
        lock.close()
    # AND once the lock goes, everything lands, and the sink is back in normal mode
    query = ITEMS.format(s=s)
    wait_until(lambda: rows_as_text(filled["target"], f"SELECT count(*) FROM {s}.items") == [(str(ROWS),)],
               timeout=120, interval=1, what="every row in the target")
    assert rows_as_text(pg_dsn, query) == rows_as_text(filled["target"], query)

    def normal() -> bool:
        metrics = metrics_of(port)
        return _gauge(metrics, "pgbridge_sink_catchup") == 0 and _gauge(metrics, "pgbridge_sink_lag_messages") == 0
    wait_until(normal, timeout=30, what="normal mode")
    caught_up = re.compile(r"^bridge sink: caught up, [\d,]+ records/s$", re.M)
    wait_until(lambda: caught_up.search(sink.log_path.read_text()), timeout=10, what="the caught-up line")
    log = sink.log_path.read_text()
    assert re.search(r"catch-up mode: \d+ records behind, .*batches of 1000 records", log), log[-3000:]
    assert re.search(r"normal mode: \d+ records behind, .*batches of 200 records", log), log[-3000:]
    # once each way over the whole catch-up: no return to normal mode right after a resume
    switches = re.findall(r"bridge\.sink\.flow: (catch-up|normal) mode: ", log)
    assert switches == ["catch-up", "normal"], switches
    # the progress lines: records behind, rate and ETA, then caught up (plain lines: no terminal)
    lines = re.findall(r"^bridge sink: ([\d,]+) records behind, ([\d,]+) records/s, ETA (\S+)$", log, re.M)
    assert len(lines) >= 3 and int(lines[0][0].replace(",", "")) >= ROWS - 1000, log[-3000:]
    assert "\r" not in log
    assert sink.stop() == 0, sink.log()
