"""Entry point of the decoder process (thin: the work is in `bridge.route.dispatcher`)."""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Callable

import psycopg2

from bridge.config import BridgeConfig
from bridge.errors import BridgeError
from bridge.proc.child import start_child
from bridge.ring import RingClosed, RingHandle, RingWriter, Watermarks, WatermarksHandle
from bridge.route.dispatcher import Dispatcher
from bridge.route.router import Router
from bridge.snapshot.incremental import IncrementalSnapshot, PostgresDatabase, progress_id
from bridge.snapshot.initial import needs_snapshot, take_snapshot
from bridge.source.catalog import describe_table
from bridge.source.connection import connect, connect_replication
from bridge.source.offsets import OffsetsError, resume_filter
from bridge.source.preflight import ensure_slot
from bridge.source.slots import confirmed_flush_lsn, slot_exists
from bridge.source.stream import ReplicationStream

log = logging.getLogger("bridge.decoder")


def decoder_main(config: BridgeConfig, rings: list[RingHandle], cells_handle: WatermarksHandle,
                 parent_pid: int, log_level: str) -> None:
    stop = threading.Event()
    start_child("decoder", parent_pid, log_level, stop)
    try:
        sys.exit(_run(config, rings, cells_handle, stop))
    except BridgeError as exc:
        log.error("%s", exc)
        sys.exit(exc.exit_code)


def _run(config: BridgeConfig, rings: list[RingHandle], cells_handle: WatermarksHandle,
         stop: threading.Event) -> int:
    cells = Watermarks.attach(cells_handle)
    cells.publish_decoder_running()
    writers = [RingWriter(h) for h in rings]
    sql = connect(config.postgres, config.retry)
    rep, pipe = config.replication, config.pipeline
    stream = None
    incremental_db = incremental = None
    try:
        describe = lambda rel: describe_table(sql, rel, config.filters)  # noqa: E731
        router = Router(config, describe)
        tick = _action_query(config, sql)
        if config.incremental.signal_table is not None:
            # Incremental snapshots (signal table): run between stream reads, after the heartbeat query.
            incremental_db = PostgresDatabase(lambda: connect(config.postgres, config.retry),
                                              rep.publication_name, config.incremental.signal_table,
                                              config.filters.captures)
            incremental = _incremental(config, router, incremental_db, describe, lambda: cells.safe_lsn)
            tick = _chain(tick, incremental.tick)
        dispatcher = Dispatcher(None, router, writers, cells, tick, flush_lsn=rep.flush_lsn,
                                coalesce_s=rep.read_coalesce_ms / 1000)
        if router.incremental is not None:
            router.incremental.write_full = dispatcher.write_full
        # Cut-over from Debezium (bridge.cutover.*): resume its slot where its stored offset says it stopped.
        cutover = config.cutover
        if cutover is not None and not slot_exists(sql, rep.slot_name):
            raise OffsetsError(f"cut-over from Debezium: slot {rep.slot_name!r} does not exist; slot.name must be "
                               "the slot Debezium streamed from")
        try:
            resuming = slot_exists(sql, rep.slot_name)
            if incremental is not None:
                # Only with the slot it belongs to: a new slot starts a new history.
                _resume(incremental, new_slot=not resuming)
            if needs_snapshot(config.snapshot.mode, resuming):
                take_snapshot(config, router, dispatcher, lambda: connect(config.postgres, config.retry),
                              lambda: connect_replication(config.postgres, config.retry), stop.is_set,
                              keep_slot=config.snapshot.mode != "initial_only")
                if config.snapshot.mode == "initial_only":
                    for writer in writers:
                        writer.close()  # end of stream: the producers flush and exit
                    log.info("snapshot.mode=initial_only: snapshot done, not streaming")
                    return 0
            elif config.snapshot.mode == "initial_only":
                # As Debezium with offsets: the snapshot was taken before, and this mode never streams.
                for writer in writers:
                    writer.close()
                log.info("snapshot.mode=initial_only: slot %s exists, so there is no snapshot to take; not streaming",
                         rep.slot_name)
                return 0
            else:
                ensure_slot(sql, rep)
            start = confirmed_flush_lsn(sql, rep.slot_name) or 0
            resume = resume_filter(cutover, config.kafka.connection, start) if cutover else None
            stream = ReplicationStream(lambda: connect_replication(config.postgres, config.retry), rep.slot_name,
                                       rep.publication_name, status_interval_s=rep.status_update_interval_ms / 1000)
            stream.start(config.retry, start_lsn=resume.start_lsn if resume else 0)
            stream.flushed_lsn = start  # confirmations only ever move forward from the slot's position
            router.skip = resume
            dispatcher.stream = stream
            dispatcher.run(stop)
        except RingClosed:
            # The coordinator aborted the pipeline (a producer died): confirm only what the
            # coordinator had computed as safe, and report failure.
            if stream is not None:
                dispatcher.stop_after_abort()
            return 1
        return 0 if dispatcher.drain(pipe.shutdown_timeout_ms / 1000 * 0.8) else 1
    finally:
        if stream is not None:
            stream.close()
        if incremental_db is not None:
            incremental_db.close()
        sql.close()
        for w in writers:
            w.close()
        cells.close()


def _incremental(config: BridgeConfig, router: Router, db: PostgresDatabase, describe,
                 acked_lsn: Callable[[], int]) -> IncrementalSnapshot:
    inc = config.incremental
    db.check_signal_table()
    log.info("signal table %s: incremental snapshots run on execute-snapshot signals, in chunks of %d rows",
             inc.signal_table, inc.chunk_size)
    return IncrementalSnapshot(inc.signal_table, inc.chunk_size, router, db, describe, acked_lsn=acked_lsn,
                               progress_id=progress_id(config.replication.slot_name))


def _resume(snapshot: IncrementalSnapshot, *, new_slot: bool) -> None:
    try:
        snapshot.resume(new_slot=new_slot)
    except psycopg2.Error as exc:  # e.g. the signal table does not exist (warned about at start)
        log.warning("incremental snapshot progress not read: %s", (getattr(exc, "pgerror", None) or str(exc)).strip())


def _chain(first: Callable[[], None], second: Callable[[], None]) -> Callable[[], None]:
    def both() -> None:
        first()
        second()
    return both


def _action_query(config: BridgeConfig, sql) -> Callable[[], None]:
    """`heartbeat.action.query`, run every `heartbeat.interval.ms` as Debezium does."""
    query, interval = config.events.heartbeat_action_query, config.events.heartbeat_interval_ms / 1000
    if not query or not interval:
        return lambda: None
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
