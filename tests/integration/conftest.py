"""Fixtures of the integration tier: a SQL connection and bridges with their own slot,
publication and topic prefix, dropped afterwards."""

from __future__ import annotations

import os
import re
import subprocess

import psycopg2
import pytest

from bridge.ops.drill import Toxiproxy
from tests.integration.drills import run_down, run_up
from tests.integration.support import REPO, BridgeProcess, drop_slot_and_publication, write_properties

# The real Debezium and its JDBC sink (deploy/local/debezium/run, jdbc-sink/run) start faster with
# only the JIT's first tier; their output does not depend on it. Benchmarks leave it unset.
for _jvm_opts in ("BRIDGE_DEBEZIUM_JVM_OPTS", "BRIDGE_JDBC_SINK_JVM_OPTS"):
    os.environ.setdefault(_jvm_opts, "-XX:TieredStopAtLevel=1")


@pytest.fixture
def pg(pg_dsn):
    conn = psycopg2.connect(pg_dsn)
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture
def bridge_factory(tmp_path, pg_dsn, kafka_bootstrap, pg):
    """make(prefix, extra=...) → an unstarted BridgeProcess with its own slot and publication."""
    made: list[tuple[BridgeProcess, str, str]] = []

    def make(prefix: str, extra: dict[str, str] | None = None, tables: list[str] | None = None) -> BridgeProcess:
        """`tables`: publish only these (the test's own), so that other work in the shared
        database cannot reach this bridge."""
        slot, publication = f"{prefix}_slot", f"{prefix}_pub"
        if tables:
            with pg.cursor() as cur:
                cur.execute(f'CREATE PUBLICATION "{publication}" FOR TABLE {", ".join(tables)}')
            extra = {"debezium.source.publication.autocreate.mode": "disabled", **(extra or {})}
        cfg = write_properties(tmp_path / f"{prefix}.properties", pg_dsn, kafka_bootstrap,
                               prefix=prefix, slot=slot, publication=publication, extra=extra)
        bridge = BridgeProcess(cfg, tmp_path / f"{prefix}.log")
        made.append((bridge, slot, publication))
        return bridge

    yield make
    for bridge, slot, publication in made:
        if bridge.running():
            bridge.kill()
        drop_slot_and_publication(pg, slot, publication)


@pytest.fixture(scope="session")
def schema_registry(local_services):
    """The Confluent-API URL of deploy/local/registry/up's registry (Apicurio, in memory),
    started once for the session by the first test that needs it; stopped at the end unless it
    was already running. Tests use their own subjects (topic prefixes)."""
    up, down = REPO / "deploy/local/registry/up", REPO / "deploy/local/registry/down"
    proc = subprocess.run([str(up)], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"deploy/local/registry/up failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}",
                    pytrace=False)
    env = dict(re.findall(r"^export (\w+)='([^']*)'$", proc.stdout, re.M))
    yield env["BRIDGE_REGISTRY_URL"]
    if "# started: nothing" not in proc.stdout:
        subprocess.run([str(down)], capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def toxiproxy(local_services):
    """A client of deploy/local/toxiproxy/up's server, started once for the session."""
    env, started = run_up("toxiproxy")
    yield Toxiproxy(env["BRIDGE_TOXIPROXY_URL"])
    if started:
        run_down("toxiproxy")


@pytest.fixture(scope="session")
def drill_kafka(toxiproxy):
    """The drill broker's exports, with `proxy`: the Toxiproxy proxy the bridge reaches it by."""
    env, started = run_up("kafka-drill")
    proxy = toxiproxy.proxy("drill_kafka", env["BRIDGE_KAFKA_DRILL_PROXIED"], env["BRIDGE_KAFKA_DRILL_UPSTREAM"])
    yield {**env, "proxy": proxy}
    proxy.delete()
    if started:
        run_down("kafka-drill")


@pytest.fixture(scope="session")
def secure_kafka(local_services):
    """The exports of deploy/local/kafka-secure/up (BRIDGE_KAFKA_SECURE_*): a secured broker started
    once for the session by the first test that needs it; stopped at the end unless it was
    already running."""
    env, started = run_up("kafka-secure")
    yield env
    if started:
        run_down("kafka-secure")


@pytest.fixture(scope="session")
def tls_pg(local_services):
    """The exports of deploy/local/postgres-tls/up (BRIDGE_PG_TLS_*): a TLS-only PostgreSQL started
    once for the session by the first test that needs it; stopped at the end unless it was
    already running."""
    env, started = run_up("postgres-tls")
    yield env
    if started:
        run_down("postgres-tls")


@pytest.fixture(scope="session")
def redis_server(local_services):
    """The exports of deploy/local/redis/up (BRIDGE_REDIS_URL, BRIDGE_REDIS_PASSWORD): Debian's
    redis-server started once for the session by the first test that needs it; stopped at the end
    unless it was already running. Tests use their own consumer groups (key prefixes)."""
    env, started = run_up("redis")
    yield env
    if started:
        run_down("redis")
