"""The persisted progress of an incremental snapshot, so a restart goes on where it stopped.

Debezium resumes from its offsets; pgbridge keeps its position in the slot, so it keeps the
snapshot's progress in the signal table, in one row of its own (id `pgbridge-progress-<slot>`,
type `pgbridge-incremental-progress`, updated in place; like every change of the signal table it
also appears in the signal table's topic). The row records the queue of tables with, for each,
its maximum key and the last key read (and, when notifications are on, its row count), as of the
oldest chunk whose rows Kafka has not acknowledged yet: a restart reads that chunk and the ones after it again (at least once) and
never skips one. It is rewritten when a chunk is acknowledged or the queue changes, and
emptied when the snapshot completes or is stopped.

Reading the row needs no running snapshot: `load_progress` + `parse_progress` on any cursor.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import psycopg2
import psycopg2.extensions

from bridge.snapshot.incremental.tables import SnapshotTable, TableRef
from bridge.snapshot.plan import quote_qualified

log = logging.getLogger(__name__)

PROGRESS = "pgbridge-incremental-progress"  # the type of the signal row holding the progress
PROGRESS_VERSION = 1


def progress_id(slot_name: str) -> str:
    """The progress row's id: readable when it fits Debezium's recommended varchar(42)."""
    text = f"pgbridge-progress-{slot_name}"
    if len(text) <= 42:
        return text
    return f"pgbridge-progress-{hashlib.blake2b(slot_name.encode(), digest_size=8).hexdigest()}"


# -- the row's content ------------------------------------------------------------------------------

def key_text(key: tuple[bytes | None, ...] | None) -> list[str | None] | None:
    return None if key is None else [None if v is None else v.decode("utf-8") for v in key]


def dump_progress(queue: Iterable[SnapshotTable], paused: bool) -> str:
    """The queue as JSON: what a restart needs to go on from here."""
    return json.dumps({"version": PROGRESS_VERSION, "paused": paused, "tables": [_dump_table(t) for t in queue]},
                      separators=(",", ":"))


def _dump_table(t: SnapshotTable) -> dict:
    out = {"table": t.ref.qualified, "condition": t.condition, "signal": t.correlation_id,
           "max_key": None if t.max_key is None else list(t.max_key), "last_key": key_text(t.last_key)}
    if t.total_rows is not None:
        out["total_rows"] = t.total_rows
    return out


@dataclass(frozen=True, slots=True)
class StoredTable:
    table: str  # schema.table
    condition: str | None
    signal: str | None  # id of the signal that asked for it
    max_key: list | None  # text of the key columns, key order
    last_key: list | None  # text of the last key read; None: nothing yet
    total_rows: int | None = None  # rows up to max_key, when counted (notifications)


@dataclass(frozen=True, slots=True)
class StoredProgress:
    paused: bool
    tables: tuple[StoredTable, ...]


def parse_progress(text: str) -> StoredProgress:
    """The stored row's content; ValueError when it is not a progress pgbridge can read."""
    try:
        doc = json.loads(text)
        if doc.get("version") != PROGRESS_VERSION:
            raise ValueError(f"version {doc.get('version')!r}")
        tables = tuple(StoredTable(t["table"], t.get("condition"), t.get("signal"), t.get("max_key"),
                                   t.get("last_key"), t.get("total_rows")) for t in doc["tables"])
    except (TypeError, KeyError, AttributeError) as exc:
        raise ValueError(str(exc)) from exc
    return StoredProgress(bool(doc.get("paused")), tables)


def restore(stored: StoredProgress, published: dict[str, TableRef]) -> list[SnapshotTable]:
    """The stored queue again, as tables to read; those no longer captured are left out."""
    queue = []
    for t in stored.tables:
        ref = published.get(t.table)
        if ref is None:
            log.warning("incremental snapshot: %s is no longer a captured table of the publication; not resumed",
                        t.table)
            continue
        queue.append(SnapshotTable(
            ref, t.condition, t.signal, max_key=None if t.max_key is None else tuple(t.max_key),
            last_key=None if t.last_key is None else tuple(None if v is None else v.encode() for v in t.last_key),
            total_rows=t.total_rows))
    return queue


# -- the row in the signal table ----------------------------------------------------------------------

def load_progress(cur: psycopg2.extensions.cursor, signal_table: str, id_: str) -> str | None:
    """The progress row `id_` of `signal_table` ("schema.table"), if there is one."""
    cur.execute(f"SELECT data FROM {quote_qualified(signal_table)} WHERE id = %s AND type = %s", (id_, PROGRESS))
    row = cur.fetchone()
    return None if row is None else row[0]


def save_progress(cur: psycopg2.extensions.cursor, signal_table: str, id_: str, data: str) -> None:
    """One row per bridge, updated in place (the signal table need not have a unique id); on an
    autocommit connection."""
    table = quote_qualified(signal_table)
    cur.execute("BEGIN")
    try:
        cur.execute(f"UPDATE {table} SET data = %s WHERE id = %s AND type = %s", (data, id_, PROGRESS))
        if cur.rowcount == 0:
            cur.execute(f"INSERT INTO {table} VALUES (%s, %s, %s)", (id_, PROGRESS, data))
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise


# -- when to store it ----------------------------------------------------------------------------------

class ProgressKeeper:
    """Stores the progress as of the oldest chunk Kafka has not acknowledged, when it changed.

    `save(data)` writes the row; `acked_lsn()` is the coordinator's safe LSN, below which Kafka
    has acknowledged everything. Each change of the snapshot's state (`note_change`) is a new
    `generation`; `stored_generation` is the one the row holds, so a signal channel knows when
    what a signal changed is stored (`bridge.snapshot.incremental.channels`)."""

    def __init__(self, save: Callable[[str], None], acked_lsn: Callable[[], int], signal_table: str) -> None:
        self._save = save
        self._acked_lsn = acked_lsn
        self._signal_table = signal_table
        # the progress as of the start of each chunk whose rows are not yet acked, with the LSN
        # of its close marker and the progress's generation, oldest first
        self._unacked: deque[tuple[int, str, int]] = deque()
        self._stored: str | None = None  # what the row holds
        self._changed = False  # whether the snapshot's state changed since the last store
        self._warned = False
        self.generation = 0
        self.stored_generation = 0

    def loaded(self, text: str) -> None:
        """The row as read at start."""
        self._stored = text

    def note_change(self) -> None:
        self._changed = True
        self.generation += 1

    def chunk_emitted(self, close_lsn: int, progress_before: str, generation: int) -> None:
        """Until Kafka acks a chunk's rows (with its close marker's transaction), a restart must
        read the chunk again: from `progress_before`, the progress of `generation`."""
        self._unacked.append((close_lsn, progress_before, generation))
        self._changed = True

    def forget_unacked(self) -> None:
        self._unacked.clear()
        self._changed = True

    def store(self, current: Callable[[], str], queued: bool) -> None:
        """Store what a restart should go on from: the oldest unacked chunk's progress, else
        `current()` (the whole queue, `queued` if not empty)."""
        acked = self._acked_lsn()
        while self._unacked and self._unacked[0][0] < acked:
            self._unacked.popleft()
            self._changed = True
        if not self._changed:
            return
        self._changed = False
        if self._unacked:
            _, progress, generation = self._unacked[0]
        else:
            progress, generation = current(), self.generation
        if progress == self._stored or (self._stored is None and not queued and not self._unacked):
            self.stored_generation = generation  # nothing new, or nothing ever stored and nothing to resume
            return
        try:
            self._save(progress)
        except psycopg2.Error as exc:
            if not self._warned:
                self._warned = True
                log.warning("incremental snapshot: cannot store its progress in %s (%s); it runs on, but a "
                            "restart will not resume it", self._signal_table,
                            (getattr(exc, "pgerror", None) or str(exc)).strip())
            return
        self._stored = progress
        self.stored_generation = generation
