"""Entry point of a `bridge sink` worker process (thin: the work is in `bridge.sink.worker`)."""

from __future__ import annotations

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
    stop = threading.Event()
    start_child(f"sink-{index}", parent_pid, log_level, stop)
    reports.cancel_join_thread()  # a report not yet sent never holds up the exit
    try:
        SinkWorker(config, index, Stats(config.workers, cells), stop, reports.put).run()
    except BridgeError as exc:
        log.error("%s", exc)
        sys.exit(exc.exit_code)
