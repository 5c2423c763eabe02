"""The stream ceiling on the Python side: a psycopg2 reader that only counts what it receives.

    python -m native_bench.raw_reader --dsn DSN --slot S --publication P --end-lsn X/Y --mode eager|bulk

Reads pgoutput (protocol 1, decode=False) from the slot until the server has sent everything
up to END_LSN, and prints one JSON object: messages, row changes, payload bytes, the wall times
of START_REPLICATION and of the end, and its own CPU seconds and peak RSS (VmHWM).

- eager: drains what libpq has buffered, then waits on the socket and wakes as soon as
  anything arrives (a select per small read: the stream becomes a ping-pong of tiny reads).
- bulk: after draining, naps 10 ms before waiting again, so the socket buffer fills and each
  wake-up reads many messages at once (on a 2-core machine: ~40 wake-ups for 200k rows, and
  the walsender streams faster when the reader does not wake it for every send; 1 ms naps
  were ~35% slower, 100 ms naps let the socket buffer run full and stall the walsender).
"""

from __future__ import annotations

import argparse
import json
import resource
import select
import time

import psycopg2
import psycopg2.extras


def peak_rss_bytes(pid: int | str = "self") -> int:
    """VmHWM of a process: its peak RSS since exec (ru_maxrss would include the forking parent's)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _lsn(text: str) -> int:
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--slot", required=True)
    parser.add_argument("--publication", required=True)
    parser.add_argument("--end-lsn", required=True)
    parser.add_argument("--mode", choices=("eager", "bulk"), required=True)
    parser.add_argument("--nap-ms", type=float, default=None, help="bulk mode's nap (default 10)")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    end = _lsn(args.end_lsn)
    nap = (10.0 if args.nap_ms is None else args.nap_ms) / 1000 if args.mode == "bulk" else 0.0

    conn = psycopg2.connect(args.dsn, connection_factory=psycopg2.extras.LogicalReplicationConnection)
    cur = conn.cursor()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    cur.start_replication(slot_name=args.slot, decode=False, status_interval=10,
                          options={"proto_version": "1", "publication_names": args.publication})
    started = time.time()
    deadline = time.monotonic() + args.timeout
    messages = rows = nbytes = wakeups = 0
    read = cur.read_message
    while True:
        msg = read()
        if msg is not None:
            payload = msg.payload
            messages += 1
            nbytes += len(payload)
            if payload[0] in b"IUD":
                rows += 1
            continue
        if cur.wal_end >= end:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"raw reader: timed out at {cur.wal_end:X} before {end:X}")
        if nap:
            time.sleep(nap)
        select.select([cur], [], [], 1.0)
        wakeups += 1
    ended = time.time()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    conn.close()
    print(json.dumps({
        "mode": args.mode, "messages": messages, "rows": rows, "payload_bytes": nbytes,
        "wakeups": wakeups, "started": started, "ended": ended,
        "cpu_s": round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 4),
        "max_rss_bytes": peak_rss_bytes(),
    }))


if __name__ == "__main__":
    main()
