"""`bridge sink`'s parent process: starts the workers, serves health and metrics, stops them.

SIGTERM/SIGINT asks every worker to drain (write and commit what it has read) and waits for
them. A worker that fails or dies stops the others and the exit code is its own: the consumer
group hands its partitions over, and with offsets=target a restart resumes exactly where the
target's transactions ended.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import queue
import signal
import sys
import time

from bridge.errors import ExitCode
from bridge.proc.coordinator import describe_exit
from bridge.proc.sink_main import sink_main
from bridge.sink.progress import Progress
from bridge.sink.settings import SinkConfig
from bridge.sink.stats import SinkState, Stats
from bridge.status.http import serve

log = logging.getLogger("bridge.sink")
STOP_TIMEOUT_S = 60.0


def run_sink(config: SinkConfig, log_level: str, progress: bool = False) -> int:
    """`progress`: `--progress` (the line is printed on a terminal anyway)."""
    return asyncio.run(_supervise(config, log_level, progress))


async def _supervise(config: SinkConfig, log_level: str, progress: bool) -> int:
    ctx = multiprocessing.get_context("spawn")
    stats = Stats(config.workers)
    reports = ctx.Queue()
    workers = [ctx.Process(target=sink_main, name=f"sink-{i}",
                           args=(i, config, stats.cells, reports, os.getpid(), log_level))
               for i in range(config.workers)]
    state = SinkState(stats, [lambda w=w: w.exitcode is None for w in workers])
    tty = sys.stderr.isatty()
    line = Progress(sys.stderr, tty) if tty or progress else None
    next_line = time.monotonic() + 1
    server = await serve(config.http, state)
    for worker in workers:
        worker.start()
    state.phase = "streaming"
    log.info("bridge sink: %d worker(s) in consumer group %s", config.workers, config.group)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    failure: int | None = None
    deadline: float | None = None
    try:
        while True:
            _read_reports(reports, state)
            if line is not None and time.monotonic() >= next_line and not stopping.is_set():
                next_line += 1
                line.update(time.monotonic(), state.behind(),
                            sum(stats.get(i, "records") for i in range(config.workers)))
            running = any(w.exitcode is None for w in workers)
            if stopping.is_set() and deadline is None:
                log.info("stopping: the workers drain and commit")
                state.phase = "stopping"
                deadline = time.monotonic() + STOP_TIMEOUT_S
                for worker in workers:
                    if worker.exitcode is None:
                        worker.terminate()
            for worker in workers:
                code = worker.exitcode
                if code not in (None, 0) and failure is None:
                    log.error("%s %s; stopping the others", worker.name, describe_exit(code))
                    failure = code if code > 0 else ExitCode.FAILED
                    stopping.set()
                elif code == 0 and not stopping.is_set():
                    stopping.set()
            if not running:
                break
            if deadline is not None and time.monotonic() > deadline:
                for worker in workers:
                    if worker.exitcode is None:
                        log.error("%s did not stop within %.0fs, killing it", worker.name, STOP_TIMEOUT_S)
                        worker.kill()
                failure = failure or ExitCode.FAILED
                deadline = float("inf")
            await asyncio.sleep(0.05)
    finally:
        if line is not None:
            line.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        if server is not None:
            server.close()
    state.phase = "failed" if failure else "stopped"
    for worker in workers:
        worker.join()
    if failure is None:
        log.info("stopped cleanly")
    return failure or ExitCode.OK


def _read_reports(reports, state: SinkState) -> None:
    """The workers' flow reports (once a second each), the last one of each kept."""
    while True:
        try:
            report = reports.get_nowait()
        except queue.Empty:
            return
        state.reports[report["worker"]] = report
