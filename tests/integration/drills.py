"""Helpers of the failure drills (tests/integration/test_drills.py, test_drills_recovery.py)
and of the poison-topic test: the drill (`bridge.ops.drill`, shared with `bridge drill`) around
a bridge of its own ("nothing lost, per-key order kept, slot caught up"), the drill broker and
scratch PostgreSQL clusters of their own, raw reads of a topic, a bridge's metrics.

The drills never touch the shared Kafka or PostgreSQL: a broker fault is played on the drill
broker (deploy/local/kafka-drill), a PostgreSQL restart on a scratch cluster, and network faults
on Toxiproxy proxies that only the drill's bridge goes through.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import psycopg2
import psycopg2.extensions
from confluent_kafka import Consumer, KafkaError
from confluent_kafka.admin import AdminClient

from bridge.ops.drill import DrillResult, Stage, rehearse
from tests.integration.support import (REPO, BridgeProcess, drop_slot_and_publication, slot_active, wait_until,
                                       write_properties)
from tests.prometheus_text import parse

LOCAL = REPO / "deploy" / "local"


def run_up(script: str, timeout: float = 300, env: dict[str, str] | None = None) -> tuple[dict[str, str], bool]:
    """Run a deploy/local/<script>/up (`env`: more environment, e.g. a second drill broker's
    ports): (its exports, whether it started something)."""
    proc = subprocess.run([str(LOCAL / script / "up")], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise AssertionError(f"deploy/local/{script}/up failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return dict(re.findall(r"^export (\w+)='([^']*)'$", proc.stdout, re.M)), "# started: nothing" not in proc.stdout


def run_down(script: str, env: dict[str, str] | None = None) -> None:
    subprocess.run([str(LOCAL / script / "down")], capture_output=True, timeout=120, check=False,
                   env={**os.environ, **(env or {})})


# -- a bridge's metrics ---------------------------------------------------------------------------


def http_port(bridge: BridgeProcess) -> int:
    """The port of the bridge's health and metrics (bridge.http.port=0 picks one; the log says)."""
    found = wait_until(lambda: re.search(r"health and metrics on http://127\.0\.0\.1:(\d+)/", bridge.log()),
                       what="the HTTP port in the log")
    return int(found[1])


def metric_total(port: int, name: str) -> float:
    """The sum of metric `name` over its labels, from the bridge's /q/metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/q/metrics", timeout=10) as response:
        families = parse(response.read().decode())
    return sum(v for (n, _), v in families.items() if n == name)


# -- raw records ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawRecord:
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]
    partition: int

    def json(self):
        return json.loads(self.value)


def read_raw(bootstrap: str, topic: str, count: int, timeout: float = 60.0) -> list[RawRecord]:
    """The first `count` records of `topic` as bytes (fails when fewer arrive within `timeout`)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"raw-{os.getpid()}-{time.monotonic_ns()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    out: list[RawRecord] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            for msg in consumer.consume(100, 0.5):
                if msg.error():
                    if msg.error().code() in (KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART):
                        continue
                    raise AssertionError(f"consumer error: {msg.error()}")
                out.append(RawRecord(msg.key(), msg.value(), dict(msg.headers() or []), msg.partition()))
    finally:
        consumer.close()
    assert len(out) >= count, f"{topic}: {len(out)} records of {count} after {timeout}s"
    return out[:count]


# -- processes ------------------------------------------------------------------------------------


def pid_from(path: str) -> int:
    return int(Path(path).read_text().strip())


def signal_pid(pid: int, sig: signal.Signals) -> None:
    os.kill(pid, sig)


# -- the drill ------------------------------------------------------------------------------------

KEYS = 20


def run_drill(name: str, workdir: Path, *, pg_dsn: str, bridge_pg_dsn: str, bridge_kafka: str, check_kafka: str,
              fault: Callable[[], None], quiesce: bool = False, log=print) -> DrillResult:
    """One drill (`bridge.ops.drill.rehearse`, as `bridge drill` runs it) around a bridge of its
    own (restart policy on-failure, as an operator runs it) that streams a table of its own from
    `bridge_pg_dsn` to `bridge_kafka`; the drill writes on `pg_dsn` and reads `check_kafka`.
    `quiesce`: the writers pause during the fault (a PostgreSQL restart would end their sessions)."""
    table, slot, publication, topic = f"drill_{name}", f"{name}_slot", f"{name}_pub", f"{name}.public.drill_{name}"
    pg = psycopg2.connect(pg_dsn)
    pg.autocommit = True
    cfg = write_properties(workdir / f"{name}.properties", bridge_pg_dsn, bridge_kafka, prefix=name, slot=slot,
                           publication=publication,
                           extra={"bridge.producers": "2", "debezium.source.publication.autocreate.mode": "disabled",
                                  "bridge.restart.policy": "on-failure", "bridge.restart.max.attempts": "20",
                                  "bridge.restart.backoff.ms": "1000"})
    bridge = BridgeProcess(cfg, workdir / f"{name}.log")
    stage = Stage(pg=psycopg2.extensions.parse_dsn(pg_dsn), table=f"public.{table}", keys=KEYS,
                  kafka={"bootstrap.servers": check_kafka}, topic=topic, slot=slot, publication=publication)
    try:
        with pg.cursor() as cur:
            cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int NOT NULL)")
            cur.execute(f'CREATE PUBLICATION "{publication}" FOR TABLE {table}')
        bridge.start()
        wait_until(lambda: slot_active(pg, slot), timeout=60, what=f"{name}: the bridge to stream")
        result = rehearse(name, stage, fault, quiesce=quiesce, log=lambda line: None)
        assert bridge.stop() == 0, bridge.log()
        result = dataclasses.replace(result, restarts=bridge.log().count("pipeline failed"))
        log(result.line())
        return result
    finally:
        if bridge.running():
            bridge.kill()
        if quiesce:  # the fault may have ended this session
            pg.close()
            pg = psycopg2.connect(pg_dsn)
            pg.autocommit = True
        wait_until(lambda: not slot_active(pg, slot), timeout=30, what=f"{name}: the slot to be released")
        drop_slot_and_publication(pg, slot, publication)
        with pg.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        pg.close()
        delete_topics(check_kafka, (topic,))


def delete_topics(bootstrap: str, topics: tuple[str, ...]) -> None:
    """Test cleanup: the topics, those that exist."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics(list(topics)).values():
        try:
            future.result(30)
        except Exception:  # noqa: BLE001 - cleanup: a topic never made is fine
            pass


# -- a broker with a small disk ----------------------------------------------------------------------


def fill(directory: Path) -> int:
    """Write a file into `directory` until its filesystem is full; the bytes written."""
    written, chunk = 0, b"\0" * (1 << 20)
    with open(directory / "filler", "wb", buffering=0) as f:
        while True:
            try:
                written += f.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                return written


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# -- a scratch PostgreSQL cluster ------------------------------------------------------------------

PG_BIN = Path(os.environ.get("BRIDGE_PG_BIN", "/usr/lib/postgresql/15/bin"))


class ScratchPostgres:
    """A throwaway PostgreSQL 15 cluster of the drills' own (wal_level=logical, trust on
    127.0.0.1), in `directory`, owned by the postgres user when run as root, as deploy/local/up
    makes the shared one; restarted with `pg_ctl restart -m immediate` (a crash) by a drill."""

    def __init__(self, directory: Path, port: int, user: str = "bridge", dbname: str = "bridge",
                 settings: dict[str, str] | None = None) -> None:
        """`settings`: more postgresql.conf lines (a drill's `max_slot_wal_keep_size`)."""
        self.directory, self.port, self.user, self.dbname = directory, port, user, dbname
        self.settings = settings or {}
        self.data = directory / "data"
        self.dsn = f"host=127.0.0.1 port={port} user={user} password=unused dbname={dbname}"

    def _as_pg(self, *argv: str, timeout: float = 120) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        proc = subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            log = self.directory / "postgres.log"
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise AssertionError(f"{' '.join(argv)} failed: {proc.stderr[-3000:]}\n{tail}")

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            subprocess.run(["chown", "postgres", str(self.directory)], check=True)
        self._as_pg(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", self.user, "-E", "UTF8", "--locale=C.UTF-8",
                    "--auth-local=trust", "--auth-host=trust", "--no-sync")
        self._as_pg("bash", "-c", f"cat >> '{self.data}/postgresql.conf' <<'EOF'\n"
                    f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                    f"unix_socket_directories = '{self.directory}'\nwal_level = logical\n"
                    "max_replication_slots = 8\nmax_wal_senders = 8\nfsync = off\nfull_page_writes = off\n"
                    "log_min_messages = warning\n"
                    + "".join(f"{k} = {v}\n" for k, v in self.settings.items()) + "EOF\n")
        self._as_pg("bash", "-c", f"printf 'local all all trust\\nhost all all 127.0.0.1/32 trust\\n"
                    f"host replication all 127.0.0.1/32 trust\\n' > '{self.data}/pg_hba.conf'")
        self._pg_ctl("start")
        self._as_pg(str(PG_BIN / "createdb"), "-h", str(self.directory), "-p", str(self.port), "-U", self.user,
                    self.dbname)

    def _pg_ctl(self, *args: str) -> None:
        self._as_pg(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.directory / "postgres.log"),
                    "-w", "-t", "60", *args)

    def restart_immediate(self) -> None:
        """Every backend killed without a checkpoint, then crash recovery: a host's power cut."""
        self._pg_ctl("restart", "-m", "immediate")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._pg_ctl("stop", "-m", "immediate")


@contextlib.contextmanager
def scratch_postgres(port: int, settings: dict[str, str] | None = None):
    """A started ScratchPostgres, stopped and removed at the end."""
    # the postgres user must reach the cluster's directory: not under pytest's root-only tmp
    scratch = ScratchPostgres(Path(tempfile.mkdtemp(prefix="pgbridge-drill-pg-")), port, settings=settings)
    scratch.directory.chmod(0o755)
    scratch.start()
    try:
        yield scratch
    finally:
        scratch.stop()
        shutil.rmtree(scratch.directory, ignore_errors=True)
