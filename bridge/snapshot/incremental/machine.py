"""The incremental snapshot's state machine (how it works: `bridge.snapshot.incremental`).

Driven by the decoder: the router hands it, in WAL order, the signal table's rows, the changes
of the table whose chunk is in flight, and Relation and Truncate messages (`router_hooks`); the
decoder loop calls `tick` between stream reads to act on the signals its channels bring
(`channels`: the signal table, Kafka), store the progress, tell the channels what is stored, and
read the next chunk. A chunk's rows go out through an `Emitter`; what happens is reported as
Debezium's notifications (`reporting`).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence

import psycopg2

from bridge.notify.channels import Notifier
from bridge.notify.notification import EMPTY, NO_PRIMARY_KEY, SQL_EXCEPTION, SUCCEEDED
from bridge.pgoutput.messages import Insert, Relation
from bridge.pgoutput.protocol import PgOutputDecoder
from bridge.route.hooks import RouterHooks, RowWatcher
from bridge.snapshot.incremental.channels import SignalChannel, SourceChannel
from bridge.snapshot.incremental.emitter import Emitter
from bridge.snapshot.incremental.progress import (
    PROGRESS,
    ProgressKeeper,
    dump_progress,
    key_text,
    parse_progress,
    restore,
)
from bridge.snapshot.incremental.signals import (
    LOG,
    PAUSE,
    RESUME,
    STOP,
    WINDOW_CLOSE,
    WINDOW_OPEN,
    Signal,
    parse_signal,
    signal_row,
    snapshot_request,
    tables_to_snapshot,
    tables_to_stop,
)
from bridge.snapshot.incremental.reporting import Report
from bridge.snapshot.incremental.sql import Database
from bridge.snapshot.incremental.tables import SnapshotTable
from bridge.snapshot.incremental.window import Chunk, Window, key_bytes, metadata
from bridge.source.catalog import TableInfo

log = logging.getLogger(__name__)

FLUSH_EVERY = 256  # rows pushed between checks that no ring batch grew too large
# how a table's end is logged, by its notification status
_HOW = {SUCCEEDED: "done", EMPTY: "done (empty)", NO_PRIMARY_KEY: "skipped", SQL_EXCEPTION: "skipped"}


def _shape(relation: Relation) -> tuple:
    return tuple((c.name, c.type_oid, c.type_modifier) for c in relation.columns)


class IncrementalSnapshot:
    """The incremental snapshot state machine. Built before the router, which takes its
    `router_hooks`; the decoder's output (`attach`) follows once the router is built."""

    def __init__(self, signal_table: str, chunk_size: int, db: Database,
                 describe: Callable[[Relation], TableInfo], *, acked_lsn: Callable[[], int],
                 progress_id: str, source_channel: bool = True, channels: Sequence[SignalChannel] = (),
                 notifier: Notifier | None = None, connector: str = "") -> None:
        """`acked_lsn()`: the coordinator's safe LSN, below which Kafka has acknowledged
        everything; `progress_id`: the id of this bridge's progress row in the signal table;
        `source_channel`: whether signals inserted into the signal table are acted on (its
        window markers always are); `channels`: the other signal channels; `notifier`: where
        notifications go, as connector `connector` (topic.prefix)."""
        self.signal_table = signal_table
        self.chunk_size = chunk_size
        self._db = db
        self._describe = describe
        self._decoder = PgOutputDecoder(proto_version=1)
        self._emitter: Emitter | None = None
        # What the router hands over before routing: the signal table's rows, and the rows of
        # the table whose chunk is in flight. The router reads this dict, never writes it.
        self._watched: dict[int, RowWatcher] = {}
        self._signal_relid: int | None = None
        self._source = SourceChannel() if source_channel else None
        self._channels: list[SignalChannel] = ([self._source] if self._source else []) + list(channels)
        self._queue: deque[SnapshotTable] = deque()  # tables still to read; [0] is the current one
        self._paused = False
        self._window = Window()
        self.rows_emitted = 0
        self._progress_id = progress_id
        self._progress = ProgressKeeper(lambda data: db.save_progress(progress_id, data), acked_lsn, signal_table)
        self._report = Report(notifier, connector, chunk_size)

    def router_hooks(self) -> RouterHooks:
        """What the router hands this snapshot."""
        return RouterHooks(watched=self._watched, on_relation=self.on_relation, on_truncate=self._window.on_truncate)

    def attach(self, emitter: Emitter) -> None:
        """Where chunks go: the router and ring batches, which exist only after the router took
        `router_hooks`. Before it, nothing is read."""
        self._emitter = emitter

    @property
    def running(self) -> bool:
        return bool(self._queue) or self._window.chunk is not None

    # -- hooks called by the router, in WAL order --------------------------------------------------

    def on_relation(self, msg: Relation) -> None:
        if f"{msg.namespace}.{msg.name}" == self.signal_table:
            if self._signal_relid is not None and self._signal_relid != msg.relation_id:
                self._watched.pop(self._signal_relid, None)
            self._signal_relid = msg.relation_id
            self._watched[msg.relation_id] = self.on_signal_row

    def on_signal_row(self, kind: str, relid: int, key: bytes, old_key: bytes | None, payload: bytes, lsn: int,
                      xid: int) -> None:
        if kind != "I":  # Debezium acts on inserts only (insert_insert watermarks)
            return
        msg = self._decoder.decode(payload)
        assert type(msg) is Insert
        row = signal_row(msg, self.signal_table)
        if row is None:
            return
        if row.type == WINDOW_OPEN:
            self._window.on_open(row.id or "")
        elif row.type == WINDOW_CLOSE:
            self._on_close(row.id or "", lsn)
        elif row.type != PROGRESS:
            if self._source is None:
                log.debug("signal %r in %s ignored: the source channel is not enabled", row.id, self.signal_table)
                return
            signal = parse_signal(row)
            if signal is not None:
                self._source.push(signal)

    def _on_close(self, id_: str, lsn: int) -> None:
        chunk = self._window.closing(id_)
        if chunk is None:
            return
        table = chunk.table
        assert table.relation is not None and self._emitter is not None
        emitter, relid = self._emitter, table.ref.oid
        streamed = emitter.relation(relid)
        if streamed is not None and _shape(streamed) != _shape(table.relation):
            # The table changed shape while the chunk was buffered: read the chunk again.
            log.info("incremental snapshot: %s changed its columns during a chunk; reading the chunk again",
                     table.ref.qualified)
            table.relation = None
            self._end_chunk()
            return
        if streamed is None:  # no change of the table streamed yet: describe it to the producers
            emitter.emit_relation(table.relation, lsn)
        for n, row in enumerate(chunk.rows.values(), 1):
            emitter.emit_snapshot_row(relid, row, lsn)
            if n % FLUSH_EVERY == 0:
                emitter.flush_full()
        emitted = len(chunk.rows)
        table.rows += emitted
        self.rows_emitted += emitted
        table.last_key = chunk.last_key
        log.debug("incremental snapshot: %s chunk done, %d rows emitted", table.ref.qualified, emitted)
        self._progress.chunk_emitted(lsn, chunk.progress_before, chunk.progress_generation)
        self._end_chunk()

    def _end_chunk(self) -> None:
        chunk = self._window.chunk
        if chunk is not None and chunk.table.ref.oid != self._signal_relid:
            self._watched.pop(chunk.table.ref.oid, None)
        self._window.chunk = None

    # -- the decoder loop's turn -------------------------------------------------------------------

    def tick(self) -> None:
        """Act on the signals that arrived and read the next chunk, unless a chunk is still in
        flight."""
        if self._window.chunk is not None:
            return
        try:
            for channel in self._channels:
                for signal in channel.read():
                    self._act(signal)
                channel.acted(self._progress.generation)
            self._progress.store(self._dump, bool(self._queue))
            for channel in self._channels:
                channel.stored(self._progress.stored_generation)
            if self._queue and not self._paused:
                self._read_chunk()
        except psycopg2.Error as exc:
            # Streaming goes on; the snapshot cannot (e.g. no right to write the signal table).
            log.error("incremental snapshot aborted: %s", (getattr(exc, "pgerror", None) or str(exc)).strip())
            self._end_chunk()
            self._queue.clear()
            self._paused = False
            self._progress.forget_unacked()

    def _dump(self) -> str:
        return dump_progress(self._queue, self._paused)

    def close(self) -> None:
        """Close the signal channels (the kafka channel commits what is stored)."""
        for channel in self._channels:
            channel.close()

    # -- progress across restarts ----------------------------------------------------------------

    def resume(self, *, new_slot: bool = False) -> None:
        """At start: queue again the snapshot a previous run left unfinished, if any. With a
        `new_slot` the stored progress belongs to an earlier slot's history and is cleared."""
        text = self._db.load_progress(self._progress_id)
        if text is None:
            return
        self._progress.loaded(text)
        if new_slot:
            self._progress.note_change()  # the next tick stores the empty queue
            return
        try:
            stored = parse_progress(text)
        except ValueError as exc:
            log.warning("incremental snapshot progress %r in %s is not readable (%s); not resumed",
                        self._progress_id, self.signal_table, exc)
            return
        if not stored.tables:
            return
        self._queue.extend(restore(stored, {t.qualified: t for t in self._db.published_tables()}))
        self._paused = stored.paused
        self._progress.note_change()
        if self._queue:
            # Debezium keeps the latest execute-snapshot's id in its offsets: the last table's signal
            self._report.correlation_id = self._queue[-1].correlation_id
            first, rest = self._queue[0], [t.ref.qualified for t in list(self._queue)[1:]]
            where = "from the start" if first.last_key is None else f"after key {key_text(first.last_key)}"
            log.info("incremental snapshot resumed from its stored progress: %s %s%s%s", first.ref.qualified, where,
                     f", then {', '.join(rest)}" if rest else "", " (paused)" if self._paused else "")

    # -- signals -----------------------------------------------------------------------------------

    def _act(self, signal: Signal) -> None:
        if signal.type == LOG:
            log.info("signal %r: %s", signal.id, signal.doc.get("message"))
            return
        if signal.type in (PAUSE, RESUME):
            if not self.running:
                log.warning("signal %r (%s): no incremental snapshot is running; ignored", signal.id, signal.type)
                return
            pause = signal.type == PAUSE
            if pause == self._paused:
                return
            self._paused = pause
            self._progress.note_change()
            log.info("incremental snapshot %s", "paused" if self._paused else "resumed")
            (self._report.paused if pause else self._report.resumed)(self._queue)
            return
        request = snapshot_request(signal)
        if request is None:
            return
        names, conditions = request
        if signal.type == STOP:
            self._stop(signal.id, names)
        else:
            self._execute(signal.id, names, conditions)

    def _execute(self, id_: str | None, names: list[str], conditions: list) -> None:
        was_running = self.running
        added = tables_to_snapshot(id_, names, conditions, self._db.published_tables(),
                                   {t.ref.oid for t in self._queue}, self.signal_table)
        if added:
            self._queue.extend(added)
            self._progress.note_change()
            log.info("incremental snapshot requested by signal %r: %s (chunks of %d rows)", id_,
                     ", ".join(t.ref.qualified for t in added), self.chunk_size)
            self._report.correlation_id = id_
            if not was_running:
                self._report.started(self._queue)

    def _stop(self, id_: str | None, names: list[str]) -> None:
        if not self.running:
            log.warning("signal %r: no incremental snapshot is running; stop-snapshot ignored", id_)
            self._report.correlation_id = None
            return
        # As Debezium: the tables named, in the order named, the one being read last
        current = self._queue[0].ref.qualified
        stopped = tables_to_stop(names, self._queue)
        if current in stopped:
            stopped = [name for name in stopped if name != current] + [current]
        self._queue = deque(t for t in self._queue if t.ref.qualified not in stopped)
        self._progress.note_change()
        log.info("incremental snapshot: stop-snapshot %r removed %s%s", id_, ", ".join(stopped) or "nothing",
                 "" if self._queue else "; no table left, the snapshot has stopped")
        if current in stopped and not self._queue:
            self._report.completed()  # Debezium moves past the stopped table first
        self._report.aborted(stopped)
        if not self._queue:
            self._paused = False
            self._report.correlation_id = None

    # -- reading a chunk -----------------------------------------------------------------------------

    def _prepare(self, table: SnapshotTable) -> str | None:
        """Shape, key and upper bound of a table about to be (re)read; else why it is not read."""
        assert self._emitter is not None
        # The stream's shape when it has described the table (the producers decode with it).
        streamed = self._emitter.relation(table.ref.oid)
        relation = streamed if streamed is not None else self._db.relation(table.ref)
        info = self._describe(relation)
        if not info.key_columns:
            log.warning("incremental snapshot of %s skipped: the table has no primary key (nor message.key.columns)",
                        table.ref.qualified)
            return NO_PRIMARY_KEY
        names = [c.name for c in relation.columns]
        columns = {c.name: c for c in relation.columns}
        table.relation = relation
        table.key_columns = tuple(info.key_columns)
        table.key_indexes = tuple(i for i, n in enumerate(names) if n in info.key_columns)
        table.key_types = tuple(self._db.type_names(
            (columns[k].type_oid, columns[k].type_modifier) for k in table.key_columns))
        if table.max_key is None:
            table.max_key = self._db.max_key(table)
            if table.max_key is None:
                return EMPTY
            log.info("incremental snapshot of %s started; it ends at key %s", table.ref.qualified,
                     dict(zip(table.key_columns, table.max_key)))
            if self._report.on:
                table.total_rows = self._db.row_count(table)
        return None

    def _next_table(self, done: SnapshotTable, status: str) -> None:
        self._report.table_done(self._queue, done, status)
        self._queue.popleft()
        self._progress.note_change()
        elapsed = time.monotonic() - done.started
        log.info("incremental snapshot of %s %s: %d rows in %.1fs (%d more superseded by streamed changes)",
                 done.ref.qualified, _HOW[status], done.rows, elapsed, done.superseded)
        if not self._queue:
            log.info("incremental snapshot completed")
            self._report.completed()

    def _read_chunk(self) -> None:
        chunk_id = self._window.new_chunk_id()
        opened = time.time()
        first = self._queue[0]
        self._db.insert_signal(f"{chunk_id}-open", WINDOW_OPEN,
                               metadata(opened, None, first.correlation_id, first.ref.qualified))
        while self._queue:
            table = self._queue[0]
            try:
                skip = self._prepare(table) if table.relation is None else None
                if skip is not None:
                    self._next_table(table, skip)
                    continue
                rows, xids = self._db.read_chunk(table, self.chunk_size)
            except psycopg2.Error as exc:
                log.warning("incremental snapshot of %s failed, skipping the table: %s", table.ref.qualified,
                            (getattr(exc, "pgerror", None) or str(exc)).strip())
                self._next_table(table, SQL_EXCEPTION)
                continue
            if not rows:
                self._next_table(table, SUCCEEDED)
                continue
            table.scanned += len(rows)
            names = [c.name for c in table.relation.columns]  # type: ignore[union-attr]
            last = rows[-1]
            chunk = Chunk(chunk_id, table, {key_bytes(row, table.key_indexes): row for row in rows},
                          tuple(last[names.index(k)] for k in table.key_columns), xids,
                          self._dump(), self._progress.generation)  # before this chunk: where a restart goes on
            self._window.chunk = chunk
            self._watched[table.ref.oid] = chunk.on_row
            self._report.in_progress(self._queue, table, chunk.last_key)
            break
        self._db.insert_signal(f"{chunk_id}-close", WINDOW_CLOSE,
                               metadata(opened, time.time(), first.correlation_id, first.ref.qualified))
