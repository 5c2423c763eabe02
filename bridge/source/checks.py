"""What is wrong with the PostgreSQL side, decided from facts alone: pure functions, no I/O.

Each check takes facts (`bridge.source.catalog`, `.publication`, `.slots`) and the
configuration and returns findings. A finding is a problem found; a check that cannot run
raises instead (the error of the query that failed). An ERROR finding stops the start (the
preflight raises its message as a `ReplicationSetupError`), a WARNING is logged and pgbridge
starts anyway. The same findings serve a read-only report (nothing here needs to write).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from bridge.route.filters import TableFilter
from bridge.source.catalog import SessionFacts, TableFacts
from bridge.source.publication import PublicationChange, PublicationFacts
from bridge.source.settings import ReplicationConfig
from bridge.source.slots import SlotFacts


class Severity(enum.Enum):
    ERROR = "error"  # pgbridge cannot start
    WARNING = "warning"  # pgbridge starts, but something fails or is lost later


@dataclass(frozen=True, slots=True)
class Finding:
    check: str  # what was checked: "publication", "slot", "role", "replica identity"
    severity: Severity
    message: str  # one line, as printed; it names the fix too where the wording allows
    fix: str  # what to do about it, on its own


def check_publication(publication: PublicationFacts | None, wanted: tuple[tuple[str, str], ...],
                      cfg: ReplicationConfig) -> list[Finding]:
    """`wanted`: `publication.filtered_tables`, the tables a filtered publication lists."""
    name, mode = cfg.publication_name, cfg.publication_autocreate_mode
    if publication is None and mode == "disabled":
        fix = f"create it, e.g. CREATE PUBLICATION {name} FOR ALL TABLES"
        return [_error("publication", f"publication {name!r} does not exist and "
                       f"publication.autocreate.mode=disabled: {fix}", fix)]
    if mode != "filtered":
        return []
    if publication is not None and publication.all_tables:
        fix = "drop it (pgbridge then creates it) or use all_tables/disabled"
        return [_error("publication", f"publication {name!r} is FOR ALL TABLES, but publication.autocreate.mode=filtered "
                       f"needs one that lists the captured tables: {fix}", fix)]
    if not wanted:
        return [_error("publication", f"publication.autocreate.mode=filtered: no table matches the include/exclude "
                       f"lists, so publication {name!r} would be empty",
                       "make the include/exclude lists match a table")]
    return []


def check_slot(slot: SlotFacts | None, session: SessionFacts) -> list[Finding]:
    """A missing slot is no finding: the decoder creates it (after the initial snapshot, if any)."""
    if slot is None:
        return []
    name = slot.name
    if slot.slot_type != "logical" or slot.plugin != "pgoutput":
        fix = "drop it or choose another slot.name"
        return [_error("slot", f"replication slot {name!r} exists but is a {slot.slot_type} slot with plugin "
                       f"{slot.plugin!r}; pgbridge needs a logical slot with plugin 'pgoutput' ({fix})", fix)]
    if slot.database != session.database:
        fix = "choose another slot.name"
        return [_error("slot", f"replication slot {name!r} belongs to database {slot.database!r}, "
                       f"not {session.database!r}; {fix}", fix)]
    findings = []
    if slot.active:
        fix = "stop the other client of the slot (pgbridge retries while the slot is in use)"
        findings.append(_warning("slot", f"replication slot {name!r} is in use by process {slot.active_pid}: {fix}", fix))
    if slot.wal_status == "lost":
        fix = "drop it; the next start creates it again (with an initial snapshot if snapshot.mode takes one)"
        findings.append(_warning("slot", f"replication slot {name!r} cannot stream: PostgreSQL removed WAL it "
                                 f"still needed (wal_status=lost); {fix}", fix))
    elif slot.wal_status == "unreserved":
        fix = "let pgbridge catch up, or raise max_slot_wal_keep_size"
        findings.append(_warning("slot", f"replication slot {name!r} is about to lose WAL it still needs "
                                 f"(wal_status=unreserved): {fix}", fix))
    return findings


def check_role(session: SessionFacts) -> list[Finding]:
    if session.superuser or session.replication:
        return []
    fix = f"ALTER ROLE {session.role} REPLICATION"
    return [_warning("role", f"role {session.role!r} has neither the REPLICATION attribute nor superuser, so "
                     "PostgreSQL refuses its replication connection unless the provider grants replication "
                     f"otherwise (e.g. rds_replication): {fix}", fix)]


def check_replica_identity(tables: Iterable[TableFacts], publication: PublicationFacts | None,
                           change: PublicationChange | None, filters: TableFilter | None,
                           publication_name: str) -> list[Finding]:
    """Captured tables the publication publishes (or will, after `change`) without a replica
    identity: PostgreSQL refuses their UPDATE and DELETE."""
    filters = filters or TableFilter()
    if change is not None:
        every, published = change.all_tables, set(change.tables)
    else:
        every, published = False, set(publication.tables if publication is not None else ())
    missing = [f"{t.schema}.{t.name}" for t in tables
               if filters.captures(t.schema, t.name) and (every or (t.schema, t.name) in published)
               and not _identifies_rows(t)]
    if not missing:
        return []
    shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
    fix = "give each a primary key, or ALTER TABLE ... REPLICA IDENTITY FULL"
    return [_warning("replica identity", f"{len(missing)} captured table(s) have no replica identity, so PostgreSQL "
                     f"refuses their UPDATE and DELETE while publication {publication_name!r} publishes them: "
                     f"{shown}; {fix}", fix)]


def _identifies_rows(table: TableFacts) -> bool:
    if table.replica_identity == "f":
        return True
    if table.replica_identity == "d":
        return table.has_primary_key
    if table.replica_identity == "i":
        return table.has_identity_index
    return False  # n: nothing


def _error(check: str, message: str, fix: str) -> Finding:
    return Finding(check, Severity.ERROR, message, fix)


def _warning(check: str, message: str, fix: str) -> Finding:
    return Finding(check, Severity.WARNING, message, fix)
