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
from bridge.source.catalog import RoleRights, ServerFacts, SessionFacts, TableFacts
from bridge.source.publication import PublicationChange, PublicationFacts
from bridge.source.settings import ReplicationConfig
from bridge.source.slots import SlotFacts


class Severity(enum.Enum):
    ERROR = "error"  # pgbridge cannot start
    WARNING = "warning"  # pgbridge starts, but something fails or is lost later
    INFO = "info"  # works as configured; worth knowing (`bridge doctor` reports it, a start does not)


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


def check_server(server: ServerFacts, slot: SlotFacts | None) -> list[Finding]:
    """wal_level, room for this bridge's slot and walsender, and the settings that bound how
    much WAL a stuck slot keeps and how soon a dead consumer is noticed. An initial snapshot
    takes one more slot and walsender while it runs (its exported snapshot)."""
    findings = []
    if server.in_recovery:
        fix = "point database.hostname at the primary"
        findings.append(_error("server", "the server is a standby (in recovery): PostgreSQL 15 keeps logical "
                               f"replication slots on the primary only; {fix}", fix))
    if server.wal_level != "logical":
        fix = "ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL"
        findings.append(_error("server", f"wal_level={server.wal_level}: logical decoding needs wal_level=logical; "
                               f"{fix}", fix))
    for what, limit, used, needed in (
            ("replication slots", "max_replication_slots", server.slots_used, 0 if slot is not None else 1),
            ("WAL senders", "max_wal_senders", server.wal_senders_used, 0 if slot is not None and slot.active else 1)):
        maximum = server.max_replication_slots if limit == "max_replication_slots" else server.max_wal_senders
        free = maximum - used
        fix = f"ALTER SYSTEM SET {limit} = {max(maximum, used + needed) + 2}; then restart PostgreSQL"
        if free < needed:
            findings.append(_error("server", f"all {maximum} {what} are in use ({limit}={maximum}), none is left "
                                   f"for this bridge: {fix}", fix))
        elif free - needed < 1:
            findings.append(_warning("server", f"{used} of {maximum} {what} in use ({limit}): this bridge leaves none "
                                     "for an initial snapshot's exported snapshot, another bridge or a standby; "
                                     f"{fix}", fix))
    if server.max_slot_wal_keep_bytes is None:
        fix = "ALTER SYSTEM SET max_slot_wal_keep_size = '<the WAL you can afford, e.g. 50GB>'; SELECT pg_reload_conf()"
        findings.append(_warning("wal retention", "max_slot_wal_keep_size=-1 (unlimited): a stopped or stuck bridge "
                                 "makes PostgreSQL keep WAL until the disk is full; with a limit the slot is lost "
                                 f"instead (wal_status=lost) and the server survives; {fix}", fix))
    if server.wal_sender_timeout_ms == 0:
        fix = "ALTER SYSTEM SET wal_sender_timeout = '60s'; SELECT pg_reload_conf()"
        findings.append(_warning("wal retention", "wal_sender_timeout=0: a bridge that vanished (host loss, network "
                                 "partition) keeps its walsender and slot busy until TCP gives up, and a restarted "
                                 f"bridge waits for it; {fix}", fix))
    return findings


def check_clock(server: ServerFacts, local_epoch_s: float, tolerance_s: float = 1.0) -> list[Finding]:
    skew = local_epoch_s - server.clock_epoch_s
    if abs(skew) <= tolerance_s:
        return []
    fix = "synchronise both hosts' clocks (chrony, systemd-timesyncd)"
    return [_warning("clock", f"this host's clock is {skew:+.1f}s from PostgreSQL's: ts_ms and "
                     f"pgbridge_producer_milliseconds_behind_source are off by as much; {fix}", fix)]


def check_rights(session: SessionFacts, rights: RoleRights, change: PublicationChange | None,
                 publication_name: str) -> list[Finding]:
    """What the publication change needs of the role, and SELECT on the captured tables
    (snapshots read them)."""
    findings, role = [], session.role
    if change is not None and not session.superuser:
        if change.all_tables:
            fix = f"as a superuser: CREATE PUBLICATION {publication_name} FOR ALL TABLES"
            findings.append(_error("role", f"publication {publication_name!r} would be created FOR ALL TABLES, which "
                                   f"needs a superuser, and role {role!r} is none: {fix}", fix))
        elif change.previous is None and not rights.can_create_in_database:
            fix = f"GRANT CREATE ON DATABASE {session.database} TO {role}"
            findings.append(_error("role", f"role {role!r} may not create publication {publication_name!r} (no CREATE "
                                   f"on database {session.database!r}): {fix}", fix))
        elif change.previous is not None and rights.publication_owner != role:
            fix = f"ALTER PUBLICATION {publication_name} OWNER TO {role}"
            findings.append(_error("role", f"publication {publication_name!r} must change its tables, but it belongs "
                                   f"to {rights.publication_owner!r}, not {role!r}: {fix}", fix))
    if rights.unreadable and not session.superuser:
        names = ", ".join(f"{s}.{t}" for s, t in rights.unreadable[:10])
        fix = f"GRANT SELECT ON {names} TO {role}"
        findings.append(_warning("role", f"role {role!r} cannot SELECT {len(rights.unreadable)} captured table(s), "
                                 f"so snapshots of them fail: {fix}", fix))
    return findings


def check_coverage(tables: Iterable[TableFacts], publication: PublicationFacts | None,
                   change: PublicationChange | None, filters: TableFilter | None,
                   publication_name: str) -> list[Finding]:
    """The publication's tables against the include/exclude lists, when the publication stays as
    it is (a change the configuration asks for makes them agree)."""
    if publication is None or publication.all_tables or change is not None:
        return []
    filters = filters or TableFilter()
    published = set(publication.tables)
    captured = [(t.schema, t.name) for t in tables if filters.captures(t.schema, t.name)
                and t.schema not in ("pg_catalog", "information_schema")]
    missing = [f"{s}.{t}" for s, t in captured if (s, t) not in published]
    extra = [f"{s}.{t}" for s, t in sorted(published) if not filters.captures(s, t)]
    findings = []
    if missing:
        fix = f"ALTER PUBLICATION {publication_name} ADD TABLE {', '.join(missing[:10])}"
        findings.append(_warning("publication", f"{len(missing)} table(s) the include/exclude lists capture are not in "
                                 f"publication {publication_name!r}, so their changes are never streamed: {fix}", fix))
    if extra:
        fix = f"ALTER PUBLICATION {publication_name} DROP TABLE {', '.join(extra[:10])}"
        findings.append(Finding("publication", Severity.INFO, f"publication {publication_name!r} publishes "
                                f"{len(extra)} table(s) the include/exclude lists exclude: PostgreSQL decodes and sends "
                                f"their changes, pgbridge drops them; {fix}", fix))
    return findings


def check_before_images(tables: Iterable[TableFacts], publication: PublicationFacts | None,
                        filters: TableFilter | None) -> list[Finding]:
    """Captured, published tables whose UPDATE and DELETE events lack the old row in `before`."""
    if publication is None:
        return []
    filters = filters or TableFilter()
    published = set(publication.tables)
    keyed = [f"{t.schema}.{t.name}" for t in tables if (t.schema, t.name) in published
             and filters.captures(t.schema, t.name) and t.replica_identity in ("d", "i") and _identifies_rows(t)]
    if not keyed:
        return []
    shown = ", ".join(keyed[:10]) + (f" and {len(keyed) - 10} more" if len(keyed) > 10 else "")
    fix = "ALTER TABLE <table> REPLICA IDENTITY FULL, where consumers need the old row"
    return [Finding("replica identity", Severity.INFO, f"{len(keyed)} captured table(s) have REPLICA IDENTITY "
                    f"DEFAULT or USING INDEX: their update events have no `before` (unless the key changed) and their "
                    f"delete events only the key columns (as Debezium's do): {shown}; {fix}", fix)]


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
