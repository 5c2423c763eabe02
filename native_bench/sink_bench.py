"""Sink benchmark: `bridge sink` against Debezium's JDBC sink connector, same topic, same run.

    python -m native_bench.sink_bench [--rows N] [--partitions P] [--systems S1,S2,...] [--format json|avro|json-plain]
                                      [--compression lz4|none|zstd|snappy|gzip] [--repeat N] [--out DIR]

A table of N typical 8-column rows (W1's row) is snapshotted by `bridge run`
(snapshot.mode=initial_only) into one topic of P partitions: read events, Debezium JSON with
schemas (`--format json`, the default) or Avro keys and values (`--format avro`: pgbridge's
AvroConverter registering with the schema registry of deploy/local/registry/up, started when
needed, as the Avro parity tests configure it) or JSON without schemas (`--format json-plain`:
bridge systems only, as Debezium's JDBC sink refuses such records; the target table made
beforehand, as the source's, since no schema says what it is). Each system then consumes that whole topic into a
fresh database of its own with the same connector options (insert.mode=upsert,
primary.key.mode=record_key, delete.enabled=true, schema.evolution=basic; table from `${topic}`)
and the same converters: JsonConverter with schemas (both sinks' default), or Apicurio's
AvroConverter 2.6.13 in its Confluent-compatible mode on the same registry (the AvroConverter of
Maven Central the JDBC sink can load; bridge sink reads it as it reads Confluent's). Systems:
bridge-1, bridge-2 (`bridge sink --workers 1|2`, exactly once: offsets in the target, the LSN
guard on) and debezium-jdbc-1, debezium-jdbc-2 (Kafka Connect standalone with tasks.max=1|2,
deploy/local/jdbc-sink/run; with Avro, `plugins=avro` puts the converter on its plugin path).
The registry's CPU is counted for neither (each sink asks it once per schema id).

Figures, the same way for every system: the clock starts when the target table first holds a
row (start-up, JVM or Python imports and table creation are not counted) and stops when it holds
N; rows/s = the rows written in between / the time; CPU µs per row = the user+system CPU of the
system's processes (from /proc, the process and its descendants) over the same interval / those
rows. PostgreSQL's CPU is reported apart: that of the backends connected to the target
database when its first row arrived (the writers), per row. The watch (one connection) counts the
rows only while the table is small and once at the end: in between it looks up the key of each
partition's last record every 20 ms (both sinks write a partition in its order, so the target
holds every row once it holds those; the final count checks it). Counting all along (a scan of
the table) took up to a sixth of a core from the systems measured, back to back near the end.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from native_bench.measure import ProcessTree
from native_bench.services import REPO, Services, discover
from native_bench.variants import delete_subjects, registry_url
from native_bench.workloads import ROW_DDL, ROW_SQL

JDBC_SINK = REPO / "deploy" / "local" / "jdbc-sink"
SYSTEMS = ("bridge-1", "bridge-2", "debezium-jdbc-1", "debezium-jdbc-2")
OPTIONS = {"insert.mode": "upsert", "primary.key.mode": "record_key", "delete.enabled": "true",
           "schema.evolution": "basic", "errors.tolerance": "none"}
TIMEOUT_S = 1800
FORMATS = {"json": "JSON with schemas", "avro": "Avro, schema registry", "json-plain": "JSON without schemas"}
JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"
APICURIO = "io.apicurio.registry.utils.converter.AvroConverter"


def source_formats(fmt: str, registry: str | None) -> dict[str, str]:
    """`bridge run`'s record format keys: none for JSON with schemas (its default); for Avro,
    pgbridge's AvroConverter on keys and values with the registry's Confluent API (`registry`),
    as the Avro parity tests set them (`key.converter=avro` and its `schema.registry.url`)."""
    if fmt == "json":
        return {}
    if fmt == "json-plain":
        return {f"debezium.format.{side}.schemas.enable": "false" for side in ("key", "value")}
    return {f"debezium.format.{side}{option}": value for side in ("key", "value")
            for option, value in (("", "avro"), (".schema.registry.url", registry))}


def sink_converters(fmt: str, registry: str | None) -> dict[str, str]:
    """The converter keys both sinks read the topic with, as a connector configuration names
    them: none for JSON with schemas (JsonConverter, both sinks' default); for Avro, Apicurio's
    AvroConverter in its Confluent-compatible mode (`00 <contentId:4> <Avro>`, what the
    registry's Confluent API gives pgbridge as ids) on Apicurio's own API of the same registry."""
    if fmt == "json":
        return {}
    if fmt == "json-plain":  # JsonConverter without schemas: the sink takes the types from the target table
        return {f"{side}.converter{option}": value for side in ("key", "value")
                for option, value in (("", JSON_CONVERTER), (".schemas.enable", "false"))}
    per_side = {"": APICURIO, ".apicurio.registry.url": registry.replace("/apis/ccompat/v7", "/apis/registry/v2"),
                ".apicurio.registry.as-confluent": "true", ".apicurio.registry.headers.enabled": "false",
                ".apicurio.registry.use-id": "contentId"}
    return {f"{side}.converter{option}": value for side in ("key", "value") for option, value in per_side.items()}


def jdbc_sink_arguments(converters: dict[str, str]) -> list[str]:
    """deploy/local/jdbc-sink/run's arguments for those converters: Connect's worker keys (what
    its worker reads for every connector), the Avro converter's plugin folder on its plugin path."""
    if not converters:
        return []
    return ["plugins=avro", *(f"worker.{k}={v}" for k, v in converters.items())]


def _dsn(services: Services, dbname: str) -> str:
    return psycopg2.extensions.make_dsn(services.admin_dsn, dbname=dbname)


def _admin(services: Services):
    conn = psycopg2.connect(services.admin_dsn)
    conn.autocommit = True
    return conn


def fill_topic(services: Services, tag: str, rows: int, partitions: int, logs: Path,
               formats: dict[str, str]) -> str:
    """The topic of `rows` snapshot events of a fresh table, in the record format of `formats`
    (`source_formats`); returns its name."""
    table, topic = f"{tag}_rows", f"{tag}.public.{tag}_rows"
    conn = _admin(services)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} {ROW_DDL}")
        cur.execute(f"INSERT INTO {table} SELECT {ROW_SQL.format(n='i')} FROM generate_series(1, {rows}) i")
        cur.execute(f'CREATE PUBLICATION "{tag}_pub" FOR TABLE {table}')
    conn.close()
    kafka = AdminClient({"bootstrap.servers": services.kafka})
    kafka.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
    p = psycopg2.extensions.parse_dsn(services.admin_dsn)
    props = {
        "debezium.sink.type": "kafka", "debezium.sink.kafka.producer.bootstrap.servers": services.kafka,
        "debezium.source.connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "debezium.source.database.hostname": p["host"], "debezium.source.database.port": p.get("port", "5432"),
        "debezium.source.database.user": p["user"], "debezium.source.database.password": p.get("password", ""),
        "debezium.source.database.dbname": p["dbname"], "debezium.source.topic.prefix": tag,
        "debezium.source.slot.name": f"{tag}_slot", "debezium.source.publication.name": f"{tag}_pub",
        "debezium.source.publication.autocreate.mode": "disabled", "debezium.source.plugin.name": "pgoutput",
        "debezium.source.snapshot.mode": "initial_only", "bridge.http.port": "0", **formats,
    }
    cfg = logs / f"{tag}-source.properties"
    cfg.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    with open(logs / f"{tag}-source.log", "wb") as log:
        code = subprocess.run([sys.executable, "-m", "bridge.cli", "run", "-c", str(cfg)], cwd=REPO, stdout=log,
                              stderr=subprocess.STDOUT, timeout=TIMEOUT_S, check=False).returncode
    if code != 0:
        raise SystemExit(f"bridge run (initial_only) exited {code}: see {logs / f'{tag}-source.log'}")
    return topic


class _Counter:
    """The target table's committed rows, on one connection of its own: `count` scans the whole
    table (cheap only while it is small), `holding` looks keys up in its primary key index."""

    def __init__(self, dsn: str, table: str) -> None:
        self.dsn, self.table = dsn, table
        self.conn = None

    def _query(self, sql: str, args: tuple = ()) -> int:
        try:
            if self.conn is None:
                self.conn = psycopg2.connect(self.dsn)
                self.conn.autocommit = True
                with self.conn.cursor() as cur:
                    cur.execute("SET max_parallel_workers_per_gather = 0")
            with self.conn.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchone()[0]
        except psycopg2.errors.UndefinedTable:
            return 0
        except psycopg2.OperationalError:  # the database not made yet
            self.close()
            return 0

    def count(self) -> int:
        return self._query(f'SELECT count(*) FROM "{self.table}"')

    def holding(self, ids: list[int]) -> int:
        """How many of the rows of `ids` the table holds."""
        return self._query(f'SELECT count(*) FROM "{self.table}" WHERE id = ANY(%s)', (ids,))

    def pid(self) -> int | None:
        return self.conn.info.backend_pid if self.conn is not None else None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _backends(dsn: str, besides: int | None) -> list[int]:
    """The PostgreSQL backends connected to the target database (the system's writers), but the
    watch's own (`besides`) and this one."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid() AND pid IS DISTINCT FROM %s", (besides,))
            return [pid for (pid,) in cur.fetchall()]
    finally:
        conn.close()


def avro_long_key(key: bytes) -> int:
    """The id of a key record `{id: long}` in Confluent's wire format (`00`, a 4-byte schema id,
    the Avro body): the body of such a record is the long alone, a zigzag varint."""
    if len(key) < 6 or key[0] != 0:
        raise ValueError(f"not a Confluent-framed Avro key: {key[:8]!r}")
    n = shift = 0
    for byte in key[5:]:
        n |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return (n >> 1) ^ -(n & 1)
    raise ValueError(f"a truncated Avro long: {key!r}")


def key_id(key: bytes, fmt: str) -> int:
    """The `id` of a record key of the benchmark's table, in the topic's format."""
    if fmt == "avro":
        return avro_long_key(key)
    value = json.loads(key)
    return int(value["id"] if fmt == "json-plain" else value["payload"]["id"])


def last_ids(kafka: str, topic: str, fmt: str) -> list[int]:
    """The key of each partition's last record: a sink that holds them all holds the whole topic,
    as both sinks write a partition's records in their order (neither reduces: each key once)."""
    consumer = Consumer({"bootstrap.servers": kafka, "group.id": f"sink-bench-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "enable.partition.eof": False})
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        ids = []
        for partition in sorted(partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
            if high <= low:
                continue
            consumer.assign([TopicPartition(topic, partition, high - 1)])
            deadline = time.monotonic() + 30
            message = None
            while message is None or message.error() is not None:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no record read at {topic}[{partition}]@{high - 1}")
                message = consumer.poll(1)
            ids.append(key_id(message.key(), fmt))
        return ids
    finally:
        consumer.close()


def _watch(dsn: str, table: str, rows: int, last: list[int], pids, alive) -> dict:
    """Watch the target from its first row until it holds every partition's last record; the
    figures in between. Counting the rows (a scan of the table) only while the table is small and
    once at the end, and otherwise looking up the last keys in the primary key index every 20 ms,
    the watch takes next to no CPU from the systems measured (counting all along, it took up to
    a sixth of a core, back to back near the end)."""
    deadline = time.monotonic() + TIMEOUT_S
    first = None
    counter = _Counter(dsn, table)
    try:
        while time.monotonic() < deadline:
            if not alive():
                raise RuntimeError("the sink exited before the target held every row")
            now = time.monotonic()  # a statement's snapshot is taken as it starts
            if first is None:
                count = counter.count()
                if count > 0:
                    tree, server = ProcessTree(pids()), ProcessTree(_backends(dsn, counter.pid()))
                    first = (now, count, tree.cpu_seconds(), server.cpu_seconds())
                else:
                    time.sleep(0.05)
                    continue
            if counter.holding(last) < len(last):
                time.sleep(0.02)
                continue
            cpu, server_cpu = tree.cpu_seconds() - first[2], server.cpu_seconds() - first[3]
            count = counter.count()
            if count < rows:
                raise RuntimeError(f"the target held every partition's last record but {count} of {rows} rows: "
                                   "a sink wrote a partition out of order")
            start, at_start = first[0], first[1]
            if count == at_start:
                raise RuntimeError("the target went from empty to full between two polls: use more --rows")
            written, seconds = count - at_start, now - start
            return {"rows": written, "seconds": round(seconds, 3), "rows_per_s": round(written / seconds),
                    "cpu_us_per_row": round(cpu / written * 1e6, 1), "cpu_s": round(cpu, 2),
                    "pg_cpu_us_per_row": round(server_cpu / written * 1e6, 1)}
    finally:
        counter.close()
    raise RuntimeError(f"the target did not hold {rows} rows within {TIMEOUT_S} s")


def run_bridge(services: Services, topic: str, target: str, workers: int, rows: int, last: list[int], logs: Path,
               name: str, converters: dict[str, str]) -> dict:
    p = psycopg2.extensions.parse_dsn(target)
    config = {"connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector", "topics": topic,
              "connection.url": f"jdbc:postgresql://{p['host']}:{p['port']}/{p['dbname']}",
              "connection.username": p["user"], "connection.password": p.get("password", ""),
              "bridge.kafka.bootstrap.servers": services.kafka, "bridge.http.port": "0", **OPTIONS, **converters}
    path = logs / f"{name}.json"
    path.write_text(json.dumps({"name": name, "config": config}, indent=1))
    with open(logs / f"{name}.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "bridge.cli", "sink", "-c", str(path), "--workers",
                                 str(workers)], cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        return _watch(target, topic.replace(".", "_"), rows, last, lambda: [proc.pid], lambda: proc.poll() is None)
    finally:
        proc.terminate()
        proc.wait(120)


def run_debezium(services: Services, topic: str, target: str, tasks: int, rows: int, last: list[int], logs: Path,
                 name: str, converters: dict[str, str]) -> dict:
    env = dict(os.environ, BRIDGE_PG_DSN=services.admin_dsn, BRIDGE_KAFKA_BOOTSTRAP=services.kafka)
    if services.state_dir is not None:
        env["BRIDGE_STATE_DIR"] = str(services.state_dir)
    p = psycopg2.extensions.parse_dsn(target)
    args = [str(JDBC_SINK / "run"), name, f"connection.url=jdbc:postgresql://{p['host']}:{p['port']}/{p['dbname']}",
            f"topics={topic}", f"tasks.max={tasks}", *(f"{k}={v}" for k, v in OPTIONS.items()),
            *jdbc_sink_arguments(converters)]
    pid_file = (services.state_dir or Path("/nonexistent")) / f"jdbc-sink-{name}" / "connect.pid"
    log = open(logs / f"{name}.run.log", "wb")
    runner = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)

    def pid() -> list[int]:
        try:
            return [int(pid_file.read_text())]
        except (OSError, ValueError):
            return []

    def alive() -> bool:  # the run script returns once the task runs; the JVM goes on
        code = runner.poll()
        return code is None or (code == 0 and any(os.path.exists(f"/proc/{p}") for p in pid()))

    try:
        return _watch(target, topic.replace(".", "_"), rows, last, pid, alive)
    finally:
        runner.wait(600)
        log.close()
        subprocess.run([str(JDBC_SINK / "stop"), name], env=env, capture_output=True, timeout=120, check=False)
        connect_log = pid_file.parent / "connect.log"
        if connect_log.exists():
            shutil.copyfile(connect_log, logs / f"{name}.connect.log")
        subprocess.run([str(JDBC_SINK / "stop"), name, "--purge"], env=env, capture_output=True, timeout=120,
                       check=False)


def _one_run(services: Services, admin, topic: str, label: str, name: str, args, last: list[int], logs: Path,
             converters: dict[str, str]) -> dict:
    """One system's run into a fresh database of its own (`label`: the database, the connector's
    name and so its consumer group: each run reads the topic from its start)."""
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{label}"')
    try:
        if args.format == "json-plain":  # no schema to make the table from: made beforehand, as the source's
            target = psycopg2.connect(_dsn(services, label))
            with target, target.cursor() as cur:
                cur.execute(f'CREATE TABLE "{topic.replace(".", "_")}" {ROW_DDL}')
            target.close()
        kind, _, n = name.rpartition("-")
        run = run_bridge if kind == "bridge" else run_debezium
        return run(services, topic, _dsn(services, label), int(n), args.rows, last, logs, label, converters)
    except (RuntimeError, subprocess.SubprocessError) as exc:
        return {"error": str(exc)}
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{label}" WITH (FORCE)')


def median_run(runs: list[dict]) -> dict:
    """A system's figures over its runs: those of the median run by rows/s (the lower middle one
    of an even number), with every run's rows/s; the first error when a run failed."""
    failed = [run for run in runs if "error" in run]
    if failed:
        return failed[0]
    ordered = sorted(runs, key=lambda run: run["rows_per_s"])
    median = dict(ordered[(len(ordered) - 1) // 2])
    if len(runs) > 1:
        median["runs_rows_per_s"] = [run["rows_per_s"] for run in runs]
    return median


def summary(results: dict) -> str:
    lines = [f"Sink benchmark: {results['rows']:,} rows, topic of {results['partitions']} partitions "
             f"({FORMATS[results.get('format', 'json')]}, compression {results.get('compression', 'lz4')}), "
             f"{results['date']}", "",
             "| system | rows/s into PostgreSQL | CPU µs per row | PostgreSQL CPU µs per row | seconds |",
             "|---|---:|---:|---:|---:|"]
    for name, fig in results["systems"].items():
        if "error" in fig:
            lines.append(f"| {name} | failed: {fig['error']} | | | |")
        else:
            runs = fig.get("runs_rows_per_s")
            rate = f"{fig['rows_per_s']:,}" + (f" (median of {', '.join(f'{r:,}' for r in runs)})" if runs else "")
            lines.append(f"| {name} | {rate} | {fig['cpu_us_per_row']} | {fig['pg_cpu_us_per_row']} | "
                         f"{fig['seconds']} |")
    best = {k: v for k, v in results["systems"].items() if "error" not in v}
    theirs = [v["rows_per_s"] for k, v in best.items() if k.startswith("debezium")]
    ours = [v["rows_per_s"] for k, v in best.items() if k.startswith("bridge")]
    if theirs and ours:
        lines += ["", f"best bridge sink / best Debezium JDBC sink: {max(ours) / max(theirs):.2f}x rows/s"]
        # CPU per row does not depend on how many cores the host gives both systems and the database
        cpu = {side: min(v["cpu_us_per_row"] for k, v in best.items() if k.startswith(side))
               for side in ("bridge", "debezium")}
        both = {side: min(v["cpu_us_per_row"] + v["pg_cpu_us_per_row"] for k, v in best.items() if k.startswith(side))
                for side in ("bridge", "debezium")}
        lines += [f"CPU per row, Debezium JDBC sink / bridge sink (least of each): {cpu['debezium'] / cpu['bridge']:.2f}x "
                  f"(the sink's processes), {both['debezium'] / both['bridge']:.2f}x (with PostgreSQL's)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m native_bench.sink_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma list of " + ", ".join(SYSTEMS))
    parser.add_argument("--format", choices=tuple(FORMATS), default="json",
                        help="the topic's records and both sinks' converters: " +
                             ", ".join(f"{k} ({v})" for k, v in FORMATS.items()))
    parser.add_argument("--compression", choices=("lz4", "none", "zstd", "snappy", "gzip"), default="lz4",
                        help="the topic's compression.type as bridge run writes it: lz4 (pgbridge's default) or "
                             "none (Kafka Connect's producer default, what Debezium writes)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each system, interleaved (bridge, Debezium, bridge, ...): each system's "
                             "figures are those of its median run by rows/s, every run's rows/s listed")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat: at least 1")
    names = [s.strip() for s in args.systems.split(",") if s.strip()]
    if unknown := [s for s in names if s not in SYSTEMS]:
        parser.error(f"unknown system(s) {', '.join(unknown)}")
    if args.format == "json-plain" and (jdbc := [s for s in names if s.startswith("debezium")]):
        # what its task says on the first record, and then it stops (seen with 3.x)
        parser.error(f"{', '.join(jdbc)}: Debezium's JDBC sink takes no records without schemas (\"Configured "
                     "primary key mode 'record_key' cannot have null schema\"); --format json-plain is for "
                     "bridge-1, bridge-2")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = (args.out or REPO / "bench-results" / f"sink-{stamp}").resolve()
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    services = discover(None, None)
    tag = f"sb{uuid.uuid4().hex[:6]}"
    registry = registry_url() if args.format == "avro" else None
    converters = sink_converters(args.format, registry)
    results = {"rows": args.rows, "partitions": args.partitions, "format": args.format,
               "compression": args.compression, "date": stamp,
               "options": OPTIONS, "converters": converters,
               "command": " ".join(["python -m native_bench.sink_bench", *(argv or sys.argv[1:])]), "systems": {}}
    admin = _admin(services)
    try:
        topic = fill_topic(services, tag, args.rows, args.partitions, logs,
                           {**source_formats(args.format, registry),
                            "debezium.sink.kafka.producer.compression.type": args.compression})
        last = last_ids(services.kafka, topic, args.format)
        runs: dict[str, list[dict]] = {name: [] for name in names}
        for attempt in range(args.repeat):
            for name in names:
                label = f"{tag}_{name.replace('-', '_')}" + (f"_{attempt + 1}" if args.repeat > 1 else "")
                run = _one_run(services, admin, topic, label, name, args, last, logs, converters)
                runs[name].append(run)
                print(name, f"run {attempt + 1}/{args.repeat}" if args.repeat > 1 else "", run, flush=True)
        results["systems"] = {name: median_run(done) for name, done in runs.items()}
    finally:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s "
                        "AND NOT active", (f"{tag}_slot",))
            cur.execute(f'DROP PUBLICATION IF EXISTS "{tag}_pub"')
            cur.execute(f"DROP TABLE IF EXISTS {tag}_rows")
        admin.close()
        kafka = AdminClient({"bootstrap.servers": services.kafka})
        kafka.delete_topics([f"{tag}.public.{tag}_rows"])[f"{tag}.public.{tag}_rows"].exception(30)
        if registry is not None:
            delete_subjects([f"{tag}.public.{tag}_rows-{side}" for side in ("key", "value")])
    (out / "results.json").write_text(json.dumps(results, indent=1))
    text = summary(results)
    (out / "summary.md").write_text(text + "\n")
    print(text)
    return 1 if any("error" in v for v in results["systems"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
