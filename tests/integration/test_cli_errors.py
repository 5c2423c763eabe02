"""Bad input gives one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tests.integration.support import REPO, write_properties


def run_bridge(config_path, timeout=90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bridge.cli", "run", "-c", str(config_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_clean_failure(result, code: int, *needles: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


FAST_RETRY = {"bridge.connect.attempts": "2", "bridge.connect.backoff.initial.ms": "100"}


def test_missing_config_file(tmp_path):
    result = run_bridge(tmp_path / "absent.properties")
    assert_clean_failure(result, 2, "absent.properties", "does not exist")


def test_non_numeric_port(tmp_path, pg_dsn, kafka_bootstrap):
    cfg = write_properties(tmp_path / "a.properties", pg_dsn, kafka_bootstrap, prefix="x", slot="x",
                           publication="x", extra={"debezium.source.database.port": "fivefour"})
    assert_clean_failure(run_bridge(cfg), 2, "debezium.source.database.port='fivefour' is not an integer")


def test_unreachable_postgres(tmp_path, pg_dsn, kafka_bootstrap):
    port = free_port()
    cfg = write_properties(tmp_path / "a.properties", pg_dsn, kafka_bootstrap, prefix="x", slot="x",
                           publication="x", extra={"debezium.source.database.port": str(port), **FAST_RETRY})
    assert_clean_failure(run_bridge(cfg), 3, f"cannot connect to PostgreSQL at 127.0.0.1:{port}", "after 2 attempts")


def test_unreachable_kafka(tmp_path, pg_dsn):
    port = free_port()
    cfg = write_properties(tmp_path / "a.properties", pg_dsn, f"127.0.0.1:{port}", prefix="x", slot="x",
                           publication="x", extra=FAST_RETRY)
    assert_clean_failure(run_bridge(cfg), 3, f"cannot reach Kafka at 127.0.0.1:{port}")


@pytest.mark.parametrize("password", ["wrong-password"])
def test_wrong_password_is_not_retried(tmp_path, pg_dsn, kafka_bootstrap, password):
    cfg = write_properties(tmp_path / "a.properties", pg_dsn, kafka_bootstrap, prefix="x", slot="x",
                           publication="x", extra={"debezium.source.database.password": password})
    assert_clean_failure(run_bridge(cfg, timeout=30), 3, "password authentication failed")


def test_slot_with_another_plugin_is_refused(tmp_path, pg, pg_dsn, kafka_bootstrap, unique_name):
    with pg.cursor() as cur:
        cur.execute("SELECT pg_create_logical_replication_slot(%s, 'test_decoding')", (unique_name,))
    try:
        cfg = write_properties(tmp_path / "a.properties", pg_dsn, kafka_bootstrap, prefix=unique_name,
                               slot=unique_name, publication=unique_name)
        assert_clean_failure(run_bridge(cfg), 4, f"replication slot '{unique_name}' exists", "'test_decoding'")
    finally:
        with pg.cursor() as cur:
            cur.execute("SELECT pg_drop_replication_slot(%s)", (unique_name,))
            cur.execute(f'DROP PUBLICATION IF EXISTS "{unique_name}"')
