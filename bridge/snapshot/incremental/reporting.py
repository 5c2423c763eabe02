"""What the incremental snapshot reports through Debezium's notifications (`Incremental Snapshot`).

The state machine (`machine`) says what happens; this module turns it into the notifications
Debezium 3.7 sends at the same steps (`bridge.notify.notification`), with Debezium's
correlation id: the id of the latest execute-snapshot signal that added tables, forgotten once
the snapshot completes or is stopped. Without notifications (`notifier` None) nothing is built.
"""

from __future__ import annotations

from collections.abc import Iterable

from bridge.notify.channels import Notifier
from bridge.notify.notification import IncrementalSnapshotNotifications, TableProgress, java_key_text
from bridge.snapshot.incremental.tables import SnapshotTable


def _names(queue: Iterable[SnapshotTable]) -> list[str]:
    return [t.ref.qualified for t in queue]


def _key_text(values: Iterable[str | bytes | None], types: tuple[str, ...]) -> str:
    texts = (None if v is None else v.decode("utf-8") if isinstance(v, bytes) else v for v in values)
    return ",".join(java_key_text(v, t) for v, t in zip(texts, types))


class Report:
    """The notifications of one incremental snapshot machine."""

    def __init__(self, notifier: Notifier | None, connector: str, chunk_size: int) -> None:
        self._notifier = notifier
        self._notes = IncrementalSnapshotNotifications(connector, chunk_size)
        self.correlation_id: str | None = None

    @property
    def on(self) -> bool:
        return self._notifier is not None

    def started(self, queue: Iterable[SnapshotTable]) -> None:
        if self._notifier is not None:
            names = _names(queue)
            self._notifier.send(self._notes.started(self.correlation_id, names))
            self._notifier.send(self._notes.resolved(self.correlation_id, names))

    def paused(self, queue: Iterable[SnapshotTable]) -> None:
        if self._notifier is not None:
            self._notifier.send(self._notes.paused(self.correlation_id, _names(queue)))

    def resumed(self, queue: Iterable[SnapshotTable]) -> None:
        if self._notifier is not None:
            self._notifier.send(self._notes.resumed(self.correlation_id, _names(queue)))

    def in_progress(self, queue: Iterable[SnapshotTable], table: SnapshotTable,
                    last_key: tuple[bytes | None, ...]) -> None:
        if self._notifier is not None:
            at = TableProgress(table.ref.qualified,
                               None if table.max_key is None else _key_text(table.max_key, table.key_types),
                               _key_text(last_key, table.key_types), table.total_rows, table.scanned)
            self._notifier.send(self._notes.in_progress(self.correlation_id, _names(queue), at))

    def table_done(self, queue: Iterable[SnapshotTable], table: SnapshotTable, status: str) -> None:
        """TABLE_SCAN_COMPLETED, `queue` still holding `table`."""
        if self._notifier is not None:
            self._notifier.send(self._notes.table_completed(self.correlation_id, _names(queue), table.ref.qualified,
                                                            table.scanned, status, table.total_rows))

    def completed(self) -> None:
        if self._notifier is not None:
            self._notifier.send(self._notes.completed(self.correlation_id))
        self.correlation_id = None

    def aborted(self, stopped: list[str]) -> None:
        if self._notifier is not None:
            self._notifier.send(self._notes.aborted(self.correlation_id, stopped))
