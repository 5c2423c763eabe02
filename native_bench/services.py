"""The servers the benchmark runs against: PostgreSQL (a dedicated database) and Kafka.

Everything is on 127.0.0.1 and started by `deploy/local/up` when BRIDGE_PG_DSN /
BRIDGE_KAFKA_BOOTSTRAP are not set. The benchmark works in its own database (`native_bench`)
so that other work on the same cluster never shows up in its replication slots, and it names
every slot and topic it makes with its run id so it only ever drops its own.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import psycopg2.extensions
from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

REPO = Path(__file__).resolve().parent.parent
UP = REPO / "deploy" / "local" / "up"
BENCH_DB = "native_bench"
PUBLICATION = "nb_pub"
SLOT_PREFIX = "nb_"


@dataclass(frozen=True)
class Services:
    admin_dsn: str  # the DSN deploy/local/up printed (database `bridge`)
    kafka: str
    state_dir: Path | None  # deploy/local's state dir: Kafka's log dir and pid live there

    @property
    def dsn(self) -> str:
        """DSN of the benchmark's own database."""
        params = psycopg2.extensions.parse_dsn(self.admin_dsn)
        params["dbname"] = BENCH_DB
        return " ".join(f"{k}={v}" for k, v in params.items())

    @property
    def dsn_params(self) -> dict[str, str]:
        return psycopg2.extensions.parse_dsn(self.dsn)

    def connect(self, autocommit: bool = True) -> psycopg2.extensions.connection:
        conn = psycopg2.connect(self.dsn)
        conn.autocommit = autocommit
        return conn

    @property
    def kafka_data_dir(self) -> Path | None:
        if self.state_dir is None:
            return None
        props = self.state_dir / "kafka" / "server.properties"
        if props.exists():
            m = re.search(r"^log\.dirs=(.+)$", props.read_text(), re.M)
            if m:
                return Path(m.group(1).split(",")[0].strip())
        return None

    @property
    def kafka_pid(self) -> int | None:
        if self.state_dir is None:
            return None
        try:
            return int((self.state_dir / "kafka" / "kafka.pid").read_text().strip())
        except (OSError, ValueError):
            return None


def discover(pg_dsn: str | None, kafka: str | None) -> Services:
    """Use the given/ environment servers, else start the local ones with deploy/local/up."""
    pg_dsn = pg_dsn or os.environ.get("BRIDGE_PG_DSN")
    kafka = kafka or os.environ.get("BRIDGE_KAFKA_BOOTSTRAP")
    state = os.environ.get("BRIDGE_STATE_DIR")
    if not (pg_dsn and kafka) or not state:
        proc = subprocess.run([str(UP)], capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise SystemExit(f"deploy/local/up failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        env = dict(re.findall(r"^export (\w+)='([^']*)'$", proc.stdout, re.M))
        pg_dsn = pg_dsn or env["BRIDGE_PG_DSN"]
        kafka = kafka or env["BRIDGE_KAFKA_BOOTSTRAP"]
        state = state or env.get("BRIDGE_STATE_DIR")
    return Services(pg_dsn, kafka, Path(state) if state else None)


def prepare_database(services: Services) -> None:
    """Create the benchmark database and its FOR ALL TABLES publication when missing.

    The publication exists before any slot is made: pgoutput looks publications up in the
    catalog as of the WAL it decodes."""
    admin = psycopg2.connect(services.admin_dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DB,))
        if cur.fetchone() is None:
            cur.execute(f"CREATE DATABASE {BENCH_DB}")
    admin.close()
    with services.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (PUBLICATION,))
        if cur.fetchone() is None:
            cur.execute(f"CREATE PUBLICATION {PUBLICATION} FOR ALL TABLES")
    conn.close()


def _run_lock(run_id: str) -> str:
    return f"hashtext('native_bench:{run_id}')"


def hold_run_lock(conn, run_id: str) -> None:
    """A session advisory lock that says "run `run_id` is alive" for as long as `conn` lives."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT pg_advisory_lock({_run_lock(run_id)})")


def start_run(conn, run_id: str) -> str:
    """Own schema for the run's tables (concurrent runs never touch each other's), made the
    connection's search_path. Returns the schema name."""
    schema = f"{SLOT_PREFIX}{run_id}"
    hold_run_lock(conn, run_id)
    with conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {schema}")
        cur.execute(f"SET search_path TO {schema}")
    return schema


def end_run(conn, schema: str) -> None:
    with conn.cursor() as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def drop_stale(services: Services) -> list[str]:
    """Drop slots and schemas of earlier benchmark runs that are no longer alive (their
    run lock is free): what an interrupted run left behind. Live runs are left alone."""
    conn = services.connect()
    dropped = []
    with conn.cursor() as cur:
        cur.execute("SELECT slot_name FROM pg_replication_slots WHERE database = %s AND NOT active "
                    "AND slot_name LIKE %s", (BENCH_DB, SLOT_PREFIX + "%"))
        slots = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (SLOT_PREFIX + "%",))
        schemas = [r[0] for r in cur.fetchall()]
        for name in slots + schemas:
            run_id = name.split("_")[1] if name.count("_") >= 1 else ""
            cur.execute(f"SELECT pg_try_advisory_lock({_run_lock(run_id)})")
            if not cur.fetchone()[0]:
                continue  # a live run
            try:
                if name in slots:
                    cur.execute("SELECT pg_drop_replication_slot(%s)", (name,))
                else:
                    cur.execute(f"DROP SCHEMA {name} CASCADE")
                dropped.append(name)
            except psycopg2.Error:
                pass  # taken in the meantime
            finally:
                cur.execute(f"SELECT pg_advisory_unlock({_run_lock(run_id)})")
    conn.close()
    return dropped


def create_slot(conn, name: str) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (name,))


def drop_slot(conn, name: str, timeout_s: float = 30.0) -> None:
    """Drop a slot once no walsender holds it any more (a stopped client's walsender lingers)."""
    deadline = time.monotonic() + timeout_s
    with conn.cursor() as cur:
        while True:
            cur.execute("SELECT active, active_pid FROM pg_replication_slots WHERE slot_name = %s", (name,))
            row = cur.fetchone()
            if row is None:
                return
            if not row[0]:
                cur.execute("SELECT pg_drop_replication_slot(%s)", (name,))
                return
            if time.monotonic() > deadline:
                cur.execute("SELECT pg_terminate_backend(%s)", (row[1],))
                deadline = time.monotonic() + 5
            time.sleep(0.1)


def flush_lsn(conn) -> str:
    with conn.cursor() as cur:
        cur.execute("SELECT pg_current_wal_flush_lsn()::text")
        return cur.fetchone()[0]


def lsn_int(text: str) -> int:
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


class Kafka:
    """Admin operations on the broker: topics the benchmark owns, their end offsets."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.admin = AdminClient({"bootstrap.servers": bootstrap})

    def create_topics(self, topics: list[str], partitions: int, timeout_s: float = 60.0) -> None:
        # A fresh client per set of topics: a client that saw topics deleted answers ListOffsets
        # for newly created ones with "No leaders found" (librdkafka 2.16), though metadata is fine.
        self.admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futures = self.admin.create_topics([NewTopic(t, partitions, 1) for t in topics],
                                           operation_timeout=30, request_timeout=30)
        for topic, f in futures.items():
            try:
                f.result()
            except KafkaException as exc:
                if exc.args[0].code() != 36:  # TOPIC_ALREADY_EXISTS
                    raise
        # Wait until every partition has a leader (end offsets answer).
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.end_offsets(topics, partitions)
                return
            except KafkaException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def delete_topics(self, topics: list[str]) -> None:
        if not topics:
            return
        for f in self.admin.delete_topics(topics, operation_timeout=30, request_timeout=30).values():
            try:
                f.result()
            except KafkaException:
                pass

    def end_offsets(self, topics: list[str], partitions: int) -> int:
        """Sum of the high watermarks: the records readable by a consumer."""
        request = {TopicPartition(t, p): OffsetSpec.latest() for t in topics for p in range(partitions)}
        result = self.admin.list_offsets(request, request_timeout=10)
        return sum(f.result().offset for f in result.values())

    def log_bytes(self, data_dir: Path | None, topics: list[str]) -> int | None:
        """Bytes of the topics' log segments on the broker's disk (after compression)."""
        if data_dir is None or not data_dir.is_dir():
            return None
        names = set(topics)
        total = 0
        for part in data_dir.iterdir():
            topic = part.name.rsplit("-", 1)[0]
            if topic in names:
                total += sum(f.stat().st_size for f in part.glob("*.log"))
        return total
