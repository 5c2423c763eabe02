"""The pgoutput stream: START_REPLICATION, reading CopyData in bulk, standby status updates.

psycopg2's `read_message()` is non-blocking and answers keepalives that request a reply by
itself (with the LSNs last given to `send_feedback`), so as long as this reader is called
regularly the server never times the connection out, even while the caller is applying
backpressure. Reading drains everything libpq has buffered before waiting on the socket:
waking for every message would turn the stream into a ping-pong of tiny reads.
"""

from __future__ import annotations

import logging
import select
import time
from typing import Callable

import psycopg2
import psycopg2.errors
import psycopg2.extras

from bridge import failpoints
from bridge.errors import ConnectionFailed, ReplicationSetupError
from bridge.lsn import format_lsn
from bridge.retry import RetryConfig
from bridge.source.connection import connection_loss

log = logging.getLogger(__name__)


class ReplicationStream:
    """One START_REPLICATION session on a logical slot, with monotonic flush feedback."""

    def __init__(
        self,
        connect: Callable[[], psycopg2.extras.LogicalReplicationConnection],
        slot_name: str,
        publication_name: str,
        *,
        status_interval_s: float,
        proto_version: int = 1,
        messages: bool = True,
    ) -> None:
        self._connect = connect
        self.slot_name = slot_name
        self._options = {
            "proto_version": str(proto_version),
            "publication_names": publication_name,
            "messages": "true" if messages else "false",
        }
        self._status_interval_s = status_interval_s
        self._conn: psycopg2.extras.LogicalReplicationConnection | None = None
        self._cursor: psycopg2.extras.ReplicationCursor | None = None
        self.flushed_lsn = 0
        self._last_sent = 0.0

    def start(self, retry: RetryConfig, *, start_lsn: int = 0, sleep=time.sleep) -> None:
        """Start streaming from the slot's confirmed position, or from `start_lsn` when that is
        further (a cut-over from Debezium: the server skips transactions committed before it).

        A slot still held by a walsender of a previous (crashed) run is retried with backoff:
        the server releases it once it notices the old connection is gone.
        """
        backoff = retry.initial_backoff_ms / 1000
        for number in range(1, retry.attempts + 1):
            conn = self._connect()
            cursor = conn.cursor()
            try:
                cursor.start_replication(
                    slot_name=self.slot_name,
                    start_lsn=start_lsn,
                    decode=False,
                    options=self._options,
                    # psycopg2's own periodic feedback (whole seconds only); `confirm` sends
                    # sooner when `status.update.interval.ms` is shorter.
                    status_interval=max(1, round(self._status_interval_s)),
                )
            except psycopg2.errors.ObjectInUse as exc:
                conn.close()
                if number == retry.attempts:
                    raise ReplicationSetupError(
                        f"replication slot {self.slot_name!r} is in use: {exc.pgerror.strip()}"
                    ) from None
                log.warning("slot %s is still active, retrying in %.1fs", self.slot_name, backoff)
                sleep(backoff)
                backoff = min(backoff * 2, retry.max_backoff_ms / 1000)
                continue
            except psycopg2.errors.UndefinedObject as exc:
                conn.close()
                raise ReplicationSetupError(
                    f"cannot start replication on slot {self.slot_name!r}: {exc.pgerror.strip()}"
                ) from None
            except psycopg2.Error as exc:
                conn.close()
                raise ReplicationSetupError(
                    f"cannot start replication on slot {self.slot_name!r}: {str(exc).strip()}"
                ) from None
            self._conn, self._cursor = conn, cursor
            return

    def read(self, max_messages: int, timeout_s: float) -> list:
        """Return up to `max_messages` (>= 1) messages; waits at most `timeout_s` when none are buffered."""
        cursor = self._cursor
        assert cursor is not None, "start() first"
        out = []
        read, append = cursor.read_message, out.append
        try:
            while True:
                msg = read()
                if msg is not None:
                    append(msg)
                    if len(out) < max_messages:
                        continue
                    break
                if out or timeout_s <= 0:
                    break
                select.select([cursor], [], [], timeout_s)
                timeout_s = 0
        except psycopg2.Error as exc:
            raise self._broke(exc) from None
        return out

    @property
    def wal_end(self) -> int:
        """The server's latest position seen on this stream (XLogData or keepalive)."""
        assert self._cursor is not None
        return self._cursor.wal_end

    def confirm(self, lsn: int, *, force: bool = False) -> None:
        """Tell the server everything before `lsn` is durably delivered. Never goes backwards.

        Sent at most once per `status.update.interval.ms` unless `force`d; in between the
        position is only recorded, and psycopg2 uses it when answering keepalives."""
        assert self._cursor is not None
        if lsn < self.flushed_lsn:
            raise AssertionError(f"flush LSN would go backwards: {format_lsn(lsn)} < {format_lsn(self.flushed_lsn)}")
        if lsn == self.flushed_lsn and not force:
            return
        if failpoints.ENABLED:
            failpoints.hit(failpoints.BEFORE_CONFIRM)
        self.flushed_lsn = lsn
        now = time.monotonic()
        if now - self._last_sent >= self._status_interval_s:
            force = True
        if force:
            self._last_sent = now
        try:
            self._cursor.send_feedback(write_lsn=lsn, flush_lsn=lsn, apply_lsn=lsn, force=force)
        except psycopg2.Error as exc:
            raise self._broke(exc) from None

    def keepalive(self) -> None:
        """A status update with the current position, at most once a second: keeps the
        walsender's timeout from firing while we are not reading (backpressure)."""
        assert self._cursor is not None
        now = time.monotonic()
        if now - self._last_sent < 1.0:
            return
        self._last_sent = now
        try:
            self._cursor.send_feedback(force=True)
        except psycopg2.Error as exc:
            raise self._broke(exc) from None

    def _broke(self, exc: psycopg2.Error) -> ConnectionFailed:
        return ConnectionFailed(f"replication stream from slot {self.slot_name!r} broke: "
                                f"{connection_loss(exc, self._conn)}")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = self._cursor = None
