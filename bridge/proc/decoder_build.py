"""The decoder's stages, assembled in one place: the replication stream, the router with its
hooks (a cut-over filter, the incremental snapshot and its signal channels), the dispatcher
writing into the rings, the notifications, and the periodic work between stream reads. The
decoder process (`bridge.proc.decoder_main`) and `native_bench.decoder_only` both run what
`build_decoder` returns.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

import psycopg2
import psycopg2.extensions

from bridge.config import BridgeConfig, RetryConfig
from bridge.cutover.offsets import ResumeFilter, resume_filter
from bridge.notify.channels import Notifier, build_notifier
from bridge.pgoutput.messages import Relation
from bridge.ring import RingWriter, LsnCells
from bridge.route.dispatcher import Dispatcher
from bridge.route.hooks import RouterHooks
from bridge.route.router import Router
from bridge.snapshot.incremental.channels import SignalChannel
from bridge.snapshot.incremental.emitter import RouterEmitter
from bridge.snapshot.incremental.kafka_channel import KafkaChannel
from bridge.snapshot.incremental.machine import IncrementalSnapshot
from bridge.snapshot.incremental.progress import progress_id
from bridge.snapshot.incremental.sql import PostgresDatabase
from bridge.source.catalog import TableInfo, describe_table
from bridge.source.connection import connect, connect_replication
from bridge.source.slots import confirmed_flush_lsn
from bridge.source.stream import ReplicationStream

log = logging.getLogger("bridge.decoder")


class Decoder:
    """The assembled decoder. The dispatcher serves an initial snapshot before the stream
    starts (`start_streaming`), then the stream (`dispatcher.run`)."""

    def __init__(self, router: Router, dispatcher: Dispatcher, stream: ReplicationStream,
                 sql: psycopg2.extensions.connection, slot_name: str, *, cutover: ResumeFilter | None,
                 incremental: IncrementalSnapshot | None, incremental_db: PostgresDatabase | None,
                 notifier: Notifier | None = None) -> None:
        self.router = router
        self.dispatcher = dispatcher
        self.stream = stream
        self.cutover = cutover
        self.incremental = incremental
        self.notifier = notifier  # the snapshots' notifications, None when off
        self.streaming = False
        self._sql = sql
        self._slot_name = slot_name
        self._incremental_db = incremental_db

    def start_streaming(self, retry: RetryConfig) -> None:
        """Start the stream at the slot's position (with a cut-over, from Debezium's when that
        is further) and hand it to the dispatcher."""
        position = confirmed_flush_lsn(self._sql, self._slot_name) or 0
        self.stream.start(retry, start_lsn=self.cutover.start_lsn if self.cutover else 0)
        self.stream.flushed_lsn = position  # confirmations only ever move forward from the slot's position
        self.dispatcher.attach_stream(self.stream)
        self.streaming = True

    def close(self) -> None:
        """Close the connections the decoder opened (not `sql`, its caller's), and send the
        notifications still waiting."""
        self.stream.close()
        if self.incremental is not None:
            self.incremental.close()
        if self._incremental_db is not None:
            self._incremental_db.close()
        if self.notifier is not None:
            self.notifier.close()


def build_decoder(config: BridgeConfig, writers: list[RingWriter], cells: LsnCells,
                  sql: psycopg2.extensions.connection, *, on_tick: Callable[[], None] | None = None) -> Decoder:
    """The decoder over `writers` (one ring per producer) and `cells`; `sql` describes tables
    and runs `heartbeat.action.query`. `on_tick` runs between stream reads after the decoder's
    own periodic work. With a cut-over (`bridge.cutover.*`) the slot must exist already."""
    rep, inc = config.replication, config.incremental

    def describe(relation: Relation) -> TableInfo:
        return describe_table(sql, relation, config.filters)

    cutover = None
    if config.cutover is not None:
        # Resume Debezium's slot where its stored offset says it stopped.
        cutover = resume_filter(config.cutover, config.kafka.connection, confirmed_flush_lsn(sql, rep.slot_name) or 0)
    hooks = RouterHooks(drop=cutover)
    notifier = build_notifier(config.notification, config.kafka, config.events)
    incremental = incremental_db = None
    if inc.signal_table is not None:
        incremental_db = PostgresDatabase(lambda: connect(config.postgres, config.retry), rep.publication_name,
                                          inc.signal_table, config.filters.captures)
        incremental_db.check_signal_table()
        channels: list[SignalChannel] = []
        if inc.kafka is not None:
            channels.append(KafkaChannel(inc.kafka, inc.poll_interval_ms / 1000))
        log.info("signal table %s: incremental snapshots run on execute-snapshot signals (channels: %s), in chunks "
                 "of %d rows", inc.signal_table, ", ".join(inc.channels) or "none", inc.chunk_size)
        incremental = IncrementalSnapshot(inc.signal_table, inc.chunk_size, incremental_db, describe,
                                          acked_lsn=lambda: cells.safe_lsn, progress_id=progress_id(rep.slot_name),
                                          source_channel=inc.source_channel, channels=channels, notifier=notifier,
                                          connector=config.events.topic_prefix)
        hooks = dataclasses.replace(incremental.router_hooks(), drop=cutover)
    router = Router(config.routing, describe, hooks)
    # Between stream reads: the heartbeat query, the incremental snapshot's turn, the
    # notifications' delivery reports.
    tick = _chain(_action_query(config, sql), incremental.tick if incremental is not None else None,
                  notifier.poll if notifier is not None else None, on_tick)
    dispatcher = Dispatcher(None, router, writers, cells, tick, flush_lsn=rep.flush_lsn,
                            coalesce_s=rep.read_coalesce_ms / 1000)
    if incremental is not None:
        incremental.attach(RouterEmitter(router, dispatcher.write_full))
    stream = ReplicationStream(lambda: connect_replication(config.postgres, config.retry), rep.slot_name,
                               rep.publication_name, status_interval_s=rep.status_update_interval_ms / 1000)
    return Decoder(router, dispatcher, stream, sql, rep.slot_name, cutover=cutover, incremental=incremental,
                   incremental_db=incremental_db, notifier=notifier)


def _chain(*ticks: Callable[[], None] | None) -> Callable[[], None]:
    present = [t for t in ticks if t is not None]
    if not present:
        return lambda: None
    if len(present) == 1:
        return present[0]

    def each() -> None:
        for tick in present:
            tick()
    return each


def _action_query(config: BridgeConfig, sql: psycopg2.extensions.connection) -> Callable[[], None] | None:
    """`heartbeat.action.query`, run every `heartbeat.interval.ms` as Debezium does."""
    query, interval = config.events.heartbeat_action_query, config.events.heartbeat_interval_ms / 1000
    if not query or not interval:
        return None
    next_run = [0.0]

    def tick() -> None:
        now = time.monotonic()
        if now >= next_run[0]:
            next_run[0] = now + interval
            try:
                with sql.cursor() as cur:
                    cur.execute(query)
            except psycopg2.Error as exc:
                log.warning("heartbeat.action.query failed: %s", str(exc).strip())

    return tick
