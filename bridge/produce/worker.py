"""A producer process's work: ring records → Debezium records → Kafka, and its acked watermark.

Everything a producer receives arrives in WAL order for the keys it owns (see
`bridge.route.partitioner`): it decodes the full rows, converts them, picks the partition and
hands them to its idempotent librdkafka producer. Its watermark is the end LSN of the newest
transaction it received whose records, and those of every earlier one it received, Kafka has
acknowledged; with exactly once (`bridge.produce.exactly_once`), the one its last committed
Kafka transaction reached, and after a restart it skips what that transaction already held.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from bridge.ack.tracker import AckTracker, Txn
from bridge.convert.types import TypeRegistry
from bridge.errors import DeliveryError, ProtocolError, SchemaRegistryFailed
from bridge.format.avro.registry import SchemaIncompatible
from bridge.format.converter import converters_for
from bridge.format.headers import Headers
from bridge.pgoutput.messages import Begin, LogicalMessage, Relation
from bridge.pgoutput.protocol import PgOutputDecoder
from bridge.produce.barrier import TruncateBarrier
from bridge.produce.events import EventBuilder, Record, TxnContext
from bridge.produce.exactly_once import ResumePoint, Transactions
from bridge.produce.failures import Failures
from bridge.produce.incompatible import IncompatibleEvents
from bridge.produce.heartbeat import Heartbeat
from bridge.produce.kafka import KafkaOutput
from bridge.produce.poison import Quarantine, record_size
from bridge.produce.settings import ProducerSpec
from bridge.produce.side_events import MessageEvents, TransactionEvents
from bridge.ring import LsnCells, RingClosed, RingReader
from bridge.route import records as rec
from bridge.route.partitioner import java_default_partition
from bridge.route.topics import TopicNames
from bridge.source.catalog import TableInfo
from bridge.transform.chain import Captured, Written, changes_routing, compile_chain, side_capturing
from bridge.transform.outbox.messages import OutboxMessages

log = logging.getLogger(__name__)
# Ring records that become Kafka records: what a resume point counts inside a transaction.
_UNITS = frozenset((rec.ROW, rec.SNAPSHOT_ROW, rec.MESSAGE, rec.TRUNCATE, rec.TXMETA))
_ALL = 1 << 62
_FRAMED = rec.FRAMED_HEADER.unpack_from  # a record's length in a batch, then its header


class ProducerWorker:
    def __init__(self, spec: ProducerSpec, kafka: KafkaOutput, types: TypeRegistry, run_id: str | None = None,
                 resume: ResumePoint | None = None, record_limit: Callable[[str], int] | None = None) -> None:
        """`resume`: with exactly once, what an earlier run committed (skipped when replayed).
        `record_limit(topic)`: the topic's max.message.bytes (`KafkaWriter.record_limit`), read
        with a poison topic only."""
        self.kafka = kafka
        self._failures = Failures(spec.failures, spec.skips_refused)
        # `bridge.poison.topic`: what would stop the bridge goes there instead (`bridge.produce.poison`)
        self.quarantine = Quarantine(spec.poison_topic, kafka.produce) if spec.poison_topic else None
        skip = self._refused if spec.quarantines_refused else self._failures.refused if spec.skips_refused else None
        self.tracker = AckTracker(skip=skip)
        db, events = spec.dbname, spec.events
        self._decoder = PgOutputDecoder(proto_version=1)
        converters = converters_for(events)
        self._chain = compile_chain(spec.chain, converters, events.header_format,
                                    tolerate=spec.failures.tolerance == "all")
        self._builder = EventBuilder(events, spec.conversion, types, db, run_id, converters, spec.columns,
                                     spec.failures.converting, self._chain)
        # `bridge.registry.incompatible.topic`: a table's events while the registry refuses its schema
        avro = events.value_format.avro or events.key_format.avro
        if avro is not None:  # the registry clients at start rather than at the first record
            for converter in (converters.key, converters.value):
                if getattr(converter, "binary", False):  # an Avro converter (`bridge.format.avro`)
                    converter.registry.open()  # type: ignore[attr-defined]
        self.incompatible = IncompatibleEvents(avro.incompatible_topic, spec, types, self._builder.run_id) \
            if avro is not None and avro.incompatible_topic and self._chain is None else None
        # with a chain, the side records are built as Connect values for it (`Chain.side`)
        self.side_converters = converters if self._chain is None else side_capturing(converters)
        self._messages = MessageEvents(events, spec.conversion, db, self.side_converters)
        self._outbox = None if spec.chain.outbox_prefix is None else _outbox_messages(spec, self._builder.headers)
        self._transactions = TransactionEvents(events, self.side_converters)
        self._metadata = events.provide_transaction_metadata
        self._murmur2 = spec.partitioner == "murmur2"
        # a chain that makes the key (EventRouter...): its records' partition from that key, as
        # Kafka's default partitioner picks it (the table's key hash would split one Kafka key)
        self._chain_keyed = changes_routing(spec.chain)
        self._partitions: dict[str, int] = {}
        self._fast_change = self._builder.fast_change
        self._kafka_produce = kafka.produce_call
        if self.quarantine is not None:  # measured first (`bridge.produce.poison`); else librdkafka's own call
            self._record_limit = record_limit or (lambda topic: 1 << 62)
            self._limits: dict[str, int] = {}
            self._kafka_produce = self._produce_measured
        self._txn: Txn | None = None
        self._ctx: TxnContext | None = None
        self.barrier: TruncateBarrier | None = None  # with several producers: set by `run_producer`
        self.rows = 0
        self.records = 0  # produced, tombstones included (metrics)
        # Position in the stream, in the terms of a resume point: the newest transaction handled
        # to its end, the one in progress (its commit LSN) and its units so far.
        self.resume = resume
        self.last_end = resume.lsn if resume is not None else 0
        self.txn_final = 0
        self.units = 0
        self._skip_units = 0  # units of the current transaction an earlier run committed
        # Still replaying what `resume` covers: until then, a commit must record `resume` itself
        # (the replayed transactions before it would otherwise overwrite its partial part).
        self._behind = resume is not None and bool(resume.lsn or resume.txn)

    @property
    def watermark(self) -> int:
        return self.tracker.safe_lsn()

    def position(self) -> ResumePoint:
        """Where this producer is: what a Kafka transaction committed now contains (with an
        earlier run's commits: at least what they contained)."""
        if self._behind:
            r = self.resume
            if not (r.txn and self.txn_final == r.txn and self.units > r.done):
                return r
        return ResumePoint(self.last_end, self.txn_final, self.units if self.txn_final else 0)

    def handle_batch(self, batch: memoryview) -> None:
        # One copy of the whole batch: records are read in place by offset (the framing of
        # `bridge.ring.records.iter_records`), and the fast path reads row changes straight
        # from it; only the other records are copied out, into a payload of their own.
        buf = bytes(batch)
        framed, header, produce = _FRAMED, rec.HEADER.unpack_from, self._kafka_produce
        fast_change, partitions_of, murmur2 = self._fast_change, self._partitions, self._murmur2
        end, offset = len(buf), 0
        rows = records = 0  # per-row counters kept local, added to the metrics after the batch
        try:
            while offset < end:
                length, kind, half, hash_, lsn, aux = framed(buf, offset)
                start = offset + 4
                offset = start + length
                if offset > end:
                    raise ValueError(f"record at offset {start - 4} runs past the end of its batch")
                if length < rec.HEADER_SIZE:
                    header(buf[start:offset])  # raises struct.error, as reading the record alone does
                if kind in _UNITS:
                    self.units += 1
                    if self.units <= self._skip_units:
                        continue  # in Kafka already: committed by an earlier run (exactly once)
                if kind == rec.ROW:
                    ctx = self._ctx or self._in_txn(kind)
                    if self._metadata:
                        ctx.order = (aux >> 32, aux & 0xFFFFFFFF)
                    out = fast_change(buf, start + rec.HEADER_SIZE, offset, ctx, lsn, half)
                    if out is None:  # the general path: decode, then build
                        raw, msg = buf[start + rec.HEADER_SIZE:offset], None
                        try:
                            msg = self._decoder.decode(raw)
                            out = self._builder.change(msg, ctx, lsn, half)
                        except Exception as exc:  # noqa: BLE001 - event.processing.failure.handling.mode
                            out = self._event_failed(exc, msg, lsn, raw, ctx, half)
                            # () when skipped or quarantined on purpose: the transaction still completes
                        if self._chain is not None:  # the chain's records (`Written`): a partition of their own
                            for r in out:
                                self._produce(r, hash_)
                            rows += 1
                            continue
                    # `_produce`, inlined, with librdkafka's produce called directly: whatever it
                    # raises is left to `KafkaOutput.produce` (retry on a full queue, or the error)
                    txn = self._txn
                    for topic, key, value, headers in out:  # Records, or the fast path's tuples
                        partitions = partitions_of.get(topic) or self._topic_partitions(topic)
                        partition = java_default_partition(key, partitions) if murmur2 and key is not None \
                            else hash_ % partitions
                        txn.pending += 1  # AckTracker.produced, inlined: once per record; the Txn counts acks
                        records += 1
                        try:
                            # positional, in confluent-kafka's order: topic, value, key, partition,
                            # on_delivery, callback, timestamp, headers (keywords cost ~0.4 µs a call)
                            produce(topic, value, key, partition, txn, None, 0, headers)
                        except Exception:  # noqa: BLE001 - BufferError: poll, retry; KafkaException: DeliveryError
                            self.kafka.produce(topic, key, value, txn, partition, headers)
                    rows += 1
                    continue
                self._other(kind, half, hash_, lsn, aux, buf[start + rec.HEADER_SIZE:offset])
        finally:
            self.rows += rows
            self.records += records

    def _produce_measured(self, topic: str, value: bytes | None, key: bytes | None, partition: int, txn,
                          callback: None, timestamp: int, headers) -> None:
        """librdkafka's produce (`KafkaOutput.produce_call`) for a record that fits in its topic;
        whatever it raises is the caller's, as librdkafka's own call."""
        if not self._quarantined_oversize(topic, key, value, headers, txn):
            self.kafka.produce_call(topic, value, key, partition, txn, callback, timestamp, headers)

    def _quarantined_oversize(self, topic: str, key: bytes | None, value: bytes | None, headers, txn) -> bool:
        """Whether the record cannot fit in its topic and was quarantined instead: the broker would
        refuse the whole batch it went out in (`bridge.produce.poison`)."""
        limit = self._limits[topic]  # read with the topic's partition count, before its first record
        size = record_size(key, value, headers)
        if size <= limit:
            return False
        self.quarantine.oversize(topic, key, value, size, limit, self._builder.relation_of_topic(topic), txn)
        return True

    def _other(self, kind: int, half: int, hash_: int, lsn: int, aux: int, payload: bytes) -> None:
        """A ring record other than a row change (their header fields, and the payload)."""
        if kind == rec.BEGIN:
            msg = self._decoder.decode(payload)
            assert type(msg) is Begin
            self._txn = self.tracker.begin(lsn)
            self._ctx = TxnContext(msg.xid, msg.commit_ts, aux or None, self._metadata)
            self.txn_final, self.units = lsn, 0  # a Begin record carries the commit LSN
            resume = self.resume
            if resume is not None:
                self._skip_units = _ALL if lsn < resume.lsn else resume.done if lsn == resume.txn else 0
                if self._skip_units == 0:
                    self._behind = False  # a transaction after everything committed before
        elif kind == rec.COMMIT:
            self.tracker.commit(lsn, self._ctx.commit_ts_us if self._ctx is not None else 0)
            self._txn = self._ctx = None
            self.last_end = max(self.last_end, lsn)
            self.txn_final = self.units = self._skip_units = 0
            if self._behind and lsn > self.resume.lsn:
                self._behind = False  # the partly committed transaction is through
        elif kind == rec.RELATION:
            self._relation(payload)
        elif kind == rec.SNAPSHOT_ROW:
            ctx, msg = self._in_txn(kind), None
            try:
                msg = self._decoder.decode(payload)
                record = self._builder.snapshot_row(msg, ctx, lsn, rec.SNAPSHOT_MARKERS[half])
            except Exception as exc:  # noqa: BLE001 - event.processing.failure.handling.mode
                for r in self._event_failed(exc, msg, lsn, payload, ctx, rec.WHOLE, rec.SNAPSHOT_MARKERS[half]):
                    self._produce(r, hash_)
            else:
                if record is not None:  # None: the transform chain dropped it
                    self._produce(record, hash_)
            self.rows += 1
        elif kind == rec.MESSAGE:
            ctx = self._in_txn(kind)
            if self._metadata:
                ctx.order = rec.order_fields(aux)
            self._produce_side(self._message(self._decoder.decode(payload), ctx.xid, ctx.commit_ts_us,
                                             ctx.last_commit_lsn, ctx.block(lsn)), hash_)
        elif kind == rec.STANDALONE_MESSAGE:
            # A non-transactional message is its own unit of work, confirmable at its LSN;
            # Debezium anchors its `sequence` at itself and stamps it with the newest
            # transaction's commit time (`aux`; the clock before any transaction).
            if self.resume is not None and lsn <= self.resume.lsn:
                return  # committed by an earlier run (exactly once)
            self._behind = False
            self.last_end = max(self.last_end, lsn)
            self._txn = self.tracker.begin()
            stamp = aux or time.time_ns() // 1000
            self._produce_side(self._message(self._decoder.decode(payload), None, stamp, lsn), hash_)
            self.tracker.commit(lsn, stamp)
            self._txn = None
        elif kind == rec.TRUNCATE:
            ctx = self._in_txn(kind)
            ctx.order = rec.order_fields(aux)
            record = self._builder.truncate(rec.truncated_relation(payload), ctx, lsn)
            if record is not None:  # None: the transform chain dropped it
                self._produce(record, hash_)
        elif kind == rec.TXMETA:
            self._transaction_record(half, lsn, payload)
        elif kind == rec.BARRIER:
            if self.barrier is None:
                raise ProtocolError("truncate barrier for a producer without barrier cells", offset=0, msg_type=None)
            self.barrier.step(half, hash_, aux)
        else:
            raise ProtocolError(f"unknown ring record kind {kind}", offset=0, msg_type=None)

    def _message(self, msg: LogicalMessage, txid: int | None, commit_ts_us: int, last_commit: int | None,
                 transaction: dict | None = None) -> Record:
        """A logical decoding message's record; with a table-less outbox, one of its prefix is
        the create event of the outbox row it spells (`bridge.transform.outbox.messages`)."""
        outbox = self._outbox
        if outbox is None or msg.prefix != outbox.prefix:
            return self._messages.record(msg, txid, commit_ts_us, last_commit, transaction)
        topic, key, value, headers = outbox.event(msg.content, txid, commit_ts_us, last_commit, msg.lsn)
        return Record(topic, Captured(*key), Captured(*value), headers)  # type: ignore[arg-type]

    def _event_failed(self, exc: Exception, msg, lsn: int, raw: bytes, ctx: TxnContext, half: int,
                      snapshot: str | None = None) -> list[Record]:
        """A change (`raw`, decoded into `msg` unless that failed; a snapshot row with its marker)
        whose event could not be built: stop, skip it (`Failures.event`), quarantine it
        (`bridge.poison.topic`), or, its schema refused by the registry, the records to produce
        instead (`bridge.registry.incompatible.topic`)."""
        if self.incompatible is not None and isinstance(exc, SchemaIncompatible) and msg is not None:
            return self.incompatible.records(exc, msg, ctx, lsn, half, snapshot)
        self._quarantine_or_skip(exc, msg, lsn, raw)
        return []

    def _quarantine_or_skip(self, exc: Exception, msg, lsn: int, raw: bytes) -> None:
        quarantine = self.quarantine
        if msg is None:  # not even decoded: stops, unless quarantined
            if quarantine is None or isinstance(exc, SchemaRegistryFailed):
                raise exc
            relation, topic = self._builder.relation_names(int.from_bytes(raw[1:5], "big"))
            quarantine.row(raw, relation, topic, lsn, exc, self._txn)
            return
        table, values = self._builder.failed_row(msg)
        if quarantine is not None and self._failures.stops(exc) and not isinstance(exc, SchemaRegistryFailed):
            quarantine.row(raw, table, self._builder.relation_names(msg.relation_id)[1], lsn, exc, self._txn)
            return
        self._failures.event(exc, table, lsn, values)

    def _refused(self, err, msg, txn) -> bool:
        """A record Kafka refused: skipped (errors.tolerance=all), quarantined when that would stop
        the bridge and the refusal is permanent, or not handled (the bridge stops)."""
        if self._failures.refused(err, msg, txn):
            return True
        if not self.quarantine.takes(err, msg):
            return False
        self.quarantine.refused(err, msg, self._builder.relation_of_topic(msg.topic()),
                                txn.final_lsn, txn)
        return True

    def _in_txn(self, kind: int) -> TxnContext:
        if self._ctx is None:
            raise ProtocolError(f"ring record {chr(kind)!r} outside a transaction", offset=0, msg_type=None)
        return self._ctx

    def _topic_partitions(self, topic: str) -> int:
        """Partition count of a topic first met (side topics: messages, transactions)."""
        partitions = self._partitions[topic] = self.kafka.partitions(topic)
        if self.quarantine is not None:
            self._limits[topic] = self._record_limit(topic)
        return partitions

    def side(self, r: Record) -> Record | None:
        """A record beside the change events (message, transaction metadata, heartbeat) as the
        transform chain leaves it (None: dropped); itself without a chain."""
        if self._chain is None:
            return r
        out = self._chain.side(r.topic, r.key, r.value, r.headers)
        return None if out is None else Record(*out)

    def _produce_side(self, r: Record, hash_: int) -> None:
        out = self.side(r)
        if out is not None:
            self._produce(out, hash_)

    def _produce(self, r: Record | Written, hash_: int) -> None:
        """Produce one record as part of the current transaction's acknowledgements."""
        partitions = self._partitions.get(r.topic) or self._topic_partitions(r.topic)
        written = type(r) is Written
        if written and r.partition is not None:  # chosen by a transform
            partition = r.partition
        elif (self._murmur2 or (written and self._chain_keyed)) and r.key is not None:
            partition = java_default_partition(r.key, partitions)
        else:
            partition = hash_ % partitions
        txn = self._txn
        txn.pending += 1  # AckTracker.produced, inlined: once per record
        self.records += 1
        if self.quarantine is not None and self._quarantined_oversize(r.topic, r.key, r.value, r.headers, txn):
            return
        self.kafka.produce(r.topic, r.key, r.value, txn, partition, r.headers)  # the Txn counts the acks

    def _transaction_record(self, half: int, lsn: int, payload: bytes) -> None:
        ctx = self._in_txn(rec.TXMETA)
        if half == rec.TX_BEGIN:
            r = self._transactions.begin(ctx.xid, lsn, ctx.commit_ts_us)
        else:
            events, per_table = rec.tx_end_fields(payload)
            r = self._transactions.end(ctx.xid, lsn, ctx.commit_ts_us, events, per_table)
        self._produce_side(r, 0)  # one partition's order: BEGIN/END of every transaction in sequence

    def _relation(self, payload: bytes) -> None:
        raw, key_columns, not_null, excluded, topic, defaults = rec.relation_fields(payload)
        msg = self._decoder.decode(raw)
        assert type(msg) is Relation
        info = TableInfo(tuple(key_columns), frozenset(not_null), frozenset(excluded), tuple(defaults))
        table = self._builder.relation(msg, info, topic)
        if self.incompatible is not None:
            self.incompatible.relation(msg, info, topic)
        # with a chain the records' topics are the chain's (RegexRouter): each is looked up,
        # and created, when its first record goes out (`_topic_partitions`), never the table's
        if self._chain is None and table.topic not in self._partitions:
            self._topic_partitions(table.topic)


def run_producer(index: int, worker: ProducerWorker, reader: RingReader, cells: LsnCells,
                 flush_timeout_s: float, heartbeat: Heartbeat | None = None,
                 transactions: Transactions | None = None) -> None:
    """Serve ring `index` until its writer ends the stream, then flush Kafka and publish the
    final watermark. Waits briefly for the ring while deliveries are outstanding so their
    reports (served by `poll`) advance the watermark promptly. One producer also sends the
    heartbeats; they carry no position, so they are not part of the ack bookkeeping.

    With `transactions` (exactly once) records go out in Kafka transactions committed about
    every `bridge.exactly.once.commit.interval.ms`, and the watermark is what the last commit
    contained: delivered but uncommitted records are invisible to read_committed consumers.

    With several producers, truncates wait at barriers in the shared cells (`bridge.produce.barrier`)."""
    kafka, tracker = worker.kafka, worker.tracker
    committed = 0

    def commit_and_reopen() -> None:  # a barrier's settling with exactly once (`bridge.produce.barrier`)
        nonlocal committed
        committed = _commit(worker, transactions, cells, index, committed)
        transactions.ensure_open()

    if cells.producers > 1:
        worker.barrier = TruncateBarrier(index, cells, kafka, lambda: tracker.failed, lambda: reader.aborted,
                                         None if transactions is None else commit_and_reopen)
    while True:
        try:
            batch = reader.read(0.005 if len(kafka) or (transactions and transactions.open) else 0.1)
        except RingClosed:
            break
        if batch is not None:
            if transactions is not None:
                transactions.ensure_open()
            worker.handle_batch(batch)
        if heartbeat is not None and heartbeat.due(time.monotonic()):
            hb = worker.side(heartbeat.record(time.time_ns() // 1_000_000))
            if hb is not None:
                if transactions is not None:
                    transactions.ensure_open()
                kafka.produce(hb.topic, hb.key, hb.value, _heartbeat_delivered, headers=hb.headers or None)
        kafka.poll(0)
        if tracker.failed is not None:
            raise DeliveryError(tracker.failed)
        if transactions is None:
            cells.publish_acked(index, worker.watermark)
        elif transactions.due(time.monotonic()):
            committed = _commit(worker, transactions, cells, index, committed)
        cells.publish_producer_stats(index, worker.rows, worker.records, tracker.acked_commit_us)
        if worker.quarantine is not None:
            cells.publish_poisoned(index, worker.quarantine.count)
        if worker.incompatible is not None:
            cells.publish_incompatible(index, worker.incompatible.count)
    if transactions is not None:
        if transactions.open:
            _commit(worker, transactions, cells, index, committed)
        return
    deadline = time.monotonic() + flush_timeout_s
    while len(kafka) and time.monotonic() < deadline:
        kafka.flush(0.2)
    if tracker.failed is not None:
        raise DeliveryError(tracker.failed)
    cells.publish_acked(index, worker.watermark)
    cells.publish_producer_stats(index, worker.rows, worker.records, tracker.acked_commit_us)
    if len(kafka):
        raise DeliveryError(f"{len(kafka)} records still unacknowledged by Kafka after {flush_timeout_s:.0f}s")


def _commit(worker: ProducerWorker, transactions: Transactions, cells: LsnCells, index: int, committed: int) -> int:
    """Commit the open Kafka transaction with the producer's position; publish what it made safe."""
    point = worker.position()
    transactions.commit(point)  # raises on failure: nothing past the previous commit is acked
    if worker.tracker.failed is not None:
        raise DeliveryError(worker.tracker.failed)
    worker.tracker.safe_lsn()  # only to drop the bookkeeping of delivered transactions
    if point.lsn > committed:
        cells.publish_acked(index, point.lsn)
    cells.publish_producer_stats(index, worker.rows, worker.records, worker.tracker.acked_commit_us)
    return max(committed, point.lsn)


def _heartbeat_delivered(err, msg) -> None:
    if err is not None:
        log.warning("heartbeat to %s not delivered: %s", msg.topic(), err.str())


def _outbox_messages(spec: ProducerSpec, headers: Headers) -> OutboxMessages:
    """The builder of a table-less outbox's events: the message prefix names the outbox table."""
    prefix = spec.chain.outbox_prefix
    schema, _, table = prefix.rpartition(".")  # type: ignore[union-attr]
    id_field, _, payload_field = spec.chain.outbox_fields()
    return OutboxMessages(prefix, TopicNames.of(spec.events).table(schema, table), spec.events.topic_prefix,  # type: ignore[arg-type]
                          spec.dbname, id_field, payload_field, headers)
