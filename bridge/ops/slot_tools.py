"""`bridge slot`: the slot's status, and the plans of the commands that change it.

Reading (`read_status`) and deciding (`plan_*`, pure: facts in, a `Plan` or a refusal out) are
apart from doing (`carry_out`), so the plan an operator confirms is exactly what runs, and the
refusals are tested without a server. Every SQL statement is `bridge.source.slots`'s.

What each change costs, in PostgreSQL's terms: a logical slot replays every transaction that
commits at or after its confirmed position. Advancing it skips the transactions in between;
dropping or recreating it starts a new slot at the WAL position of that moment, so the
transactions committed after the old position and before the new one are never replayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import psycopg2.extensions

from bridge.errors import ReplicationSetupError
from bridge.lsn import format_lsn, parse_lsn
from bridge.source.catalog import TableFacts, inspect_tables
from bridge.source.publication import inspect_publication
from bridge.source.slots import (
    SlotFacts,
    advance_slot,
    create_slot,
    current_wal_lsn,
    drop_slot,
    inspect_slot,
)

# pg_class.relreplident, as ALTER TABLE ... REPLICA IDENTITY spells it
IDENTITY = {"d": "default", "n": "nothing", "f": "full", "i": "index"}
BACKFILL = ("to bring the rows they changed to Kafka, run an incremental snapshot of the tables "
            "(an execute-snapshot signal, see README 'Incremental snapshots')")


def parse_lsn_argument(text: str) -> int:
    """An LSN as PostgreSQL prints it (`16/B374D848`) or as a number (pgbridge's metrics, a
    Debezium offset's `lsn`)."""
    try:
        return int(text) if text.isdigit() else parse_lsn(text)
    except ValueError:
        raise ReplicationSetupError(f"{text!r} is not an LSN: write it as 16/B374D848 or as a number") from None


@dataclass(frozen=True, slots=True)
class TableIdentity:
    schema: str
    name: str
    identity: str  # default / nothing / full / index
    has_primary_key: bool


@dataclass(frozen=True, slots=True)
class SlotStatus:
    slot_name: str
    slot: SlotFacts | None  # None: there is no such slot
    current_lsn: int  # pg_current_wal_lsn()
    publication: str
    publication_exists: bool
    all_tables: bool
    tables: tuple[TableIdentity, ...]  # what the publication publishes

    @property
    def restart_lag(self) -> int | None:
        """WAL bytes the slot keeps on disk: pg_current_wal_lsn() - restart_lsn."""
        return _lag(self.current_lsn, self.slot.restart_lsn if self.slot else None)

    @property
    def confirmed_lag(self) -> int | None:
        """WAL bytes not yet confirmed by the slot's consumer: pg_current_wal_lsn() - confirmed_flush_lsn."""
        return _lag(self.current_lsn, self.slot.confirmed_flush_lsn if self.slot else None)

    def as_json(self) -> dict:
        s = self.slot
        return {
            "slot": self.slot_name, "exists": s is not None,
            "plugin": s.plugin if s else None, "database": s.database if s else None,
            "active_pid": s.active_pid if s else None,
            "restart_lsn": _shown(s.restart_lsn) if s else None,
            "confirmed_flush_lsn": _shown(s.confirmed_flush_lsn) if s else None,
            "current_wal_lsn": format_lsn(self.current_lsn),
            "restart_lag_bytes": self.restart_lag, "confirmed_lag_bytes": self.confirmed_lag,
            "wal_status": s.wal_status if s else None, "safe_wal_size_bytes": s.safe_wal_size if s else None,
            "publication": self.publication, "publication_exists": self.publication_exists,
            "publication_all_tables": self.all_tables,
            "tables": [{"schema": t.schema, "table": t.name, "replica_identity": t.identity,
                        "primary_key": t.has_primary_key} for t in self.tables],
        }

    def lines(self) -> list[str]:
        s = self.slot
        rows = [("slot", self.slot_name + ("" if s else " (does not exist)"))]
        if s is not None:
            rows += [
                ("plugin", f"{s.plugin} ({s.slot_type}, database {s.database})"),
                ("active pid", str(s.active_pid) if s.active else "none (no consumer is streaming)"),
                ("restart_lsn", f"{_shown(s.restart_lsn)}  lag {_bytes(self.restart_lag)}"),
                ("confirmed_flush_lsn", f"{_shown(s.confirmed_flush_lsn)}  lag {_bytes(self.confirmed_lag)}"),
            ]
        rows.append(("pg_current_wal_lsn", format_lsn(self.current_lsn)))
        if s is not None:
            rows += [("wal_status", str(s.wal_status)),
                     ("safe_wal_size", "unlimited (max_slot_wal_keep_size=-1)" if s.safe_wal_size is None
                      and s.wal_status != "lost" else _bytes(s.safe_wal_size))]
        published = ("FOR ALL TABLES" if self.all_tables else f"{len(self.tables)} table(s)") \
            if self.publication_exists else "does not exist"
        rows.append(("publication", f"{self.publication} ({published})"))
        width = max(len(k) for k, _ in rows)
        out = [f"{k:<{width}}  {v}" for k, v in rows]
        if self.tables:
            name_width = max(len(f"{t.schema}.{t.name}") for t in self.tables)
            out += ["", f"{'table':<{name_width}}  replica identity"]
            out += [f"{t.schema + '.' + t.name:<{name_width}}  {t.identity}"
                    + (" (no primary key: no key, no before-image)" if t.identity == "default" and not t.has_primary_key
                       else "") for t in self.tables]
        return out


def read_status(conn: psycopg2.extensions.connection, slot_name: str, publication: str) -> SlotStatus:
    """Read-only: the slot, the current WAL position, the publication's tables."""
    current = current_wal_lsn(conn)  # first: no lag comes out negative
    slot = inspect_slot(conn, slot_name)
    pub = inspect_publication(conn, publication)
    tables: tuple[TableFacts, ...] = ()
    if pub is not None:
        published = set(pub.tables)  # pg_publication_tables lists a FOR ALL TABLES one's tables too
        tables = tuple(t for t in inspect_tables(conn) if (t.schema, t.name) in published)
    return SlotStatus(slot_name, slot, current, publication, pub is not None, bool(pub and pub.all_tables),
                      tuple(TableIdentity(t.schema, t.name, IDENTITY.get(t.replica_identity, t.replica_identity),
                                          t.has_primary_key) for t in tables))


@dataclass(frozen=True, slots=True)
class Plan:
    """What a command will do (`steps`) and what it costs (`losses`), printed before it runs."""

    action: str  # create | drop | advance | recreate
    slot_name: str
    steps: tuple[str, ...]
    losses: tuple[str, ...] = ()
    target: int = 0  # advance: the LSN to move to; recreate: the known-good LSN
    drop_first: bool = False  # recreate: an old slot to drop before creating the new one

    @property
    def destructive(self) -> bool:
        return self.action != "create"

    def lines(self) -> list[str]:
        return ([f"will {step}" for step in self.steps]
                + [f"LOST: {loss}" for loss in self.losses])


def plan_create(status: SlotStatus, snapshot_mode: str, takes_snapshot: bool, at_current: bool) -> Plan:
    """`takes_snapshot`: the snapshot mode would take an initial snapshot for a missing slot, which
    a slot created here skips (the decoder finds it and streams)."""
    name = status.slot_name
    if status.slot is not None:
        raise ReplicationSetupError(f"replication slot {name!r} already exists (confirmed at "
                                    f"{_shown(status.slot.confirmed_flush_lsn)}); nothing to create")
    if takes_snapshot and not at_current:
        raise ReplicationSetupError(
            f"snapshot.mode={snapshot_mode} takes an initial snapshot when slot {name!r} is missing, and a slot "
            "created now skips it: streaming would start at the current WAL position. Pass --at-current to create "
            "it anyway, or let `bridge run` create it with the snapshot")
    return Plan("create", name, (f"create logical slot {name!r} (pgoutput) at the current WAL position, about "
                                 f"{format_lsn(status.current_lsn)}; it keeps WAL from there until a bridge "
                                 "confirms it",))


def plan_drop(status: SlotStatus) -> Plan:
    slot = _existing(status)
    _idle(slot, "drop")
    return Plan("drop", slot.name, (f"drop replication slot {slot.name!r} (confirmed at "
                                    f"{_shown(slot.confirmed_flush_lsn)}, holding {_bytes(status.restart_lag)} of WAL)",),
                (f"the next `bridge run` starts a new slot at the WAL position of that moment: changes committed "
                 f"after {_shown(slot.confirmed_flush_lsn)} and before then are not streamed; {BACKFILL}",))


def plan_advance(status: SlotStatus, target: int) -> Plan:
    slot = _existing(status)
    _idle(slot, "advance")
    confirmed = slot.confirmed_flush_lsn or 0
    if slot.wal_status == "lost":
        raise ReplicationSetupError(f"replication slot {slot.name!r} is lost (wal_status=lost): it cannot be "
                                    "advanced; recreate it with `bridge slot recreate --from LSN`")
    if target < confirmed:
        raise ReplicationSetupError(f"refusing to move slot {slot.name!r} backwards: {format_lsn(target)} is before "
                                    f"its confirmed_flush_lsn {format_lsn(confirmed)} (a slot only moves forward: "
                                    "PostgreSQL may already have removed that WAL)")
    if target > status.current_lsn:
        raise ReplicationSetupError(f"refusing to move slot {slot.name!r} past the WAL written so far: "
                                    f"{format_lsn(target)} is after pg_current_wal_lsn() "
                                    f"{format_lsn(status.current_lsn)}")
    if target == confirmed:
        return Plan("advance", slot.name, (f"leave slot {slot.name!r} where it is: it is at {format_lsn(target)}",),
                    target=target)
    return Plan("advance", slot.name, (f"advance slot {slot.name!r} from {format_lsn(confirmed)} to "
                                       f"{format_lsn(target)}",),
                (f"changes committed after {format_lsn(confirmed)} and before {format_lsn(target)} "
                 f"({_bytes(target - confirmed)} of WAL) are skipped: never sent to Kafka; {BACKFILL}",),
                target=target)


def plan_recreate(status: SlotStatus, known_good: int) -> Plan:
    """A new slot for disaster recovery: `known_good` is the last position whose changes are
    known to be in Kafka (pgbridge's pgbridge_confirmed_lsn, or a Debezium offset's lsn)."""
    name, slot, current = status.slot_name, status.slot, status.current_lsn
    if known_good > current:
        raise ReplicationSetupError(f"--from {format_lsn(known_good)} is after pg_current_wal_lsn() "
                                    f"{format_lsn(current)}: not a position of this server's WAL")
    steps, losses = [], []
    if slot is not None:
        _idle(slot, "recreate")
        steps.append(f"drop replication slot {name!r} (wal_status={slot.wal_status}, confirmed at "
                     f"{_shown(slot.confirmed_flush_lsn)})")
        confirmed = slot.confirmed_flush_lsn or 0
        if slot.wal_status != "lost" and confirmed <= known_good:
            losses.append(f"slot {name!r} still holds the WAL from {format_lsn(confirmed)}: `bridge slot advance "
                          f"--to {format_lsn(known_good)}` would keep every change after {format_lsn(known_good)}")
    steps.append(f"create logical slot {name!r} (pgoutput) at the current WAL position, about {format_lsn(current)}")
    losses.append(f"changes committed after {format_lsn(known_good)} and before the new slot's position (about "
                  f"{format_lsn(current)}, {_bytes(current - known_good)} of WAL) are not replayed by PostgreSQL; "
                  f"{BACKFILL}")
    return Plan("recreate", name, tuple(steps), tuple(losses), target=known_good, drop_first=slot is not None)


def carry_out(conn: psycopg2.extensions.connection, plan: Plan, say: Callable[[str], None]) -> None:
    """Run a confirmed plan; `say` reports each result."""
    name = plan.slot_name
    if plan.action == "advance":
        reached = advance_slot(conn, name, plan.target)
        say(f"slot {name!r} is at {format_lsn(reached)}")
        return
    if plan.action == "drop" or plan.drop_first:
        drop_slot(conn, name, wait_s=2.0, why=f"bridge slot {plan.action}")
        say(f"dropped slot {name!r}")
    if plan.action in ("create", "recreate"):
        create_slot(conn, name)
        slot = inspect_slot(conn, name)
        start = _shown(slot.confirmed_flush_lsn if slot else None)
        say(f"created slot {name!r}: streaming starts at {start}")
        if plan.action == "recreate":
            say(f"not replayed: changes committed after {format_lsn(plan.target)} and before {start}; {BACKFILL}")


def _existing(status: SlotStatus) -> SlotFacts:
    if status.slot is None:
        raise ReplicationSetupError(f"replication slot {status.slot_name!r} does not exist")
    return status.slot


def _idle(slot: SlotFacts, action: str) -> None:
    if slot.active:
        raise ReplicationSetupError(f"cannot {action} replication slot {slot.name!r}: process {slot.active_pid} is "
                                    "streaming from it; stop that bridge first")


def _lag(current: int, lsn: int | None) -> int | None:
    return None if lsn is None else max(0, current - lsn)


def _shown(lsn: int | None) -> str:
    return "none" if lsn is None else format_lsn(lsn)


def _bytes(n: int | None) -> str:
    if n is None:
        return "n/a"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit} ({n} bytes)"
    return f"{n} bytes"
