"""The WAL retention guard on a running bridge: while its decoder is frozen (SIGSTOP) the slot's
WAL metrics rise with what is written, /q/health turns DEGRADED past bridge.wal.warn.bytes, and
once the decoder runs again the slot catches up and readiness is UP again; the slot is never
dropped."""

from __future__ import annotations

import os
import re
import signal

from tests.integration.support import child_pids, get_json, metrics_of, slot_active, wait_until

WARN = 48 << 20  # above what the shared server's other traffic keeps behind an idle slot


def _emit_wal(pg, megabytes: int) -> None:
    """Non-transactional logical messages: 1 MiB of WAL each, cheap, excluded from the bridge."""
    with pg.cursor() as cur:
        for _ in range(megabytes):
            cur.execute("SELECT pg_logical_emit_message(false, 'opswal', repeat('x', 1048576))")


def test_wal_metrics_rise_while_the_decoder_is_frozen_and_health_degrades(pg, bridge_factory, unique_name):
    table = f"wal_{unique_name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
    slot = f"{unique_name}_slot"
    bridge = bridge_factory(unique_name, {"bridge.producers": "1", "bridge.wal.warn.bytes": str(WARN),
                                          "bridge.wal.poll.ms": "300",
                                          "debezium.source.message.prefix.exclude.list": "opswal"}, tables=[table])
    bridge.start()
    wait_until(lambda: slot_active(pg, slot), what="the bridge to start streaming")
    port = int(wait_until(lambda: re.search(r"health and metrics on http://127\.0\.0\.1:(\d+)/", bridge.log()),
                          what="the HTTP port in the log")[1])
    # GIVEN a streaming bridge whose slot figures are polled: ready, UP
    first = wait_until(lambda: (m := metrics_of(port)) and ("pgbridge_slot_restart_lag_bytes", ()) in m and m,
                       what="the slot metrics")
    assert first[("pgbridge_slot_wal_status", (("status", "reserved"),))] == 1
    wait_until(lambda: get_json(port, "/q/health")[1]["status"] == "UP", timeout=60, what="readiness UP")
    # the quick doctor checks ran at start: the shared server keeps WAL without limit
    assert "max_slot_wal_keep_size=-1 (unlimited)" in bridge.log()

    decoder = child_pids(bridge.proc.pid)["pgb-decoder"]
    os.kill(decoder, signal.SIGSTOP)
    try:
        # WHEN WAL is written while nothing confirms the slot
        _emit_wal(pg, (WARN >> 20) + 16)
        # THEN both lags rise past the threshold and readiness is DEGRADED, still 200
        over = wait_until(lambda: (m := metrics_of(port))[("pgbridge_slot_confirmed_lag_bytes", ())] > WARN
                          and m[("pgbridge_slot_restart_lag_bytes", ())] > WARN and m, what="the lag metrics to rise")
        assert over[("pgbridge_slot_restart_lag_bytes", ())] >= over[("pgbridge_slot_confirmed_lag_bytes", ())]
        code, doc = wait_until(lambda: (r := get_json(port, "/q/health"))[1]["status"] == "DEGRADED" and r,
                               what="readiness DEGRADED")
        assert code == 200 and doc["checks"][0]["data"]["wal"] == "DEGRADED"
        assert get_json(port, "/q/health/live") == (200, {"status": "UP", "checks": [
            {"name": "pgbridge", "status": "UP", "data": {"phase": "streaming"}}]})
        wait_until(lambda: f"slot {slot} keeps" in bridge.log() and "health is DEGRADED" in bridge.log(),
                   what="the warning line")
    finally:
        os.kill(decoder, signal.SIGCONT)
    # WHEN the decoder runs again THEN the slot catches up (the server moves restart_lsn at its next
    # running-transactions record) and readiness is UP again; the slot is still there
    wait_until(lambda: get_json(port, "/q/health")[1]["status"] == "UP", timeout=120, what="readiness UP again")
    assert "again, within bridge.wal.warn.bytes" in bridge.log()
    assert slot_active(pg, slot)
    assert bridge.stop() == 0, bridge.log()
