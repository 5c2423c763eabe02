"""The tables an incremental snapshot reads, and how far it has read each."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from bridge.pgoutput.messages import Relation


@dataclass(frozen=True, slots=True)
class TableRef:
    schema: str
    name: str
    oid: int
    relkind: str  # 'r' plain, 'p' partitioned

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


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
    scanned: int = 0  # rows read by this process's chunks (superseded ones included)
    total_rows: int | None = None  # rows up to max_key, estimated or counted at the start (notifications)
    started: float = field(default_factory=time.monotonic)
