"""The WAL retention guard: the coordinator reads the slot's WAL figures every
`bridge.wal.poll.ms` (one query on its own SQL connection, in a thread) for the metrics and
the health verdict, and logs when the WAL the slot keeps crosses `bridge.wal.warn.bytes`.

It never touches the data path, and it never drops or moves the slot: what to do about a
growing slot is the operator's call (`bridge slot status`, deploy/runbooks/slot-wal-growth.md).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import psycopg2

from bridge.lsn import format_lsn
from bridge.source.slots import current_wal_lsn, inspect_slot
from bridge.status.metrics import PipelineState, SlotWal
from bridge.status.settings import WalGuardConfig

log = logging.getLogger(__name__)


class SqlConnection(Protocol):
    def cursor(self): ...

    def close(self) -> None: ...


def read_slot_wal(conn, slot_name: str) -> SlotWal:
    current = current_wal_lsn(conn)
    slot = inspect_slot(conn, slot_name)
    if slot is None:
        return SlotWal(current, None, None, None, None)
    return SlotWal(current, slot.restart_lsn, slot.confirmed_flush_lsn, slot.wal_status, slot.safe_wal_size)


class SlotWatch:
    def __init__(self, conn: SqlConnection, slot_name: str, guard: WalGuardConfig, state: PipelineState) -> None:
        self._conn = conn
        self.slot_name = slot_name
        self.guard = guard
        self.state = state
        state.wal_warn_bytes = guard.warn_bytes
        self._failing = False
        self._reported: str | None = None  # the wal_status last logged about

    def poll(self) -> None:
        """One reading into the state; a failed one clears it (no stale figures), logged once."""
        try:
            wal = read_slot_wal(self._conn, self.slot_name)
        except psycopg2.Error as exc:
            if not self._failing:
                log.warning("cannot read slot %s's WAL figures (retrying every %.0fs): %s", self.slot_name,
                            self.guard.poll_ms / 1000, str(exc).strip() or type(exc).__name__)
            self._failing = True
            self.state.wal = None
            self._conn.close()  # a LazyConnection reopens on the next poll
            return
        self._failing = False
        was_over = self.state.wal_over
        self.state.wal = wal
        if self.state.wal_over and not was_over:
            log.warning("slot %s keeps %d bytes of WAL (restart_lsn %s, pg_current_wal_lsn %s, wal_status %s), above "
                        "bridge.wal.warn.bytes=%d: health is DEGRADED; see `bridge slot status`",
                        self.slot_name, wal.restart_lag, format_lsn(wal.restart_lsn or 0), format_lsn(wal.current_lsn),
                        wal.wal_status, self.guard.warn_bytes)
        elif was_over and not self.state.wal_over:
            log.info("slot %s keeps %s bytes of WAL again, within bridge.wal.warn.bytes=%d", self.slot_name,
                     wal.restart_lag, self.guard.warn_bytes)
        if wal.wal_status in ("unreserved", "lost") and wal.wal_status != self._reported:
            log.error("slot %s has wal_status=%s: PostgreSQL %s", self.slot_name, wal.wal_status,
                      "will remove WAL it still needs at the next checkpoint unless it catches up"
                      if wal.wal_status == "unreserved" else "removed WAL it still needed; it cannot stream")
        self._reported = wal.wal_status

    async def run(self) -> None:
        """Poll until cancelled."""
        try:
            while True:
                await asyncio.to_thread(self.poll)
                await asyncio.sleep(self.guard.poll_ms / 1000)
        finally:
            self._conn.close()
