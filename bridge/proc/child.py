"""What every child process does first: die with its parent, log like it, handle signals."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading

_PR_SET_NAME = 15
_PR_SET_PDEATHSIG = 1


def start_child(role: str, parent_pid: int, log_level: str, stop: threading.Event | None = None) -> None:
    """`stop`, when given, is set on SIGTERM/SIGINT (a graceful stop); otherwise both are
    ignored and the process ends when its input ends (the coordinator orchestrates)."""
    # If the coordinator is killed (even with SIGKILL) its children must not run on unsupervised.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    # `ps`/`top` show pgb-decoder, pgb-producer-0, ... instead of N identical pythons.
    libc.prctl(_PR_SET_NAME, f"pgb-{role}".encode()[:15], 0, 0, 0)
    logging.basicConfig(level=log_level, stream=sys.stderr,
                        format=f"%(asctime)s %(levelname)s {role}[%(process)d] %(name)s: %(message)s")
    if stop is None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    else:
        def request_stop(signum, _frame):
            stop.set()
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
