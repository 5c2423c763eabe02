"""The one place where the stages are connected.

`run_single_process`: source → decode → events → produce → ack, all in this process. The slot
is confirmed only up to the end of the newest transaction whose events Kafka has acked
(`AckTracker`), and to the stream's position when nothing is in flight.
"""

from __future__ import annotations

import functools
import logging
import threading
import time

from bridge.ack.tracker import AckTracker, Txn
from bridge.config import BridgeConfig
from bridge.decode.messages import Begin, Commit, Delete, Insert, Origin, Relation, Truncate, Type, Update
from bridge.decode.pgoutput import PgOutputDecoder
from bridge.decode.types import TypeRegistry
from bridge.errors import DeliveryError, ProtocolError
from bridge.lsn import format_lsn
from bridge.produce.events import EventBuilder, TxnContext
from bridge.produce.kafka import KafkaSink
from bridge.source.catalog import describe_table
from bridge.source.connection import connect, connect_replication
from bridge.source.slot import ensure_publication, ensure_slot
from bridge.source.stream import ReplicationStream

log = logging.getLogger(__name__)

READ_BATCH = 5000
SHUTDOWN_FLUSH_S = 30.0


def run_single_process(config: BridgeConfig, stop: threading.Event) -> None:
    sink = KafkaSink(config.producer)
    sink.check_reachable(config.retry)
    sql = connect(config.postgres, config.retry)
    try:
        ensure_publication(sql, config.replication)
        ensure_slot(sql, config.replication)
        stream = ReplicationStream(
            lambda: connect_replication(config.postgres, config.retry),
            config.replication.slot_name,
            config.replication.publication_name,
            status_interval_s=config.replication.status_update_interval_ms / 1000,
        )
        stream.start(config.retry)
        builder = EventBuilder(config.events, config.conversion, TypeRegistry(sql),
                               lambda rel: describe_table(sql, rel), config.postgres.dbname)
        log.info("streaming slot %s of %s into Kafka at %s", config.replication.slot_name,
                 config.postgres.dbname, sink.bootstrap)
        try:
            _Loop(stream, builder, sink).run(stop)
        finally:
            stream.close()
    finally:
        sql.close()


class _Loop:
    def __init__(self, stream: ReplicationStream, builder: EventBuilder, sink: KafkaSink) -> None:
        self.stream = stream
        self.builder = builder
        self.sink = sink
        self.tracker = AckTracker()
        self.decoder = PgOutputDecoder(proto_version=1)
        self.txn: Txn | None = None
        self.ctx: TxnContext | None = None
        self.last_commit_lsn: int | None = None

    def _delivered(self, txn: Txn, err, msg) -> None:
        if err is not None:
            self.tracker.fail(f"Kafka refused a record for topic {msg.topic()}: {err.str()}")
        self.tracker.acked(txn)

    def run(self, stop: threading.Event) -> None:
        stream, sink, tracker = self.stream, self.sink, self.tracker
        while not stop.is_set() and tracker.failed is None:
            for m in stream.read(READ_BATCH, timeout_s=0.1):
                self.handle(m.payload, m.data_start)
            sink.poll(0)
            stream.confirm(tracker.safe_lsn(stream.wal_end))
        # Shutdown: everything handed to librdkafka gets its delivery report, then one last
        # confirmation; an unfinished transaction is not confirmed and replays on restart.
        deadline = time.monotonic() + SHUTDOWN_FLUSH_S
        while len(sink) and time.monotonic() < deadline:
            sink.flush(0.5)
        stream.confirm(tracker.safe_lsn(stream.wal_end), force=True)
        if tracker.failed is not None:
            raise DeliveryError(f"{tracker.failed}; slot confirmed only up to {format_lsn(stream.flushed_lsn)}")
        if len(sink):
            raise DeliveryError(f"{len(sink)} records still unacknowledged by Kafka after "
                                f"{SHUTDOWN_FLUSH_S:.0f}s; slot confirmed up to {format_lsn(stream.flushed_lsn)}")
        log.info("stopped; slot confirmed up to %s", format_lsn(stream.flushed_lsn))

    def handle(self, payload: bytes, lsn: int) -> None:
        msg = self.decoder.decode(payload)
        kind = type(msg)
        if kind is Insert or kind is Update or kind is Delete:
            txn = self.txn
            if txn is None:
                raise ProtocolError("row change outside a transaction", offset=0, msg_type=chr(payload[0]))
            on_delivery = functools.partial(self._delivered, txn)
            for record in self.builder.change(msg, self.ctx, lsn):
                self.tracker.produced(txn)
                self.sink.produce(record.topic, record.key, record.value, on_delivery, headers=record.headers)
        elif kind is Begin:
            self.txn = self.tracker.begin()
            self.ctx = TxnContext(msg.xid, msg.commit_ts, self.last_commit_lsn)
        elif kind is Commit:
            self.tracker.commit(msg.end_lsn)
            self.last_commit_lsn = msg.end_lsn
            self.txn = self.ctx = None
        elif kind is Relation:
            self.builder.relation(msg)
        elif kind is Type or kind is Origin or kind is Truncate:
            # Types are resolved by OID from the catalog; truncate events are skipped by
            # default (skipped.operations=t) and arrive with the Debezium-compatibility work.
            pass
        else:
            raise ProtocolError(f"unexpected {kind.__name__} on a protocol-1 stream", offset=0,
                                msg_type=chr(payload[0]))
