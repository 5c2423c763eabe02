"""Entry point of the decoder process (thin: the start-up is decided by
`bridge.proc.decoder_startup`, the stages assembled by `bridge.proc.decoder_build`, the loop is
`bridge.route.dispatcher`)."""

from __future__ import annotations

import logging
import sys
import threading

import psycopg2

from bridge.config import BridgeConfig
from bridge.errors import BridgeError
from bridge.kafka import auth_failures
from bridge.proc.child import start_child
from bridge.proc.decoder_build import Decoder, build_decoder
from bridge.proc.decoder_startup import startup_plan
from bridge.ring import RingClosed, RingHandle, RingWriter, LsnCells, LsnCellsHandle
from bridge.snapshot.incremental.machine import IncrementalSnapshot
from bridge.snapshot.initial import take_snapshot
from bridge.snapshot.initial_report import InitialReport
from bridge.snapshot.selection import TableSelection
from bridge.source.connection import connect, connect_replication
from bridge.source.preflight import ensure_slot
from bridge.source.slots import slot_exists

log = logging.getLogger("bridge.decoder")


def decoder_main(config: BridgeConfig, rings: list[RingHandle], cells_handle: LsnCellsHandle,
                 parent_pid: int, log_level: str) -> None:
    stop = threading.Event()
    start_child("decoder", parent_pid, log_level, stop)
    try:
        sys.exit(_run(config, rings, cells_handle, stop))
    except BridgeError as exc:
        log.error("%s", exc)
        sys.exit(exc.exit_code)


def _run(config: BridgeConfig, rings: list[RingHandle], cells_handle: LsnCellsHandle,
         stop: threading.Event) -> int:
    cells = LsnCells.attach(cells_handle)
    cells.publish_decoder_running()
    auth_failures.bind(lambda count, last_us: cells.publish_auth_failures(None, count, last_us))
    writers = [RingWriter(h) for h in rings]
    sql = connect(config.postgres, config.retry)
    rep = config.replication
    decoder: Decoder | None = None
    try:
        plan = startup_plan(config.snapshot.mode, slot_exists(sql, rep.slot_name), config.cutover is not None,
                            slot_name=rep.slot_name)
        decoder = build_decoder(config, writers, cells, sql)
        report = InitialReport(decoder.notifier, config.events.topic_prefix)
        try:
            if decoder.incremental is not None:
                # Only with the slot it belongs to: a new slot starts a new history.
                _resume(decoder.incremental, new_slot=plan.new_slot)
            if plan.snapshot:
                take_snapshot(config.snapshot, rep,
                              TableSelection.of(config.snapshot, config.filters, config.incremental.signal_table),
                              decoder.router, decoder.dispatcher,
                              lambda: connect(config.postgres, config.retry),
                              lambda: connect_replication(config.postgres, config.retry), stop.is_set,
                              keep_slot=plan.keep_slot, report=report)
            else:
                report.skipped()
                if plan.ensure_slot:
                    ensure_slot(sql, rep)
            if not plan.stream:
                for writer in writers:
                    writer.close()  # end of stream: the producers flush and exit
                if plan.snapshot:
                    log.info("snapshot.mode=initial_only: snapshot done, not streaming")
                else:  # as Debezium with offsets: the snapshot was taken before, and this mode never streams
                    log.info("snapshot.mode=initial_only: slot %s exists, so there is no snapshot to take; "
                             "not streaming", rep.slot_name)
                return 0
            decoder.start_streaming(config.retry)
            decoder.dispatcher.run(stop)
        except RingClosed:
            # The coordinator aborted the pipeline (a producer died): confirm only what the
            # coordinator had computed as safe, and report failure.
            if decoder.streaming:
                decoder.dispatcher.stop_after_abort()
            return 1
        return 0 if decoder.dispatcher.drain(config.pipeline.shutdown_timeout_ms / 1000 * 0.8) else 1
    finally:
        if decoder is not None:
            decoder.close()
        sql.close()
        for w in writers:
            w.close()
        auth_failures.bind(None)
        cells.close()


def _resume(snapshot: IncrementalSnapshot, *, new_slot: bool) -> None:
    try:
        snapshot.resume(new_slot=new_slot)
    except psycopg2.Error as exc:  # e.g. the signal table does not exist (warned about at start)
        log.warning("incremental snapshot progress not read: %s", (getattr(exc, "pgerror", None) or str(exc)).strip())
