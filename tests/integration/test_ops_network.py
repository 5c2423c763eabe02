"""Network faults against the real servers: a walsender terminated by an administrator is named
as such in the log and the bridge reconnects; an unreachable broker gives rate-limited log lines
through Python logging, never librdkafka's raw `%3|...` lines; the replication connection
carries TCP keepalives."""

from __future__ import annotations

import os
import re
import time

from tests.integration.support import child_pids, consume, slot_active, wait_until


def test_a_terminated_walsender_is_named_and_the_bridge_reconnects(pg, bridge_factory, kafka_bootstrap,
                                                                     unique_name):
    table = f"net_{unique_name}"
    slot = f"{unique_name}_slot"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
    bridge = bridge_factory(unique_name, {"bridge.producers": "1", "bridge.restart.policy": "on-failure",
                                          "bridge.restart.backoff.ms": "500",
                                          "bridge.source.keepalive.idle.s": "7"}, tables=[table])
    bridge.start()
    wait_until(lambda: slot_active(pg, slot), what="the bridge to start streaming")
    # the decoder's replication socket runs a keepalive timer (/proc/net/tcp "tr" 2) of at most 7 s;
    # the kernel shows it only while no segment awaits its ACK (then "tr" is 1, retransmit), so the
    # read is repeated until the socket is idle
    decoder = child_pids(bridge.proc.pid)["pgb-decoder"]
    deadline, timers = time.monotonic() + 15, []
    while time.monotonic() < deadline:
        timers = _tcp_timers(decoder, pg.info.port)
        if timers and all(kind == 2 and 0 < seconds <= 7 for kind, seconds in timers):
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"no keepalive timer of at most 7 s on the replication socket: {timers}")
    with pg.cursor() as cur:
        cur.execute("SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", (slot,))
        walsender = cur.fetchone()[0]
        cur.execute("SELECT pg_terminate_backend(%s)", (walsender,))
    # THEN the log names the cause, and the pipeline restarts and streams again
    try:
        wait_until(lambda: "terminated by an administrator (SQLSTATE 57P01" in bridge.log(), timeout=60,
                   what="the cause in the log")
    except AssertionError as missing:  # what the bridge said instead is the diagnosis
        raise AssertionError(f"{missing}; the bridge's log ends:\n{bridge.log()[-4000:]}") from None
    assert "PGRES_COPY_BOTH" not in bridge.log()
    wait_until(lambda: slot_active(pg, slot) and _active_pid(pg, slot) != walsender, timeout=90,
               what="the bridge to reconnect")
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {table} VALUES (1)")
    assert len(consume(kafka_bootstrap, f"{unique_name}.public.{table}", count=1)) == 1
    assert bridge.stop() == 0, bridge.log()


def _tcp_timers(pid: int, server_port: int) -> list[tuple[int, float]]:
    """(timer kind, seconds left) of `pid`'s TCP connections to `server_port` (/proc/net/tcp)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        target = os.readlink(f"/proc/{pid}/fd/{fd}") if os.path.exists(f"/proc/{pid}/fd/{fd}") else ""
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name) as table:
            rows = table.read().splitlines()[1:]
        for line in rows:
            fields = line.split()
            remote_port, timer, inode = int(fields[2].split(":")[1], 16), fields[5], fields[9]
            if inode in inodes and remote_port == server_port:
                kind, ticks = timer.split(":")
                out.append((int(kind, 16), int(ticks, 16) / os.sysconf("SC_CLK_TCK")))
    return out


def _active_pid(pg, slot: str) -> int | None:
    with pg.cursor() as cur:
        cur.execute("SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", (slot,))
        row = cur.fetchone()
    return row[0] if row else None


def test_an_unreachable_broker_logs_through_python_logging_rate_limited(bridge_factory, unique_name):
    bridge = bridge_factory(unique_name, {"debezium.sink.kafka.producer.bootstrap.servers": "127.0.0.1:1",
                                          "bridge.connect.attempts": "3"})
    bridge.start()
    assert bridge.wait(60) == 3, bridge.log()
    log = bridge.log()
    assert "%3|" not in log and "|FAIL|" not in log, log
    lines = re.findall(r"^.* ERROR bridge\.kafka\.librdkafka: librdkafka rdkafka#producer-\d+ FAIL: "
                       r"127\.0\.0\.1:1/bootstrap: Connect to ipv4#127\.0\.0\.1:1 failed: Connection refused.*$",
                       log, re.M)
    assert len(lines) == 1, log  # librdkafka retried every ~50 ms meanwhile
    assert "cannot reach Kafka at 127.0.0.1:1" in log
