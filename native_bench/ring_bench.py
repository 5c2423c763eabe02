"""Throughput of one shared-memory ring between two processes, with small records.

    python -m native_bench.ring_bench [--records N] [--batch-records K] [--capacity BYTES]

A spawned writer process packs 32-64 byte records into batches (`BatchBuilder`) and writes
them; this process reads every batch, walks every record (`iter_records`) and checksums
each batch. Prints a summary to stderr and one JSON object to stdout: records/s, MB/s
(record bytes, without framing) and the wake-up syscalls per second on each side, which
stay near zero while the ring is busy (see `bridge.ring.wakeup`).
"""

import argparse
import json
import multiprocessing
import sys
import time
import zlib
from multiprocessing.connection import Connection

from bridge.ring import (
    BatchBuilder,
    RingClosed,
    RingHandle,
    RingOwner,
    RingReader,
    RingWriter,
    iter_records,
)


def _records(pool: int) -> list[bytes]:
    return [(i.to_bytes(8, "little") * 8)[: 32 + i % 33] for i in range(pool)]


def _writer_main(handle: RingHandle, count: int, per_batch: int, conn: Connection) -> None:
    pool = _records(4096)
    with RingWriter(handle) as writer:
        builder = BatchBuilder()
        add, write = builder.add, writer.write
        conn.send("ready")
        conn.recv()  # go
        for i in range(count):
            add(pool[i & 4095])
            if builder.records == per_batch:
                while not write(builder.buffer, 1.0):
                    pass
                builder.clear()
        if builder.records:
            while not write(builder.buffer, 1.0):
                pass
        conn.send(writer.stats()._asdict())


def run(count: int, per_batch: int, capacity: int) -> dict[str, object]:
    ctx = multiprocessing.get_context("spawn")
    with RingOwner(capacity) as owner, RingReader(owner.handle) as reader:
        parent_end, child_end = ctx.Pipe()
        writer = ctx.Process(target=_writer_main, args=(owner.handle, count, per_batch, child_end))
        writer.start()
        assert parent_end.recv() == "ready"
        records = payload = crc = 0
        started = time.perf_counter()
        parent_end.send("go")
        read = reader.read
        while True:
            try:
                batch = read(1.0)
            except RingClosed:
                break
            if batch is None:
                continue
            crc = zlib.crc32(batch, crc)
            for record in iter_records(batch):
                payload += len(record)
                records += 1
        elapsed = time.perf_counter() - started
        writer_stats = parent_end.recv()
        writer.join()
        writer.close()
        reader_stats = reader.stats()._asdict()
    if records != count:
        raise SystemExit(f"lost records: read {records} of {count}")

    def syscalls_per_s(stats: dict[str, int]) -> float:
        # A signal is one eventfd write; a sleep one poll plus at most one eventfd read.
        return round((stats["signals"] + 2 * stats["sleeps"]) / elapsed, 1)

    return {
        "benchmark": "ring",
        "records": records,
        "record_bytes": payload,
        "batch_records": per_batch,
        "capacity": capacity,
        "seconds": round(elapsed, 4),
        "records_per_s": round(records / elapsed),
        "mb_per_s": round(payload / elapsed / 1e6, 1),
        "writer": writer_stats,
        "reader": reader_stats,
        "writer_wakeup_syscalls_per_s": syscalls_per_s(writer_stats),
        "reader_wakeup_syscalls_per_s": syscalls_per_s(reader_stats),
        "checksum": crc,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=3_000_000)
    parser.add_argument("--batch-records", type=int, default=256)
    parser.add_argument("--capacity", type=int, default=4 << 20)
    args = parser.parse_args()
    result = run(args.records, args.batch_records, args.capacity)
    print(
        f"{result['records_per_s']:,} records/s, {result['mb_per_s']} MB/s; wake-up syscalls/s: "
        f"writer {result['writer_wakeup_syscalls_per_s']}, "
        f"reader {result['reader_wakeup_syscalls_per_s']}",
        file=sys.stderr,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
