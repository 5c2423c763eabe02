"""Capture what the real Debezium PostgreSQL connector writes to Kafka, as golden files for
pgbridge's parity tests (tests/data/debezium/).

Run by hand against the local services (it drops and recreates the schema `golden`, and its
own slots, publications and topics, all named golden_<pass>):

    eval "$(deploy/local/up)"
    python deploy/local/debezium/capture_golden.py [PASS ...]     # all passes when none named

Each pass: run tests/data/debezium/schema.sql, start Debezium with deploy/local/debezium/run
(snapshot.mode=no_data, publication.autocreate.mode=filtered, schema.include.list=golden, plus
the pass's own properties), run the pass's SQL file, wait until Debezium's topics stop growing,
read every record of the topics `golden_<pass>.*` (and the heartbeat topic), stop Debezium and
drop its slot and publication. The records go to tests/data/debezium/<pass>.jsonl, one per line:

    {"topic", "partition", "offset", "key", "value", "headers": [[name, value], ...]}

`key` and `value` are the parsed JSON (null for a tombstone or a null key). Where Python's
compact re-serialization, json.dumps(x, separators=(",", ":"), ensure_ascii=False), is not
byte-identical to what Debezium wrote (Java's float formatting, for instance), `key_raw` /
`value_raw` hold the exact text as well. Records are grouped by topic (sorted by name), in
offset order. manifest.json records, per pass, the SQL files, the properties given to the run
script and the Debezium version; README.md beside the data says what the passes showed.
Timestamps, LSNs, txIds and the runId header differ from run to run: compare them by shape, not
value.

SQL files run statement by statement in autocommit (a statement ends with `;` at the end of a
line), exactly like `psql -v ON_ERROR_STOP=1 -f FILE`, so pgbridge's tests can replay them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
DATA = REPO / "tests" / "data" / "debezium"
RUN, STOP = HERE / "run", HERE / "stop"

# Every pass streams only (no snapshot) the schema `golden`, through its own publication.
COMMON = {
    "snapshot.mode": "no_data",
    "publication.autocreate.mode": "filtered",
    "schema.include.list": "golden",
}


@dataclass
class Pass:
    name: str
    sql: str                      # file under tests/data/debezium/, run after schema.sql
    props: dict[str, str] = field(default_factory=dict)
    purpose: str = ""
    heartbeats: int = 0           # heartbeat records to wait for (and keep)

    @property
    def prefix(self) -> str:
        return f"golden_{self.name}"


PASSES = [
    Pass("default", "workload.sql", {}, "type matrix, default modes, JsonConverter schemas on (its default)"),
    Pass("alt_modes", "workload.sql", {
        "decimal.handling.mode": "string", "time.precision.mode": "connect", "binary.handling.mode": "hex",
        "interval.handling.mode": "string", "hstore.handling.mode": "map",
    }, "type matrix, alternative modes, schemas on"),
    Pass("double", "workload.sql", {
        "decimal.handling.mode": "double", "time.precision.mode": "adaptive_time_microseconds",
        "binary.handling.mode": "base64-url-safe", "schemas.enable": "false",
    }, "type matrix, decimal double / adaptive_time_microseconds / base64-url-safe, schemas off"),
    Pass("txmeta", "txmeta.sql", {"provide.transaction.metadata": "true"},
         "transaction metadata: BEGIN/END records on <prefix>.transaction, envelope `transaction` block"),
    Pass("heartbeat", "heartbeat.sql", {"heartbeat.interval.ms": "300"},
         "heartbeat records on __debezium-heartbeat.<prefix> (first 3 kept)", heartbeats=3),
    Pass("messages", "messages.sql", {}, "pg_logical_emit_message, transactional and not, text and bytes"),
    Pass("truncate", "truncate.sql", {"skipped.operations": "none"}, "TRUNCATE of one and of two tables"),
    Pass("pk_change", "pk_change.sql", {}, "UPDATE of the primary key: delete + tombstone + create, headers"),
]


def log(msg: str) -> None:
    print(f"[capture] {msg}", file=sys.stderr, flush=True)


def statements(path: Path) -> list[str]:
    """The file's statements: full-line `--` comments dropped, a `;` at a line's end closes one."""
    out, cur = [], []
    for line in path.read_text().splitlines():
        if not cur and (not line.strip() or line.lstrip().startswith("--")):
            continue
        cur.append(line)
        if line.rstrip().endswith(";"):
            out.append("\n".join(cur))
            cur = []
    assert not cur, f"{path}: unterminated statement: {cur}"
    return out


def run_sql(conn, path: Path) -> None:
    with conn.cursor() as cur:
        for stmt in statements(path):
            cur.execute(stmt)


def drop_replication(conn, name: str) -> None:
    with conn.cursor() as cur:
        deadline = time.monotonic() + 30
        while True:
            cur.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (name,))
            row = cur.fetchone()
            if row is None or not row[0] or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        cur.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                    (name,))
        cur.execute(f'DROP PUBLICATION IF EXISTS "{name}_pub"')


def pass_topics(admin: AdminClient, p: Pass) -> list[str]:
    names = admin.list_topics(timeout=10).topics
    return sorted(t for t in names if t.startswith(p.prefix + ".") or t == f"__debezium-heartbeat.{p.prefix}")


def delete_topics(admin: AdminClient, p: Pass) -> None:
    topics = pass_topics(admin, p)
    if not topics:
        return
    for fut in admin.delete_topics(topics).values():
        fut.result(30)
    deadline = time.monotonic() + 30
    while pass_topics(admin, p) and time.monotonic() < deadline:
        time.sleep(0.3)


def end_offsets(consumer: Consumer, topics: list[str]) -> dict[tuple[str, int], int]:
    ends = {}
    meta = consumer.list_topics(timeout=10)
    for t in topics:
        for part in meta.topics[t].partitions:
            _, high = consumer.get_watermark_offsets(TopicPartition(t, part), timeout=10)
            ends[(t, part)] = high
    return ends


def wait_quiet(admin: AdminClient, consumer: Consumer, p: Pass, quiet_s: float = 4.0, timeout: float = 90):
    """Until the pass's data topics have records and no new ones for `quiet_s` seconds (and the
    wanted heartbeats arrived): Debezium then has written everything the SQL caused."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        topics = pass_topics(admin, p)
        ends = end_offsets(consumer, topics)
        data = {k: v for k, v in ends.items() if not k[0].startswith("__debezium-heartbeat")}
        beats = sum(v for k, v in ends.items() if k[0].startswith("__debezium-heartbeat"))
        if data != last:
            last, since = data, time.monotonic()
        if sum(data.values()) and time.monotonic() - since >= quiet_s and beats >= p.heartbeats:
            return topics
        time.sleep(0.5)
    raise SystemExit(f"pass {p.name}: Debezium's topics did not settle within {timeout}s: {last}")


def compact(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def as_record(msg) -> dict:
    rec = {"topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset()}
    for name, raw in (("key", msg.key()), ("value", msg.value())):
        if raw is None:
            rec[name] = None
            continue
        text = raw.decode("utf-8")
        rec[name] = json.loads(text)
        if compact(rec[name]) != text:
            rec[name + "_raw"] = text
    rec["headers"] = [[k, None if v is None else v.decode("utf-8")] for k, v in (msg.headers() or [])]
    return rec


def read_all(bootstrap: str, topics: list[str], p: Pass) -> list[dict]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"capture-{os.getpid()}",
                         "enable.auto.commit": False})
    try:
        ends = end_offsets(consumer, topics)
        consumer.assign([TopicPartition(t, part, OFFSET_BEGINNING) for (t, part) in ends])
        got: dict[tuple[str, int], list[dict]] = {k: [] for k in ends}
        deadline = time.monotonic() + 60
        while any(len(got[k]) < ends[k] for k in ends) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            key = (msg.topic(), msg.partition())
            if msg.offset() < ends[key]:
                got[key].append(as_record(msg))
    finally:
        consumer.close()
    records = []
    for key in sorted(got):
        recs = sorted(got[key], key=lambda r: r["offset"])
        if key[0].startswith("__debezium-heartbeat"):
            recs = recs[: p.heartbeats]  # they keep coming; a few show the shape
        records.extend(recs)
    return records


def debezium_version() -> str:
    text = (HERE / "pom.xml").read_text()
    return re.search(r"<debezium.version>(.*?)</", text).group(1) + " on Kafka Connect " + \
        re.search(r"<kafka.version>(.*?)</", text).group(1)


def capture(p: Pass, dsn: str, bootstrap: str, conn, admin: AdminClient) -> dict:
    log(f"pass {p.name}: preparing")
    drop_replication(conn, p.prefix)
    delete_topics(admin, p)
    env = {**os.environ, "BRIDGE_PG_DSN": dsn, "BRIDGE_KAFKA_BOOTSTRAP": bootstrap}
    # A fresh start: no offsets from an earlier capture (its slot is gone too).
    subprocess.run([str(STOP), p.prefix, "--purge"], env=env, capture_output=True, timeout=120)
    run_sql(conn, DATA / "schema.sql")
    props = {**COMMON, **p.props}
    started = time.monotonic()
    proc = subprocess.run([str(RUN), p.prefix, *(f"{k}={v}" for k, v in props.items())],
                          env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"pass {p.name}: deploy/local/debezium/run failed:\n{proc.stderr[-5000:]}")
    log(f"pass {p.name}: Debezium streaming after {time.monotonic() - started:.1f}s; running {p.sql}")
    try:
        run_sql(conn, DATA / p.sql)
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"capture-{os.getpid()}"})
        try:
            topics = wait_quiet(admin, consumer, p)
        finally:
            consumer.close()
        records = read_all(bootstrap, topics, p)
    finally:
        # The state dir (connect.log) stays for a look at what Debezium said.
        subprocess.run([str(STOP), p.prefix], env=env, capture_output=True, timeout=120)
        drop_replication(conn, p.prefix)
    out = DATA / f"{p.name}.jsonl"
    out.write_text("".join(compact(r) + "\n" for r in records))
    log(f"pass {p.name}: {len(records)} records on {len(topics)} topics -> {out.relative_to(REPO)} "
        f"({out.stat().st_size // 1024} KiB)")
    # "properties" are the run script's key=value arguments (schemas.enable goes to both
    # JsonConverters; everything else is a connector property).
    return {"file": out.name, "sql": ["schema.sql", p.sql], "topic.prefix": p.prefix,
            "properties": props, "purpose": p.purpose, "records": len(records)}


def main(argv: list[str]) -> None:
    dsn, bootstrap = os.environ.get("BRIDGE_PG_DSN"), os.environ.get("BRIDGE_KAFKA_BOOTSTRAP")
    if not dsn or not bootstrap:
        raise SystemExit('set BRIDGE_PG_DSN and BRIDGE_KAFKA_BOOTSTRAP: eval "$(deploy/local/up)"')
    wanted = argv or [p.name for p in PASSES]
    unknown = set(wanted) - {p.name for p in PASSES}
    if unknown:
        raise SystemExit(f"unknown pass(es) {sorted(unknown)}; passes: {[p.name for p in PASSES]}")
    manifest_path = DATA / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest.setdefault("passes", {})
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        for p in PASSES:
            if p.name in wanted:
                manifest["passes"][p.name] = capture(p, dsn, bootstrap, conn, admin)
                manifest["debezium"] = debezium_version()
                manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    finally:
        conn.close()


if __name__ == "__main__":
    main(sys.argv[1:])
