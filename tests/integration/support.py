"""Helpers of the integration tier: the bridge as a real OS process, a Kafka reader, waits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import (
    AclBinding, AclOperation, AclPermissionType, AdminClient, ResourcePatternType, ResourceType, ScramCredentialInfo,
    ScramMechanism, UserScramCredentialUpsertion,
)

from bridge.ops import drill
from bridge.source.slots import drop_slot, inspect_slot

REPO = Path(__file__).resolve().parents[2]


@dataclass
class BridgeProcess:
    """`bridge <command> -c <file> <args>` in a child process, the way a user runs it: `run` unless
    another subcommand is given."""

    config_path: Path
    log_path: Path
    proc: subprocess.Popen | None = None
    command: str = "run"
    args: tuple[str, ...] = ()

    def start(self, env: dict[str, str] | None = None) -> None:
        """Start the process; `env` adds to this one's environment (e.g. PGBRIDGE_FAILPOINTS)."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", self.command, "-c", str(self.config_path), *self.args],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env} if env else None,
        )
        log.close()

    def wait(self, timeout: float = 60) -> int:
        """The exit code, once the process ends by itself (a one-shot command, a fault point)."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"bridge {self.command} did not exit within {timeout}s; log:\n{self.log()}")

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM and wait: a clean stop flushes Kafka and confirms the slot."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"bridge did not stop within {timeout}s; log:\n{self.log()}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path.exists() else ""

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def write_properties(path: Path, pg_dsn: str, kafka_bootstrap: str, *, prefix: str, slot: str,
                     publication: str, extra: dict[str, str] | None = None, connect_headers: bool = True) -> Path:
    """A Debezium Server file for pgbridge. `connect_headers`: headers as Debezium on Kafka
    Connect writes them (its worker's SimpleHeaderConverter), which the tests compare with;
    false keeps a Debezium Server file's default header format, json."""
    dsn = psycopg2.extensions.parse_dsn(pg_dsn)
    props = {
        "debezium.sink.type": "kafka",
        "debezium.sink.kafka.producer.bootstrap.servers": kafka_bootstrap,
        "debezium.sink.kafka.producer.key.serializer": "org.apache.kafka.common.serialization.StringSerializer",
        "debezium.sink.kafka.producer.value.serializer": "org.apache.kafka.common.serialization.StringSerializer",
        "debezium.source.connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "debezium.source.database.hostname": dsn["host"],
        "debezium.source.database.port": dsn["port"],
        "debezium.source.database.user": dsn["user"],
        "debezium.source.database.password": dsn.get("password", ""),
        "debezium.source.database.dbname": dsn["dbname"],
        "debezium.source.topic.prefix": prefix,
        "debezium.source.slot.name": slot,
        "debezium.source.publication.name": publication,
        "debezium.source.plugin.name": "pgoutput",
        "debezium.source.status.update.interval.ms": "200",
        # Streaming only unless a test asks for a snapshot: the shared test database holds
        # every earlier test's tables.
        "debezium.source.snapshot.mode": "no_data",
        # Health and metrics on any free port (the log says which): bridges run side by side.
        "bridge.http.port": "0",
    }
    if connect_headers:
        props["debezium.format.header"] = "org.apache.kafka.connect.storage.SimpleHeaderConverter"
    props.update(extra or {})
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    return path


@dataclass(frozen=True)
class Event:
    key: object
    value: object
    headers: dict[str, bytes]
    partition: int
    offset: int


def _json(raw: bytes | None):
    return None if raw is None else json.loads(raw)


def consume(kafka_bootstrap: str, topic: str, *, count: int, timeout: float = 60.0) -> list[Event]:
    """The first `count` records of `topic` (fails when fewer arrive within `timeout`)."""
    events = consume_until(kafka_bootstrap, topic, lambda ev: len(ev) >= count, timeout=timeout,
                           what=f"{count} records")
    return events[:count]


def topic_size(bootstrap: str, topic: str) -> int:
    """Records in all partitions of `topic` (the sum of the high watermarks: a fresh topic)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"sizer-{os.getpid()}"})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in meta.partitions)
    finally:
        consumer.close()


def group_lag(bootstrap: str, group: str, topics: list[str]) -> dict[str, int]:
    """Per topic, the records (all partitions) past what consumer group `group` has committed."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        lag = {}
        for topic in topics:
            meta = consumer.list_topics(topic, timeout=10).topics[topic]
            parts = [TopicPartition(topic, p) for p in meta.partitions]
            committed = consumer.committed(parts, timeout=10)
            lag[topic] = sum(consumer.get_watermark_offsets(tp, timeout=10)[1] - max(c.offset, 0)
                             for tp, c in zip(parts, committed))
        return lag
    finally:
        consumer.close()


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def reached_final(events, final: dict[int, int]) -> bool:
    """Whether every key of `final` has reached its final `v` in `events` (a wait's end)."""
    best: dict[int, int] = {}
    for e in events:
        if e.value is not None:
            key = e.key["payload"]["id"]
            best[key] = max(best.get(key, 0), e.value["payload"]["after"]["v"])
    return all(best.get(k, 0) >= v for k, v in final.items())


def check_per_key_sequences(events, final: dict[int, int]) -> None:
    """Each key's values must go up by one, except where a replay restarts lower; every value
    from 1 to the final committed one must be present."""
    by_key: dict[int, list[int]] = defaultdict(list)
    partition_of: dict[int, int] = {}
    for e in events:
        if e.value is None:
            continue
        after = e.value["payload"]["after"]
        key = e.key["payload"]["id"]
        assert partition_of.setdefault(key, e.partition) == e.partition, f"key {key} on two partitions"
        by_key[key].append(after["v"])
    assert set(by_key) == set(final), "keys missing from Kafka"
    for key, values in by_key.items():
        for prev, cur in zip(values, values[1:]):
            assert cur == prev + 1 or cur <= prev, f"key {key}: {prev} then {cur} in {values}"
        assert set(values) == set(range(values[0], final[key] + 1)) and values[0] <= 1, \
            f"key {key}: gaps in {sorted(set(values))}, final {final[key]}"


def concurrently(work, threads: int) -> None:
    """`work(seed)` for seeds 0 .. threads-1, each in its own thread at once; returns when all
    are done."""
    workers = [threading.Thread(target=work, args=(seed,)) for seed in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def check_numbered_per_key(records, number) -> int:
    """Per Kafka key (the record's key text), the records' `number(record)` are 1, 2, 3 ... in
    the order they were read; the records' count."""
    sequences: dict[str, list[int]] = defaultdict(list)
    for r in records:
        sequences[json.loads(r.key)["payload"]].append(number(r))
    for key, numbers in sequences.items():
        assert numbers == list(range(1, len(numbers) + 1)), f"{key}: {numbers}"
    return sum(map(len, sequences.values()))


def check_exactly_once(events, final: dict[int, int]) -> None:
    """Strict: each key's values are exactly 1, 2, ..., final in order (no gap, no duplicate)."""
    by_key: dict[int, list[int]] = {}
    for e in sorted(events, key=lambda e: (e.partition, e.offset)):
        if e.value is not None:
            by_key.setdefault(e.key["payload"]["id"], []).append(e.value["payload"]["after"]["v"])
    assert set(by_key) == set(final), "keys missing from Kafka"
    for key, values in by_key.items():
        expected = list(range(1, final[key] + 1))
        if values != expected:
            at = next((i for i, (a, b) in enumerate(zip(values, expected)) if a != b), min(len(values), len(expected)))
            raise AssertionError(f"key {key}: {len(values)} records for {final[key]} changes; from position {at}: "
                                 f"{values[max(0, at - 3):at + 5]} where {expected[max(0, at - 3):at + 5]} was due")


def state_from_events(events) -> dict[int, int]:
    """Replay the events per key (in partition order) into the final `v` of each row."""
    state: dict[int, int] = {}
    for e in sorted(events, key=lambda e: (e.partition, e.offset)):
        if e.value is None:
            continue
        p = e.value["payload"]
        if p["op"] == "d":
            state.pop(p["before"]["id"], None)
        else:
            state[p["after"]["id"]] = p["after"]["v"]
    return state


def table_state(pg, table: str) -> dict[int, int]:
    """{id: v} of `table` as PostgreSQL has it now."""
    with pg.cursor() as cur:
        cur.execute(f"SELECT id, v FROM {table}")
        return dict(cur.fetchall())


def slot_exists(pg, slot: str) -> bool:
    with pg.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot,))
        return cur.fetchone() is not None


class Writers(drill.Writers):
    """The drills' writers on a DSN (`bridge.ops.drill.Writers`), and the values they left."""

    def __init__(self, dsn: str, table: str, keys: int, threads: int, max_updates: int, pause_s: float = 0.0,
                 keys_per_txn: tuple[int, int] = (1, 1)) -> None:
        super().__init__(lambda: psycopg2.connect(dsn), table, keys, threads=threads, max_updates=max_updates,
                         pause_s=pause_s, keys_per_txn=keys_per_txn)

    def final(self, pg) -> dict[int, int]:
        with pg.cursor() as cur:
            cur.execute(f"SELECT id, v FROM {self.table}")
            return dict(cur.fetchall())


def consume_until(kafka_bootstrap: str, topic: str, done, *, timeout: float = 120.0,
                  what: str = "the condition", settings: dict[str, str] | None = None) -> list[Event]:
    """Read `topic` from the beginning until `done(events)` is true (or fail after `timeout`);
    `settings`: more consumer settings (security, isolation level)."""
    consumer = Consumer({
        **(settings or {}),
        "bootstrap.servers": kafka_bootstrap,
        "group.id": f"test-{os.getpid()}-{time.monotonic_ns()}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    events: list[Event] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for msg in consumer.consume(1000, 0.5):
                if msg.error():
                    if msg.error().code() in (KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART):
                        continue
                    raise AssertionError(f"consumer error: {msg.error()}")
                events.append(Event(_json(msg.key()), _json(msg.value()), dict(msg.headers() or []),
                                    msg.partition(), msg.offset()))
            if done(events):
                return events
    finally:
        consumer.close()
    raise AssertionError(f"{topic}: {what} not met after {timeout}s with {len(events)} records")


def child_pids(parent: int) -> dict[str, int]:
    """The pipeline's processes under `parent`, by name (pgb-decoder, pgb-producer-0, ...)."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == parent and comm.startswith("pgb-"):
            out[comm] = int(entry)
    return out


def slot_active(pg, slot: str) -> bool:
    """In use and past its creation: a change committed from now on reaches the bridge. (A slot
    being created is active already, before its consistent point — which a concurrent
    transaction elsewhere delays — and a change committed meanwhile is not decoded; until that
    point confirmed_flush_lsn is null.)"""
    facts = inspect_slot(pg, slot)
    return facts is not None and facts.active and facts.confirmed_flush_lsn is not None


def confirmed_flush(pg, slot: str) -> int:
    return int(inspect_slot(pg, slot).confirmed_flush_lsn)


def drop_slot_and_publication(pg, slot: str, publication: str) -> None:
    """Test cleanup: the slot (once its walsender let go) and the publication."""
    facts = inspect_slot(pg, slot)
    if facts is not None and not facts.active:
        drop_slot(pg, slot)
    with pg.cursor() as cur:
        cur.execute(f'DROP PUBLICATION IF EXISTS "{publication}"')


def throwaway_ca(directory: Path, name: str = "other-ca") -> Path:
    """A fresh CA certificate (PEM) that signed nothing a test server presents."""
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    return cert


SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule"


def java_scram_settings(env: dict[str, str], *, password: str | None = None, ca: str | None = None) -> dict:
    """Java client settings for the secured broker (`secure_kafka`'s exports) as a Debezium or
    Connect user writes them: SCRAM-SHA-512 over SASL_SSL in a JAAS line, a PEM CA."""
    user, secret = env["BRIDGE_KAFKA_SECURE_USER"], password or env["BRIDGE_KAFKA_SECURE_PASSWORD"]
    return {
        "bootstrap.servers": env["BRIDGE_KAFKA_SECURE_SASL_SSL"],
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.jaas.config": f'{SCRAM} required username="{user}" password="{secret}";',
        "ssl.truststore.location": ca or f'{env["BRIDGE_KAFKA_SECURE_CERTS"]}/ca.pem',
        "ssl.truststore.type": "PEM",
    }


def scram_client(env: dict[str, str]) -> dict[str, str]:
    """librdkafka settings of a test's own client of the secured broker."""
    return {"bootstrap.servers": env["BRIDGE_KAFKA_SECURE_SASL_SSL"], "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": env["BRIDGE_KAFKA_SECURE_USER"],
            "sasl.password": env["BRIDGE_KAFKA_SECURE_PASSWORD"],
            "ssl.ca.location": f'{env["BRIDGE_KAFKA_SECURE_CERTS"]}/ca.pem'}


def scram_user(env: dict[str, str], user: str, password: str, *,
               acls: tuple[str, ...] = ("topic", "group", "transactional_id", "cluster")) -> None:
    """Create or re-password a SCRAM-SHA-512 user on the secured broker (`secure_kafka`), as its
    super user: a test's own user, never the one other tests use. The broker enforces ACLs: the
    user may do anything on the kinds of resource `acls` names (every topic, group, transactional
    id; the cluster), nothing else (none: it may authenticate but do nothing)."""
    admin = AdminClient(scram_client(env))
    upsert = UserScramCredentialUpsertion(user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192),
                                          password.encode())
    for future in admin.alter_user_scram_credentials([upsert]).values():
        future.result(30)
    resources = {"topic": (ResourceType.TOPIC, "*"), "group": (ResourceType.GROUP, "*"),
                 "transactional_id": (ResourceType.TRANSACTIONAL_ID, "*"),
                 "cluster": (ResourceType.BROKER, "kafka-cluster")}
    bindings = [AclBinding(*resources[kind], ResourcePatternType.LITERAL, f"User:{user}", "*", AclOperation.ALL,
                           AclPermissionType.ALLOW) for kind in acls]
    if bindings:
        for future in admin.create_acls(bindings).values():
            future.result(30)


def error_lines(log: str) -> list[str]:
    """What the bridge logged at ERROR level, without the time stamp and logger."""
    return [line.split(" ERROR bridge: ", 1)[1] for line in log.splitlines() if " ERROR bridge: " in line]


# -- pgbridge beside a real Debezium, with the same connector options ---------------------------

DEBEZIUM_RUN = REPO / "deploy" / "local" / "debezium" / "run"
DEBEZIUM_STOP = REPO / "deploy" / "local" / "debezium" / "stop"


def start_bridge_with(tmp: Path, pg_dsn: str, kafka_bootstrap: str, prefix: str, options: dict[str, str],
                      producers: int = 2, converters: dict[str, str] | None = None,
                      transforms: dict[str, str] | None = None, own: dict[str, str] | None = None) -> BridgeProcess:
    """`bridge run` with the connector `options` (unprefixed, as Debezium names them), slot
    `<prefix>_slot` and publication `<prefix>_pub`; started. `converters`: Connect's
    `key.converter`/`value.converter`/`header.converter` keys and their options, as a
    connector configuration names them (`value.converter.schemas.enable`); `transforms`:
    Connect's `transforms*` and `predicates*` keys, named as a connector configuration does;
    `own`: pgbridge's own `bridge.*` keys."""
    formats = {"debezium.format." + k.replace(".converter", "", 1): v for k, v in (converters or {}).items()}
    formats.update({f"debezium.{k}": v for k, v in (transforms or {}).items()})
    cfg = write_properties(tmp / f"{prefix}.properties", pg_dsn, kafka_bootstrap, prefix=prefix,
                           slot=f"{prefix}_slot", publication=f"{prefix}_pub",
                           extra={**{f"debezium.source.{k}": v for k, v in options.items()},
                                  "bridge.producers": str(producers), **formats, **(own or {})})
    bridge = BridgeProcess(cfg, tmp / f"{prefix}.log")
    bridge.start()
    return bridge


def clean_up_pair(conn, env: dict[str, str], bridge, dbz: str, dbz_started: bool, slots: dict[str, str],
                  schemas: tuple[str, ...], kafka_bootstrap: str, topic_starts: tuple[str, ...]) -> None:
    """The end of a pgbridge-beside-Debezium test: stop both, drop their slots and publications
    (`slots`: slot -> publication) once released, the test's schemas, and the topics whose names
    start with `topic_starts`. `conn` is closed."""
    if bridge is not None and bridge.running():
        bridge.kill()
    if dbz_started:
        subprocess.run([str(DEBEZIUM_STOP), dbz, "--purge"], env=env, capture_output=True, timeout=120, check=False)
    with conn.cursor() as cur:
        for slot, publication in slots.items():
            wait_until(lambda s=slot: not slot_active(conn, s), timeout=30, what=f"slot {slot} to be released")
            cur.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                        "WHERE slot_name = %s", (slot,))
            cur.execute(f'DROP PUBLICATION IF EXISTS "{publication}"')
        for schema in schemas:
            cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    conn.close()
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(topic_starts)]
    if topics:
        for future in admin.delete_topics(topics).values():
            future.result(30)


def start_debezium_with(tmp: Path, name: str, options: dict[str, str], env: dict[str, str]) -> None:
    """The real Debezium (`deploy/local/debezium/run`) with the same `options` and publication
    `<name>_pub`; returns once it streams (its snapshot done). Stop it with DEBEZIUM_STOP."""
    props = tmp / f"{name}.properties"
    props.write_text("".join(f"{k}={v}\n" for k, v in {**options, "publication.name": f"{name}_pub"}.items()))
    proc = subprocess.run([str(DEBEZIUM_RUN), name, str(props)], env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, f"deploy/local/debezium/run failed (exit {proc.returncode}):\n{proc.stderr[-5000:]}"


# -- Debezium's JDBC sink connector: a Debezium-format consumer written elsewhere ---------------

JDBC_SINK_RUN = REPO / "deploy" / "local" / "jdbc-sink" / "run"
JDBC_SINK_STOP = REPO / "deploy" / "local" / "jdbc-sink" / "stop"


def get_json(port: int, path: str) -> tuple[int, dict]:
    """(status, JSON body) of GET http://127.0.0.1:port/path, error statuses included."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def metrics_of(port: int) -> dict:
    """The bridge's Prometheus metrics, {(name, labels): value}."""
    import urllib.request

    from tests.prometheus_text import parse

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/q/metrics", timeout=10) as response:
        return parse(response.read().decode())


# -- bridge sink: a second database fed from Kafka ----------------------------------------------

def create_database(pg, pg_dsn: str, name: str) -> str:
    """A fresh database `name` beside `pg_dsn`'s; returns its DSN (the test drops it)."""
    with pg.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    return psycopg2.extensions.make_dsn(pg_dsn, dbname=name)


def drop_database(pg, name: str) -> None:
    with pg.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def jdbc_url(dsn: str) -> str:
    """The jdbc:postgresql:// URL of a libpq DSN (the sink's connection.url)."""
    p = psycopg2.extensions.parse_dsn(dsn)
    return f"jdbc:postgresql://{p['host']}:{p['port']}/{p['dbname']}"


def write_sink_config(path: Path, name: str, target_dsn: str, kafka_bootstrap: str, options: dict[str, str]) -> Path:
    """A Debezium JDBC sink connector JSON (Connect's wrapped form) for `bridge sink`."""
    p = psycopg2.extensions.parse_dsn(target_dsn)
    config = {"connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector", "tasks.max": "1",
              "connection.url": jdbc_url(target_dsn), "connection.username": p["user"],
              "connection.password": p.get("password", ""), "bridge.kafka.bootstrap.servers": kafka_bootstrap,
              "bridge.http.port": "0", **options}
    path.write_text(json.dumps({"name": name, "config": config}, indent=1))
    return path


def rows_as_text(dsn: str, query: str) -> list[tuple]:
    """`query`'s rows with every value as PostgreSQL's text (compare source and target byte for byte)."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            oids = tuple({column.type_code for column in cur.description})
            # every column as the text PostgreSQL sent (no Python conversion to blur a difference)
            psycopg2.extensions.register_type(psycopg2.extensions.new_type(oids, "AS_TEXT", lambda v, _c: v), conn)
            cur.execute(query)
            return cur.fetchall()
    finally:
        conn.close()


# A Debezium-format record of a table (id bigint key, v text), JSON with schemas as pgbridge writes it.
_SINK_ROW = {"type": "struct", "optional": True, "fields": [{"field": "id", "type": "int64", "optional": False},
                                                            {"field": "v", "type": "string", "optional": True}]}
_SINK_VALUE_SCHEMA = {"type": "struct", "name": "srv.s.t.Envelope", "optional": False,
                      "fields": [{**_SINK_ROW, "field": "before"}, {**_SINK_ROW, "field": "after"},
                                 {"field": "source", "type": "struct", "optional": False, "fields": []},
                                 {"field": "op", "type": "string", "optional": False}]}
_SINK_KEY_SCHEMA = {"type": "struct", "optional": False,
                    "fields": [{"field": "id", "type": "int64", "optional": False}]}


def _sink_json(schema: dict, payload: dict) -> bytes:
    return json.dumps({"schema": schema, "payload": payload}, separators=(",", ":")).encode()


def sink_record(id_: int, v: str, lsn: int, op: str = "c") -> tuple[bytes, bytes]:
    """(key, value) of a row write of `id_` at source LSN `lsn`."""
    payload = {"before": None, "after": {"id": id_, "v": v}, "source": {"lsn": lsn}, "op": op}
    return _sink_json(_SINK_KEY_SCHEMA, {"id": id_}), _sink_json(_SINK_VALUE_SCHEMA, payload)


def sink_truncate(lsn: int) -> tuple[None, bytes]:
    """(key, value) of a truncate at source LSN `lsn` (no key, as Debezium writes it)."""
    payload = {"before": None, "after": None, "source": {"lsn": lsn}, "op": "t"}
    return None, _sink_json(_SINK_VALUE_SCHEMA, payload)


def sink_delete(id_: int, lsn: int) -> tuple[bytes, bytes]:
    """(key, value) of the delete of `id_` at source LSN `lsn`."""
    payload = {"before": {"id": id_, "v": None}, "after": None, "source": {"lsn": lsn}, "op": "d"}
    return _sink_json(_SINK_KEY_SCHEMA, {"id": id_}), _sink_json(_SINK_VALUE_SCHEMA, payload)
