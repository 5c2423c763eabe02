"""Reading a snapshot plan with one or more worker threads, all inside the same exported snapshot.

Each worker owns one snapshot session and takes the plan's queries (table by table, chunk by
chunk) in plan order. Threads, not processes: psycopg2 releases the GIL while it waits for each
COPY row, so workers overlap the servers' work (scan + output functions) with each other and
with the consumer. Parsing holds the GIL (about 1.4 µs of client CPU per row measured on a
7-column table), which caps one process near 700k rows/s however many threads run; beyond that
only processes help, and handing rows from one process to another costs about a third of
reading them (pickling through a multiprocessing queue), so a process split belongs where the
rows are also converted and produced, not in this reader.

Emission order: tables one after another, in plan order (Debezium's); a table's batches are
contiguous, its chunks' batches interleaved in arrival order. That is what lets every batch say
whether it holds the table's first / last row, hence Debezium's `source.snapshot` markers
(`SnapshotBatch.marker`). Batches of later tables that workers read ahead wait in memory;
memory stays bounded because a worker blocks once `max_buffered` batches wait, except for the
table being emitted, which has its own allowance of `max_buffered`. This cannot deadlock: work
is handed out in plan order, so every unfinished chunk of the table being emitted is already
in a worker's hands, and that worker is never blocked by the other tables.

Debezium with `snapshot.max.threads` > 1 emits tables concurrently and never marks `first`;
here markers are always the serial ones: `first` on the first row of the first table (none when
that table is empty, like Debezium), `last` on the very last row of the snapshot.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

import psycopg2
import psycopg2.errors
import psycopg2.extensions

from bridge.errors import BridgeError, ConnectionFailed, ReplicationSetupError
from bridge.snapshot.copytext import Row
from bridge.snapshot.plan import TablePlan
from bridge.snapshot.reader import copy_rows

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SnapshotBatch:
    table: TablePlan
    rows: list[Row]  # pgoutput text values in `table.relation.columns` order
    first_in_table: bool  # rows[0] is the table's first row
    last_in_table: bool  # rows[-1] is the table's last row
    first_table: bool  # the table is the first of the plan
    last: bool  # rows[-1] is the snapshot's last row

    def marker(self, index: int) -> str:
        """Debezium's `source.snapshot` value for rows[index] (setSnapshotMarker, then the
        snapshot receiver re-marking the final record `last`)."""
        first = index == 0 and self.first_in_table
        final = index == len(self.rows) - 1
        if final and self.last:
            return "last"
        if first and self.first_table:
            return "first"
        if final and self.last_in_table:
            return "last_in_data_collection"
        if first:
            return "first_in_data_collection"
        return "true"


@dataclass(frozen=True, slots=True)
class SnapshotProgress:
    rows: int  # rows handed to the consumer so far
    estimated_rows: int | None  # None when a table was never analyzed
    tables_done: int
    tables: int
    elapsed_s: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def percent(self) -> float | None:
        if not self.estimated_rows:
            return None
        return min(100.0, 100.0 * self.rows / self.estimated_rows)

    @property
    def eta_s(self) -> float | None:
        if not self.estimated_rows or not self.rows_per_s:
            return None
        return max(0.0, (self.estimated_rows - self.rows) / self.rows_per_s)

    def __str__(self) -> str:
        of = f" of ~{self.estimated_rows:,}" if self.estimated_rows is not None else ""
        pct = f" ({self.percent:.1f}%)" if self.percent is not None else ""
        eta = f", ETA {self.eta_s:.0f}s" if self.eta_s is not None else ""
        return (f"snapshot: {self.rows:,}{of} rows{pct}, {self.tables_done}/{self.tables} tables, "
                f"{self.rows_per_s:,.0f} rows/s{eta}")


class _Stopped(Exception):
    """Raised inside a worker's COPY to abandon it when the reader closes."""


class SnapshotReader:
    """Iterate `SnapshotBatch`es of `tables`, read by one worker thread per session.

    `sessions` are snapshot sessions (`reader.open_snapshot_session`), all importing the same
    snapshot; the reader owns them and closes them (ending their transactions) when iteration
    ends or `close()` is called. Use as a context manager or iterate to the end."""

    def __init__(
        self,
        sessions: Sequence[psycopg2.extensions.connection],
        tables: Sequence[TablePlan],
        *,
        fetch_size: int = 10240,
        max_buffered: int | None = None,
        progress: Callable[[SnapshotProgress], None] | None = None,
        progress_interval_s: float = 5.0,
        table_started: Callable[[TablePlan], None] | None = None,
        table_done: Callable[[TablePlan, int], None] | None = None,
    ) -> None:
        """`table_started(plan)` and `table_done(plan, rows)` run as emission reaches a table
        and passes its last row (the notifications of `bridge.snapshot.initial_report`)."""
        if not sessions:
            raise ValueError("a snapshot reader needs at least one session")
        self._sessions = list(sessions)
        self._tables = list(tables)
        self._fetch_size = fetch_size
        self._limit = max_buffered or 2 * len(sessions)
        self._progress = progress
        self._interval = progress_interval_s
        self._table_started = table_started
        self._table_done = table_done
        self._tasks = deque((t, q) for t, plan in enumerate(self._tables) for q in plan.queries)
        self._chunks_left = [len(plan.queries) for plan in self._tables]
        self._buffers: list[deque[list[Row]]] = [deque() for _ in self._tables]
        self._buffered = 0  # batches waiting in every table's buffer but the current one's
        self._current = 0  # the table being emitted
        self._error: BaseException | None = None
        self._stopping = False
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        estimates = [plan.estimated_rows for plan in self._tables]
        self._estimate = None if None in estimates else sum(e for e in estimates if e is not None)

    def __enter__(self) -> SnapshotReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[SnapshotBatch]:
        if self._threads:
            raise RuntimeError("a SnapshotReader can be iterated once")
        self._threads = [
            threading.Thread(target=self._work, args=(conn,), name=f"snapshot-{n}", daemon=True)
            for n, conn in enumerate(self._sessions)
        ]
        for thread in self._threads:
            thread.start()
        try:
            yield from self._emit()
        finally:
            self.close()

    def close(self) -> None:
        """Stop the workers (cancelling running COPYs) and close the sessions."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for conn in self._sessions:
            if not conn.closed:
                with contextlib.suppress(psycopg2.Error):  # a broken connection has nothing to cancel
                    conn.cancel()
        for thread in self._threads:
            thread.join()
        for conn in self._sessions:
            conn.close()

    # --- consumer side ----------------------------------------------------------------------

    def _emit(self) -> Iterator[SnapshotBatch]:
        started = last_report = time.monotonic()
        rows_done = 0
        pending: SnapshotBatch | None = None  # held back until we know whether it is a last one
        for index, plan in enumerate(self._tables):
            log.info("snapshot: reading %s (%d of %d tables, %d quer%s)", plan.name, index + 1, len(self._tables),
                     len(plan.queries), "y" if len(plan.queries) == 1 else "ies")
            if self._table_started is not None:
                self._table_started(plan)
            first, table_rows = True, 0
            while (rows := self._next_batch(index)) is not None:
                if pending is not None:
                    yield pending
                pending = SnapshotBatch(plan, rows, first, False, index == 0, False)
                first = False
                rows_done += len(rows)
                table_rows += len(rows)
                if time.monotonic() - last_report >= self._interval:
                    self._report(rows_done, index, started)
                    last_report = time.monotonic()
            if pending is not None and pending.table is plan:
                pending = replace(pending, last_in_table=True)
            log.info("snapshot: %s done, %d rows", plan.name, table_rows)
            if self._table_done is not None:
                self._table_done(plan, table_rows)
        if pending is not None:
            yield replace(pending, last=True)
        self._report(rows_done, len(self._tables), started)

    def _next_batch(self, index: int) -> list[Row] | None:
        """The next batch of table `index`, or None once the table is complete."""
        with self._cond:
            if self._current != index:
                self._current = index
                self._buffered -= len(self._buffers[index])  # it now uses its own allowance
                self._cond.notify_all()
            buffer = self._buffers[index]
            while not buffer and self._chunks_left[index] and self._error is None:
                self._cond.wait()
            if self._error is not None:
                raise self._error
            if not buffer:
                return None
            self._cond.notify_all()
            return buffer.popleft()

    def _report(self, rows: int, tables_done: int, started: float) -> None:
        progress = SnapshotProgress(rows, self._estimate, tables_done, len(self._tables), time.monotonic() - started)
        log.info("%s", progress)
        if self._progress is not None:
            self._progress(progress)

    # --- worker side ------------------------------------------------------------------------

    def _work(self, conn: psycopg2.extensions.connection) -> None:
        while True:
            with self._cond:
                if self._stopping or self._error is not None or not self._tasks:
                    return
                index, query = self._tasks.popleft()
            plan = self._tables[index]
            try:
                copy_rows(conn, query, len(plan.relation.columns), batch_rows=self._fetch_size,
                          emit=functools.partial(self._put, index))
            except _Stopped:
                return
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
                with self._cond:
                    if not self._stopping and self._error is None:
                        self._error = _classify(exc, plan)
                    self._cond.notify_all()
                return
            with self._cond:
                self._chunks_left[index] -= 1
                self._cond.notify_all()

    def _put(self, index: int, rows: list[Row]) -> None:
        with self._cond:
            while not self._stopping and not self._may_buffer(index):
                self._cond.wait()
            if self._stopping:
                raise _Stopped
            self._buffers[index].append(rows)
            if index != self._current:
                self._buffered += 1
            self._cond.notify_all()

    def _may_buffer(self, index: int) -> bool:
        if index == self._current:
            return len(self._buffers[index]) < self._limit
        return self._buffered < self._limit


def _classify(exc: BaseException, plan: TablePlan) -> BaseException:
    """Database errors as `BridgeError`s naming the table; anything else is a bug, kept as is."""
    where = f"snapshot of {plan.name}"
    if isinstance(exc, psycopg2.errors.InsufficientPrivilege):
        return ReplicationSetupError(f"{where}: {exc.pgerror.strip()} (the user needs SELECT on the table)")
    if isinstance(exc, psycopg2.OperationalError):
        return ConnectionFailed(f"{where}: connection lost: {str(exc).strip()}")
    if isinstance(exc, psycopg2.Error):
        return BridgeError(f"{where} failed: {(exc.pgerror or str(exc)).strip()}")
    return exc
