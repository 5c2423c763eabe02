"""Which LSN may be confirmed to PostgreSQL: the ack contract of one producing process.

A transaction becomes confirmable when its Commit has been read and every event produced for
it has been acknowledged by Kafka (acks=all). Transactions are confirmed strictly in commit
order: the safe LSN is the end LSN of the newest transaction such that it and every earlier
one are fully acknowledged. With nothing in flight, the stream's own position (`wal_end` of
the last message or keepalive) is safe too, which keeps an idle publication from pinning WAL.
"""

from __future__ import annotations

from collections import deque
from typing import Callable


class Txn:
    """Bookkeeping of one transaction: events not yet acked, and its end LSN once committed.

    A Txn is also the librdkafka delivery callback of its records (one call per record, so it
    is a plain callable rather than a closure made per record)."""

    __slots__ = ("pending", "end_lsn", "commit_us", "final_lsn", "_tracker")

    def __init__(self, tracker: AckTracker, final_lsn: int = 0) -> None:
        self.pending = 0
        self.end_lsn: int | None = None
        self.final_lsn = final_lsn  # its commit LSN as Begin announced it (0: not known)
        self.commit_us = 0
        self._tracker = tracker

    def __call__(self, err, msg) -> None:
        if err is not None and not self._tracker.skips(err, msg, self):
            self._tracker.fail(f"Kafka refused a record for {msg.topic()} [{msg.partition()}]: {err.str()}")
        self.pending -= 1


class AckTracker:
    def __init__(self, start_lsn: int = 0, skip: Callable[[object, object, Txn], bool] | None = None) -> None:
        """`skip(err, msg, txn)`: whether a record of `txn` Kafka refused is deliberately skipped
        (it then counts as handled, as Kafka Connect's errors.tolerance=all has it:
        `bridge.produce.failures`), or put aside (`bridge.produce.poison`)."""
        self._skip = skip
        self._txns: deque[Txn] = deque()
        self._open: Txn | None = None
        self._safe = start_lsn
        self.failed: str | None = None
        self.acked_commit_us = 0  # commit time of the newest fully acked transaction (metrics)

    def begin(self, final_lsn: int = 0) -> Txn:
        assert self._open is None, "Begin inside an open transaction"
        self._open = Txn(self, final_lsn)
        self._txns.append(self._open)
        return self._open

    def commit(self, end_lsn: int, commit_us: int = 0) -> None:
        assert self._open is not None, "Commit without Begin"
        self._open.end_lsn = end_lsn
        self._open.commit_us = commit_us
        self._open = None

    def skips(self, err, msg, txn: Txn) -> bool:
        return self._skip is not None and self._skip(err, msg, txn)

    def fail(self, reason: str) -> None:
        """A permanent delivery error: nothing is confirmed from now on."""
        if self.failed is None:
            self.failed = reason

    @property
    def idle(self) -> bool:
        """No open transaction and nothing waiting for Kafka."""
        return self._open is None and not self._txns

    def safe_lsn(self, stream_position: int = 0) -> int:
        """The highest LSN that may be confirmed now; never decreases."""
        if self.failed is not None:
            return self._safe
        txns = self._txns
        while txns and txns[0].end_lsn is not None and txns[0].pending == 0:
            txn = txns.popleft()
            self._safe = max(self._safe, txn.end_lsn)
            self.acked_commit_us = max(self.acked_commit_us, txn.commit_us)
        if self.idle and stream_position > self._safe:
            self._safe = stream_position
        return self._safe
