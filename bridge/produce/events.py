"""Decoded changes → Debezium records (topic, key JSON, value JSON, headers).

Everything that depends only on a relation's shape (topic, converters, key columns, the JSON
of the Connect schemas) is built once per Relation message in `TableEvents`; per row only the
values are converted and the payload encoded with one msgspec encoder.
"""

from __future__ import annotations

import time
from typing import Callable, NamedTuple

import msgspec

from bridge import __version__
from bridge.config import EventConfig
from bridge.decode.messages import UNCHANGED_TOAST, Delete, Insert, Relation, Update
from bridge.decode.options import ConversionOptions
from bridge.decode.schema import envelope_schema, field_schema, key_schema, value_schema
from bridge.decode.types import TypeRegistry
from bridge.decode.values import converter_for
from bridge.route.records import NEW_KEY_HALF, OLD_KEY_HALF, WHOLE
from bridge.source.catalog import TableInfo

_encode = msgspec.json.Encoder().encode
SOURCE_VERSION = f"{__version__}-pgbridge"


class Record(NamedTuple):
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] | None = None


class TxnContext:
    """What every event of one transaction shares: its id, commit time, and Debezium's
    `sequence` anchor (the previous transaction's commit position)."""

    __slots__ = ("xid", "commit_ts_us", "last_commit_lsn")

    def __init__(self, xid: int, commit_ts_us: int, last_commit_lsn: int | None) -> None:
        self.xid = xid
        self.commit_ts_us = commit_ts_us
        self.last_commit_lsn = last_commit_lsn


def _wrap(schema: dict | None) -> Callable[[bytes], bytes]:
    """JsonConverter layout: `{"schema":...,"payload":...}` with schemas.enable, else the payload."""
    if schema is None:
        return lambda payload: payload
    head = b'{"schema":' + _encode(schema) + b',"payload":'
    return lambda payload: head + payload + b"}"


class TableEvents:
    """The per-relation half of event building.

    Columns Debezium leaves out (unknown types without `include.unknown.datatypes`) have no
    converter and are skipped: `picks` lists the tuple positions that are emitted.
    """

    __slots__ = ("topic", "schema", "table", "picks", "key_picks", "wrap_key", "wrap_value")

    def __init__(self, relation: Relation, info: TableInfo, types: TypeRegistry,
                 options: ConversionOptions, events: EventConfig) -> None:
        self.schema, self.table = relation.namespace, relation.name
        name = f"{events.topic_prefix}.{self.schema}.{self.table}"
        self.topic = name
        picks, fields = [], {}
        for i, col in enumerate(relation.columns):
            cv = converter_for(types.get(col.type_oid), col.type_modifier, options)
            if cv is None:
                continue
            # (position, name, convert, what an unchanged TOASTed value becomes)
            picks.append((i, col.name, cv.convert, cv.toast))
            fields[col.name] = field_schema(col.name, cv.schema, optional=col.name not in info.not_null)
        self.picks = tuple(picks)
        by_name = {p[1]: p for p in picks}
        self.key_picks = tuple(by_name[n] for n in info.key_columns if n in by_name)
        key_fields = [fields[p[1]] for p in self.key_picks]
        self.wrap_key = _wrap(key_schema(name, key_fields) if events.key_schemas_enable else None)
        self.wrap_value = _wrap(
            envelope_schema(name, value_schema(name, list(fields.values()))) if events.value_schemas_enable else None
        )

    def row(self, values: tuple) -> dict:
        out = {}
        for i, name, convert, toast in self.picks:
            raw = values[i]
            if raw is None:
                out[name] = None
            elif raw is UNCHANGED_TOAST:
                out[name] = toast
            else:
                out[name] = convert(raw)
        return out

    def key(self, values: tuple) -> bytes | None:
        if not self.key_picks:
            return None
        payload = {name: (None if values[i] is None else convert(values[i]))
                   for i, name, convert, _ in self.key_picks}
        return self.wrap_key(_encode(payload))


class EventBuilder:
    """Turns Insert/Update/Delete of known relations into Debezium records."""

    def __init__(self, events: EventConfig, options: ConversionOptions, types: TypeRegistry, db: str) -> None:
        self._events = events
        self._options = options
        self._types = types
        self._db = db
        self._tables: dict[int, TableEvents] = {}

    def relation(self, msg: Relation, info: TableInfo) -> TableEvents:
        """A Relation message (first use or after ALTER TABLE) replaces the table's shape."""
        for column in msg.columns:  # re-read enums/domains: the server re-sends after ALTER TYPE
            self._types.invalidate(column.type_oid)
        table = TableEvents(msg, info, self._types, self._options, self._events)
        self._tables[msg.relation_id] = table
        return table

    def _source(self, t: TableEvents, txn: TxnContext, lsn: int) -> dict:
        ts_us = txn.commit_ts_us
        last = txn.last_commit_lsn
        return {
            "version": SOURCE_VERSION,
            "connector": "postgresql",
            "name": self._events.topic_prefix,
            "ts_ms": ts_us // 1000,
            "snapshot": "false",
            "db": self._db,
            "sequence": _encode([None if last is None else str(last), str(lsn)]).decode(),
            "ts_us": ts_us,
            "ts_ns": ts_us * 1000,
            "schema": t.schema,
            "table": t.table,
            "txId": txn.xid,
            "lsn": lsn,
            "xmin": None,
        }

    def _envelope(self, t: TableEvents, before, after, op: str, txn: TxnContext, lsn: int) -> bytes:
        now_ns = time.time_ns()
        payload = {
            "before": before,
            "after": after,
            "source": self._source(t, txn, lsn),
            "transaction": None,
            "op": op,
            "ts_ms": now_ns // 1_000_000,
            "ts_us": now_ns // 1000,
            "ts_ns": now_ns,
        }
        return t.wrap_value(_encode(payload))

    def change(self, msg: Insert | Update | Delete, txn: TxnContext, lsn: int, half: int = WHOLE) -> list[Record]:
        """The records of one change. A primary-key change is routed as two halves (see
        `bridge.route.records`): `half` says which one this process emits."""
        t = self._tables[msg.relation_id]
        skipped = self._events.skipped_operations
        if type(msg) is Insert:
            if "c" in skipped:
                return []
            return [Record(t.topic, t.key(msg.new), self._envelope(t, None, t.row(msg.new), "c", txn, lsn))]
        if type(msg) is Delete:
            if "d" in skipped:
                return []
            key = t.key(msg.old)
            records = [Record(t.topic, key, self._envelope(t, t.row(msg.old), None, "d", txn, lsn))]
            if self._events.tombstones_on_delete:
                records.append(Record(t.topic, key, None))
            return records
        return self._update(t, msg, txn, lsn, half)

    def _update(self, t: TableEvents, msg: Update, txn: TxnContext, lsn: int, half: int) -> list[Record]:
        new_key = t.key(_fill_unchanged(msg.new, msg.old))
        old_key = t.key(msg.old) if msg.old is not None else new_key
        if old_key != new_key:
            # Primary-key change: Debezium emits a delete (+ tombstone) under the old key and a
            # create under the new one, each pointing at the other key in a header.
            records = []
            if half != NEW_KEY_HALF:
                records.append(Record(t.topic, old_key, self._envelope(t, t.row(msg.old), None, "d", txn, lsn),
                                      [("__debezium.newkey", new_key or b"")]))
                if self._events.tombstones_on_delete:
                    records.append(Record(t.topic, old_key, None))
            if half != OLD_KEY_HALF:
                records.append(Record(t.topic, new_key, self._envelope(t, None, t.row(msg.new), "c", txn, lsn),
                                      [("__debezium.oldkey", old_key or b"")]))
            return records
        if "u" in self._events.skipped_operations:
            return []
        before = t.row(msg.old) if msg.old_kind == "O" else None
        return [Record(t.topic, new_key, self._envelope(t, before, t.row(msg.new), "u", txn, lsn))]


def _fill_unchanged(new: tuple, old: tuple | None) -> tuple:
    """A key column stored out of line arrives as unchanged TOAST in the new tuple; the old
    tuple (sent in that case) carries its value."""
    if old is None or UNCHANGED_TOAST not in new:
        return new
    return tuple(o if n is UNCHANGED_TOAST else n for n, o in zip(new, old))
