"""A logical slot created together with an exported snapshot, so snapshot and stream line up.

`CREATE_REPLICATION_SLOT <slot> LOGICAL pgoutput (SNAPSHOT 'export')` (PostgreSQL 15 syntax)
returns the slot's `consistent_point` and the name of a snapshot that sees exactly the
transactions committed before that point. Streaming from the new slot starts with the first
transaction committing after it, so rows read in that snapshot + changes streamed from the slot
= the table, with no gap and no duplicate.

The exported snapshot lives only while the exporting replication connection stays open *and
idle*: closing it, or running any other command on it (START_REPLICATION included), ends the
export, and a later `SET TRANSACTION SNAPSHOT` fails with "invalid snapshot identifier". So:
create the slot, open every snapshot session (`bridge.snapshot.reader.open_snapshot_session`),
and only then `release()` it (or start streaming on it). Sessions that already imported the
snapshot keep it for the rest of their transaction.

Creating the slot waits until every transaction running at that moment has finished (the
server needs a point where it knows every in-progress transaction), so a long-running
transaction delays it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg2
import psycopg2.errors
import psycopg2.extras

from bridge.errors import ReplicationSetupError
from bridge.lsn import parse_lsn

# The replication grammar takes slot names as bare identifiers; this is also what
# PostgreSQL itself accepts for slot names (ReplicationSlotValidateName).
_SLOT_NAME = re.compile(r"[a-z0-9_]{1,63}")


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
