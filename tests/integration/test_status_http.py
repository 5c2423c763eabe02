"""Health and metrics over HTTP from a running bridge: Debezium Server's /q/health paths, the
Prometheus figures following real traffic, and the verdict while a pipeline restarts after a
producer is killed."""

from __future__ import annotations

import json
import os
import re
import signal
import urllib.error
import urllib.request

from tests.integration.support import child_pids, consume, slot_active, wait_until
from tests.prometheus_text import parse


def get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def metrics(port: int) -> dict:
    code, body = get(port, "/q/metrics")
    assert code == 200
    return parse(body.decode())


def total(m: dict, name: str) -> float:
    return sum(v for (n, _), v in m.items() if n == name)


def test_health_and_metrics_follow_the_pipeline(pg, bridge_factory, kafka_bootstrap, unique_name):
    table = f"status_{unique_name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
    bridge = bridge_factory(unique_name, {"bridge.producers": "2", "bridge.restart.policy": "on-failure",
                                          "bridge.restart.backoff.ms": "3000"}, tables=[table])
    bridge.start()
    wait_until(lambda: slot_active(pg, f"{unique_name}_slot"), what="the bridge to start streaming")
    port = int(wait_until(lambda: re.search(r"health and metrics on http://127\.0\.0\.1:(\d+)/", bridge.log()),
                          what="the HTTP port in the log")[1])

    # GIVEN a streaming bridge: ready, every process up
    code, body = get(port, "/q/health")
    doc = json.loads(body)
    assert code == 200 and doc["status"] == "UP", doc
    assert doc["checks"][0]["data"] == {"phase": "streaming", "decoder": "UP", "producer-0": "UP",
                                        "producer-1": "UP"}
    before = metrics(port)
    assert before[("pgbridge_up", ())] == 1

    # WHEN rows are written, THEN the counters and the confirmed position follow them
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {table} SELECT g, 'x' FROM generate_series(1, 500) g")
        cur.execute("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn")
        written = int(cur.fetchone()[0])
    consume(kafka_bootstrap, f"{unique_name}.public.{table}", count=500)
    after = wait_until(lambda: (m := metrics(port)) and total(m, "pgbridge_producer_rows_total") >= 500
                       and m[("pgbridge_confirmed_lsn", ())] >= written and m, what="the metrics to count the rows")
    assert total(after, "pgbridge_producer_rows_total") == 500
    assert total(after, "pgbridge_producer_records_total") == 500
    assert after[("pgbridge_decoder_messages_total", ())] >= 502  # Begin, 500 Inserts, Commit
    assert after[("pgbridge_source_wal_end_lsn", ())] >= after[("pgbridge_confirmed_lsn", ())]
    assert min(v for (n, _), v in after.items() if n == "pgbridge_producer_acked_lsn") > 0

    # WHEN a producer is killed, THEN the bridge is not ready while it restarts, but alive
    os.kill(child_pids(bridge.proc.pid)["pgb-producer-1"], signal.SIGKILL)
    down = wait_until(lambda: (r := get(port, "/q/health"))[0] == 503 and r, what="health to turn DOWN")
    assert json.loads(down[1])["status"] == "DOWN"
    assert get(port, "/q/health/live")[0] == 200
    # AND once the pipeline is back it is ready again and the restart is counted
    wait_until(lambda: get(port, "/q/health")[0] == 200, timeout=60, what="health to come back UP")
    assert metrics(port)[("pgbridge_pipeline_restarts_total", ())] == 1
    assert bridge.stop() == 0, bridge.log()


def test_busy_port_is_one_clear_error(pg, bridge_factory, unique_name):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        bridge = bridge_factory(unique_name, {"bridge.http.port": str(port)})
        bridge.start()
        assert bridge.proc.wait(60) == 2, bridge.log()
    assert f"bridge.http.port (quarkus.http.port)={port} on host '127.0.0.1' cannot be used" in bridge.log()
    assert "Traceback" not in bridge.log()


def test_a_provided_secret_never_reaches_logs_health_or_metrics(pg, bridge_factory, kafka_bootstrap, unique_name):
    # GIVEN a role whose password comes from Debezium Server's environment override, and a Kafka
    # setting from a ${NAME} expression: both secrets from outside the file
    secret = f"s3cret-{unique_name}"
    role, table = f"role_{unique_name}", f"secret_{unique_name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
        cur.execute(f"CREATE ROLE {role} LOGIN REPLICATION PASSWORD %s", (secret,))
        cur.execute(f"GRANT SELECT ON {table} TO {role}")
    try:
        bridge = bridge_factory(unique_name, {"bridge.http.port": "0", "quarkus.log.level": "DEBUG",
                                              "debezium.sink.kafka.producer.client.id": "${PGB_CLIENT_SECRET}"},
                                tables=[table])
        bridge.start(env={"DEBEZIUM_SOURCE_DATABASE_USER": role, "DEBEZIUM_SOURCE_DATABASE_PASSWORD": secret,
                          "PGB_CLIENT_SECRET": secret + "-client"})
        wait_until(lambda: slot_active(pg, f"{unique_name}_slot"), what="the bridge to start streaming")
        port = int(wait_until(lambda: re.search(r"health and metrics on http://127\.0\.0\.1:(\d+)/", bridge.log()),
                              what="the HTTP port in the log")[1])
        with pg.cursor() as cur:
            cur.execute(f"INSERT INTO {table} VALUES (1, 'x')")
        consume(kafka_bootstrap, f"{unique_name}.public.{table}", count=1)
        with pg.cursor() as cur:
            cur.execute("SELECT usename FROM pg_stat_activity WHERE pid = (SELECT active_pid FROM "
                        "pg_replication_slots WHERE slot_name = %s)", (f"{unique_name}_slot",))
            assert cur.fetchone()[0] == role  # it did run with the provided credentials
        # WHEN everything a user or a scraper can read is collected
        seen = [get(port, path)[1].decode() for path in ("/q/metrics", "/q/health", "/q/health/live")]
        assert bridge.stop() == 0, bridge.log()
        # THEN the secrets are in none of it, though the log is at DEBUG (quarkus.log.level)
        for text in seen + [bridge.log()]:
            assert secret not in text
        assert "pgbridge_up" in seen[0] and " DEBUG " in bridge.log()
    finally:
        with pg.cursor() as cur:
            cur.execute(f"DROP OWNED BY {role}")
            cur.execute(f"DROP ROLE {role}")
