"""The WAL retention guard without a server: the slot's WAL metrics, readiness DEGRADED over
`bridge.wal.warn.bytes` (liveness untouched), and the poller's log lines and failures."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import psycopg2
import pytest

from bridge.config import config_from_properties
from bridge.status.http import respond
from bridge.status.metrics import PipelineState, SlotWal, render
from bridge.status.settings import WalGuardConfig
from bridge.status.slot_watch import SlotWatch
from tests.prometheus_text import parse


@dataclass
class FakeChild:
    role: str
    alive: bool = True


def streaming(warn: int = 0, wal: SlotWal | None = None) -> PipelineState:
    return PipelineState("s1", 1, phase="streaming", children=[FakeChild("decoder"), FakeChild("producer-0")],
                         wal=wal, wal_warn_bytes=warn)


WAL = SlotWal(current_lsn=10_000, restart_lsn=1_000, confirmed_lsn=9_000, wal_status="extended", safe_wal_size=None)


def test_the_slot_metrics_are_the_lags_to_the_current_wal_and_a_labelled_status():
    metrics = parse(render(streaming(wal=WAL).families()))
    assert metrics[("pgbridge_slot_restart_lag_bytes", ())] == 9_000
    assert metrics[("pgbridge_slot_confirmed_lag_bytes", ())] == 1_000
    assert {labels: v for (n, labels), v in metrics.items() if n == "pgbridge_slot_wal_status"} == {
        (("status", "reserved"),): 0, (("status", "extended"),): 1, (("status", "unreserved"),): 0,
        (("status", "lost"),): 0}
    # unlimited max_slot_wal_keep_size: no safe size to report
    assert not any(n == "pgbridge_slot_safe_wal_size_bytes" for n, _ in metrics)
    limited = SlotWal(10_000, 1_000, 9_000, "reserved", 5 << 20)
    assert parse(render(streaming(wal=limited).families()))[("pgbridge_slot_safe_wal_size_bytes", ())] == 5 << 20


def test_no_slot_figures_before_the_first_poll():
    assert not any(f.name.startswith("pgbridge_slot_") for f in streaming().families())


@pytest.mark.parametrize("path", ["/q/health", "/q/health/ready"])
def test_readiness_is_degraded_over_the_threshold_and_still_200(path):
    code, _, body = respond(streaming(warn=8_999, wal=WAL), "GET", path)
    doc = json.loads(body)
    assert code == 200 and doc["status"] == "DEGRADED"
    assert doc["checks"][0]["data"] == {"phase": "streaming", "decoder": "UP", "producer-0": "UP", "wal": "DEGRADED",
                                        "slot_restart_lag_bytes": "9000", "wal_warn_bytes": "8999"}
    # liveness keeps UP/DOWN
    assert json.loads(respond(streaming(warn=8_999, wal=WAL), "GET", "/q/health/live")[2])["status"] == "UP"


def test_within_the_threshold_or_without_one_readiness_is_up():
    for state in (streaming(warn=9_000, wal=WAL), streaming(warn=0, wal=WAL)):
        code, _, body = respond(state, "GET", "/q/health")
        assert code == 200 and json.loads(body)["status"] == "UP"


def test_down_stays_down_whatever_the_wal():
    state = streaming(warn=1, wal=WAL)
    state.phase = "restarting"
    code, _, body = respond(state, "GET", "/q/health")
    assert code == 503 and json.loads(body)["status"] == "DOWN"


def test_the_guard_keys_are_read():
    base = {"debezium.sink.kafka.producer.bootstrap.servers": "k:9092", "debezium.source.database.hostname": "h",
            "debezium.source.database.user": "u", "debezium.source.database.dbname": "d",
            "debezium.source.topic.prefix": "p"}
    assert config_from_properties(base).wal_guard == WalGuardConfig(10_000, 0)
    config = config_from_properties({**base, "bridge.wal.warn.bytes": "1073741824", "bridge.wal.poll.ms": "500"})
    assert config.wal_guard == WalGuardConfig(500, 1 << 30)


class FakeConnection:
    """Answers pg_current_wal_lsn() and the slot's row; `fail` raises as a lost connection would."""

    def __init__(self) -> None:
        self.current, self.row, self.fail, self.closed = 10_000, (1_000, 9_000, "reserved"), False, 0

    def cursor(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, params=None):
        if self.fail:
            raise psycopg2.OperationalError("server closed the connection unexpectedly")
        self.last = sql

    def fetchone(self):
        if "pg_current_wal_lsn" in self.last:
            return (self.current,)
        restart, confirmed, status = self.row
        return ("logical", "pgoutput", "d", False, None, restart, confirmed, status, None)

    def close(self):
        self.closed += 1


def test_the_watch_logs_crossing_the_threshold_once_each_way(caplog):
    conn, state = FakeConnection(), streaming()
    watch = SlotWatch(conn, "s1", WalGuardConfig(100, 5_000), state)
    with caplog.at_level(logging.INFO, logger="bridge.status.slot_watch"):
        watch.poll()  # lag 9000 > 5000
        watch.poll()
        conn.row = (8_000, 9_000, "reserved")
        watch.poll()  # lag 2000
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and state.wal.restart_lag == 2_000 and not state.wal_over
    assert messages[0].startswith("slot s1 keeps 9000 bytes of WAL (restart_lsn 0/3E8, pg_current_wal_lsn 0/2710, "
                                  "wal_status reserved), above bridge.wal.warn.bytes=5000: health is DEGRADED")
    assert messages[1] == "slot s1 keeps 2000 bytes of WAL again, within bridge.wal.warn.bytes=5000"


def test_a_failed_poll_clears_the_figures_and_closes_the_connection(caplog):
    conn, state = FakeConnection(), streaming()
    watch = SlotWatch(conn, "s1", WalGuardConfig(100, 0), state)
    watch.poll()
    conn.fail = True
    with caplog.at_level(logging.WARNING, logger="bridge.status.slot_watch"):
        watch.poll()
        watch.poll()
    assert state.wal is None and conn.closed == 2 and len(caplog.records) == 1
    assert "cannot read slot s1's WAL figures" in caplog.records[0].getMessage()
    conn.fail = False
    watch.poll()
    assert state.wal is not None


def test_an_unreserved_or_lost_slot_is_an_error_line_once(caplog):
    conn, state = FakeConnection(), streaming()
    conn.row = (None, 9_000, "lost")
    watch = SlotWatch(conn, "s1", WalGuardConfig(100, 0), state)
    with caplog.at_level(logging.ERROR, logger="bridge.status.slot_watch"):
        watch.poll()
        watch.poll()
    assert [r.getMessage() for r in caplog.records] == [
        "slot s1 has wal_status=lost: PostgreSQL removed WAL it still needed; it cannot stream"]
