"""What every child process does first: die with its parent, log like it, handle signals."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading

from bridge.errors import ExitCode

_PR_SET_NAME = 15
_PR_SET_PDEATHSIG = 1
# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3


def start_child(role: str, parent_pid: int, log_level: str, stop: threading.Event | None = None) -> None:
    """`stop`, when given, is set on SIGTERM/SIGINT (a graceful stop); otherwise both are
    ignored and the process ends when its input ends (the coordinator orchestrates)."""
    # If the coordinator is killed (even with SIGKILL) its children must not run on unsupervised.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(ExitCode.FAILED)
    # `ps`/`top` show pgb-decoder, pgb-producer-0, ... instead of N identical pythons.
    libc.prctl(_PR_SET_NAME, f"pgb-{role}".encode()[:15], 0, 0, 0)
    keep_heap(libc)
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


def keep_heap(libc: ctypes.CDLL | None = None) -> None:
    """Let glibc keep freed memory for reuse instead of handing it back to the kernel at once.

    The stages churn through large short-lived buffers: ring batches copied out (up to a few
    hundred kB), librdkafka's message copies and its 1 MB produce requests. With glibc's
    defaults each of those is a fresh mmap or a heap trimmed and grown again, and every page
    touched afterwards is a page fault: about one per row, 1-2 µs of system time per row in a
    producer. Blocks below 8 MiB now come from the heap, which gives memory back only when
    64 MiB at its top are free, so a process keeps about its peak (bounded by the ring and by
    librdkafka's queue.buffering.max.kbytes) rather than returning it between bursts.
    A no-op where the C library has no mallopt."""
    libc = libc or ctypes.CDLL(None)
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return
    mallopt(_M_MMAP_THRESHOLD, 8 << 20)
    mallopt(_M_TRIM_THRESHOLD, 64 << 20)
    mallopt(_M_TOP_PAD, 4 << 20)
