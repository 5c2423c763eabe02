"""Micro-benchmarks of pgbridge's stages on synthetic pgoutput messages of the 8-column row.

    python -m native_bench.stages --kafka HOST:PORT [--rows N] [--only route,encode,...] [--rounds N]

Prints one JSON object, {stage: {...figures...}}. Stages:
    route        the decoder's per-message work: `Router.handle` (key bytes, salted mmh3,
                 ring record into the owner's batch) for 2 producers, batches dropped
    encode       full conversion + Debezium envelope JSON: `EventBuilder.change` (schemas on)
    produce      msgspec-encode a small record + `Producer.produce()` into the local broker,
                 acks=all, idempotent, lz4 (pgbridge's settings), until every delivery report
                 is in; CPU includes librdkafka's threads
    producer     one producer's whole path: ring batches (built by the router) →
                 `ProducerWorker.handle_batch` → Kafka, every record acked; rows per
                 CPU-second, best of --rounds rounds (median and each round beside it)
    producer-unwrap  the same with pgbridge-2-unwrap's settings (`native_bench.variants`:
                 ExtractNewRecordState rewrite + add.fields=op,table,lsn, RegexRouter, JSON
                 without schemas, SimpleHeaderConverter)
    unwrap       those settings' event building alone, per insert: the unwrap fast path
                 (`EventBuilder.fast_change` on the pgoutput bytes) and the general path
                 (decode + `EventBuilder.change` + the chain), no Kafka
CPU is this process's user+system time (getrusage), wall time by perf_counter. Rates are the
best of 3 passes for the in-memory stages; produce runs once over all rows.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import struct
import time
import uuid

import msgspec

from bridge.config import config_from_properties
from bridge.convert.types import TypeRegistry
from bridge.format.converter import converters_for
from bridge.pgoutput.messages import Relation
from bridge.pgoutput.protocol import PgOutputDecoder
from bridge.proc.child import keep_heap
from bridge.produce.events import EventBuilder, TxnContext
from bridge.produce.kafka import KafkaWriter
from bridge.produce.worker import ProducerWorker
from bridge.route.router import Router
from bridge.source.catalog import TableInfo
from bridge.transform.chain import compile_chain
from native_bench import decode_bench
from native_bench.variants import UNWRAP, PgBridgeChain

TOPIC_TABLE = ("public", "orders")


def _cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def _relation_message() -> bytes:
    out = [b"R", struct.pack(">I", decode_bench.RELATION_ID), b"public\0", b"orders\0", b"d",
           struct.pack(">H", len(decode_bench.COLUMNS))]
    for name, oid, typmod, key in decode_bench.COLUMNS:
        out += [bytes([1 if key else 0]), name.encode() + b"\0", struct.pack(">Ii", oid, typmod)]
    return b"".join(out)


def _begin(lsn: int, xid: int) -> bytes:
    return b"B" + struct.pack(">QqI", lsn, 0, xid)


def _commit(lsn: int) -> bytes:
    return b"C" + struct.pack(">BQQq", 0, lsn, lsn + 8, 0)


def _stream(rows: int, per_txn: int = 100) -> list[tuple[bytes, int]]:
    """(payload, lsn) of a stream: Relation, then transactions of `per_txn` inserts."""
    inserts = decode_bench._messages(rows)["insert"]
    out = [(_relation_message(), 16)]
    lsn, xid = 1 << 24, 1000
    for i in range(0, rows, per_txn):
        out.append((_begin(lsn + 64 * per_txn, xid), lsn))
        for m in inserts[i:i + per_txn]:
            lsn += 64
            out.append((m, lsn))
        out.append((_commit(lsn), lsn))
        lsn += 64
        xid += 1
    return out


def _config(kafka: str, prefix: str, producers: int = 1, salt: str = "", unwrap: bool = False):
    return config_from_properties({
        "debezium.sink.kafka.producer.bootstrap.servers": kafka,
        "debezium.source.database.hostname": "127.0.0.1", "debezium.source.database.user": "bench",
        "debezium.source.database.dbname": "native_bench", "debezium.source.topic.prefix": prefix,
        "bridge.producers": str(producers), "bridge.partition.salt": salt,
        **(PgBridgeChain(2, UNWRAP).properties(prefix) if unwrap else {}),
    })


def _relation() -> Relation:
    msg = PgOutputDecoder(1).decode(_relation_message())
    assert type(msg) is Relation
    return msg


INFO = TableInfo(("id",), frozenset({"id"}))


def decoder_router() -> Router:
    """The decoder's Router for 2 producers, every table keyed by `id` (also what
    `native_bench.instructions` measures)."""
    return Router(_config("127.0.0.1:1", "bench", producers=2, salt="salt").routing, lambda rel: INFO)


def bench_route(rows: int) -> dict:
    stream = _stream(rows)
    best = float("inf")
    for _ in range(3):
        router = decoder_router()
        handle, builders = router.handle, router.builders
        t0 = time.perf_counter()
        for n, (payload, lsn) in enumerate(stream):
            handle(payload, lsn)
            if n % 1000 == 0:
                for b in builders:
                    b.clear()
        best = min(best, time.perf_counter() - t0)
    return {"rows": rows, "msgs_per_s": round(len(stream) / best), "rows_per_s": round(rows / best),
            "us_per_row": round(best / rows * 1e6, 2)}


def bench_encode(rows: int) -> dict:
    config = _config("127.0.0.1:1", "bench")
    decoder = PgOutputDecoder(1)
    msgs = [decoder.decode(m) for m in decode_bench._messages(rows)["insert"]]
    best = float("inf")
    value_bytes = 0
    for _ in range(3):
        builder = EventBuilder(config.events, config.conversion, TypeRegistry(None), "native_bench")
        builder.relation(_relation(), INFO, "bench.public.orders")
        txn = TxnContext(1000, 1_714_566_896_789_012, None)
        change = builder.change
        t0 = time.perf_counter()
        for i, m in enumerate(msgs):
            records = change(m, txn, i)
        best = min(best, time.perf_counter() - t0)
        value_bytes = len(records[0].value)
    return {"rows": rows, "rows_per_s": round(rows / best), "us_per_row": round(best / rows * 1e6, 2),
            "value_bytes": value_bytes, "schemas_enable": True}


def bench_unwrap(rows: int) -> dict:
    config = _config("127.0.0.1:1", "bench", unwrap=True)
    raws = decode_bench._messages(rows)["insert"]
    decoder = PgOutputDecoder(1)
    msgs = [decoder.decode(m) for m in raws]
    out = {"rows": rows}
    for path in ("fast", "general"):
        best = float("inf")
        for _ in range(3):
            chain = compile_chain(config.producer_spec.chain, converters_for(config.events),
                                  config.events.header_format)
            builder = EventBuilder(config.events, config.conversion, TypeRegistry(None), "native_bench", chain=chain)
            builder.relation(_relation(), INFO, "bench.public.orders")
            txn = TxnContext(1000, 1_714_566_896_789_012, None)
            fast, change = builder.fast_change, builder.change
            t0 = time.perf_counter()
            if path == "fast":
                for i, m in enumerate(raws):
                    if fast(m, 0, len(m), txn, i) is None:
                        raise RuntimeError("unwrap: an insert left the fast path")
            else:
                for i, m in enumerate(msgs):
                    change(m, txn, i)
            best = min(best, time.perf_counter() - t0)
        out[f"{path}_us_per_row"] = round(best / rows * 1e6, 2)
    return out


class _Value(msgspec.Struct, array_like=True, gc=False):
    id: int
    qty: int
    email: str
    price: str
    note: str


def _new_topic(kafka: str, partitions: int = 4) -> str:
    from native_bench.services import Kafka
    topic = f"nb_stage_{uuid.uuid4().hex[:8]}"
    Kafka(kafka).create_topics([topic], partitions)
    return topic


def bench_produce(rows: int, kafka: str) -> dict:
    topic = _new_topic(kafka)
    config = _config(kafka, "bench")
    writer = KafkaWriter(config.kafka)
    encode = msgspec.json.Encoder().encode
    acked = [0]

    def delivered(err, msg):
        if err is None:
            acked[0] += 1

    values = [_Value(i, i % 1000, f"user{i}@example.com", f"{i % 100000}.{i % 100:02d}", "a note") for i in range(rows)]
    cpu0, t0 = _cpu(), time.perf_counter()
    for i, v in enumerate(values):
        writer.produce(topic, b'{"id":%d}' % i, encode(v), delivered, i & 3)
        if i % 1000 == 0:
            writer.poll(0)
    writer.flush(60)
    seconds, cpu = time.perf_counter() - t0, _cpu() - cpu0
    from native_bench.services import Kafka
    Kafka(kafka).delete_topics([topic])
    if acked[0] != rows:
        raise RuntimeError(f"produce: {acked[0]} of {rows} acked")
    return {"rows": rows, "rows_per_s": round(rows / seconds), "rows_per_cpu_s": round(rows / cpu),
            "cpu_us_per_row": round(cpu / rows * 1e6, 2),
            "settings": {k: config.kafka.producer.settings[k] for k in ("linger.ms", "compression.type")}}


def bench_producer(rows: int, kafka: str, rounds: int = 5, unwrap: bool = False) -> dict:
    """ProducerWorker over ring batches as the decoder builds them (1 producer owns all), in
    `rounds` rounds, each with a fresh producer: the best round is the figure (other load on
    the host only ever adds CPU time), with the median and every round beside it. `unwrap`:
    with pgbridge-2-unwrap's chain and converters."""
    prefix = f"nb_stage_{uuid.uuid4().hex[:8]}"
    topic = f"{prefix}.public.orders" + (".events.v1" if unwrap else "")
    from native_bench.services import Kafka
    Kafka(kafka).create_topics([topic], 4)
    router = Router(_config(kafka, prefix, producers=1).routing, lambda rel: INFO)
    batches = []
    builder = router.builders[0]
    for n, (payload, lsn) in enumerate(_stream(rows)):
        router.handle(payload, lsn)
        if builder.nbytes > 256 * 1024:
            batches.append(bytes(builder.buffer))
            builder.clear()
    if builder.nbytes:
        batches.append(bytes(builder.buffer))
        builder.clear()
    config = _config(kafka, prefix, unwrap=unwrap)
    keep_heap()  # the allocator setting of a producer process (`bridge.proc.child.start_child`)
    per_round = []
    try:
        for _ in range(rounds):
            worker = ProducerWorker(config.producer_spec, KafkaWriter(config.kafka), TypeRegistry(None))
            writer = worker.kafka
            cpu0, t0 = _cpu(), time.perf_counter()
            for batch in batches:
                worker.handle_batch(memoryview(batch))
                writer.poll(0)
            while len(writer):
                writer.flush(1)
            seconds, cpu = time.perf_counter() - t0, _cpu() - cpu0
            if worker.tracker.failed:
                raise RuntimeError(worker.tracker.failed)
            if worker.rows != rows:
                raise RuntimeError(f"producer: {worker.rows} of {rows} rows produced")
            if worker.tracker.safe_lsn() < lsn:
                raise RuntimeError(f"producer: acked up to {worker.tracker.safe_lsn()}, not the stream's end {lsn}")
            per_round.append((worker.rows / cpu, worker.rows / seconds, cpu / worker.rows * 1e6))
    finally:
        Kafka(kafka).delete_topics([topic])
    best = max(per_round)
    return {"rows": rows, "rounds": rounds, "rows_per_s": round(best[1]), "rows_per_cpu_s": round(best[0]),
            "cpu_us_per_row": round(best[2], 2),
            "rows_per_cpu_s_median": round(statistics.median(r[0] for r in per_round)),
            "rows_per_cpu_s_rounds": [round(r[0]) for r in per_round], "goal_rows_per_cpu_s": 60_000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kafka", required=True)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--only", default="route,encode,produce,producer")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the producer stage (best reported)")
    args = parser.parse_args()
    out = {}
    for stage in args.only.split(","):
        if stage == "route":
            out[stage] = bench_route(args.rows)
        elif stage == "encode":
            out[stage] = bench_encode(args.rows)
        elif stage == "produce":
            out[stage] = bench_produce(args.rows, args.kafka)
        elif stage == "producer":
            out[stage] = bench_producer(args.rows, args.kafka, args.rounds)
        elif stage == "producer-unwrap":
            out[stage] = bench_producer(args.rows, args.kafka, args.rounds, unwrap=True)
        elif stage == "unwrap":
            out[stage] = bench_unwrap(args.rows)
        else:
            raise SystemExit(f"unknown stage {stage}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
