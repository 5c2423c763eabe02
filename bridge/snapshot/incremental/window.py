"""The DBLog window of a chunk: its open and close markers in the stream, which streamed
changes supersede its rows, and what a chunk's SELECT saw (xid visibility).

A chunk is read between two signal rows the snapshot writes itself, `<chunk id>-open` and
`<chunk id>-close`. Between the two, as the stream brings them, every change of the table takes
its keys (old and new) out of the chunk's rows: the streamed event is newer. So does a change
before the open marker whose transaction the chunk's SELECT did not see (PostgreSQL does not
promise that commit order and visibility order agree). At the close marker the rows left are
emitted (`bridge.snapshot.incremental.machine`).
"""

from __future__ import annotations

import json
import logging
import struct
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

from bridge.pgoutput.messages import Truncate
from bridge.pgoutput.protocol import PgOutputDecoder
from bridge.snapshot.copytext import Row
from bridge.snapshot.incremental.tables import SnapshotTable

log = logging.getLogger(__name__)

_U32 = struct.Struct(">I").pack


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
    """A window marker's `data` column, as Debezium writes it (`SignalMetadata.metadataString`)."""
    fields = {"openWindowTimestamp": _instant(open_ts)}
    if close_ts is not None:
        fields["closeWindowTimestamp"] = _instant(close_ts)
    if correlation_id is not None:
        fields["correlationId"] = correlation_id
    if table is not None:
        fields["dataCollectionId"] = table
    return json.dumps(fields, separators=(", ", ": "))


class Chunk:
    """A chunk read into memory (its rows by routing key), waiting for its close marker."""

    __slots__ = ("id", "last_key", "opened", "progress_before", "progress_generation", "rows", "table", "xids")

    def __init__(self, id_: str, table: SnapshotTable, rows: dict[bytes, Row], last_key: tuple[bytes | None, ...],
                 xids: XidSnapshot, progress_before: str, progress_generation: int) -> None:
        self.id = id_
        self.table = table
        self.rows = rows
        self.last_key = last_key  # the key of its last row, key order: where the next chunk starts
        self.xids = xids  # what its SELECT saw
        self.progress_before = progress_before  # the stored progress a restart before its ack goes on from
        self.progress_generation = progress_generation  # the generation of that progress (`progress`)
        self.opened = False  # its open marker has streamed by

    def on_row(self, kind: str, relid: int, key: bytes, old_key: bytes | None, payload: bytes, lsn: int,
               xid: int) -> None:
        """A streamed change of the chunk's table (`bridge.route.hooks.RowWatcher`): its keys
        leave the chunk when the change is newer than the chunk's copy."""
        rows = self.rows
        if rows and (self.opened or not self.xids.visible(xid)):
            before = len(rows)
            rows.pop(key, None)
            if old_key is not None:
                rows.pop(old_key, None)
            if len(rows) < before:
                self.table.superseded += before - len(rows)


class Window:
    """The chunk in flight, if any, and the markers of the chunks this process wrote."""

    def __init__(self) -> None:
        self.chunk: Chunk | None = None
        self._own: deque[str] = deque(maxlen=64)  # recent chunk ids written by this process
        self._warned_unknown = False
        self._decoder = PgOutputDecoder(proto_version=1)

    def new_chunk_id(self) -> str:
        chunk_id = str(uuid.uuid4())
        self._own.append(chunk_id)
        return chunk_id

    def on_open(self, id_: str) -> None:
        chunk = self.chunk
        if chunk is not None and id_ == f"{chunk.id}-open":
            chunk.opened = True
        elif id_.removesuffix("-open") not in self._own:
            self._unknown_marker(id_)

    def closing(self, id_: str) -> Chunk | None:
        """The chunk a close marker `id_` ends, if it is the one in flight."""
        chunk = self.chunk
        if chunk is None or id_ != f"{chunk.id}-close":
            if id_.removesuffix("-close") not in self._own:
                self._unknown_marker(id_)
            return None
        return chunk

    def on_truncate(self, payload: bytes) -> None:
        chunk = self.chunk
        if chunk is None or not chunk.rows:
            return
        msg = self._decoder.decode(payload)
        assert type(msg) is Truncate
        if chunk.table.ref.oid in msg.relation_ids:
            log.info("incremental snapshot: %s truncated while a chunk was buffered; chunk dropped",
                     chunk.table.ref.qualified)
            # Same rule as rows: a truncate the chunk's SELECT already saw leaves nothing to drop.
            chunk.rows.clear()

    def _unknown_marker(self, id_: str) -> None:
        if not self._warned_unknown:
            self._warned_unknown = True
            log.info("incremental snapshot watermark %r is not of a chunk this process reads (an earlier run's, "
                     "replayed after a restart, or another connector's); ignored (further ones are logged at "
                     "debug)", id_)
        else:
            log.debug("watermark %r of no running incremental snapshot; ignored", id_)
