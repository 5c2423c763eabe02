"""Active/standby against real PostgreSQL and Kafka: two `bridge run` processes with the same
configuration and bridge.ha.mode=lock. One streams, the other is a STANDBY; the active is killed
(kill -9) or frozen (SIGSTOP, its sessions then ended as PostgreSQL ends a vanished client's)
while writers run; the standby takes over, nothing is lost, per-key order holds, and a frozen
instance that wakes up exits without anything of its reaching a read_committed consumer."""

from __future__ import annotations

import json
import os
import re
import signal
import time
import urllib.error
import urllib.request

import pytest

from bridge.errors import ExitCode
from bridge.ops.ha import lock_key
from tests.integration.support import (
    BridgeProcess,
    Writers,
    check_exactly_once,
    check_per_key_sequences,
    child_pids,
    confirmed_flush,
    consume_until,
    reached_final,
    wait_until,
)

pytestmark = pytest.mark.integration

KEYS = 20
HA = {"bridge.ha.mode": "lock", "bridge.ha.poll.ms": "200", "bridge.producers": "2"}
RUN_ID = "__debezium.context.runId"


def health(bridge: BridgeProcess, path: str) -> tuple[int, dict]:
    match = re.search(r"health and metrics on http://[^:]+:(\d+)/q/health", bridge.log())
    assert match, f"no health endpoint in the log:\n{bridge.log()}"
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{match.group(1)}{path}", timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def walsender(pg, slot: str) -> int | None:
    with pg.cursor() as cur:
        cur.execute("SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", (slot,))
        row = cur.fetchone()
    return row[0] if row else None


def start_pair(pg, bridge_factory, tmp_path, name: str, extra: dict[str, str]):
    """The table, then the active (first started) and the standby, over one configuration file."""
    table = f"ha_{name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int NOT NULL)")
    active = bridge_factory(name, {**HA, "debezium.source.tombstones.on.delete": "false", **extra}, tables=[table])
    standby = BridgeProcess(active.config_path, tmp_path / f"{name}-standby.log")
    active.start()
    wait_until(lambda: walsender(pg, f"{name}_slot") and "holds lock" in active.log(), timeout=90,
               what="the first instance to take the lock and stream")
    standby.start()
    wait_until(lambda: "HA: standby:" in standby.log() and "health and metrics" in standby.log(), timeout=60,
               what="the second instance to wait as a standby")
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {table} SELECT g, 1 FROM generate_series(0, {KEYS - 1}) g")
    return table, active, standby


def wait_takeover(pg, standby: BridgeProcess, slot: str, old_walsender: int, since: float) -> float:
    wait_until(lambda: "holds lock" in standby.log() and walsender(pg, slot) not in (None, old_walsender),
               timeout=90, what="the standby to take over and stream")
    return time.monotonic() - since


def current_lsn(pg) -> int:
    with pg.cursor() as cur:
        cur.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
        return int(cur.fetchone()[0])


def test_standby_takes_over_after_kill_9(pg, pg_dsn, bridge_factory, kafka_bootstrap, tmp_path, unique_name):
    slot = f"{unique_name}_slot"
    table, active, standby = start_pair(pg, bridge_factory, tmp_path, unique_name, {})
    try:
        # GIVEN one instance streaming and the other a standby
        assert health(standby, "/q/health")[0] == 503
        assert health(standby, "/q/health")[1]["status"] == "STANDBY"
        assert health(standby, "/q/health/live") == (200, {"status": "UP", "checks": [
            {"name": "pgbridge", "status": "UP", "data": {"phase": "standby"}}]})
        wait_until(lambda: health(active, "/q/health")[0] == 200, timeout=60, what="the active to be ready")
        writers = Writers(pg_dsn, table, KEYS, threads=2, max_updates=600, pause_s=0.004).start()
        time.sleep(1.0)
        # WHEN the active is killed while the writers run
        old = walsender(pg, slot)
        killed = time.monotonic()
        active.kill()
        takeover = wait_takeover(pg, standby, slot, old, killed)
        print(f"\ntakeover after kill -9: {takeover:.2f} s (lock poll 200 ms; to the new walsender)")
        time.sleep(1.0)
        writers.stop()
        final = writers.final(pg)
        end = current_lsn(pg)
        # THEN every row is in Kafka, per-key order holds, and the slot catches up
        events = consume_until(kafka_bootstrap, f"{unique_name}.public.{table}", lambda ev: reached_final(ev, final),
                               timeout=120, what="every row's final value")
        check_per_key_sequences(events, final)
        wait_until(lambda: confirmed_flush(pg, slot) >= end, timeout=60, what="the slot to catch up")
        assert health(standby, "/q/health")[0] == 200
        assert standby.stop() == 0
    finally:
        if standby.running():
            standby.kill()


def test_frozen_active_wakes_up_fenced(pg, pg_dsn, bridge_factory, kafka_bootstrap, tmp_path, unique_name):
    slot = f"{unique_name}_slot"
    table, active, standby = start_pair(pg, bridge_factory, tmp_path, unique_name, {
        "bridge.exactly.once": "true", "bridge.exactly.once.offsets.topic": f"{unique_name}_offsets",
        "bridge.exactly.once.commit.interval.ms": "100"})
    frozen: list[int] = []
    try:
        writers = Writers(pg_dsn, table, KEYS, threads=2, max_updates=600, pause_s=0.004).start()
        time.sleep(1.5)
        # GIVEN the active frozen mid-stream (every one of its processes)
        old = walsender(pg, slot)
        frozen = [active.proc.pid, *child_pids(active.proc.pid).values()]
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        stopped = time.monotonic()
        # WHEN its sessions end, as PostgreSQL ends those of a client past its timeouts
        with pg.cursor() as cur:
            cur.execute("SELECT system_identifier::text FROM pg_control_system()")
            key = lock_key(cur.fetchone()[0], slot) & 0xFFFF_FFFF_FFFF_FFFF
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                        "AND classid::bigint = %s AND objid::bigint = %s", (key >> 32, key & 0xFFFF_FFFF))
            assert cur.fetchall() == [(True,)]
            cur.execute("SELECT pg_terminate_backend(%s)", (old,))
        takeover = wait_takeover(pg, standby, slot, old, stopped)
        print(f"\ntakeover after the frozen active's sessions ended: {takeover:.2f} s")
        time.sleep(1.0)
        writers.stop()
        final = writers.final(pg)
        # ... and the zombie wakes up
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        frozen = []
        # THEN it stops at once with the lock-lost exit, and nothing it wrote after the takeover is visible
        assert active.wait(60) == ExitCode.HA_LOCK_LOST, active.log()
        assert "lost" in active.log()
        events = consume_until(kafka_bootstrap, f"{unique_name}.public.{table}", lambda ev: reached_final(ev, final),
                               timeout=120, what="every row's final value")
        check_exactly_once(events, final)  # across the failover: no duplicate, no gap, in order
        runs: dict[int, list[bytes]] = {}
        for e in sorted(events, key=lambda e: (e.partition, e.offset)):
            ids = runs.setdefault(e.partition, [])
            if not ids or ids[-1] != e.headers[RUN_ID]:
                ids.append(e.headers[RUN_ID])
        for partition, ids in runs.items():  # the zombie's run, then the new active's; never back
            assert len(ids) == len(set(ids)) and len(ids) <= 2, f"partition {partition}: runs {ids}"
        assert standby.stop() == 0
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        if standby.running():
            standby.kill()
