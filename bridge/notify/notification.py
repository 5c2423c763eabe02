"""A notification, and what Debezium 3.7 puts in each one it sends about snapshots.

A notification has an id, an aggregate type (`Initial Snapshot`, `Incremental Snapshot`), a type
(STARTED, IN_PROGRESS, ...), `additional_data` (strings by name; always `connector_name`, the
`topic.prefix`) and a timestamp in epoch milliseconds. Debezium's services
(`InitialSnapshotNotificationService`, `IncrementalSnapshotNotificationService`) build
`additional_data` as a `java.util.HashMap`: each builder below repeats their steps (which map,
which puts, in which order) so that the entries come out in Java's order (`java_order`).

Where Debezium copies a `Map.of(...)`, Java iterates that immutable map in an order drawn at
random when the JVM starts, and entries that share a HashMap bucket keep it. The one such case
is `status` and `data_collections` of an initial snapshot's TABLE_SCAN_COMPLETED (same bucket):
Debezium writes them in either order from one run to the next; pgbridge writes them in the
order of Debezium's source (`data_collections` first).

Table names are Debezium's identifiers (`schema.table`); key values are written as Java's
`toString` of what JDBC returns, which is PostgreSQL's text for integer, text, uuid, numeric
and date keys, and `true`/`false` for booleans.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bridge.notify.java_order import JavaHashMap, hash_set_order, string_order

INITIAL = "Initial Snapshot"
INCREMENTAL = "Incremental Snapshot"

# TableScanCompletionStatus values
SUCCEEDED, EMPTY, NO_PRIMARY_KEY, SKIPPED, SQL_EXCEPTION, UNKNOWN_SCHEMA = (
    "SUCCEEDED", "EMPTY", "NO_PRIMARY_KEY", "SKIPPED", "SQL_EXCEPTION", "UNKNOWN_SCHEMA")

_NULL = "<null>"


@dataclass(frozen=True, slots=True)
class Notification:
    id: str
    aggregate_type: str
    type: str
    additional_data: tuple[tuple[str, str], ...]  # in Debezium's order
    timestamp: int  # epoch milliseconds

    def __str__(self) -> str:
        """`Notification.toString`, which the log channel writes."""
        data = ", ".join(f"{k}={v}" for k, v in self.additional_data)
        return (f"{{id='{self.id}', aggregateType='{self.aggregate_type}', type='{self.type}', "
                f"additionalData={{{data}}}, timestamp={self.timestamp}}}")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _build(id_: str, aggregate: str, type_: str, data: Iterable[tuple[str, str]], connector: str) -> Notification:
    """`buildNotificationWith`: a copy of `data` (a map's entries in its order) plus
    `connector_name`."""
    full = JavaHashMap.copy_of(data)
    full.put("connector_name", connector)
    return Notification(id_, aggregate, type_, tuple(full.items()), _now_ms())


def _joined(names: Iterable[str]) -> str:
    return ",".join(names)


def java_key_text(value: str | None, type_name: str) -> str:
    """A key column's value as Java's `Objects.toString(value, "<null>")` prints what JDBC read."""
    if value is None:
        return _NULL
    if type_name == "boolean":
        return {"t": "true", "f": "false"}.get(value, value)
    return value


class InitialSnapshotNotifications:
    """The notifications of the initial snapshot (`Initial Snapshot`); each id is a fresh UUID.

    `resolved`, `in_progress` and `table_completed` take three views of the tables that Debezium
    keeps: every captured table the snapshot covers including the signal table (as a sorted
    TreeSet, and in capture order), and the tables whose rows are read (as a HashSet)."""

    def __init__(self, connector: str) -> None:
        self.connector = connector

    def _make(self, type_: str, data: Sequence[tuple[str, str]] = ()) -> Notification:
        return _build(str(uuid.uuid4()), INITIAL, type_, data, self.connector)

    def started(self) -> Notification:
        return self._make("STARTED")

    def skipped(self) -> Notification:
        return self._make("SKIPPED")

    def completed(self) -> Notification:
        return self._make("COMPLETED")

    def aborted(self) -> Notification:
        return self._make("ABORTED")

    def resolved(self, captured: Iterable[str]) -> Notification:
        """DATA_COLLECTIONS_RESOLVED: the captured tables, sorted (a TreeSet)."""
        return self._make("DATA_COLLECTIONS_RESOLVED", [("data_collections", _joined(string_order(captured)))])

    def in_progress(self, table: str, read: Iterable[str]) -> Notification:
        """IN_PROGRESS as `table` starts; `read`: the tables whose rows the snapshot reads."""
        return self._make("IN_PROGRESS", [("current_collection_in_progress", table),
                                          ("data_collections", _joined(hash_set_order(read)))])

    def table_completed(self, table: str, rows: int, captured_in_order: Iterable[str]) -> Notification:
        """TABLE_SCAN_COMPLETED of a table read to its end."""
        return self._make("TABLE_SCAN_COMPLETED", [
            ("scanned_collection", table), ("data_collections", _joined(captured_in_order)),
            ("total_rows_scanned", str(rows)), ("status", SUCCEEDED)])

    def table_failed(self, table: str) -> Notification:
        """TABLE_SCAN_COMPLETED of a table whose reading failed."""
        return self._make("TABLE_SCAN_COMPLETED", [("scanned_collection", table), ("status", SQL_EXCEPTION)])


@dataclass(frozen=True, slots=True)
class TableProgress:
    """Where an incremental snapshot stands in its current table."""

    table: str
    maximum_key: str | None  # the key columns' values joined by ",", None when unknown
    last_key: str  # the last key read, joined by ","
    total_rows: int | None  # the estimate or count of rows up to the maximum key, None when unknown
    rows_scanned: int  # rows read so far


class IncrementalSnapshotNotifications:
    """The notifications of incremental snapshots (`Incremental Snapshot`). Their id is the id of
    the signal that asked for the snapshot (a fresh UUID when it has none); `queue` is the
    tables still to read, the current one first."""

    def __init__(self, connector: str, chunk_size: int) -> None:
        self.connector = connector
        self.chunk_size = chunk_size

    def _make(self, signal_id: str | None, type_: str, data: Iterable[tuple[str, str]]) -> Notification:
        return _build(signal_id or str(uuid.uuid4()), INCREMENTAL, type_, data, self.connector)

    def _collections(self, signal_id: str | None, type_: str, queue: Sequence[str]) -> Notification:
        return self._make(signal_id, type_, [("data_collections", _joined(queue))])

    def started(self, signal_id: str | None, queue: Sequence[str]) -> Notification:
        return self._collections(signal_id, "STARTED", queue)

    def resolved(self, signal_id: str | None, queue: Sequence[str]) -> Notification:
        return self._collections(signal_id, "DATA_COLLECTIONS_RESOLVED", queue)

    def paused(self, signal_id: str | None, queue: Sequence[str]) -> Notification:
        return self._collections(signal_id, "PAUSED", queue)

    def resumed(self, signal_id: str | None, queue: Sequence[str]) -> Notification:
        return self._collections(signal_id, "RESUMED", queue)

    def aborted(self, signal_id: str | None, stopped: Sequence[str]) -> Notification:
        return self._collections(signal_id, "ABORTED", stopped)

    def completed(self, signal_id: str | None) -> Notification:
        return self._make(signal_id, "COMPLETED", ())

    def in_progress(self, signal_id: str | None, queue: Sequence[str], at: TableProgress) -> Notification:
        data = JavaHashMap()
        data.put("data_collections", _joined(queue))
        data.put("current_collection_in_progress", at.table)
        data.put("maximum_key", '"<null>"' if at.maximum_key is None else at.maximum_key)
        data.put("last_processed_key", at.last_key)
        if at.total_rows is not None:
            self._put_total_rows(data, at.total_rows, at.rows_scanned)
        return self._make(signal_id, "IN_PROGRESS", data.items())

    def _put_total_rows(self, data: JavaHashMap, total: int, scanned: int) -> None:
        data.put("total_rows", str(total))
        if self.chunk_size > 0:
            chunks = _ceil_div(total, self.chunk_size)
            data.put("total_chunks", str(chunks))
            data.put("chunk_index", str(min(_ceil_div(scanned, self.chunk_size), chunks)))

    def table_completed(self, signal_id: str | None, queue: Sequence[str], table: str, rows_scanned: int,
                        status: str, total_rows: int | None) -> Notification:
        data = JavaHashMap()
        data.put("data_collections", _joined(queue))
        data.put("scanned_collection", table)
        data.put("total_rows_scanned", str(rows_scanned))
        data.put("status", status)
        if total_rows is not None:
            data.put("total_rows", str(total_rows))
        return self._make(signal_id, "TABLE_SCAN_COMPLETED", data.items())


def _ceil_div(a: int, b: int) -> int:
    """Debezium's `ceilDiv`: (a + b - 1) / b, Java's truncating long division."""
    n = a + b - 1
    return n // b if n >= 0 else -(-n // b)
