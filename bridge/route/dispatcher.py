"""The decoder process's loop: stream → router → rings, progress cells, and slot feedback.

Reads pgoutput in bulk, routes each message, writes every producer's batch into its ring,
then publishes what is now in the rings (`pushed`, then `dispatched`) and confirms to
PostgreSQL whatever the coordinator computed as safe. A full ring blocks reading, never the
feedback: while waiting for room it keeps sending status updates so the walsender does not
time the connection out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from bridge.errors import BridgeError, ExitCode
from bridge.lsn import format_lsn
from bridge.ring import RingWriter, LsnCells
from bridge.route.router import Router
from bridge.source.stream import ReplicationStream

log = logging.getLogger(__name__)

READ_BATCH = 5000
FLUSH_BYTES = 256 * 1024  # a producer's batch is written once it reaches this size
WRITE_WAIT_S = 0.25


class StopRequested(BridgeError):
    """A stop arrived while the decoder was waiting (e.g. for a snapshot's acks)."""


class OversizeRecord(BridgeError):
    """A single change does not fit into a ring."""

    exit_code = ExitCode.OVERSIZE_RECORD


class Dispatcher:
    def __init__(self, stream: ReplicationStream | None, router: Router, writers: list[RingWriter],
                 cells: LsnCells, on_tick: Callable[[], None] = lambda: None, *, flush_lsn: bool = True,
                 coalesce_s: float = 0.0) -> None:
        self.stream = stream
        self.router = router
        self.writers = writers
        self.cells = cells
        self.messages = 0
        self._on_tick = on_tick  # periodic side work (heartbeat.action.query)
        self.flush_lsn = flush_lsn  # false with lsn.flush.mode=manual
        self.coalesce_s = coalesce_s

    def attach_stream(self, stream: ReplicationStream) -> None:
        """The started stream to read from. Before it (an initial snapshot), a full ring is
        waited for without keepalives and nothing is confirmed."""
        self.stream = stream

    def run(self, stop: threading.Event) -> None:
        stream, router = self.stream, self.router
        while not stop.is_set():
            batch = stream.read(READ_BATCH, timeout_s=0.05)
            routed = 0  # bytes since the last check: a bulk read of wide rows outgrows a ring
            handle = router.handle
            for m in batch:
                payload = m.payload
                handle(payload, m.data_start)
                routed += len(payload)
                if routed >= FLUSH_BYTES:
                    self.write_full()
                    routed = 0
            self.messages += len(batch)
            self.flush(stream.wal_end)
            self._confirm()
            self._on_tick()
            if 0 < len(batch) < READ_BATCH and self.coalesce_s:
                # The stream is drained. Reading again at once would wake for every message the
                # walsender sends, a syscall ping-pong that on a busy stream costs more CPU per
                # row than the routing itself and slows the walsender too: let a batch gather.
                stop.wait(self.coalesce_s)

    def flush(self, idle_position: int) -> None:
        """Write every pending batch, then publish the progress (`idle_position`: where the
        source is when no transaction is open)."""
        self._write_all()
        self._publish(idle_position)

    def write_full(self) -> None:
        """Write the batches that reached FLUSH_BYTES (a long read in progress); all of them
        when they hold a truncate's barrier: a producer at the barrier waits for every other to
        reach it, so none may wait for room in a ring while another's barrier is still here."""
        if self.router.fenced:
            self._write_all()
            return
        for p, builder in enumerate(self.router.builders):
            if builder.nbytes >= FLUSH_BYTES:
                self._write(p)

    def _write_all(self) -> None:
        for p, builder in enumerate(self.router.builders):
            if builder.nbytes:
                self._write(p)
        self.router.fenced = False

    def wait_safe(self, lsn: int, stop: Callable[[], bool]) -> None:
        """Block until the coordinator says everything up to `lsn` is acked by Kafka."""
        while self.cells.safe_lsn < lsn:
            if stop():
                raise StopRequested("stopped while waiting for Kafka's acknowledgements")
            time.sleep(0.01)

    def _write(self, producer: int) -> None:
        builder = self.router.builders[producer]
        writer = self.writers[producer]
        if builder.nbytes > writer.max_batch:
            raise OversizeRecord(
                f"a batch of {builder.nbytes} bytes for producer {producer} does not fit its ring of "
                f"{writer.capacity} bytes (a very large row?): raise bridge.ring.bytes"
            )
        while not writer.write(builder.buffer, timeout=WRITE_WAIT_S):
            if self.stream is not None:
                self.stream.keepalive()  # backpressure: keep the walsender from timing us out
        builder.clear()

    def _publish(self, idle_position: int) -> None:
        router, cells = self.router, self.cells
        # pushed before dispatched: the coordinator reads them in the opposite order.
        for producer, lsn in router.pending_pushed.items():
            if lsn > cells.pushed(producer):
                cells.publish_pushed(producer, lsn)
        router.pending_pushed.clear()
        dispatched = router.pending_dispatched
        if not router.in_txn:
            # Between transactions everything received is in the rings, so the stream's own
            # position (keepalives included) is dispatched too: an idle slot keeps advancing.
            dispatched = max(dispatched, idle_position)
        if dispatched > cells.dispatched:
            cells.publish_dispatched(dispatched)
        cells.publish_decoder_stats(idle_position, self.messages)

    def _confirm(self, force: bool = False) -> None:
        if not self.flush_lsn:  # lsn.flush.mode=manual: someone else confirms the slot
            return
        safe = self.cells.safe_lsn
        if safe > self.stream.flushed_lsn or force:
            self.stream.confirm(max(safe, self.stream.flushed_lsn), force=force)

    def stop_after_abort(self) -> None:
        """The coordinator aborted the pipeline: send the last position it computed as safe."""
        self._confirm(force=True)
        log.error("pipeline aborted; slot confirmed up to %s", format_lsn(self.stream.flushed_lsn))

    def drain(self, timeout_s: float) -> bool:
        """After a stop: end the rings' streams and confirm what the producers ack in time.
        Returns whether everything dispatched was confirmed."""
        for writer in self.writers:
            writer.close()
        deadline = time.monotonic() + timeout_s
        target = self.cells.dispatched
        while self.cells.safe_lsn < target and time.monotonic() < deadline:
            self._confirm()
            time.sleep(0.01)
        self._confirm(force=True)
        done = self.cells.safe_lsn >= target
        log.info("decoder stopped after %d messages; slot confirmed up to %s%s", self.messages,
                 format_lsn(self.stream.flushed_lsn), "" if done else " (producers did not finish in time)")
        return done
