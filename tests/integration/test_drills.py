"""Failure drills (issue 16, item 8), each ending with "nothing lost, per-key order kept, slot
caught up" (`tests.integration.drills.run_drill`): the broker killed and restarted, frozen, cut
off and slowed down; PostgreSQL cut off, slowed down and restarted immediately.

Broker faults are played on a broker of the drills' own (deploy/local/kafka-drill), reached by
the bridge through a Toxiproxy proxy (deploy/local/toxiproxy); PostgreSQL network faults on a
proxy in front of the shared PostgreSQL that only the drill's bridge goes through; the restart
on a scratch cluster. The shared Kafka and PostgreSQL are never stopped, frozen or cut off.
Each drill prints its timings (time to resume after the heal, to catch up, slot caught up).
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
from pathlib import Path

import psycopg2.extensions
import pytest

from bridge.ops.drill import held
from tests.integration.drills import ScratchPostgres, pid_from, run_drill, run_up, signal_pid

PG_PROXY_PORT, SCRATCH_PG_PORT = 19396, 19397


@pytest.fixture(scope="module")
def pg_proxy(toxiproxy, pg_dsn):
    """A proxy in front of the shared PostgreSQL, and the DSN through it."""
    dsn = psycopg2.extensions.parse_dsn(pg_dsn)
    proxy = toxiproxy.proxy("drill_pg", f"127.0.0.1:{PG_PROXY_PORT}", f"{dsn['host']}:{dsn['port']}")
    yield proxy, psycopg2.extensions.make_dsn(pg_dsn, port=PG_PROXY_PORT)
    proxy.delete()


def broker_drill(name: str, tmp_path, pg_dsn: str, drill_kafka: dict, fault) -> None:
    result = run_drill(name, tmp_path, pg_dsn=pg_dsn, bridge_pg_dsn=pg_dsn,
                       bridge_kafka=drill_kafka["BRIDGE_KAFKA_DRILL_PROXIED"],
                       check_kafka=drill_kafka["BRIDGE_KAFKA_DRILL_DIRECT"], fault=fault)
    assert result.changes > 0


def test_broker_killed_and_restarted(tmp_path, pg_dsn, drill_kafka, unique_name):
    def fault() -> None:
        signal_pid(pid_from(drill_kafka["BRIDGE_KAFKA_DRILL_PID"]), signal.SIGKILL)
        time.sleep(3)
        run_up("kafka-drill")  # a restart on its data, after an unclean stop

    broker_drill(f"kill_{unique_name[-6:]}", tmp_path, pg_dsn, drill_kafka, fault)


def test_broker_frozen(tmp_path, pg_dsn, drill_kafka, unique_name):
    pid = pid_from(drill_kafka["BRIDGE_KAFKA_DRILL_PID"])
    broker_drill(f"freeze_{unique_name[-6:]}", tmp_path, pg_dsn, drill_kafka,
                 held(12, lambda: signal_pid(pid, signal.SIGSTOP), lambda: signal_pid(pid, signal.SIGCONT)))


def test_broker_partitioned(tmp_path, pg_dsn, drill_kafka, unique_name):
    proxy = drill_kafka["proxy"]
    broker_drill(f"kpart_{unique_name[-6:]}", tmp_path, pg_dsn, drill_kafka,
                 held(10, lambda: proxy.enabled(False), lambda: proxy.enabled(True)))


def test_broker_latency(tmp_path, pg_dsn, drill_kafka, unique_name):
    proxy = drill_kafka["proxy"]
    broker_drill(f"klat_{unique_name[-6:]}", tmp_path, pg_dsn, drill_kafka,
                 held(6, lambda: proxy.latency(300), proxy.clear))


def pg_drill(name: str, tmp_path, pg_dsn: str, kafka_bootstrap: str, pg_proxy, fault) -> None:
    result = run_drill(name, tmp_path, pg_dsn=pg_dsn, bridge_pg_dsn=pg_proxy[1], bridge_kafka=kafka_bootstrap,
                       check_kafka=kafka_bootstrap, fault=fault)
    assert result.changes > 0


def test_postgres_partitioned(tmp_path, pg_dsn, kafka_bootstrap, pg_proxy, unique_name):
    proxy = pg_proxy[0]
    pg_drill(f"pgpart_{unique_name[-6:]}", tmp_path, pg_dsn, kafka_bootstrap, pg_proxy,
             held(10, lambda: proxy.enabled(False), lambda: proxy.enabled(True)))


def test_postgres_latency(tmp_path, pg_dsn, kafka_bootstrap, pg_proxy, unique_name):
    proxy = pg_proxy[0]
    pg_drill(f"pglat_{unique_name[-6:]}", tmp_path, pg_dsn, kafka_bootstrap, pg_proxy,
             held(6, lambda: proxy.latency(300), proxy.clear))


def test_postgres_immediate_restart(tmp_path, kafka_bootstrap, unique_name):
    # the postgres user must reach the cluster's directory: not under pytest's root-only tmp
    scratch = ScratchPostgres(Path(tempfile.mkdtemp(prefix="pgbridge-drill-pg-")), SCRATCH_PG_PORT)
    scratch.directory.chmod(0o755)
    scratch.start()
    try:
        result = run_drill(f"pgrestart_{unique_name[-6:]}", tmp_path, pg_dsn=scratch.dsn,
                           bridge_pg_dsn=scratch.dsn, bridge_kafka=kafka_bootstrap, check_kafka=kafka_bootstrap,
                           fault=scratch.restart_immediate, quiesce=True)
        assert result.restarts >= 1  # the bridge lost its stream and restarted by its policy
    finally:
        scratch.stop()
        shutil.rmtree(scratch.directory, ignore_errors=True)
