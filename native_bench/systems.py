"""The systems under test. Each reads the same WAL through its own slot, one after another.

Ceilings (nothing written to Kafka):
    pg_recvlogical   pg_recvlogical --start -o proto_version=1 -o publication_names=... -f /dev/null
    raw-eager        psycopg2 reader counting bytes, waking for every arrival (native_bench.raw_reader)
    raw-bulk         the same reader napping 10 ms between wake-ups so reads are large
    server-decode    pg_logical_slot_peek_binary_changes() on a copy of the slot: decoding without network
Stage:
    decoder-only     pgbridge's decoder process code into rings whose consumers discard (native_bench.decoder_only)
Into Kafka (same broker, topics pre-created with the same partition count for every system):
    pgbridge-N       `python -m bridge.cli run` with bridge.producers=N
    pgbridge-2-eos   the same with N=2 and bridge.exactly.once=true (opt-in: not part of "pgbridge";
                     also "pgbridge-eos"); its topics' end offsets include the transaction markers
    debezium-json / debezium-json-schemas
                     Kafka Connect standalone + the Debezium PostgreSQL connector
                     (deploy/local/debezium/run), JsonConverter schemas.enable false / true,
                     connector defaults otherwise (snapshot.mode=no_data)
    pgbridge-2-unwrap, debezium-json-unwrap, debezium-avro
                     variants with a transform chain or Avro: native_bench.variants

Throughput window: from the moment the system's walsender holds the slot (it has started
reading) to the moment the last record is readable (Kafka systems) or the reader has received
everything up to the workload's end LSN (ceilings). In a live run that start is the first commit.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from native_bench import measure
from native_bench.raw_reader import peak_rss_bytes
from native_bench.services import PUBLICATION, REPO, Kafka, Services, create_slot, drop_slot
from native_bench.workloads import Counts, Workload, WorkloadRun

PG_RECVLOGICAL = Path(os.environ.get("BRIDGE_PG_BIN", "/usr/lib/postgresql/15/bin")) / "pg_recvlogical"
DEBEZIUM_RUN = REPO / "deploy" / "local" / "debezium" / "run"
DEBEZIUM_STOP = REPO / "deploy" / "local" / "debezium" / "stop"
PARTITIONS = 4  # every system's topics: enough for 4 producers to each own one


@dataclass
class Context:
    services: Services
    kafka: Kafka
    conn: object  # autocommit psycopg2 connection to the benchmark database
    run_id: str
    schema: str  # the run's tables live in their own schema
    workload: Workload
    logs: Path
    timeout_s: float
    round: int = 0  # with --repeat: which pass over the workload's WAL (each has its own slots)

    def slot(self, system: "System", suffix: str = "") -> str:
        again = f"_r{self.round}" if self.round else ""
        return f"nb_{self.run_id}_{self.workload.name.lower()}_{system.ident}{again}{suffix}"

    def prefix(self, system: "System", suffix: str = "") -> str:
        return self.slot(system, suffix)  # topic prefix = slot name: unique per run and system

    def topics(self, prefix: str) -> list[str]:
        return [f"{prefix}.{self.schema}.{t}" for t in self.workload.tables()]


def _per_mrows(cpu: float | None, rows: int) -> float | None:
    return None if cpu is None or not rows else round(cpu / rows * 1e6, 2)


def _env(services: Services) -> dict[str, str]:
    env = dict(os.environ, BRIDGE_PG_DSN=services.admin_dsn, BRIDGE_KAFKA_BOOTSTRAP=services.kafka)
    if services.state_dir is not None:
        env["BRIDGE_STATE_DIR"] = str(services.state_dir)
    return env


class System:
    name = ""
    ident = ""  # [a-z0-9]+, part of slot and topic names
    kind = ""  # ceiling | stage | kafka

    def create_slots(self, ctx: Context) -> list[str]:
        slot = ctx.slot(self)
        create_slot(ctx.conn, slot)
        return [slot]

    def run(self, ctx: Context, run: WorkloadRun) -> dict:
        raise NotImplementedError


# ---------------------------------------------------------------------------- ceilings

class RecvLogical(System):
    name, ident, kind = "pg_recvlogical", "recvlogical", "ceiling"

    def run(self, ctx, run):
        p = ctx.services.dsn_params
        conninfo = " ".join(f"{k}={v}" for k, v in p.items())
        cmd = [str(PG_RECVLOGICAL), "-d", conninfo, "--slot", ctx.slot(self), "--start", "--no-loop",
               "-o", "proto_version=1", "-o", f"publication_names={PUBLICATION}", "-f", "/dev/null",
               "-E", run.end_lsn, "-s", "10"]
        with open(ctx.logs / f"{ctx.slot(self)}.log", "wb") as log:
            proc = subprocess.Popen(cmd, stderr=log)
        try:
            active, walsender = measure.wait_slot_active(ctx.conn, ctx.slot(self), 60, lambda: proc.poll() is None)
            ws0 = measure.cpu_of(walsender)
            # The walsender ends with the connection: sample it while the reader runs.
            ws1, peak = ws0, 0
            while True:
                peak = max(peak, peak_rss_bytes(proc.pid))
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                ws1 = measure.cpu_of(walsender) or ws1
                time.sleep(0.005)
            ended = time.time()
            proc.returncode = os.waitstatus_to_exitcode(status)
        finally:
            if proc.returncode is None:
                proc.kill()
                proc.wait()
        if proc.returncode != 0:
            raise RuntimeError(f"pg_recvlogical exited {proc.returncode}: see {ctx.logs}")
        seconds = ended - active
        rows = run.counts.rows
        return {
            "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
            "cpu_s_per_mrows": _per_mrows(usage.ru_utime + usage.ru_stime, rows),
            "walsender_cpu_s_per_mrows": _per_mrows(None if ws0 is None else ws1 - ws0, rows),
            "peak_rss_mb": round(peak / 2**20, 1),  # VmHWM, polled every 5 ms
        }


class RawReader(System):
    kind = "ceiling"

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.name = f"raw-{mode}"
        self.ident = f"raw{mode}"

    def run(self, ctx, run):
        slot = ctx.slot(self)
        cmd = [sys.executable, "-m", "native_bench.raw_reader", "--dsn", ctx.services.dsn, "--slot", slot,
               "--publication", PUBLICATION, "--end-lsn", run.end_lsn, "--mode", self.mode,
               "--timeout", str(ctx.timeout_s)]
        with open(ctx.logs / f"{slot}.log", "wb") as log:
            proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=log)
        active, walsender = measure.wait_slot_active(ctx.conn, slot, 60, lambda: proc.poll() is None)
        ws0 = measure.cpu_of(walsender)
        ws1 = ws0
        while proc.poll() is None:
            ws1 = measure.cpu_of(walsender) or ws1
            time.sleep(0.005)
        out = proc.stdout.read()
        proc.stdout.close()
        if proc.returncode != 0:
            raise RuntimeError(f"raw reader exited {proc.returncode}: see {ctx.logs}")
        r = json.loads(out)
        seconds = r["ended"] - active
        rows = run.counts.rows
        if r["rows"] != rows:
            raise RuntimeError(f"raw reader saw {r['rows']} row changes, the workload made {rows}")
        return {
            "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds),
            "msgs_per_s": round(r["messages"] / seconds), "mb_per_s": round(r["payload_bytes"] / seconds / 1e6, 1),
            "messages": r["messages"], "wakeups": r["wakeups"],
            "cpu_s": r["cpu_s"], "cpu_s_per_mrows": _per_mrows(r["cpu_s"], rows),
            "walsender_cpu_s_per_mrows": _per_mrows(None if ws0 is None else ws1 - ws0, rows),
            "peak_rss_mb": round(r["max_rss_bytes"] / 2**20, 1),
        }


class ServerDecode(System):
    """pg_logical_slot_peek_binary_changes on a temporary copy of this system's slot."""

    name, ident, kind = "server-decode", "peek", "ceiling"

    def run(self, ctx, run):
        conn = ctx.services.connect()
        try:
            with conn.cursor() as cur:
                copy = ctx.slot(self, "_copy")
                cur.execute("SELECT pg_copy_logical_replication_slot(%s, %s, true)", (ctx.slot(self), copy))
                cur.execute("SELECT pg_backend_pid()")
                backend = cur.fetchone()[0]
                cpu0 = measure.cpu_of(backend)
                started = time.perf_counter()
                cur.execute(
                    "SELECT count(*), count(*) FILTER (WHERE get_byte(data, 0) IN (73, 85, 68)), "
                    "coalesce(sum(length(data)), 0) FROM pg_logical_slot_peek_binary_changes("
                    "%s, %s::pg_lsn, NULL, 'proto_version', '1', 'publication_names', %s)",
                    (copy, run.end_lsn, PUBLICATION))
                messages, rows, nbytes = cur.fetchone()
                seconds = time.perf_counter() - started
                cpu1 = measure.cpu_of(backend)
        finally:
            conn.close()  # drops the temporary copy
        if rows != run.counts.rows:
            raise RuntimeError(f"server decode saw {rows} row changes, the workload made {run.counts.rows}")
        return {
            "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds),
            "msgs_per_s": round(messages / seconds), "mb_per_s": round(nbytes / seconds / 1e6, 1),
            "messages": messages,
            "cpu_s": round(cpu1 - cpu0, 3) if cpu0 is not None and cpu1 is not None else None,
            "cpu_s_per_mrows": _per_mrows(cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None, rows),
        }


class DecoderOnly(System):
    name, ident, kind = "decoder-only", "deconly", "stage"

    def __init__(self, producers: int = 2) -> None:
        self.producers = producers

    def run(self, ctx, run):
        slot = ctx.slot(self)
        cfg = write_bridge_properties(ctx, slot, ctx.prefix(self), self.producers)
        cmd = [sys.executable, "-m", "native_bench.decoder_only", "-c", str(cfg), "--end-lsn", run.end_lsn,
               "--timeout", str(ctx.timeout_s)]
        with open(ctx.logs / f"{slot}.log", "wb") as log:
            proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=log)
        active, walsender = measure.wait_slot_active(ctx.conn, slot, 60, lambda: proc.poll() is None)
        out = proc.stdout.read()
        proc.wait()
        proc.stdout.close()
        if proc.returncode != 0:
            raise RuntimeError(f"decoder_only exited {proc.returncode}: see {ctx.logs / (slot + '.log')}")
        r = json.loads(out)
        seconds = r["ended"] - active
        rows = run.counts.rows
        return {
            "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds),
            "msgs_per_s": round(r["messages"] / seconds), "producers": self.producers,
            "cpu_s": r["decoder_cpu_s"], "cpu_s_per_mrows": _per_mrows(r["decoder_cpu_s"], rows),
            "discarding_readers_cpu_s": r["readers_cpu_s"],
            "ring_bytes_per_row": round(r["ring_bytes_written"] / rows, 1),
            "peak_rss_mb": round(r["max_rss_bytes"] / 2**20, 1),
            "discarding_readers_peak_rss_mb": round(r["readers_peak_rss_bytes"] / 2**20, 1),
        }


# ---------------------------------------------------------------------------- into Kafka

class KafkaSystem(System):
    kind = "kafka"
    measures_latency = True  # W2's paced phase reads `source.ts_ms` from JSON envelopes

    def topics(self, ctx: Context, prefix: str) -> list[str]:
        """The topics its records land in (a transform chain may rename them)."""
        return ctx.topics(prefix)

    def expected_records(self, counts: Counts) -> int:
        return counts.expected_records

    def start(self, ctx: Context, slot: str, prefix: str) -> "Handle":
        raise NotImplementedError

    def _measure(self, ctx: Context, slot: str, prefix: str, counts: Counts, live=None) -> dict:
        """Start the system on `slot`, wait until every expected record is readable, stop it.
        `live(ctx, consumer)`, when given, runs the workload while the system streams and a
        consumer notes each record's latency (latency run)."""
        topics = self.topics(ctx, prefix)
        ctx.kafka.create_topics(topics, PARTITIONS)
        try:
            return self._measure_on(ctx, slot, prefix, topics, counts, live)
        finally:
            ctx.kafka.delete_topics(topics)

    def _measure_on(self, ctx: Context, slot: str, prefix: str, topics: list[str], counts: Counts,
                    live) -> dict:
        result: dict = {}
        try:
            for attempt in (1, 2):
                handle = self.start(ctx, slot, prefix)
                try:
                    active, walsender = measure.wait_slot_active(ctx.conn, slot, 180, handle.alive)
                    if live is not None:
                        result.update(self._latency(ctx, topics, counts, handle, live))
                    else:
                        result.update(self._throughput(ctx, topics, counts, handle, active, walsender))
                    break
                except _NothingWritten as exc:
                    # Seen with Debezium 3.7 now and then: the task streams the whole backlog
                    # but emits nothing and confirms nothing. The slot is where it was, so the
                    # run is repeated once from the start; the figures say so.
                    if attempt == 2:
                        raise RuntimeError(str(exc)) from None
                    result["retried_because"] = str(exc)
                finally:
                    result["exit"] = handle.stop()
        finally:
            drop_slot(ctx.conn, slot)
        if live is None:
            disk = ctx.kafka.log_bytes(ctx.services.kafka_data_dir, topics)
            if disk is not None:
                result["kafka_bytes_per_row"] = round(disk / counts.rows, 1)
            sample = measure.payload_sample(ctx.kafka.bootstrap, topics, PARTITIONS)
            if sample:
                result["record_bytes"] = sample  # uncompressed key/value/header bytes per record
                if sample["records"] == self.expected_records(counts):  # every record was read
                    result["key_value_bytes_per_row"] = round(sample["key_value_bytes"] / counts.rows, 1)
        return result

    def _throughput(self, ctx, topics, counts, handle, active, walsender) -> dict:
        tree = measure.ProcessTree(handle.pids())
        with measure.Sampler(tree) as sampler:
            cpu0 = tree.cpu_seconds()
            ws0, broker0 = measure.cpu_of(walsender), measure.cpu_of(ctx.services.kafka_pid)
            progress = measure.wait_readable(ctx.kafka, topics, PARTITIONS, self.expected_records(counts),
                                             ctx.timeout_s, handle.alive)
            cpu1 = tree.cpu_seconds()
            ws1, broker1 = measure.cpu_of(walsender), measure.cpu_of(ctx.services.kafka_pid)
            sampler.sample()
        if progress.done is None and progress.stalled and progress.seen == 0:
            raise _NothingWritten(f"{self.name} wrote no record within 60 s "
                                  f"of taking the slot (log: {ctx.logs})")
        if progress.done is None:
            raise RuntimeError(f"{self.name}: only {progress.seen} of {self.expected_records(counts)} records "
                               f"readable after {ctx.timeout_s:.0f}s (alive: {handle.alive()}); logs in {ctx.logs}")
        seconds = progress.done - active
        rows = counts.rows
        return {
            "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds),
            "first_record_s": round(progress.first_readable - active, 3),
            "records": progress.seen,
            "cpu_s": round(cpu1 - cpu0, 3), "cpu_s_per_mrows": _per_mrows(cpu1 - cpu0, rows),
            "walsender_cpu_s_per_mrows": _per_mrows(None if ws0 is None or ws1 is None else ws1 - ws0, rows),
            "broker_cpu_s_per_mrows": _per_mrows(None if broker0 is None or broker1 is None else broker1 - broker0, rows),
            "peak_rss_mb": round(sampler.peak_rss / 2**20, 1),
            "processes": len(tree.processes()),
        }

    def _latency(self, ctx, topics, counts, handle, live) -> dict:
        handle.wait_ready()
        consumer = measure.LatencyConsumer(ctx.kafka.bootstrap, topics, PARTITIONS)
        consumer.start()
        try:
            live(ctx, consumer)
            if not consumer.wait_for(self.expected_records(counts), ctx.timeout_s):
                raise RuntimeError(f"{self.name}: {consumer.records} of {self.expected_records(counts)} "
                                   f"records arrived ({consumer.error or 'timeout'})")
        finally:
            consumer.stop()
        return {"latency_ms": measure.percentiles(consumer.latencies_ms),
                "latency_samples": consumer.latencies_ms, "records": consumer.records}

    def run(self, ctx, run):
        return self._measure(ctx, ctx.slot(self), ctx.prefix(self), run.counts)

    def run_live(self, ctx: Context, counts: Counts, workload_call) -> dict:
        """A fresh slot made now; the workload runs (paced) while the system streams."""
        slot = ctx.slot(self, "_live")
        create_slot(ctx.conn, slot)
        return self._measure(ctx, slot, ctx.prefix(self, "_live"), counts, live=workload_call)


class _NothingWritten(Exception):
    pass


class Handle:
    def pids(self) -> list[int]: ...
    def alive(self) -> bool: ...
    def wait_ready(self) -> None: ...
    def stop(self) -> int | None: ...


class PgBridge(KafkaSystem):
    def __init__(self, producers: int, exactly_once: bool = False) -> None:
        self.producers = producers
        self.exactly_once = exactly_once
        self.name = f"pgbridge-{producers}" + ("-eos" if exactly_once else "")
        self.ident = f"pgbridge{producers}" + ("eos" if exactly_once else "")

    def properties(self, prefix: str) -> dict[str, str] | None:
        """Properties beyond the defaults of `write_bridge_properties`."""
        return {"bridge.exactly.once": "true", "bridge.exactly.once.offsets.topic":
                f"{prefix}_offsets"} if self.exactly_once else None

    def start(self, ctx, slot, prefix):
        cfg = write_bridge_properties(ctx, slot, prefix, self.producers, self.properties(prefix))
        log = open(ctx.logs / f"{prefix}.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "bridge.cli", "run", "-c", str(cfg)], cwd=REPO,
                                stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return _BridgeHandle(proc)


def write_bridge_properties(ctx: Context, slot: str, prefix: str, producers: int,
                            extra: dict[str, str] | None = None) -> Path:
    """pgbridge's application.properties for one system run: defaults plus slot, topics, N."""
    p = ctx.services.dsn_params
    props = {
        "debezium.sink.type": "kafka",
        "debezium.sink.kafka.producer.bootstrap.servers": ctx.kafka.bootstrap,
        "debezium.source.connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "debezium.source.database.hostname": p["host"],
        "debezium.source.database.port": p.get("port", "5432"),
        "debezium.source.database.user": p["user"],
        "debezium.source.database.password": p.get("password", ""),
        "debezium.source.database.dbname": p["dbname"],
        "debezium.source.topic.prefix": prefix,
        "debezium.source.slot.name": slot,
        "debezium.source.publication.name": PUBLICATION,
        "debezium.source.publication.autocreate.mode": "disabled",
        "debezium.source.plugin.name": "pgoutput",
        "debezium.source.status.update.interval.ms": "1000",
        "bridge.producers": str(producers),
        "bridge.http.port": "0",
        **(extra or {}),
    }
    cfg = ctx.logs / f"{prefix}.properties"
    cfg.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    return cfg


class _BridgeHandle(Handle):
    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc

    def pids(self):
        return [self.proc.pid]

    def alive(self):
        return self.proc.poll() is None

    def wait_ready(self):
        time.sleep(2.0)  # producers attached and idle (spawned processes import for ~1 s)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class Debezium(KafkaSystem):
    def __init__(self, schemas: bool) -> None:
        self.schemas = schemas
        self.name = "debezium-json-schemas" if schemas else "debezium-json"
        self.ident = "dbzschemas" if schemas else "dbzjson"

    def options(self, ctx: Context) -> list[str]:
        """More `deploy/local/debezium/run` arguments (name=value; the last one wins)."""
        return []

    def start(self, ctx, slot, prefix):
        if not DEBEZIUM_RUN.exists():
            raise RuntimeError(f"{DEBEZIUM_RUN} is missing")
        name = prefix  # [a-z0-9_]+: names the connector and its state dir
        cmd = [str(DEBEZIUM_RUN), name, f"schemas.enable={'true' if self.schemas else 'false'}",
               "snapshot.mode=no_data", f"database.dbname={ctx.services.dsn_params['dbname']}",
               f"slot.name={slot}", f"publication.name={PUBLICATION}", "publication.autocreate.mode=disabled",
               f"topic.prefix={prefix}", *self.options(ctx)]
        log = open(ctx.logs / f"{prefix}.runner.log", "wb")
        runner = subprocess.Popen(cmd, cwd=REPO, env=_env(ctx.services), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return _DebeziumHandle(runner, name, ctx)


class _DebeziumHandle(Handle):
    def __init__(self, runner: subprocess.Popen, name: str, ctx: Context) -> None:
        self.runner = runner
        self.name = name
        self.ctx = ctx
        state = ctx.services.state_dir
        self.dir = state / f"debezium-{name}" if state else None

    def _jvm(self) -> int | None:
        try:
            return int((self.dir / "connect.pid").read_text().strip())
        except (OSError, ValueError, TypeError):
            return None

    def pids(self):
        deadline = time.monotonic() + 30
        while self._jvm() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        jvm = self._jvm()
        if jvm is None:
            raise RuntimeError(f"no Kafka Connect pid in {self.dir}")
        return [jvm]

    def alive(self):
        jvm = self._jvm()
        if jvm is not None:
            try:
                os.kill(jvm, 0)
                return True
            except OSError:
                return False
        return self.runner.poll() is None

    def wait_ready(self):
        self.runner.wait(240)  # the runner returns once the connector is streaming

    def stop(self):
        if self.runner.poll() is None:
            self.runner.terminate()
            self.runner.wait(30)
        jvm = self._jvm()
        code = None
        if jvm is not None:
            # Measurements are taken: a short grace for a clean stop, then SIGKILL (Connect can
            # take 30 s+ to stop a Postgres task; the slot and state are dropped anyway).
            try:
                os.kill(jvm, signal.SIGTERM)
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    os.kill(jvm, 0)
                    time.sleep(0.1)
                os.kill(jvm, signal.SIGKILL)
                code = -9
            except ProcessLookupError:
                code = 0
        if self.dir is not None:  # keep Connect's log beside the run's other logs
            for log in ("connect.log", "stdout.log"):
                if (self.dir / log).exists():
                    shutil.copyfile(self.dir / log, self.ctx.logs / f"{self.name}.{log}")
        subprocess.run([str(DEBEZIUM_STOP), self.name, "--purge"], cwd=REPO, env=_env(self.ctx.services),
                       capture_output=True, timeout=60)
        return code


def make(names: list[str]) -> list[System]:
    """System names as given on the command line, in the order they run."""
    table = {
        "ceiling": [RecvLogical(), RawReader("eager"), RawReader("bulk"), ServerDecode()],
        "pg_recvlogical": [RecvLogical()], "raw": [RawReader("eager"), RawReader("bulk")],
        "raw-eager": [RawReader("eager")], "raw-bulk": [RawReader("bulk")], "server-decode": [ServerDecode()],
        "decoder-only": [DecoderOnly()],
        "pgbridge": [PgBridge(1), PgBridge(2), PgBridge(4)],
        "pgbridge-1": [PgBridge(1)], "pgbridge-2": [PgBridge(2)], "pgbridge-4": [PgBridge(4)],
        "pgbridge-eos": [PgBridge(2, exactly_once=True)], "pgbridge-2-eos": [PgBridge(2, exactly_once=True)],
        "debezium": [Debezium(False), Debezium(True)],
        "debezium-json": [Debezium(False)], "debezium-json-schemas": [Debezium(True)],
    }
    from native_bench import variants  # it builds on the classes above
    table.update(variants.SYSTEMS)
    out: list[System] = []
    for name in names:
        if name not in table:
            raise SystemExit(f"unknown system {name!r}; known: {', '.join(table)}")
        for s in table[name]:
            if s.name not in {o.name for o in out}:
                out.append(s)
    return out


ALL = ["ceiling", "decoder-only", "pgbridge", "debezium"]
