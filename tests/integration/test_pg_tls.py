"""pgbridge against a PostgreSQL that accepts TLS connections only (issue 14).

The server is the project's own `deploy/local/postgres-tls/up` (ssl=on, `hostssl`-only
pg_hba.conf, a throwaway CA whose server certificate names only `localhost`: the `tls_pg`
fixture). With Debezium's `database.sslmode=verify-full` + `database.sslrootcert` rows must
stream, over TLS on both the SQL and the replication connection. A CA that did not sign the server, a host name the
certificate does not carry, and `sslmode=disable` must each stop the start with exit code 3 and
one line naming the server and the cause: never a silent fallback to an unverified or plain
connection.
"""

from __future__ import annotations

import re

import psycopg2
import pytest

from tests.integration.support import (
    BridgeProcess, consume, drop_slot_and_publication, error_lines, slot_active, throwaway_ca, wait_until,
    write_properties,
)

S = "debezium.source."


@pytest.fixture
def tls_conn(tls_pg):
    conn = psycopg2.connect(tls_pg["BRIDGE_PG_TLS_DSN"])
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture
def tls_table(tls_conn, unique_name):
    """A table and a publication of it in the TLS cluster; slot and publication dropped after."""
    table = f"tls_{unique_name}"
    with tls_conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, note text)")
        cur.execute(f'CREATE PUBLICATION "{unique_name}_pub" FOR TABLE {table}')
    yield table
    drop_slot_and_publication(tls_conn, f"{unique_name}_slot", f"{unique_name}_pub")
    with tls_conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {table}")


def tls_bridge(tls_pg, kafka_bootstrap, tmp_path, name: str, **source: str) -> BridgeProcess:
    """`bridge run` on the TLS cluster with Debezium's keys; `source` overrides database.* keys."""
    ssl = {"database.sslmode": "verify-full", "database.sslrootcert": tls_pg["BRIDGE_PG_TLS_CA"], **source}
    cfg = write_properties(tmp_path / f"{name}.properties", tls_pg["BRIDGE_PG_TLS_DSN"], kafka_bootstrap,
                           prefix=name, slot=f"{name}_slot", publication=f"{name}_pub", extra={
                               S + "publication.autocreate.mode": "disabled",
                               **{S + k: v for k, v in ssl.items()},
                               # Failures are to surface within seconds, not after the default budget.
                               "bridge.connect.attempts": "2", "bridge.connect.backoff.initial.ms": "500"})
    return BridgeProcess(cfg, tmp_path / f"{name}.log")


def test_verify_full_streams_over_tls_on_both_connections(tls_pg, tls_conn, tls_table, kafka_bootstrap, tmp_path,
                                                          unique_name):
    bridge = tls_bridge(tls_pg, kafka_bootstrap, tmp_path, unique_name)
    bridge.start()
    try:
        wait_until(lambda: slot_active(tls_conn, f"{unique_name}_slot"), timeout=60, what="the bridge to stream")
        with tls_conn.cursor() as cur:
            cur.execute(f"INSERT INTO {tls_table} SELECT g, 'row ' || g FROM generate_series(1, 10) g")
            # Every connection pgbridge holds, the walsender among them, is encrypted.
            cur.execute("SELECT a.backend_type, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) "
                        "WHERE a.application_name = 'pgbridge'")
            connections = cur.fetchall()
        assert "walsender" in {kind for kind, _ in connections}, connections
        assert all(ssl for _, ssl in connections), connections
        events = consume(kafka_bootstrap, f"{unique_name}.public.{tls_table}", count=10)
        assert sorted(e.key["payload"]["id"] for e in events) == list(range(1, 11))
        assert bridge.stop() == 0, bridge.log()
    finally:
        if bridge.running():
            bridge.kill()


@pytest.mark.parametrize("case", ["wrong CA", "host name mismatch", "sslmode=disable"])
def test_a_connection_that_is_not_verified_tls_is_refused(case, tls_pg, tls_conn, tls_table, kafka_bootstrap,
                                                          tmp_path, unique_name):
    source, cause = {
        "wrong CA": ({"database.sslrootcert": str(throwaway_ca(tmp_path))}, r"certificate verify failed"),
        "host name mismatch": ({"database.hostname": "127.0.0.1"},
                               r'server certificate for "localhost".* does not match host name "127\.0\.0\.1"'),
        "sslmode=disable": ({"database.sslmode": "disable"}, r"pg_hba\.conf rejects connection .*no encryption"),
    }[case]
    bridge = tls_bridge(tls_pg, kafka_bootstrap, tmp_path, unique_name, **source)
    bridge.start()
    assert bridge.wait(90) == 3, bridge.log()
    log = bridge.log()
    errors = error_lines(log)
    assert len(errors) == 1, log
    host = source.get("database.hostname", "localhost")
    assert errors[0].startswith(f"cannot connect to PostgreSQL at {host}:{tls_pg['BRIDGE_PG_TLS_PORT']} "), log
    assert re.search(cause, errors[0]), log
    assert "retrying" not in log, "a TLS refusal does not fix itself: no retry"
