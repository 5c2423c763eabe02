"""The coordinator: supervises the decoder and producers and publishes the safe LSN.

Runs on an asyncio loop (uvloop). Every few milliseconds it recomputes the safe LSN from the
shared cells (`bridge.ack.safe_lsn`) and publishes it for the decoder, which confirms it to
PostgreSQL. Lifecycle:
- SIGTERM/SIGINT: the decoder is asked to stop; it stops reading, ends the rings' streams and
  waits for the producers' final acks; the producers flush Kafka and exit. Exit 0. `drain()`
  does the same for a reload, after which the supervisor runs the pipeline again.
- A child that dies (or exits while nobody asked it to): the safe LSN is frozen, the decoder
  is killed, the rings are aborted so the producers stop, and the coordinator exits non-zero. Nothing past the last
  safe LSN was confirmed, so a restart resumes from there.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess

from bridge.ack.safe_lsn import SafeLsn
from bridge.errors import ExitCode
from bridge.lsn import format_lsn
from bridge.ring import RingOwner, LsnCells
from bridge.status.metrics import PipelineState

log = logging.getLogger(__name__)

TICK_S = 0.005


@dataclass
class Child:
    role: str
    process: BaseProcess
    reported: bool = False

    @property
    def alive(self) -> bool:
        return self.process.exitcode is None


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


class Coordinator:
    def __init__(self, decoder: Child, producers: list[Child], rings: list[RingOwner], cells: LsnCells,
                 shutdown_timeout_s: float, state: PipelineState | None = None) -> None:
        self.decoder = decoder
        self.children = [decoder, *producers]
        self.rings = rings
        self.cells = cells
        self.safe = SafeLsn(lambda: cells.dispatched, cells.pushed_all, cells.acked_all)
        self.shutdown_timeout_s = shutdown_timeout_s
        self.stopping = False
        self.failure: tuple[str, int] | None = None  # (message, exit code)
        self._deadline: float | None = None
        # What health checks and metrics read (`bridge.status`): this run's cells and processes.
        self.state = state or PipelineState("", len(producers))
        self.state.cells, self.state.rings, self.state.children = cells, rings, self.children
        self.state.phase = "streaming"

    def request_stop(self) -> None:
        self.state.stop_requested = True
        self.drain("stopping: draining the pipeline")

    def drain(self, why: str = "restarting: draining the pipeline") -> None:
        """The graceful stop of a SIGTERM, without asking the supervisor to stop: a reload
        (`bridge.ops.reload`) runs the pipeline again after it."""
        if not self.stopping:
            log.info("%s", why)
            self.stopping = True
            self.state.phase = "stopping"
            self._deadline = time.monotonic() + self.shutdown_timeout_s
            self._signal_decoder()

    def _signal_decoder(self) -> None:
        if self.decoder.process.exitcode is None:
            self.decoder.process.terminate()  # SIGTERM: the decoder's graceful stop

    def _fail(self, message: str, code: int) -> None:
        if self.failure is not None:
            return
        safe = self.cells.safe_lsn
        log.error("%s; stopping the pipeline (%s)", message,
                  f"slot confirmed only up to {format_lsn(safe)}" if safe else "nothing confirmed in this run")
        self.failure = (message, code)
        self.stopping = True
        # not "failed": the supervisor may restart this run, and liveness must say alive until
        # it decides not to (`bridge.wiring.run` sets "failed" then)
        self.state.phase = "failing"
        self._deadline = time.monotonic() + self.shutdown_timeout_s
        for ring in self.rings:
            ring.abort()  # producers drain what they hold, flush, and exit
        # The decoder must not wait for acks that will never come; killing it is safe: it
        # has only ever confirmed positions that were safe when it sent them.
        if self.decoder.process.exitcode is None:
            self.decoder.process.kill()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        try:
            while True:
                if self.failure is None:
                    self.cells.publish_safe_lsn(self.safe.update())
                if self._check_children():
                    break
                await asyncio.sleep(TICK_S)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        for child in self.children:
            child.process.join()
        if self.failure is not None:
            return self.failure[1]
        log.info("stopped cleanly; slot confirmed up to %s", format_lsn(self.cells.safe_lsn))
        return ExitCode.OK

    def _check_children(self) -> bool:
        """Handle exits; True when every child has exited."""
        running = 0
        for child in self.children:
            code = child.process.exitcode
            if code is None:
                running += 1
                continue
            if child.reported:
                continue
            child.reported = True
            if code == -signal.SIGTERM and child is self.decoder and self.state.stop_requested \
                    and not self.cells.decoder_running:
                # Stopped before it had started (and so before its SIGTERM handler was in place):
                # it confirmed nothing; end the producers' streams as a clean stop would.
                log.info("decoder stopped before it started")
                for ring in self.rings:
                    ring.abort()
            elif code != 0:
                self._fail(f"{child.role} {describe_exit(code)}", code if code > 0 else ExitCode.FAILED)
            elif not self.stopping:
                # A clean exit nobody asked for means the decoder ended the stream (it finished,
                # e.g. snapshot.mode=initial_only, or it is failing): a producer exits 0 only once
                # its ring's writer closed it. The others follow; a non-zero exit still fails.
                log.info("%s finished; waiting for the others", child.role)
                self.stopping = True
                self.state.phase = "stopping"
                self._deadline = time.monotonic() + self.shutdown_timeout_s
        if running and self._deadline is not None and time.monotonic() > self._deadline:
            for child in self.children:
                if child.process.exitcode is None:
                    log.error("%s did not stop within %.0fs, killing it", child.role, self.shutdown_timeout_s)
                    child.process.kill()
            self._deadline = None
            if self.failure is None:
                self.failure = ("shutdown timed out", ExitCode.FAILED)
        return running == 0
