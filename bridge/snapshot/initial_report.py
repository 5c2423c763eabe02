"""What the initial snapshot reports through Debezium's notifications (`Initial Snapshot`).

Debezium 3.7 sends, for a snapshot: STARTED; DATA_COLLECTIONS_RESOLVED once it knows its tables;
per table read, IN_PROGRESS as it starts and TABLE_SCAN_COMPLETED at its end; then COMPLETED,
or ABORTED when it fails. A start that takes no snapshot (the slot exists, `no_data`, a
cut-over) sends SKIPPED. pgbridge sends COMPLETED once Kafka has acknowledged every snapshot
record. With `snapshot.max.threads` > 1 Debezium reads tables in chunks and reports chunks
(TABLE_CHUNK_*); pgbridge emits tables one after another and reports them as Debezium does with
one thread.

The table lists are Debezium's three: `listed` (the snapshot's captured tables, the signal
table included; sorted for DATA_COLLECTIONS_RESOLVED, in capture order for
TABLE_SCAN_COMPLETED) and the tables whose rows are read (IN_PROGRESS, as a Java HashSet).
"""

from __future__ import annotations

from bridge.notify.channels import Notifier
from bridge.notify.notification import InitialSnapshotNotifications
from bridge.snapshot.plan import TablePlan


class InitialReport:
    def __init__(self, notifier: Notifier | None, connector: str) -> None:
        self._notifier = notifier
        self._notes = InitialSnapshotNotifications(connector)
        self._listed: list[str] = []
        self._read: list[str] = []

    def skipped(self) -> None:
        if self._notifier is not None:
            self._notifier.send(self._notes.skipped())

    def started(self) -> None:
        if self._notifier is not None:
            self._notifier.send(self._notes.started())

    def resolved(self, listed: list[tuple[str, str]], plans: list[TablePlan]) -> None:
        """The snapshot's tables are known: `listed` in capture order, and those it reads."""
        self._listed = [f"{schema}.{name}" for schema, name in listed]
        self._read = [plan.name for plan in plans]
        if self._notifier is not None:
            self._notifier.send(self._notes.resolved(self._listed))

    def table_started(self, plan: TablePlan) -> None:
        if self._notifier is not None:
            self._notifier.send(self._notes.in_progress(plan.name, self._read))

    def table_done(self, plan: TablePlan, rows: int) -> None:
        if self._notifier is not None:
            self._notifier.send(self._notes.table_completed(plan.name, rows, self._listed))

    def completed(self) -> None:
        if self._notifier is not None:
            self._notifier.send(self._notes.completed())

    def aborted(self) -> None:
        if self._notifier is not None:
            self._notifier.send(self._notes.aborted())
