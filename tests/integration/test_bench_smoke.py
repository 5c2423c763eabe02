"""The benchmark suite stays runnable: `python -m native_bench --quick` on one workload, pgbridge only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import psycopg2

from tests.integration.support import REPO


def test_quick_benchmark_of_pgbridge_writes_results_and_summary(tmp_path, pg_dsn, kafka_bootstrap):
    # GIVEN the session's PostgreSQL and Kafka
    out = tmp_path / "bench"
    env = dict(os.environ, BRIDGE_PG_DSN=pg_dsn, BRIDGE_KAFKA_BOOTSTRAP=kafka_bootstrap)
    # WHEN the quick benchmark runs W1 for pgbridge (1, 2 and 4 producers), without micro-benchmarks
    proc = subprocess.run(
        [sys.executable, "-m", "native_bench", "--quick", "--workloads", "W1", "--systems", "pgbridge",
         "--no-micro", "--pg-dsn", pg_dsn, "--kafka", kafka_bootstrap, "--out", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    # THEN results.json has a positive rate for every pgbridge system, and the summary exists
    results = json.loads((out / "results.json").read_text())
    figures = results["workloads"]["W1"]["systems"]
    assert {"pgbridge-1", "pgbridge-2", "pgbridge-4"} <= figures.keys()
    for name in ("pgbridge-1", "pgbridge-2", "pgbridge-4"):
        assert figures[name]["rows_per_s"] > 0, figures[name]
        assert figures[name]["records"] == results["workloads"]["W1"]["counts"]["expected_kafka_records"]
    assert results["meta"]["host"]["cores"] >= 1 and results["meta"]["postgresql"]["version"]
    summary = (out / "summary.md").read_text()
    assert "| W1 | pgbridge-1 |" in summary


def test_repeated_rounds_report_the_median_and_leave_no_slot(tmp_path, pg_dsn, kafka_bootstrap):
    # GIVEN the session's PostgreSQL and Kafka
    out = tmp_path / "bench"
    env = dict(os.environ, BRIDGE_PG_DSN=pg_dsn, BRIDGE_KAFKA_BOOTSTRAP=kafka_bootstrap)
    # WHEN the reader and the decoder alone stream W1 twice each, in alternating rounds
    proc = subprocess.run(
        [sys.executable, "-m", "native_bench", "--quick", "--workloads", "W1", "--systems", "raw-bulk,decoder-only",
         "--repeat", "2", "--no-micro", "--pg-dsn", pg_dsn, "--kafka", kafka_bootstrap, "--out", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    # THEN each system reports its median round beside both rounds, and the ratio is computed
    results = json.loads((out / "results.json").read_text())
    figures = results["workloads"]["W1"]["systems"]
    for name in ("raw-bulk", "decoder-only"):
        rounds = figures[name]["rows_per_s_rounds"]
        assert len(rounds) == 2 and all(r > 0 for r in rounds), figures[name]
        assert figures[name]["rows_per_s"] == min(rounds)  # the lower middle of two
    assert results["ratios"]["W1"]["decoder_only_over_ceiling"] > 0
    assert "(round 2 of 2)" in proc.stderr
    # and every round's slot is gone
    bench_db = " ".join(p for p in pg_dsn.split() if not p.startswith("dbname=")) + " dbname=native_bench"
    with psycopg2.connect(bench_db) as conn, conn.cursor() as cur:
        cur.execute("SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE %s",
                    (f"nb_{results['config']['run_id']}%",))
        assert cur.fetchall() == []


def test_producer_stage_reports_its_best_round_against_the_real_broker(kafka_bootstrap):
    # WHEN the producer stage streams 3,000 rows into the local Kafka, every record acked, in 3 rounds
    out = subprocess.run(
        [sys.executable, "-m", "native_bench.stages", "--kafka", kafka_bootstrap, "--only", "producer",
         "--rows", "3000", "--rounds", "3"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=True)
    p = json.loads(out.stdout.strip().splitlines()[-1])["producer"]
    # THEN every round produced all rows and Kafka acked past the stream's end (else the stage fails),
    # and the figure is the best of them with the median beside it
    assert p["rows"] == 3000 and p["rounds"] == 3 and len(p["rows_per_cpu_s_rounds"]) == 3
    assert p["rows_per_cpu_s"] == max(p["rows_per_cpu_s_rounds"]) > 0
    assert sorted(p["rows_per_cpu_s_rounds"])[1] == p["rows_per_cpu_s_median"]


def test_the_same_chain_in_pgbridge_and_debezium_and_debezium_with_avro(tmp_path, pg_dsn, kafka_bootstrap,
                                                                       schema_registry):
    # GIVEN the session's PostgreSQL, Kafka and schema registry
    out = tmp_path / "bench"
    env = dict(os.environ, BRIDGE_PG_DSN=pg_dsn, BRIDGE_KAFKA_BOOTSTRAP=kafka_bootstrap,
               BRIDGE_REGISTRY_URL=schema_registry)
    # WHEN the quick W2 (inserts, updates, deletes) runs through the unwrap + RegexRouter chain
    # in pgbridge and in Debezium, and through Debezium writing Avro
    proc = subprocess.run(
        [sys.executable, "-m", "native_bench", "--quick", "--workloads", "W2", "--systems",
         "pgbridge-2-unwrap,debezium-json-unwrap,debezium-avro", "--no-micro", "--pg-dsn", pg_dsn,
         "--kafka", kafka_bootstrap, "--out", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    results = json.loads((out / "results.json").read_text())
    w2 = results["workloads"]["W2"]
    figures, rows = w2["systems"], w2["rows"]
    # THEN the chain wrote one record per row change (deletes rewritten, no tombstone) in both,
    # the same key and value bytes, and a ratio against Debezium's chain
    for name in ("pgbridge-2-unwrap", "debezium-json-unwrap"):
        assert figures[name]["rows_per_s"] > 0 and figures[name]["records"] == rows, figures[name]
        assert figures[name]["record_bytes"]["tombstones"] == 0
    assert figures["pgbridge-2-unwrap"]["record_bytes"]["key_value_bytes"] == \
        figures["debezium-json-unwrap"]["record_bytes"]["key_value_bytes"]
    assert results["ratios"]["W2"]["pgbridge-2-unwrap"]["over_debezium-json-unwrap"] > 0
    # AND Debezium's Avro records (tombstones included) were counted and sized
    avro = figures["debezium-avro"]
    assert avro["records"] == w2["counts"]["expected_kafka_records"] and avro["key_value_bytes_per_row"] > 0, avro
    # AND its subjects are gone from the registry, and no system is in the latency phase
    with urllib.request.urlopen(f"{schema_registry}/subjects", timeout=10) as resp:
        assert not [s for s in json.load(resp) if s.startswith(f"nb_{results['config']['run_id']}")]
    assert "latency_ms" not in figures["pgbridge-2-unwrap"] and "latency_error" not in figures["debezium-avro"]


def test_outbox_workload_through_pgbridges_event_router(tmp_path, pg_dsn, kafka_bootstrap):
    # GIVEN the session's PostgreSQL and Kafka
    out = tmp_path / "bench"
    env = dict(os.environ, BRIDGE_PG_DSN=pg_dsn, BRIDGE_KAFKA_BOOTSTRAP=kafka_bootstrap)
    # WHEN the quick W5 (outbox rows) runs through pgbridge's EventRouter chain
    proc = subprocess.run(
        [sys.executable, "-m", "native_bench", "--quick", "--workloads", "W5", "--systems", "pgbridge-2-outbox",
         "--no-micro", "--pg-dsn", pg_dsn, "--kafka", kafka_bootstrap, "--out", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    # THEN one event per outbox row was written to the aggregate types' topics, and measured
    results = json.loads((out / "results.json").read_text())
    w5 = results["workloads"]["W5"]
    figures = w5["systems"]["pgbridge-2-outbox"]
    assert figures["rows_per_s"] > 0 and figures["records"] == w5["counts"]["inserts"] == w5["rows"], figures
    assert figures["record_bytes"]["tombstones"] == 0 and figures["cpu_s_per_mrows"] > 0  # CPU µs per row
