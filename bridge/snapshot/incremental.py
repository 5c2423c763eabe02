"""Incremental snapshots through the signal table, while streaming continues (Debezium's
`execute-snapshot` / `stop-snapshot`, DBLog watermarks, `insert_insert` strategy).

A user inserts a row into `signal.data.collection` (columns id, type, data, read by position):

    INSERT INTO public.dbz_signal VALUES ('ad-hoc-1', 'execute-snapshot',
        '{"data-collections": ["public.orders"], "type": "incremental"}');

The decoder sees that Insert in the stream (`Router` calls `on_signal_row` before routing it;
the signal table's own events are emitted like any table's, as Debezium does). The snapshot
then reads each table in chunks of `incremental.snapshot.chunk.size` rows in key order, one
chunk at a time, from the decoder's loop (`tick`, between stream reads):

1. insert an open watermark `<chunk id>-open` (type `snapshot-window-open`) into the signal
   table and commit it;
2. read the chunk (`WHERE key > last AND key <= max ORDER BY key LIMIT n`, in one REPEATABLE
   READ transaction that also records its `pg_current_snapshot()`) into a buffer keyed by the
   routing key;
3. insert and commit the close watermark `<chunk id>-close` (`snapshot-window-close`).

The stream then brings, in commit order, the open watermark, other changes, the close
watermark. Between the two, every change of the table removes its key (old and new) from the
buffer: the streamed event is newer than the chunk's copy, and it is emitted anyway. When the
close watermark arrives, the rows left are pushed as `op: "r"` events with `source.snapshot`
= `incremental`, inside the close watermark's own transaction (so the ack contract holds: they
are confirmed with that transaction), then the next chunk is read. So per key, a chunk row is
never emitted after a newer change, and changes after the close watermark follow it.

One addition to Debezium's rule: a change that comes *before* the open watermark is also
removed when its transaction is invisible to the chunk's snapshot (its commit record precedes
the watermark's, but it was not yet visible when the SELECT started; PostgreSQL does not
promise that commit order and visibility order agree). Debezium would emit a stale row then.

Like Debezium: the tables of one signal are snapshotted in the order listed (each entry is a
table name, or a regular expression matched against the published tables); a signal arriving
during a snapshot adds its tables to the queue; `additional-conditions` filter the rows;
the maximum key is fixed when a table starts, so rows inserted beyond it are left to the
stream; tables without a key are skipped with a warning. `stop-snapshot` (all tables, or the
listed ones) takes effect at the next chunk boundary, `pause-snapshot` / `resume-snapshot`
too. A schema change of the table while a chunk is buffered makes that chunk be read again.

Resumed after a restart, which Debezium does from its offsets: pgbridge keeps its position in
the slot, so it keeps the snapshot's progress in the signal table, in one row of its own (id
`pgbridge-progress-<slot>`, type `pgbridge-incremental-progress`, updated in place; like every
change of the signal table it also appears in the signal table's topic). The row records the
queue of tables with, for each, its maximum key and the last key read, as of the oldest chunk
whose rows Kafka has not acknowledged yet: a restart reads that chunk and the ones after it
again (at least once) and never skips one. It is rewritten when a chunk is acknowledged or the
queue changes, and emptied when the snapshot completes or is stopped. A signal whose
transaction was not yet confirmed when pgbridge stopped is replayed by the stream; tables it
names that the resumed snapshot already has queued are not queued twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import struct
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

import psycopg2
import psycopg2.extensions

from bridge.decode.messages import Insert, Relation, Truncate
from bridge.decode.pgoutput import PgOutputDecoder
from bridge.route import records as rec
from bridge.snapshot import wire
from bridge.snapshot.copytext import Row
from bridge.snapshot.plan import _relation as catalog_relation
from bridge.snapshot.plan import quote_ident
from bridge.snapshot.reader import SESSION_SETTINGS, copy_rows
from bridge.source.catalog import TableInfo

if TYPE_CHECKING:
    from bridge.route.router import Router

log = logging.getLogger(__name__)

EXECUTE, STOP, PAUSE, RESUME, LOG = "execute-snapshot", "stop-snapshot", "pause-snapshot", "resume-snapshot", "log"
WINDOW_OPEN, WINDOW_CLOSE = "snapshot-window-open", "snapshot-window-close"
PROGRESS = "pgbridge-incremental-progress"  # the signal row holding a resumable snapshot's progress
PROGRESS_VERSION = 1
FLUSH_EVERY = 256  # rows pushed between checks that no ring batch grew too large
_U32 = struct.Struct(">I").pack


# -- what the SQL side provides (faked in unit tests) -----------------------------------------------

@dataclass(frozen=True, slots=True)
class TableRef:
    schema: str
    name: str
    oid: int
    relkind: str  # 'r' plain, 'p' partitioned

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True, slots=True)
class XidSnapshot:
    """A `pg_current_snapshot()`: which transactions a chunk's SELECT saw."""

    xmin: int
    xmax: int
    xip: frozenset[int]

    @classmethod
    def parse(cls, text: str) -> XidSnapshot:
        xmin, xmax, xip = text.split(":")
        return cls(int(xmin), int(xmax), frozenset(int(x) for x in xip.split(",") if x))

    def visible(self, xid: int) -> bool:
        """Whether the top-level transaction `xid` (32 bits, as in a Begin message) had
        committed for this snapshot (the stream only carries committed transactions)."""
        full = (self.xmax & ~0xFFFFFFFF) | (xid & 0xFFFFFFFF)  # the epoch closest to xmax
        if full > self.xmax + 0x80000000:
            full -= 1 << 32
        elif full < self.xmax - 0x80000000:
            full += 1 << 32
        if full >= self.xmax:
            return False
        return full < self.xmin or full not in self.xip


ALL_VISIBLE = XidSnapshot(0, 1 << 63, frozenset())


@dataclass(slots=True)
class SnapshotTable:
    """One table of the running snapshot, and how far it has been read."""

    ref: TableRef
    condition: str | None = None  # additional-conditions filter
    correlation_id: str | None = None  # id of the signal that asked for it
    relation: Relation | None = None  # the shape chunks are read in
    key_columns: tuple[str, ...] = ()  # key order (ORDER BY)
    key_indexes: tuple[int, ...] = ()  # positions of the key columns in a row, ascending
    key_types: tuple[str, ...] = ()  # format_type() of each key column, key order
    max_key: tuple[str | None, ...] | None = None  # text of the key columns, key order
    last_key: tuple[bytes | None, ...] | None = None  # the last row read (pgoutput text); None: nothing yet
    rows: int = 0
    superseded: int = 0  # chunk rows dropped because the stream changed them in the window
    started: float = field(default_factory=time.monotonic)


class Database(Protocol):
    def insert_signal(self, id_: str, type_: str, data: str) -> None: ...
    def save_progress(self, id_: str, data: str) -> None: ...
    def load_progress(self, id_: str) -> str | None: ...
    def published_tables(self) -> list[TableRef]: ...
    def relation(self, ref: TableRef) -> Relation: ...
    def type_names(self, columns: Iterable[tuple[int, int]]) -> list[str]: ...
    def max_key(self, table: SnapshotTable) -> tuple[str | None, ...] | None: ...
    def read_chunk(self, table: SnapshotTable, limit: int) -> tuple[list[Row], XidSnapshot]: ...


# -- the logic ------------------------------------------------------------------------------------

def key_bytes(row: Row, key_indexes: tuple[int, ...]) -> bytes:
    """The routing key of `row` exactly as `bridge.route.keys.extract_key` reads it from an Insert
    of that row: per key column, 'n' or 't' + length + text."""
    parts = []
    for i in key_indexes:
        value = row[i]
        parts.append(b"n" if value is None else b"t" + _U32(len(value)) + value)
    return b"".join(parts)


def _instant(ts: float) -> str:
    """Java's Instant.toString (Debezium's SignalMetadata): UTC, fraction in groups of 3 digits."""
    text = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0")
    if text.endswith("."):
        return text[:-1] + "Z"
    whole, frac = text.split(".")
    return f"{whole}.{frac.ljust(-(-len(frac) // 3) * 3, '0')}Z"


def metadata(open_ts: float, close_ts: float | None, correlation_id: str | None, table: str | None) -> str:
    """The watermark's `data` column, as Debezium writes it (`SignalMetadata.metadataString`)."""
    fields = {"openWindowTimestamp": _instant(open_ts)}
    if close_ts is not None:
        fields["closeWindowTimestamp"] = _instant(close_ts)
    if correlation_id is not None:
        fields["correlationId"] = correlation_id
    if table is not None:
        fields["dataCollectionId"] = table
    return json.dumps(fields, separators=(", ", ": "))


def progress_id(slot_name: str) -> str:
    """The progress row's id: readable when it fits Debezium's recommended varchar(42)."""
    text = f"pgbridge-progress-{slot_name}"
    return text if len(text) <= 42 else f"pgbridge-progress-{hashlib.blake2b(slot_name.encode(), digest_size=8).hexdigest()}"


def _text(key: tuple[bytes | None, ...] | None) -> list[str | None] | None:
    return None if key is None else [None if v is None else v.decode("utf-8") for v in key]


def _shape(relation: Relation) -> tuple:
    return tuple((c.name, c.type_oid, c.type_modifier) for c in relation.columns)


class IncrementalSnapshot:
    """The incremental snapshot state machine, driven by the decoder: `Router` hands it the
    signal table's rows, the snapshotted table's rows, Relation and Truncate messages, all in
    WAL order; the decoder loop calls `tick` between stream reads to run pending signals and
    read the next chunk."""

    def __init__(self, signal_table: str, chunk_size: int, router: Router, db: Database,
                 describe: Callable[[Relation], TableInfo], *, acked_lsn: Callable[[], int],
                 progress_id: str) -> None:
        """`acked_lsn()`: the coordinator's safe LSN, below which Kafka has acknowledged
        everything; `progress_id`: the id of this bridge's progress row in the signal table."""
        self.signal_table = signal_table
        self.chunk_size = chunk_size
        self._router = router
        self._db = db
        self._describe = describe
        self._decoder = PgOutputDecoder(proto_version=1)
        self.write_full: Callable[[], None] = lambda: None  # set by the decoder: flush big ring batches
        self._signal_relid: int | None = None
        self._pending: deque[tuple[str, str, dict]] = deque()  # signals to act on: (type, id, data)
        self._queue: deque[SnapshotTable] = deque()  # tables still to read; [0] is the current one
        self._paused = False
        # The chunk in flight: read, waiting for its close watermark in the stream.
        self._chunk_id: str | None = None
        self._opened = False
        self._window: dict[bytes, Row] = {}
        self._chunk_table: SnapshotTable | None = None
        self._chunk_last: tuple[bytes | None, ...] | None = None
        self._xids = ALL_VISIBLE
        self._own: deque[str] = deque(maxlen=64)  # recent watermark ids written by this process
        self._warned_unknown = False
        self.rows_emitted = 0
        # Resumability: the progress as of the start of each chunk whose rows are not yet acked,
        # with the LSN of its close watermark, oldest first; what was last stored, and whether
        # the state changed since.
        self._acked_lsn = acked_lsn
        self._progress_id = progress_id
        self._unacked: deque[tuple[int, str]] = deque()
        self._chunk_progress = ""
        self._stored: str | None = None
        self._changed = False
        self._warned_store = False
        router.incremental = self

    @property
    def running(self) -> bool:
        return bool(self._queue) or self._chunk_id is not None

    # -- hooks called by the router, in WAL order --------------------------------------------------

    def on_relation(self, msg: Relation) -> None:
        if f"{msg.namespace}.{msg.name}" == self.signal_table:
            if self._signal_relid is not None and self._signal_relid != msg.relation_id:
                self._router.watch.pop(self._signal_relid, None)
            self._signal_relid = msg.relation_id
            self._router.watch[msg.relation_id] = self.on_signal_row

    def on_signal_row(self, kind: str, relid: int, key: bytes, old_key: bytes | None, payload: bytes, lsn: int,
                      xid: int) -> None:
        if kind != "I":  # Debezium acts on inserts only (insert_insert watermarks)
            return
        msg = self._decoder.decode(payload)
        assert type(msg) is Insert
        if len(msg.new) != 3:
            log.warning("signal table %s has %d columns, not 3 (id, type, data): signal ignored",
                        self.signal_table, len(msg.new))
            return
        id_, type_, data = (v.decode("utf-8", "replace") if isinstance(v, bytes) else None for v in msg.new)
        if type_ == WINDOW_OPEN:
            self._on_open(id_ or "")
        elif type_ == WINDOW_CLOSE:
            self._on_close(id_ or "", lsn)
        elif type_ == PROGRESS:
            return
        elif type_ in (EXECUTE, STOP, PAUSE, RESUME, LOG):
            try:
                doc = json.loads(data) if data else {}
            except ValueError:
                doc = None
            if not isinstance(doc, dict):
                log.warning("signal %r (%s): data %r is not a JSON object; ignored", id_, type_, data)
                return
            self._pending.append((type_, id_ or "", doc))
        else:
            log.warning("signal %r of type %r is not supported by pgbridge; ignored", id_, type_)

    def on_table_row(self, kind: str, relid: int, key: bytes, old_key: bytes | None, payload: bytes, lsn: int,
                     xid: int) -> None:
        """A streamed change of the table whose chunk is buffered: its keys leave the buffer."""
        window = self._window
        if window and (self._opened or not self._xids.visible(xid)):
            before = len(window)
            window.pop(key, None)
            if old_key is not None:
                window.pop(old_key, None)
            if len(window) < before:
                self._chunk_table.superseded += before - len(window)  # type: ignore[union-attr]

    def on_truncate(self, payload: bytes) -> None:
        table = self._chunk_table
        if table is None or not self._window:
            return
        msg = self._decoder.decode(payload)
        assert type(msg) is Truncate
        if table.ref.oid in msg.relation_ids:
            log.info("incremental snapshot: %s truncated while a chunk was buffered; chunk dropped",
                     table.ref.qualified)
            # Same rule as rows: a truncate the chunk's SELECT already saw leaves nothing to drop.
            self._window.clear()

    # -- watermarks ---------------------------------------------------------------------------------

    def _on_open(self, id_: str) -> None:
        if self._chunk_id is not None and id_ == f"{self._chunk_id}-open":
            self._opened = True
        elif id_.removesuffix("-open") not in self._own:
            self._unknown_watermark(id_)

    def _on_close(self, id_: str, lsn: int) -> None:
        if self._chunk_id is None or id_ != f"{self._chunk_id}-close":
            if id_.removesuffix("-close") not in self._own:
                self._unknown_watermark(id_)
            return
        table = self._chunk_table
        assert table is not None and table.relation is not None
        relid = table.ref.oid
        cached = self._router.relations.get(relid)
        if cached is not None and _shape(cached.relation) != _shape(table.relation):
            # The table changed shape while the chunk was buffered: read the chunk again.
            log.info("incremental snapshot: %s changed its columns during a chunk; reading the chunk again",
                     table.ref.qualified)
            table.relation = None
            self._end_chunk()
            return
        if cached is None:  # no change of the table streamed yet: describe it to the producers
            self._router.handle(wire.relation(table.relation), lsn)
        router = self._router
        for n, row in enumerate(self._window.values(), 1):
            router.snapshot_row(wire.insert(relid, row), lsn, rec.INCREMENTAL_MARKER)
            if n % FLUSH_EVERY == 0:
                self.write_full()
        emitted = len(self._window)
        table.rows += emitted
        self.rows_emitted += emitted
        table.last_key = self._chunk_last
        log.debug("incremental snapshot: %s chunk done, %d rows emitted", table.ref.qualified, emitted)
        # Until Kafka acks these rows (with this transaction), a restart must read the chunk again.
        self._unacked.append((lsn, self._chunk_progress))
        self._changed = True
        self._end_chunk()

    def _end_chunk(self) -> None:
        table = self._chunk_table
        if table is not None and table.ref.oid != self._signal_relid:
            self._router.watch.pop(table.ref.oid, None)
        self._chunk_id = None
        self._opened = False
        self._window = {}
        self._chunk_table = None
        self._chunk_last = None
        self._xids = ALL_VISIBLE

    def _unknown_watermark(self, id_: str) -> None:
        if not self._warned_unknown:
            self._warned_unknown = True
            log.info("incremental snapshot watermark %r is not of a chunk this process reads (an earlier run's, "
                     "replayed after a restart, or another connector's); ignored (further ones are logged at "
                     "debug)", id_)
        else:
            log.debug("watermark %r of no running incremental snapshot; ignored", id_)

    # -- the decoder loop's turn -------------------------------------------------------------------

    def tick(self) -> None:
        """Act on pending signals and read the next chunk, unless a chunk is still in flight."""
        if self._chunk_id is not None:
            return
        try:
            while self._pending:
                self._act(*self._pending.popleft())
            self._store_progress()
            if self._queue and not self._paused:
                self._read_chunk()
        except psycopg2.Error as exc:
            # Streaming goes on; the snapshot cannot (e.g. no right to write the signal table).
            log.error("incremental snapshot aborted: %s", (getattr(exc, "pgerror", None) or str(exc)).strip())
            self._end_chunk()
            self._queue.clear()
            self._paused = False
            self._unacked.clear()
            self._changed = True

    # -- progress across restarts ----------------------------------------------------------------

    def _progress(self) -> str:
        """The queue as JSON: what a restart needs to go on from here."""
        return json.dumps({"version": PROGRESS_VERSION, "paused": self._paused, "tables": [
            {"table": t.ref.qualified, "condition": t.condition, "signal": t.correlation_id,
             "max_key": None if t.max_key is None else list(t.max_key), "last_key": _text(t.last_key)}
            for t in self._queue]}, separators=(",", ":"))

    def _store_progress(self) -> None:
        """Store the progress as of the oldest chunk Kafka has not acked, if that changed."""
        acked = self._acked_lsn()
        while self._unacked and self._unacked[0][0] < acked:
            self._unacked.popleft()
            self._changed = True
        if not self._changed:
            return
        self._changed = False
        progress = self._unacked[0][1] if self._unacked else self._progress()
        if progress == self._stored or (self._stored is None and not self._queue and not self._unacked):
            return  # nothing new, or nothing ever stored and nothing to resume
        try:
            self._db.save_progress(self._progress_id, progress)
        except psycopg2.Error as exc:
            if not self._warned_store:
                self._warned_store = True
                log.warning("incremental snapshot: cannot store its progress in %s (%s); it runs on, but a "
                            "restart will not resume it", self.signal_table,
                            (getattr(exc, "pgerror", None) or str(exc)).strip())
            return
        self._stored = progress

    def resume(self, *, new_slot: bool = False) -> None:
        """At start: queue again the snapshot a previous run left unfinished, if any. With a
        `new_slot` the stored progress belongs to an earlier slot's history and is cleared."""
        text = self._db.load_progress(self._progress_id)
        if text is None:
            return
        self._stored = text
        if new_slot:
            self._changed = True  # the next tick stores the empty queue
            return
        try:
            doc = json.loads(text)
            if doc.get("version") != PROGRESS_VERSION:
                raise ValueError(f"version {doc.get('version')!r}")
            tables = [(t["table"], t.get("condition"), t.get("signal"), t.get("max_key"), t.get("last_key"))
                      for t in doc["tables"]]
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("incremental snapshot progress %r in %s is not readable (%s); not resumed",
                        self._progress_id, self.signal_table, exc)
            return
        if not tables:
            return
        published = {t.qualified: t for t in self._db.published_tables()}
        for name, condition, correlation_id, max_key, last_key in tables:
            ref = published.get(name)
            if ref is None:
                log.warning("incremental snapshot: %s is no longer a captured table of the publication; "
                            "not resumed", name)
                continue
            self._queue.append(SnapshotTable(
                ref, condition, correlation_id, max_key=None if max_key is None else tuple(max_key),
                last_key=None if last_key is None else tuple(None if v is None else v.encode() for v in last_key)))
        self._paused = bool(doc.get("paused"))
        self._changed = True
        if self._queue:
            first, rest = self._queue[0], [t.ref.qualified for t in list(self._queue)[1:]]
            where = "from the start" if first.last_key is None else f"after key {_text(first.last_key)}"
            log.info("incremental snapshot resumed from its stored progress: %s %s%s%s", first.ref.qualified, where,
                     f", then {', '.join(rest)}" if rest else "", " (paused)" if self._paused else "")

    def _act(self, type_: str, id_: str, doc: dict) -> None:
        if type_ == LOG:
            log.info("signal %r: %s", id_, doc.get("message"))
            return
        if type_ in (PAUSE, RESUME):
            if not self.running:
                log.warning("signal %r (%s): no incremental snapshot is running; ignored", id_, type_)
                return
            self._paused = type_ == PAUSE
            self._changed = True
            log.info("incremental snapshot %s", "paused" if self._paused else "resumed")
            return
        kind = str(doc.get("type") or "incremental").lower()
        collections = doc.get("data-collections")
        if collections is not None and (not isinstance(collections, list)
                                        or not all(isinstance(c, str) for c in collections)):
            log.warning("signal %r (%s): data-collections must be a list of strings; ignored", id_, type_)
            return
        names = [c.strip() for c in collections or []]
        if kind != "incremental":
            log.warning("signal %r (%s): snapshot type %r is not supported by pgbridge (only incremental); ignored",
                        id_, type_, kind)
            return
        if type_ == STOP:
            self._stop(id_, names)
            return
        if not names:
            log.warning("signal %r: execute-snapshot without data-collections; ignored", id_)
            return
        if doc.get("surrogate-key"):
            log.warning("signal %r: surrogate-key is not supported by pgbridge; the tables' keys are used", id_)
        self._execute(id_, names, doc.get("additional-conditions") or [])

    def _execute(self, id_: str, names: list[str], conditions: list) -> None:
        published = self._db.published_tables()
        by_name = {t.qualified: t for t in published}
        chosen: list[TableRef] = []
        for name in names:
            if name in by_name:
                matches = [by_name[name]]
            else:
                try:
                    pattern = re.compile(name)
                except re.error:
                    pattern = None
                matches = [t for t in published if pattern is not None and pattern.fullmatch(t.qualified)]
            if not matches:
                log.warning("signal %r: %s is not a table of the publication (or not captured); not snapshotted",
                            id_, name)
            chosen += [t for t in matches if t not in chosen]
        filters = {}
        for entry in conditions if isinstance(conditions, list) else []:
            if isinstance(entry, dict) and entry.get("data-collection") and entry.get("filter"):
                filters[entry["data-collection"]] = entry["filter"]
        queued = {t.ref.oid for t in self._queue}
        added = []
        for ref in chosen:
            if ref.oid in queued:
                continue
            if ref.qualified == self.signal_table:
                log.warning("signal %r: the signal table itself is not snapshotted", id_)
                continue
            condition = next((f for pattern, f in filters.items()
                              if re.fullmatch(pattern, ref.qualified, re.IGNORECASE)), None)
            self._queue.append(SnapshotTable(ref, condition, id_))
            added.append(ref.qualified)
        if added:
            self._changed = True
            log.info("incremental snapshot requested by signal %r: %s (chunks of %d rows)", id_, ", ".join(added),
                     self.chunk_size)

    def _stop(self, id_: str, names: list[str]) -> None:
        if not self.running:
            log.warning("signal %r: no incremental snapshot is running; stop-snapshot ignored", id_)
            return
        if not names:
            stopped = [t.ref.qualified for t in self._queue]
            self._queue.clear()
        else:
            patterns = []
            for name in names:
                try:
                    patterns.append(re.compile(name))
                except re.error:
                    patterns.append(re.compile(re.escape(name)))
            stopped = [t.ref.qualified for t in self._queue if any(p.fullmatch(t.ref.qualified) for p in patterns)]
            self._queue = deque(t for t in self._queue if t.ref.qualified not in stopped)
        self._changed = True
        log.info("incremental snapshot: stop-snapshot %r removed %s%s", id_, ", ".join(stopped) or "nothing",
                 "" if self._queue else "; no table left, the snapshot has stopped")
        if not self._queue:
            self._paused = False

    # -- reading a chunk -----------------------------------------------------------------------------

    def _prepare(self, table: SnapshotTable) -> str | None:
        """Shape, key and upper bound of a table about to be (re)read; else why it is not read."""
        cached = self._router.relations.get(table.ref.oid)
        # The stream's shape when it has described the table (the producers decode with it).
        relation = cached.relation if cached is not None else self._db.relation(table.ref)
        info = self._describe(relation)
        if not info.key_columns:
            log.warning("incremental snapshot of %s skipped: the table has no primary key (nor message.key.columns)",
                        table.ref.qualified)
            return "skipped"
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
                return "done (empty)"
            log.info("incremental snapshot of %s started; it ends at key %s", table.ref.qualified,
                     dict(zip(table.key_columns, table.max_key)))
        return None

    def _next_table(self, done: SnapshotTable, how: str) -> None:
        self._queue.popleft()
        self._changed = True
        elapsed = time.monotonic() - done.started
        log.info("incremental snapshot of %s %s: %d rows in %.1fs (%d more superseded by streamed changes)",
                 done.ref.qualified, how, done.rows, elapsed, done.superseded)
        if not self._queue:
            log.info("incremental snapshot completed")

    def _read_chunk(self) -> None:
        chunk_id = str(uuid.uuid4())
        opened = time.time()
        first = self._queue[0]
        self._own.append(chunk_id)
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
                self._next_table(table, "skipped")
                continue
            if not rows:
                self._next_table(table, "done")
                continue
            window = {}
            for row in rows:
                window[key_bytes(row, table.key_indexes)] = row
            last = rows[-1]
            names = [c.name for c in table.relation.columns]  # type: ignore[union-attr]
            self._chunk_last = tuple(last[names.index(k)] for k in table.key_columns)
            self._chunk_progress = self._progress()  # before this chunk: where a restart would go on
            self._window, self._xids, self._chunk_table = window, xids, table
            self._chunk_id = chunk_id
            self._router.watch[table.ref.oid] = self.on_table_row
            break
        self._db.insert_signal(f"{chunk_id}-close", WINDOW_CLOSE,
                               metadata(opened, time.time(), first.correlation_id, first.ref.qualified))


# -- PostgreSQL ------------------------------------------------------------------------------------

_PUBLISHED_SQL = """
SELECT n.nspname, c.relname, c.oid::int, c.relkind
FROM pg_publication_tables pt
JOIN pg_namespace n ON n.nspname = pt.schemaname
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename
WHERE pt.pubname = %s
ORDER BY 1, 2
"""
_ATTRS_SQL = "SELECT attnames::text[] FROM pg_publication_tables WHERE pubname = %s AND schemaname = %s AND tablename = %s"


def _rows_compare(columns: tuple[str, ...], op: str, values: tuple[str | None, ...], types: tuple[str, ...],
                  mogrify: Callable[[str, tuple], str]) -> str:
    """`(k1, k2) op (v1::t1, v2::t2)`, values bound as literals."""
    lhs = ", ".join(map(quote_ident, columns))
    rhs = ", ".join(f"%s::{t}" for t in types)
    return f"({lhs}) {op} ({mogrify(rhs, values)})"


def chunk_query(table: SnapshotTable, limit: int, mogrify: Callable[[str, tuple], str],
                after: tuple[str | None, ...] | None) -> str:
    """The SELECT of the table's next chunk: after the key `after` (`last_key` as text), up to
    `max_key`, in key order."""
    assert table.relation is not None and table.max_key is not None
    conditions = []
    if after is not None:
        conditions.append(_rows_compare(table.key_columns, ">", after, table.key_types, mogrify))
    conditions.append(_rows_compare(table.key_columns, "<=", table.max_key, table.key_types, mogrify))
    if table.condition:
        conditions.append(f"({table.condition})")
    columns = ", ".join(quote_ident(c.name) for c in table.relation.columns)
    return (f"SELECT {columns} FROM {_from(table)} WHERE {' AND '.join(conditions)} "
            f"ORDER BY {', '.join(map(quote_ident, table.key_columns))} LIMIT {int(limit)}")


def _from(table: SnapshotTable) -> str:
    # ONLY: rows of inheritance children belong to the children's own events.
    only = "ONLY " if table.ref.relkind == "r" else ""
    return f"{only}{quote_ident(table.ref.schema)}.{quote_ident(table.ref.name)}"


class PostgresDatabase:
    """The SQL side: its own connection, with the walsender's session settings so that rows read
    here have exactly the text pgoutput would send (`bridge.snapshot.reader`)."""

    def __init__(self, connect: Callable[[], psycopg2.extensions.connection], publication: str,
                 signal_table: str, captures: Callable[[str, str], bool]) -> None:
        self._connect = connect
        self._conn: psycopg2.extensions.connection | None = None
        self._publication = publication
        self._signal_schema, self._signal_name = signal_table.split(".")
        self._signal = f"{quote_ident(self._signal_schema)}.{quote_ident(self._signal_name)}"
        self._captures = captures

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _session(self) -> psycopg2.extensions.connection:
        if self._conn is None or self._conn.closed:
            conn = self._connect()
            conn.autocommit = True
            with conn.cursor() as cur:
                settings = ", ".join("set_config(%s, %s, false)" for _ in SESSION_SETTINGS)
                cur.execute(f"SELECT {settings}", [part for pair in SESSION_SETTINGS for part in pair])
            self._conn = conn
        return self._conn

    def _run(self, work):
        """`work(conn)`, once more on a new connection if the connection broke."""
        try:
            return work(self._session())
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            log.warning("incremental snapshot: SQL connection lost (%s); reconnecting", str(exc).strip())
            self.close()
            return work(self._session())

    def check_signal_table(self) -> None:
        """Warn at start when signals cannot arrive: the table is missing or not published."""
        def check(conn):
            with conn.cursor() as cur:
                cur.execute("SELECT to_regclass(%s) IS NOT NULL", (self._signal,))
                exists = cur.fetchone()[0]
                cur.execute(_ATTRS_SQL, (self._publication, self._signal_schema, self._signal_name))
                published = cur.fetchone() is not None
            return exists, published
        exists, published = self._run(check)
        if not exists:
            log.warning("signal.data.collection %s does not exist: create it (id varchar(42) PRIMARY KEY, "
                        "type varchar(32) NOT NULL, data varchar(2048)) and add it to publication %s",
                        self._signal, self._publication)
        elif not published:
            log.warning("signal.data.collection %s is not in publication %s: signals will not be seen",
                        self._signal, self._publication)

    def insert_signal(self, id_: str, type_: str, data: str) -> None:
        def insert(conn):
            with conn.cursor() as cur:
                cur.execute(f"INSERT INTO {self._signal} VALUES (%s, %s, %s)", (id_, type_, data))
        self._run(insert)

    def save_progress(self, id_: str, data: str) -> None:
        """One row per bridge, updated in place (the signal table need not have a unique id)."""
        def save(conn):
            with conn.cursor() as cur:
                cur.execute("BEGIN")
                try:
                    cur.execute(f"UPDATE {self._signal} SET data = %s WHERE id = %s AND type = %s",
                                (data, id_, PROGRESS))
                    if cur.rowcount == 0:
                        cur.execute(f"INSERT INTO {self._signal} VALUES (%s, %s, %s)", (id_, PROGRESS, data))
                    cur.execute("COMMIT")
                except BaseException:
                    cur.execute("ROLLBACK")
                    raise
        self._run(save)

    def load_progress(self, id_: str) -> str | None:
        def load(conn):
            with conn.cursor() as cur:
                cur.execute(f"SELECT data FROM {self._signal} WHERE id = %s AND type = %s", (id_, PROGRESS))
                row = cur.fetchone()
                return None if row is None else row[0]
        return self._run(load)

    def published_tables(self) -> list[TableRef]:
        def query(conn):
            with conn.cursor() as cur:
                cur.execute(_PUBLISHED_SQL, (self._publication,))
                return [TableRef(*row) for row in cur.fetchall()]
        return [t for t in self._run(query) if self._captures(t.schema, t.name)]

    def relation(self, ref: TableRef) -> Relation:
        def query(conn):
            with conn.cursor() as cur:
                cur.execute("SELECT relreplident FROM pg_class WHERE oid = %s", (ref.oid,))
                (identity,) = cur.fetchone()
                cur.execute(_ATTRS_SQL, (self._publication, ref.schema, ref.name))
                row = cur.fetchone()
                return catalog_relation(cur, ref.oid, ref.schema, ref.name, identity, row[0] if row else None)[0]
        return self._run(query)

    def type_names(self, columns: Iterable[tuple[int, int]]) -> list[str]:
        columns = list(columns)

        def query(conn):
            with conn.cursor() as cur:
                out = []
                for oid, typmod in columns:
                    cur.execute("SELECT format_type(%s, NULL)", (oid,))
                    out.append(cur.fetchone()[0])
                return out
        return self._run(query)

    def max_key(self, table: SnapshotTable) -> tuple[str | None, ...] | None:
        # Aliased: ORDER BY would otherwise sort the text output columns, which share the key's names.
        keys = ", ".join(f"{quote_ident(k)}::text AS key_{i}" for i, k in enumerate(table.key_columns))
        order = ", ".join(f"{quote_ident(k)} DESC" for k in table.key_columns)
        where = f" WHERE ({table.condition})" if table.condition else ""

        def query(conn):
            with conn.cursor() as cur:
                cur.execute(f"SELECT {keys} FROM {_from(table)}{where} ORDER BY {order} LIMIT 1")
                row = cur.fetchone()
                return None if row is None else tuple(row)
        return self._run(query)

    def read_chunk(self, table: SnapshotTable, limit: int) -> tuple[list[Row], XidSnapshot]:
        def read(conn):
            encoding = psycopg2.extensions.encodings[conn.encoding]

            def mogrify(sql: str, args: tuple) -> str:
                return conn.cursor().mogrify(sql, args).decode(encoding)
            after = None if table.last_key is None else tuple(
                None if v is None else v.decode(encoding) for v in table.last_key)
            query = chunk_query(table, limit, mogrify, after)
            rows: list[Row] = []
            with conn.cursor() as cur:
                cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                try:
                    cur.execute("SELECT pg_current_snapshot()::text")  # takes the transaction's snapshot
                    xids = XidSnapshot.parse(cur.fetchone()[0])
                    copy_rows(conn, query, len(table.relation.columns), batch_rows=limit, emit=rows.extend)
                finally:
                    cur.execute("ROLLBACK")
            return rows, xids
        return self._run(read)
