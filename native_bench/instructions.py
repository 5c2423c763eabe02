"""Instructions per row of the decoder and of one producer, counted by callgrind.

    python -m native_bench.instructions [--kafka HOST:PORT] [--only decoder-W1,decoder-W2,producer]
                                        [--rows 10000,30000] [--repeat N] [--tree PATH] [--compare BASE] [--json]

Measures:
    decoder-W1   `Router.handle` (2 producers) over a replayed W1 stream: one transaction of
                 inserts of the 8-column row
    decoder-W2   the same over a W2 stream: transactions of 2 inserts, 2 updates, 1 delete
    producer     the producer stage of `native_bench.stages` (one round): ring batches →
                 `ProducerWorker.handle_batch` → Kafka, every record acked; all threads, so
                 librdkafka's are counted, and shown apart: librdkafka's share depends on
                 how it batches, hence on timing; the rest repeats

Each measure runs twice under `valgrind --tool=callgrind`, over the smaller and the larger row
count; a row's figure is the difference of the two counts divided by the difference of the
rows, so start-up and the measure's fixed costs cancel. Only the measured loop is counted:
callgrind dumps its counters each time the process calls getrusage(2), and the child calls it
exactly twice, around the loop (the producer stage's CPU clock already does). The child's
string hash is seeded (PYTHONHASHSEED: 0, then 1, 2, ... with --repeat) and glibc copies in
vector loops (COPY_LOOPS): the decoder's count then repeats to about 0.3% whatever the seed or
the environment.

The W1/W2 streams are pgoutput messages as PostgreSQL sends them for the suite's workloads
(`workloads.py`: same columns, same row text), generated here, identical for every tree.

`--tree PATH` measures another checkout: the child runs with that tree as its working directory
and its only PYTHONPATH entry, so its `bridge` and `native_bench.stages` are the ones measured.
`--compare BASE` measures BASE, then the tree, and prints both with the change.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pickle
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

VALGRIND = "/usr/bin/valgrind"
MARKER = "getrusage"  # callgrind dumps before each call (--dump-before)
MEASURES = ("decoder-W1", "decoder-W2", "producer")
REPO = Path(__file__).resolve().parent.parent
CHUNK = 1000  # messages routed between two clears of the batches (bench_route's rhythm)
# memcpy and memset in vector loops, never `rep movsb`/`rep stosb`: valgrind counts each byte a
# rep instruction moves, so a buffer that realloc happens to move (it depends on where the heap's
# objects landed) would add its length in instructions, 2-4% of the decoder's count.
COPY_LOOPS = "glibc.cpu.x86_rep_movsb_threshold=4294967295:glibc.cpu.x86_rep_stosb_threshold=4294967295"

# -- the replayed streams ----------------------------------------------------------------------

RELATION_ID = 16_400
COLUMNS = (  # the workloads' row (`workloads.ROW_DDL`): name, type oid, typmod, key
    ("id", 20, -1, True), ("qty", 23, -1, False), ("email", 25, -1, False),
    ("price", 1700, (12 << 16 | 2) + 4, False), ("created_at", 1184, -1, False),
    ("note", 25, -1, False), ("active", 16, -1, False), ("attrs", 3802, -1, False),
)
_T0 = datetime.datetime(2024, 5, 1, 12, tzinfo=datetime.timezone.utc)


def _row(n: int, note: str | None = None) -> list[bytes]:
    """Row n as PostgreSQL prints `workloads.ROW_SQL` (TimeZone UTC)."""
    created = (_T0 + datetime.timedelta(seconds=n)).strftime("%Y-%m-%d %H:%M:%S+00")
    return [str(n).encode(), str(n % 1000).encode(), f"user{n}@example.com".encode(),
            f"{n % 100000}.{n % 100:02d}".encode(), created.encode(),
            (note or f"a short free-text note about row {n}").encode(), b"t" if n % 2 == 0 else b"f",
            b'{"plan": "pro", "tags": ["a", "b"], "seats": %d}' % (n % 50)]


def _tuple(values: list[bytes | None]) -> bytes:
    out = [struct.pack(">H", len(values))]
    for v in values:
        out.append(b"n" if v is None else b"t" + struct.pack(">I", len(v)) + v)
    return b"".join(out)


def _relation(table: str) -> bytes:
    out = [b"R", struct.pack(">I", RELATION_ID), b"public\0", table.encode() + b"\0", b"d",
           struct.pack(">H", len(COLUMNS))]
    for name, oid, typmod, key in COLUMNS:
        out += [bytes([key]), name.encode() + b"\0", struct.pack(">Ii", oid, typmod)]
    return b"".join(out)


class _Wal:
    """Positions and transaction framing of a stream being written."""

    def __init__(self, table: str) -> None:
        self.messages: list[tuple[bytes, int]] = [(_relation(table), 1 << 24)]
        self.lsn = (1 << 24) + 256
        self.xid = 1000

    def transaction(self, changes: list[bytes]) -> None:
        begin_at = self.lsn
        positions = [begin_at + 64 * (i + 1) for i in range(len(changes))]
        commit = positions[-1] + 64
        ts = 768_000_000_000_000 + self.xid  # µs since 2000-01-01
        self.messages.append((b"B" + struct.pack(">QqI", commit, ts, self.xid), begin_at))
        self.messages += zip(changes, positions)
        self.messages.append((b"C" + struct.pack(">BQQq", 0, commit, commit + 64, ts), commit))
        self.lsn, self.xid = commit + 128, self.xid + 1


def _change(kind: bytes, marker: bytes, values: list[bytes | None]) -> bytes:
    return kind + struct.pack(">I", RELATION_ID) + marker + _tuple(values)


def stream(workload: str, rows: int) -> list[tuple[bytes, int]]:
    """(payload, lsn) of a W1 or W2 stream of `rows` changes, its Relation first."""
    wal = _Wal("w1_rows" if workload == "W1" else "w2_rows")
    if workload == "W1":
        wal.transaction([_change(b"I", b"N", _row(n)) for n in range(1, rows + 1)])
    elif workload == "W2":  # `workloads.Oltp`: rows 1..2P exist, transaction t inserts 2, updates 2, deletes 1
        if rows % 5:
            raise ValueError("a W2 stream has 5 changes per transaction")
        pool = txns = rows // 5
        for t in range(txns):
            n = 2 * pool + 2 * t
            u1, u2 = pool + 1 + (t * 7919) % pool, pool + 1 + (t * 104_729) % pool
            wal.transaction([
                _change(b"I", b"N", _row(n + 1)), _change(b"I", b"N", _row(n + 2)),
                _change(b"U", b"N", _row(u1, f"updated in {t}")),
                _change(b"U", b"N", _row(u2, f"updated again in {t}")),
                _change(b"D", b"K", [str(t + 1).encode()] + [None] * (len(COLUMNS) - 1)),
            ])
    else:
        raise ValueError(f"unknown workload {workload}")
    return wal.messages


# -- callgrind's output ------------------------------------------------------------------------

@dataclass(frozen=True)
class Part:
    """One callgrind dump: all threads' instructions, and librdkafka's share of them: its own
    code and what it calls in other libraries (libc), not the delivery reports it hands back to
    confluent_kafka's extension (Python's work)."""

    number: int
    total: int
    librdkafka: int


def read_parts(paths: list[Path]) -> list[Part]:
    """The dumps of one run, in order. Object names are compressed across the dumps of a run
    (`ob=(3) /lib/x.so` once, then `ob=(3)`), so the files are read in part order."""
    texts = sorted((_part_number(text), text) for text in (p.read_text() for p in paths))
    names: dict[str, str] = {}
    return [_part(text, names) for _, text in texts]


def _part_number(text: str) -> int:
    for line in text.splitlines()[:50]:  # in the header
        if line.startswith("part:"):
            return int(line[5:])
    raise ValueError("a callgrind output without a 'part:' line")


def _part(text: str, names: dict[str, str]) -> Part:
    """Callgrind's format: `ob=` names the object of the cost lines that follow; a `calls=` line
    (after `cob=` when the callee is in another object) is followed by the call's inclusive cost."""
    number = _part_number(text)
    total, librdkafka = None, 0
    positions, ir = 1, 0  # the columns of a cost line: positions, then events
    current, callee, call = "", None, False
    for line in text.splitlines():
        first = line[:1]
        if first and first in "0123456789+-*":
            if "librdkafka" in current:
                fields = line.split()
                cost = int(fields[positions + ir]) if len(fields) > positions + ir else 0
                if not call:
                    librdkafka += cost
                elif callee is not None and "librdkafka" not in callee and "confluent_kafka" not in callee:
                    librdkafka += cost  # a call into libc; calls within librdkafka count where they are spent
            call, callee = False, None
        elif line.startswith(("ob=", "cob=")):
            ref, _, name = line.split("=", 1)[1].partition(" ")
            if name:
                names[ref] = name
            if first == "o":
                current = names.get(ref, ref)
            else:
                callee = names.get(ref, ref)
        elif line.startswith("calls="):
            call = True
        elif line.startswith("positions:"):
            positions = len(line.split()) - 1
        elif line.startswith("events:"):
            ir = line.split()[1:].index("Ir")
        elif line.startswith(("totals:", "summary:")):
            total = int(line.split()[1 + ir])
    if total is None:
        raise ValueError(f"callgrind part {number} without totals")
    return Part(number, total, librdkafka)


def region(parts: list[Part]) -> Part:
    """The dump between the two marker calls: the second of three."""
    if [p.number for p in parts] != [1, 2, 3]:
        raise RuntimeError(f"expected 3 callgrind dumps (before, between and after the two {MARKER} calls), "
                           f"got parts {[p.number for p in parts]}: does the measured code call {MARKER} elsewhere?")
    return parts[1]


def per_row(small: tuple[int, Part], large: tuple[int, Part]) -> dict[str, float]:
    """Instructions per row from the regions of two runs over `small[0]` and `large[0]` rows."""
    rows = large[0] - small[0]
    total = (large[1].total - small[1].total) / rows
    librdkafka = (large[1].librdkafka - small[1].librdkafka) / rows
    return {"instructions_per_row": total, "librdkafka_per_row": librdkafka,
            "outside_librdkafka_per_row": total - librdkafka}


# -- one run under callgrind -------------------------------------------------------------------

def _callgrind(tree: Path, child: list[str], work: Path, seed: int) -> tuple[dict, Part]:
    out = work / "callgrind.out"
    cmd = [VALGRIND, "--tool=callgrind", "--separate-threads=no", f"--dump-before={MARKER}",
           f"--callgrind-out-file={out}", f"--log-file={work / 'valgrind.log'}",
           sys.executable, "-P", str(Path(__file__).resolve()), "--child", *child]
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONHASHSEED=str(seed), GLIBC_TUNABLES=COPY_LOOPS)
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(child)} under callgrind failed ({proc.returncode}): {proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if not Path(result["bridge"]).resolve().is_relative_to(tree.resolve()):
        raise RuntimeError(f"the child imported {result['bridge']}, not the bridge of {tree}")
    return result, region(read_parts(sorted(work.glob("callgrind.out*"))))


def measure(tree: Path, name: str, rows: tuple[int, int], kafka: str | None, work: Path,
            seed: int) -> dict[str, float]:
    """One measure's figures per row (and per message for the decoder), with string hash `seed`."""
    regions = []
    for n in rows:
        run_dir = Path(tempfile.mkdtemp(prefix=f"{name}-{n}-", dir=work))
        if name == "producer":
            _, part = _callgrind(tree, ["producer", str(n), kafka], run_dir, seed)
            regions.append((n, part, 0))
            continue
        messages = stream(name.split("-")[1], n)
        path = run_dir / "stream.pickle"
        path.write_bytes(pickle.dumps(messages))
        result, part = _callgrind(tree, ["decoder", str(path)], run_dir, seed)
        changes = sum(len(p) for p, _ in messages if p[:1] in b"IUD")
        if result["batch_bytes"] < changes:
            raise RuntimeError(f"{name}: {result['batch_bytes']} bytes routed, fewer than the changes' {changes}")
        regions.append((n, part, len(messages)))
    (n1, small, m1), (n2, large, m2) = regions
    figures = per_row((n1, small), (n2, large))
    if name != "producer":
        figures = {"instructions_per_row": figures["instructions_per_row"],
                   "instructions_per_message": (large.total - small.total) / (m2 - m1)}
    return figures


def measure_tree(tree: Path, names: list[str], rows: tuple[int, int], kafka: str | None, repeat: int) -> dict:
    """Every measure `repeat` times, with string hash seeds 0, 1, ...: the median of each
    figure, and every run's."""
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="nb-instructions-") as work:
        for seed in range(repeat):
            for name in names:
                runs[name].append(measure(tree, name, rows, kafka, Path(work), seed))
    measures = {}
    for name, rs in runs.items():
        measures[name] = {key: round(statistics.median(r[key] for r in rs)) for key in rs[0]}
        measures[name]["runs"] = [{key: round(value) for key, value in r.items()} for r in rs]
    return {"tree": str(tree), "commit": _commit(tree), "rows": list(rows), "measures": measures}


def _commit(tree: Path) -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True).stdout.strip()
    return git("rev-parse", "--short", "HEAD") + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


# -- report ------------------------------------------------------------------------------------

ROWS = (  # table rows: label, measure, figure
    ("decoder W1, per row", "decoder-W1", "instructions_per_row"),
    ("decoder W1, per message", "decoder-W1", "instructions_per_message"),
    ("decoder W2, per row", "decoder-W2", "instructions_per_row"),
    ("decoder W2, per message", "decoder-W2", "instructions_per_message"),
    ("producer, per row", "producer", "instructions_per_row"),
    ("producer, outside librdkafka", "producer", "outside_librdkafka_per_row"),
    ("producer, in librdkafka", "producer", "librdkafka_per_row"),
)


def _cell(fig: dict, key: str) -> str:
    values = [r[key] for r in fig["runs"]]
    text = f"{fig[key]:,}"
    return text + (f" ({min(values):,}–{max(values):,})" if len(values) > 1 else "")


def table(head: dict, base: dict | None = None) -> str:
    """Markdown: the tree's figures (median, and the range over --repeat runs), or base and head
    with the change."""
    counts = " and ".join(f"{n:,}" for n in head["rows"])
    lines = [f"callgrind instructions, all threads: the difference between {counts} rows", ""]
    if base is not None:
        lines.append(f"base: {base['tree']} at {base['commit']}  ")
    lines += [f"{'head' if base else 'tree'}: {head['tree']} at {head['commit']}", ""]
    lines += ["| | base | head | change |", "|---|--:|--:|--:|"] if base else ["| | instructions |", "|---|--:|"]
    for label, name, key in ROWS:
        if name not in head["measures"]:
            continue
        fig = head["measures"][name]
        if base is None:
            lines.append(f"| {label} | {_cell(fig, key)} |")
        else:
            was = base["measures"][name]
            change = f"{fig[key] / was[key] - 1:+.2%}" if was[key] else ""
            lines.append(f"| {label} | {_cell(was, key)} | {_cell(fig, key)} | {change} |")
    return "\n".join(lines)


def compare(base: dict, head: dict) -> dict:
    """Both trees' figures and head ÷ base of each."""
    ratios = {name: {key: round(value / base["measures"][name][key], 4)
                     for key, value in fig.items() if key != "runs" and base["measures"][name][key]}
              for name, fig in head["measures"].items()}
    return {"base": base, "head": head, "ratio": ratios}


# -- the child: the measured loop, in the measured tree ------------------------------------------

def _router(stages):
    """The tree's decoder Router for 2 producers, tables keyed by `id`."""
    make = getattr(stages, "decoder_router", None)
    if make is not None:
        return make()
    # a tree from before `stages.decoder_router` (579d1c6 and earlier): as its bench_route built it
    from bridge.route.router import Router
    return Router(stages._config("127.0.0.1:1", "bench", producers=2, salt="salt"), lambda rel: stages.INFO)


def route(router, messages: list[tuple[bytes, int]]) -> int:
    """Route `messages` as the decoder does, the batches dropped every CHUNK messages, between
    the two marker calls. Returns the bytes the batches held."""
    chunks = [messages[i:i + CHUNK] for i in range(0, len(messages), CHUNK)]
    handle, builders = router.handle, router.builders
    routed = 0
    resource.getrusage(resource.RUSAGE_SELF)  # marker: the measured loop starts
    for chunk in chunks:
        for payload, lsn in chunk:
            handle(payload, lsn)
        for builder in builders:
            routed += builder.nbytes
            builder.clear()
    resource.getrusage(resource.RUSAGE_SELF)  # marker: it ends
    return routed


def _child(args: list[str]) -> None:
    import bridge
    from native_bench import stages
    if args[0] == "decoder":
        messages = pickle.loads(Path(args[1]).read_bytes())
        result = {"batch_bytes": route(_router(stages), messages)}
    elif args[0] == "producer":  # the stage's own CPU clock (getrusage) brackets its round
        result = stages.bench_producer(int(args[1]), args[2], rounds=1)
    else:
        raise SystemExit(f"unknown child {args[0]}")
    print(json.dumps({"bridge": bridge.__file__, **result}))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        _child(argv[1:])
        return 0
    parser = argparse.ArgumentParser(prog="python -m native_bench.instructions", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--kafka", default=os.environ.get("BRIDGE_KAFKA_BOOTSTRAP"),
                        help="Kafka for the producer (default $BRIDGE_KAFKA_BOOTSTRAP; without one, decoders only)")
    parser.add_argument("--only", help=f"comma list of {', '.join(MEASURES)}")
    parser.add_argument("--rows", default="10000,30000", help="the two row counts (W2: multiples of 5)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="measure N times, with string hash seeds 0..N-1; the median is reported")
    parser.add_argument("--tree", type=Path, default=REPO, help="checkout to measure (default: this one)")
    parser.add_argument("--compare", type=Path, metavar="BASE", help="measure BASE too and print the change")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else [m for m in MEASURES if m != "producer" or args.kafka]
    if unknown := [n for n in names if n not in MEASURES]:
        parser.error(f"unknown measure(s) {', '.join(unknown)}; known: {', '.join(MEASURES)}")
    if "producer" in names and not args.kafka:
        parser.error('producer needs --kafka or BRIDGE_KAFKA_BOOTSTRAP (eval "$(deploy/local/up)")')
    small, large = (int(n) for n in args.rows.split(","))
    if not 0 < small < large:
        parser.error("--rows takes two counts, the smaller first")
    if "decoder-W2" in names and (small % 5 or large % 5):
        parser.error("a W2 stream has 5 changes per transaction: --rows takes multiples of 5")
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}")
    rows = (small, large)
    base = measure_tree(args.compare.resolve(), names, rows, args.kafka, args.repeat) if args.compare else None
    head = measure_tree(args.tree.resolve(), names, rows, args.kafka, args.repeat)
    if args.json:
        print(json.dumps(compare(base, head) if base else head, indent=2))
    else:
        print(table(head, base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
