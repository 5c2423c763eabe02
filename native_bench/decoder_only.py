"""pgbridge's decoder stage alone against the live stream: rings whose consumers discard.

    python -m native_bench.decoder_only -c application.properties --end-lsn X/Y

The decoder's own code, assembled by `bridge.proc.decoder_build` as in the decoder process
(`ReplicationStream` → `Router` → `Dispatcher` writing every producer's batches into its
shared-memory ring), runs in this process with the bridge's configuration file, streaming from
the slot's position (no snapshot, no slot set-up); `bridge.producers` spawned processes
read the rings and drop the batches. Stops once the server has sent everything up to END_LSN and prints one
JSON object: messages, rows, the wall times, and the CPU seconds of the decoder and of the
discarding readers. Compared with the raw reader on the same WAL this says whether reading +
routing keeps up with the stream.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import threading
import time

from bridge.config import load_config
from bridge.proc.decoder_build import build_decoder
from bridge.ring import RingClosed, RingOwner, RingReader, RingWriter, LsnCells
from bridge.source.connection import connect
from native_bench.raw_reader import peak_rss_bytes


def _lsn(text: str) -> int:
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def _discard(handle, conn) -> None:
    reader = RingReader(handle)
    conn.send("ready")
    batches = nbytes = 0
    try:
        while True:
            try:
                batch = reader.read(0.1)
            except RingClosed:
                break
            if batch is not None:
                batches += 1
                nbytes += len(batch)
    finally:
        reader.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    conn.send({"batches": batches, "bytes": nbytes, "cpu_s": usage.ru_utime + usage.ru_stime,
               "peak_rss_bytes": peak_rss_bytes()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", required=True, help="pgbridge application.properties")
    parser.add_argument("--end-lsn", required=True)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    end = _lsn(args.end_lsn)
    config = load_config(args.config)
    producers = config.pipeline.producers

    ctx = multiprocessing.get_context("spawn")
    rings = [RingOwner(config.pipeline.ring_bytes) for _ in range(producers)]
    cells = LsnCells.create(producers)
    pipes, readers, writers = [], [], []
    sql = decoder = None
    try:
        for ring in rings:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_discard, args=(ring.handle, child), daemon=True)
            proc.start()
            pipes.append(parent)
            readers.append(proc)
        for parent in pipes:  # the readers are up before the stream starts: no start-up CPU during it
            assert parent.recv() == "ready"
        writers = [RingWriter(r.handle) for r in rings]
        sql = connect(config.postgres, config.retry)
        stop = threading.Event()
        deadline = time.monotonic() + args.timeout

        def check_end() -> None:
            # The end: everything up to END_LSN received and routed. Checked between reads, as
            # the real decoder runs its periodic work: a watcher thread would compete for the GIL.
            if decoder.stream.wal_end >= end and not decoder.router.in_txn or time.monotonic() > deadline:
                stop.set()

        decoder = build_decoder(config, writers, cells, sql, on_tick=check_end)
        dispatcher = decoder.dispatcher
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        decoder.start_streaming(config.retry)
        started = time.time()
        dispatcher.run(stop)
        ended = time.time()
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        reached = decoder.stream.wal_end >= end
        for w in writers:
            w.close()
        reader_stats = [p.recv() for p in pipes]
        for proc in readers:
            proc.join(30)
    finally:
        for w in writers:
            w.close()
        for proc in readers:
            if proc.is_alive():
                proc.kill()
        if decoder is not None:
            decoder.close()
        if sql is not None:
            sql.close()
        for ring in rings:
            ring.close()
        cells.close()
    if not reached:
        raise SystemExit(f"decoder_only: timed out before {args.end_lsn}")
    print(json.dumps({
        "messages": dispatcher.messages, "started": started, "ended": ended, "producers": producers,
        "decoder_cpu_s": round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 4),
        "readers_cpu_s": round(sum(r["cpu_s"] for r in reader_stats), 4),
        "ring_bytes_written": sum(r["bytes"] for r in reader_stats),
        "max_rss_bytes": peak_rss_bytes(),
        "readers_peak_rss_bytes": sum(r["peak_rss_bytes"] for r in reader_stats),
    }))


if __name__ == "__main__":
    main()
