"""Debezium's `source` block (io.debezium.connector.postgresql.Source), written once.

`FIELDS` is the block in Debezium 3.7's field order, each field with its value from the block's
inputs (`SourceInfo`) and when that value is known. Both forms come from it, so their fields
and order cannot disagree:
- `source_block(info)`: the dict (side events encode it through their writer);
- `SourceTemplate`: the JSON of one table's blocks as a template, compiled when the table's
  shape is known. Fields known with the table are written into it; `per_txn` renders the others
  once per transaction, with the event's LSN (in `sequence` and `lsn`) left as a `%d` slot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import msgspec

from bridge import __version__
from bridge.format.json import json_bytes, literal

SOURCE_VERSION = f"{__version__}-pgbridge"
_encode = msgspec.json.Encoder().encode


class SourceInfo(NamedTuple):
    prefix: str  # topic.prefix, the connector's logical name
    db: str
    schema: str
    table: str
    snapshot: str  # "false" when streaming, else the snapshot's SnapshotRecord marker
    commit_ts_us: int
    txid: int | None
    last_commit_lsn: int | None  # `sequence`'s anchor: the previous transaction's commit position
    lsn: int  # the event's


def _sequence(s: SourceInfo) -> str:
    return _encode([None if s.last_commit_lsn is None else str(s.last_commit_lsn), str(s.lsn)]).decode()


# (field, "table" when known with the table / "txn" when known per transaction, its value)
FIELDS: tuple[tuple[str, str, Callable[[SourceInfo], object]], ...] = (
    ("version", "table", lambda s: SOURCE_VERSION),
    ("connector", "table", lambda s: "postgresql"),
    ("name", "table", lambda s: s.prefix),
    ("ts_ms", "txn", lambda s: s.commit_ts_us // 1000),
    ("snapshot", "txn", lambda s: s.snapshot),
    ("db", "table", lambda s: s.db),
    ("sequence", "txn", _sequence),
    ("ts_us", "txn", lambda s: s.commit_ts_us),
    ("ts_ns", "txn", lambda s: s.commit_ts_us * 1000),
    ("schema", "table", lambda s: s.schema),
    ("table", "table", lambda s: s.table),
    ("txId", "txn", lambda s: s.txid),
    ("lsn", "txn", lambda s: s.lsn),
    ("xmin", "table", lambda s: None),
    ("origin", "table", lambda s: None),
    ("origin_lsn", "table", lambda s: None),
)


def source_block(info: SourceInfo) -> dict:
    return {name: value(info) for name, _, value in FIELDS}


# An LSN no event has (LSNs are unsigned): its digits in a field's JSON stand for the event's
# LSN. Nothing else in a per-transaction field (numbers >= 0, null, the snapshot marker) holds them.
_LSN_MARK = -(2**63)
_LSN_DIGITS = b"%d" % _LSN_MARK


class SourceTemplate:
    """One table's source blocks. `template % per_txn(...)` is the block of an event of that
    transaction as a `%` template whose `%d` slots (one per use) take the event's LSN: the
    template is made for two rounds of `%`, its own text escaped for both."""

    __slots__ = ("template", "_table", "_per_txn")

    def __init__(self, prefix: str, db: str, schema: str, table: str) -> None:
        self._table = (prefix, db, schema, table)
        known = SourceInfo(prefix, db, schema, table, "", 0, None, None, _LSN_MARK)
        pieces, per_txn = [], []
        for name, when, value in FIELDS:
            if when == "table":
                piece = literal(literal(json_bytes(value(known))))
            else:
                piece = b"%s"
                per_txn.append(value)
            pieces.append(b'"%s":%s' % (name.encode(), piece))
        self.template = b"{" + b",".join(pieces) + b"}"
        self._per_txn = tuple(per_txn)

    def per_txn(self, snapshot: str, commit_ts_us: int, txid: int | None, last_commit_lsn: int | None
                ) -> tuple[bytes, ...]:
        """The values of `template`'s slots for one transaction."""
        info = SourceInfo(*self._table, snapshot, commit_ts_us, txid, last_commit_lsn, _LSN_MARK)
        return tuple([literal(json_bytes(value(info))).replace(_LSN_DIGITS, b"%d") for value in self._per_txn])
