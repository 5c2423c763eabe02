"""Every statement pgbridge runs about replication slots: facts (read-only) and DDL.

It lives in `bridge.source`, the PostgreSQL side, next to the connection and stream that use the
slot, so the preflight (`bridge.source.preflight`), the initial snapshot and later the slot tools
read and change slots through one module. `inspect_slot` only reads; what is wrong with a slot
is decided from its facts in `bridge.source.checks`.

A slot with an exported snapshot: `CREATE_REPLICATION_SLOT <slot> LOGICAL pgoutput (SNAPSHOT
'export')` (PostgreSQL 15 syntax) returns the slot's `consistent_point` and the name of a
snapshot that sees exactly the transactions committed before that point. Streaming from the new
slot starts with the first transaction committing after it, so rows read in that snapshot +
changes streamed from the slot = the table, with no gap and no duplicate.

The exported snapshot lives only while the exporting replication connection stays open *and
idle*: closing it, or running any other command on it (START_REPLICATION included), ends the
export, and a later `SET TRANSACTION SNAPSHOT` fails with "invalid snapshot identifier". So:
create the slot, open every snapshot session (`bridge.snapshot.reader.open_snapshot_session`),
and only then `release()` it (or start streaming on it). Sessions that already imported the
snapshot keep it for the rest of their transaction.

Creating a slot waits until every transaction running at that moment has finished (the server
needs a point where it knows every in-progress transaction), so a long-running transaction
delays it.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras

from bridge.errors import ReplicationSetupError
from bridge.lsn import format_lsn, parse_lsn

log = logging.getLogger(__name__)

# The replication grammar takes slot names as bare identifiers; this is also what
# PostgreSQL itself accepts for slot names (ReplicationSlotValidateName).
_SLOT_NAME = re.compile(r"[a-z0-9_]{1,63}")

_INSPECT = (
    "SELECT slot_type, plugin, database, temporary, active_pid, restart_lsn - '0/0'::pg_lsn, "
    "confirmed_flush_lsn - '0/0'::pg_lsn, wal_status, safe_wal_size FROM pg_replication_slots WHERE slot_name = %s"
)
# pg_current_wal_lsn() fails on a standby (recovery): the slot tools run against the primary.
_CURRENT_WAL = "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"
_DROP_IF_EXISTS = "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s"


@dataclass(frozen=True, slots=True)
class SlotFacts:
    """One row of pg_replication_slots, as far as pgbridge reads it."""

    name: str
    slot_type: str  # logical / physical
    plugin: str | None  # None for a physical slot
    database: str | None  # None for a physical slot
    temporary: bool
    active_pid: int | None  # the walsender streaming from it, if any
    restart_lsn: int | None  # the oldest WAL the slot keeps
    confirmed_flush_lsn: int | None  # where streaming resumes
    wal_status: str | None  # reserved / extended / unreserved / lost
    # bytes PostgreSQL can still write before the slot is lost (max_slot_wal_keep_size);
    # None when unlimited (-1) or the slot is lost
    safe_wal_size: int | None = None

    @property
    def active(self) -> bool:
        return self.active_pid is not None


def inspect_slot(conn: psycopg2.extensions.connection, slot_name: str) -> SlotFacts | None:
    """The slot `slot_name`, or None when there is none. Read-only."""
    with conn.cursor() as cur:
        cur.execute(_INSPECT, (slot_name,))
        row = cur.fetchone()
    if row is None:
        return None
    slot_type, plugin, database, temporary, pid, restart, confirmed, wal_status, safe = row
    return SlotFacts(slot_name, slot_type, plugin, database, temporary, pid,
                     None if restart is None else int(restart), None if confirmed is None else int(confirmed),
                     wal_status, None if safe is None else int(safe))


def current_wal_lsn(conn: psycopg2.extensions.connection) -> int:
    """pg_current_wal_lsn(): where the server writes WAL now (a new slot starts about here)."""
    with conn.cursor() as cur:
        cur.execute(_CURRENT_WAL)
        return int(cur.fetchone()[0])


def advance_slot(conn: psycopg2.extensions.connection, slot_name: str, lsn: int) -> int:
    """pg_replication_slot_advance: move the slot's confirmed position forward to `lsn` without
    decoding for anyone (the changes in between are skipped); the position it reached. The
    caller checks the bounds: PostgreSQL silently ignores a target behind the slot and clamps one
    past the WAL written so far."""
    with conn.cursor() as cur:
        try:
            cur.execute("SELECT end_lsn - '0/0'::pg_lsn FROM pg_replication_slot_advance(%s, %s::pg_lsn)",
                        (slot_name, format_lsn(lsn)))
        except psycopg2.errors.ObjectInUse as exc:
            raise ReplicationSetupError(f"cannot advance replication slot {slot_name!r}: {exc.pgerror.strip()} "
                                        "(stop the bridge streaming from it first)") from None
        except (psycopg2.errors.UndefinedObject, psycopg2.errors.ObjectNotInPrerequisiteState,
                psycopg2.errors.InsufficientPrivilege) as exc:
            raise ReplicationSetupError(f"cannot advance replication slot {slot_name!r}: "
                                        f"{exc.pgerror.strip()}") from None
        return int(cur.fetchone()[0])


def slot_exists(conn: psycopg2.extensions.connection, slot_name: str) -> bool:
    return inspect_slot(conn, slot_name) is not None


def confirmed_flush_lsn(conn: psycopg2.extensions.connection, slot_name: str) -> int | None:
    slot = inspect_slot(conn, slot_name)
    return None if slot is None else slot.confirmed_flush_lsn


def create_slot(conn: psycopg2.extensions.connection, slot_name: str) -> None:
    """Create the logical pgoutput slot `slot_name`; one created meanwhile by another process is fine."""
    with conn.cursor() as cur:
        try:
            cur.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot_name,))
        except psycopg2.errors.InsufficientPrivilege as exc:
            raise ReplicationSetupError(
                f"cannot create replication slot {slot_name!r}: {exc.pgerror.strip()} "
                "(the user needs the REPLICATION attribute)"
            ) from None
        except psycopg2.errors.DuplicateObject:
            return  # created concurrently by another process: fine, it is checked on next start
        except psycopg2.errors.ObjectNotInPrerequisiteState as exc:
            raise ReplicationSetupError(
                f"cannot create replication slot {slot_name!r}: {exc.pgerror.strip()} "
                "(logical decoding needs wal_level=logical and a free max_replication_slots)"
            ) from None
        except psycopg2.errors.ConfigurationLimitExceeded as exc:
            raise ReplicationSetupError(
                f"cannot create replication slot {slot_name!r}: {exc.pgerror.strip()}"
            ) from None
    log.info("created replication slot %s", slot_name)


@dataclass(frozen=True, slots=True)
class ExportedSlot:
    slot_name: str
    consistent_point: int  # LSN: the stream's first transaction commits after it
    snapshot_name: str  # for SET TRANSACTION SNAPSHOT, valid while `connection` is open and idle
    connection: psycopg2.extras.LogicalReplicationConnection

    def release(self) -> None:
        """End the export: call once every snapshot session has imported the snapshot."""
        self.connection.close()


def create_slot_with_snapshot(
    conn: psycopg2.extras.LogicalReplicationConnection, slot_name: str, *, temporary: bool = False
) -> ExportedSlot:
    """Create the logical pgoutput slot `slot_name` on the replication connection `conn` and
    export its snapshot. `conn` is kept (idle) in the result; see the module docstring. A
    `temporary` slot disappears with the connection (or a crash)."""
    if not _SLOT_NAME.fullmatch(slot_name):
        raise ReplicationSetupError(
            f"invalid slot name {slot_name!r}: use 1 to 63 lower-case letters, digits and underscores"
        )
    try:
        with conn.cursor() as cur:
            kind = "TEMPORARY LOGICAL" if temporary else "LOGICAL"
            cur.execute(f"CREATE_REPLICATION_SLOT {slot_name} {kind} pgoutput (SNAPSHOT 'export')")
            name, consistent_point, snapshot_name, _plugin = cur.fetchone()
    except psycopg2.errors.DuplicateObject:
        raise ReplicationSetupError(
            f"replication slot {slot_name!r} already exists: a consistent initial snapshot needs a new "
            "slot (drop it, or use a snapshot mode that does not take an initial snapshot)"
        ) from None
    except (
        psycopg2.errors.InsufficientPrivilege,
        psycopg2.errors.ObjectNotInPrerequisiteState,
        psycopg2.errors.ConfigurationLimitExceeded,
    ) as exc:
        raise ReplicationSetupError(
            f"cannot create replication slot {slot_name!r}: {exc.pgerror.strip()} (the user needs the "
            "REPLICATION attribute, wal_level=logical and a free max_replication_slots)"
        ) from None
    return ExportedSlot(name, parse_lsn(consistent_point), snapshot_name, conn)


def copy_slot(conn: psycopg2.extensions.connection, source: str, target: str, *, replace: bool) -> None:
    """Copy `source` (temporary or not) to the permanent slot `target`, at the same position;
    `replace` drops an existing `target` first."""
    with conn.cursor() as cur:
        if replace:
            cur.execute(_DROP_IF_EXISTS, (target,))
        cur.execute("SELECT pg_copy_logical_replication_slot(%s, %s, false)", (source, target))


def drop_slot(conn: psycopg2.extensions.connection, slot_name: str, wait_s: float = 10.0,
              why: str = "slot.drop.on.stop") -> None:
    """Drop the slot (`why`: `slot.drop.on.stop`, `bridge slot drop`), waiting briefly for its
    walsender to let go."""
    deadline = time.monotonic() + wait_s
    with conn.cursor() as cur:
        while True:
            try:
                cur.execute(_DROP_IF_EXISTS, (slot_name,))
                log.info("dropped replication slot %s (%s)", slot_name, why)
                return
            except psycopg2.errors.ObjectInUse:
                if time.monotonic() > deadline:
                    raise ReplicationSetupError(f"{why}: slot {slot_name!r} is still in use") from None
                time.sleep(0.2)
