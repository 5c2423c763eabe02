"""One benchmark run: for each workload, slots for every system, the workload, then each
system in turn over that same WAL; then the micro-benchmarks; then the reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from native_bench import machine, report, services, systems, workloads
from native_bench.services import REPO


def log(msg: str) -> None:
    print(f"[native_bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(size: str, workload_names: list[str], system_names: list[str], out: Path, micro: bool,
        pg_dsn: str | None = None, kafka_bootstrap: str | None = None, repeat: int = 1) -> dict:
    """`repeat` > 1: every system streams the workload's WAL that many times, in alternating
    rounds (each round with slots of its own, all made before the workload); the figures of
    its median round by rows/s are reported, every round's rows/s beside them. On a shared,
    noisy machine one pass can be off by half either way."""
    started = time.time()
    out.mkdir(parents=True, exist_ok=True)
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    run_id = uuid.uuid4().hex[:6]
    svc = services.discover(pg_dsn, kafka_bootstrap)
    services.prepare_database(svc)
    stale = services.drop_stale(svc)
    if stale:
        log(f"dropped what interrupted runs left: {', '.join(stale)}")
    kafka = services.Kafka(svc.kafka)
    chosen = systems.make(system_names)
    results: dict = {
        "meta": machine.describe(svc),
        "config": {"size": size, "workloads": workload_names, "systems": [s.name for s in chosen],
                   "partitions_per_topic": systems.PARTITIONS, "run_id": run_id, "repeat": repeat,
                   "command": " ".join(["python -m native_bench", *sys.argv[1:]])},
        "workloads": {},
    }
    latency_samples: dict = {}
    timeout = 120.0 if size == "quick" else 300.0
    conn = svc.connect()
    schema = services.start_run(conn, run_id)  # the run's tables live in their own schema
    try:
        for name in workload_names:
            wl = workloads.make(name, size)
            entry = results["workloads"][name] = {"title": wl.title, "description": wl.describe(), "systems": {}}
            ctx = systems.Context(svc, kafka, conn, run_id, schema, wl, logs, timeout)
            log(f"{name}: setup ({wl.describe()})")
            wl.setup(conn)
            made: list[str] = []
            try:
                for ctx.round in range(repeat):
                    for s in chosen:
                        made += s.create_slots(ctx)
                wrun = wl.run(conn)
                entry.update({"rows": wrun.counts.rows, "counts": vars(wrun.counts) | {
                    "expected_kafka_records": wrun.counts.expected_records},
                    "generate_seconds": round(wrun.seconds, 3), "params": wrun.params})
                log(f"{name}: {wrun.counts.rows:,} row changes in {wrun.counts.txns:,} transactions "
                    f"generated in {wrun.seconds:.1f}s")
                rounds: dict[str, list[dict]] = {s.name: [] for s in chosen}
                for ctx.round in range(repeat):
                    for s in chosen:
                        time.sleep(0.5)  # let the previous system's leftovers (broker flush, exits) settle
                        try:
                            fig = s.run(ctx, wrun)
                        except Exception as exc:  # noqa: BLE001 - one broken system must not lose the others' figures
                            fig = {"error": f"{type(exc).__name__}: {exc}"}
                        finally:
                            if s.kind != "kafka":
                                services.drop_slot(conn, ctx.slot(s))
                        rounds[s.name].append(fig)
                        log(f"{name}: {s.name}" + (f" (round {ctx.round + 1} of {repeat})" if repeat > 1 else "")
                            + ": " + (fig["error"] if "error" in fig else
                                      f"{fig['rows_per_s']:,} rows/s, {fig.get('cpu_s_per_mrows')} CPU-s/M rows, "
                                      f"peak RSS {fig.get('peak_rss_mb')} MB"))
                ctx.round = 0
                for s in chosen:
                    entry["systems"][s.name] = median_round(rounds[s.name])
            finally:
                for slot in made:
                    services.drop_slot(conn, slot)
            if name == "W2":
                _latency_phase(ctx, wl, chosen, entry, latency_samples)
            wl.teardown(conn)
        if micro:
            results["micro"] = _micro(size, svc.kafka)
    finally:
        services.end_run(conn, schema)
        conn.close()
    results["wall_seconds"] = round(time.time() - started, 1)
    results["meta"]["host"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report.write(out, results, latency_samples)
    return results


def median_round(figs: list[dict]) -> dict:
    """The figures of the median round by rows/s (the lower middle one of an even count), with
    every successful round's rows/s in `rows_per_s_rounds`; an error only if every round failed."""
    ok = sorted((f for f in figs if "error" not in f), key=lambda f: f["rows_per_s"])
    if not ok:
        return figs[-1]
    chosen = dict(ok[(len(ok) - 1) // 2])
    if len(figs) > 1:
        chosen["rows_per_s_rounds"] = [f.get("rows_per_s") for f in figs]
    return chosen


def _latency_phase(ctx, wl, chosen, entry, samples) -> None:
    """W2 again, paced, while each Kafka system streams: commit → readable latency. The
    warm-up transactions (first Relation, topic metadata, JIT) are streamed but not counted."""
    live = [s for s in chosen if s.kind == "kafka" and s.measures_latency]
    if not live:
        return
    warm, txns = wl.live_txns()
    rate = wl.size["live_per_s"]
    counts = wl.counts(warm + txns)
    entry["latency_phase"] = {"transactions": txns, "warmup_transactions": warm, "per_s": rate,
                              "rows_per_s_offered": rate * 5, "rows_measured": wl.counts(txns).rows}

    def workload(c, consumer):
        wl.run(c.conn, txns=warm, per_s=rate, first=0)
        consumer.since_ms = time.time() * 1000
        wl.run(c.conn, txns=txns, per_s=rate, first=warm)

    for s in live:
        wl.setup(ctx.conn, pool=warm + txns)  # fresh table and rows, before the slot exists
        time.sleep(0.5)
        try:
            fig = s.run_live(ctx, counts, workload)
            samples.setdefault("W2", {})[s.name] = [round(x, 1) for x in fig.pop("latency_samples")]
            entry["systems"].setdefault(s.name, {})["latency_ms"] = fig["latency_ms"]
            lat = fig["latency_ms"]
            log(f"W2 latency: {s.name}: p50 {lat['p50']} ms, p95 {lat['p95']} ms, p99 {lat['p99']} ms")
        except Exception as exc:  # noqa: BLE001 - recorded beside the figures
            entry["systems"].setdefault(s.name, {})["latency_error"] = f"{type(exc).__name__}: {exc}"
            log(f"W2 latency: {s.name}: {exc}")


def _json_of(cmd: list[str], timeout: float = 600) -> dict:
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip()[-1000:] or f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _micro(size: str, kafka: str) -> dict:
    rows = 20_000 if size == "quick" else 100_000
    py = sys.executable
    log("micro-benchmarks: decode, convert, ring, route, encode, produce, producer")
    out = {
        "decode": _json_of([py, "-m", "native_bench.decode_bench", "--rows", str(rows), "--json"]),
        "convert": _json_of([py, "-m", "native_bench.convert_bench", "--rows", str(rows), "--json"]),
        "ring": _json_of([py, "-m", "native_bench.ring_bench", "--records", str(rows * 10)]),
    }
    out.update(_json_of([py, "-m", "native_bench.stages", "--kafka", kafka, "--rows", str(rows)]))
    return out
