"""pgbridge benchmarks against the stream ceiling and a real Debezium, on this machine.

    python -m native_bench [--quick] [--workloads W1,W2,W3,W4,W5] [--systems ceiling,decoder-only,pgbridge,debezium]
                           [--repeat N] [--out DIR] [--no-micro] [--pg-dsn DSN] [--kafka HOST:PORT]

Starts (or reuses) the local PostgreSQL and Kafka of deploy/local/up unless BRIDGE_PG_DSN and
BRIDGE_KAFKA_BOOTSTRAP are set. Writes DIR/results.json, summary.md, PNG plots and logs/
(default bench-results/<UTC timestamp>/). Default sizes take about 15 minutes on 2 cores;
--quick is a smoke run of about a minute. --repeat N streams every workload N times per system
in alternating rounds and reports the median round: on a shared machine one pass can be off by
half either way.

Systems: ceiling (= pg_recvlogical, raw-eager, raw-bulk, server-decode), decoder-only,
pgbridge (= pgbridge-1, pgbridge-2, pgbridge-4), debezium (= debezium-json, debezium-json-schemas),
or any of those names alone; pgbridge-2-eos (exactly once) only when named; formats (= pgbridge-2,
pgbridge-2-noschemas, pgbridge-2-avro, debezium-avro: JSON with and without schemas, Avro with a
schema registry; see native_bench.variants).
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

from native_bench import suite, systems, workloads
from native_bench.services import REPO


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m native_bench", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--quick", action="store_true", help="smoke-run sizes (about a minute without Debezium, ~3 with)")
    parser.add_argument("--workloads", default=",".join(workloads.KINDS), help="comma list of W1..W5")
    parser.add_argument("--systems", default=",".join(systems.ALL), help="comma list (see above)")
    parser.add_argument("--out", type=Path, help="output directory (default bench-results/<timestamp>)")
    parser.add_argument("--no-micro", action="store_true", help="skip the stage micro-benchmarks")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="stream each workload N times per system, alternating, and report the median round")
    parser.add_argument("--pg-dsn", help="PostgreSQL DSN (default: $BRIDGE_PG_DSN or deploy/local/up)")
    parser.add_argument("--kafka", help="Kafka bootstrap (default: $BRIDGE_KAFKA_BOOTSTRAP or deploy/local/up)")
    args = parser.parse_args(argv)

    names = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in names if w not in workloads.KINDS]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(workloads.KINDS)}")
    system_names = [s.strip() for s in args.systems.split(",") if s.strip()]
    systems.make(system_names)  # validates the names before anything starts
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}")
    out = args.out or REPO / "bench-results" / datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    results = suite.run("quick" if args.quick else "default", names, system_names, out.resolve(),
                        micro=not args.no_micro, pg_dsn=args.pg_dsn, kafka_bootstrap=args.kafka,
                        repeat=args.repeat)
    print((out / "summary.md").read_text())
    print(f"results: {out / 'results.json'}  (whole run {results['wall_seconds']:.0f} s)")
    failed = [f"{w}/{s}" for w, wl in results["workloads"].items() for s, f in wl["systems"].items() if "error" in f]
    if failed:
        print(f"systems that failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
