"""Entry point of a `bridge sink` worker process (thin: the work is in `bridge.sink.worker`)."""

from __future__ import annotations

import gc
import logging
import sys
import threading

from bridge.errors import BridgeError
from bridge.proc.child import start_child
from bridge.sink.settings import SinkConfig
from bridge.sink.stats import Stats
from bridge.sink.worker import SinkWorker

log = logging.getLogger("bridge.sink")


def sink_main(index: int, config: SinkConfig, cells, reports, parent_pid: int, log_level: str) -> None:
    # A worker's records make no reference cycles (they are freed by their reference counts), yet
    # each buffered record and each record of the batch being written holds several objects the
    # cyclic collector tracks: with its default (a young collection at 700 more of them) it scanned
    # every batch's objects several times over. What start-up made is kept out of its scans, and a
    # young collection waits for 100,000 more tracked objects (above a full buffer's and batch's):
    # about a fifth less CPU per record in native_bench.sink_bench.
    gc.freeze()
    gc.set_threshold(100_000, 10, 10)
    stop = threading.Event()
    start_child(f"sink-{index}", parent_pid, log_level, stop)
    reports.cancel_join_thread()  # a report not yet sent never holds up the exit
    try:
        SinkWorker(config, index, Stats(config.workers, cells), stop, reports.put).run()
    except BridgeError as exc:
        log.error("%s", exc)
        sys.exit(exc.exit_code)
