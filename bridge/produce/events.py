"""Decoded changes → Debezium records (topic, key JSON, value JSON, headers).

Everything that depends only on a relation's shape (topic, value converters, key columns, the
key and value writers prepared from the Connect schemas, the envelope template) is built once
per Relation message in `TableEvents`; per row only the values are converted and the row images
written. The record format is the writers' (`bridge.format`): JSON records are made from
templates (and the fast path); other writers (StringConverter, CloudEvents) are handed the
whole envelope as a Connect value on the general path.

Debezium 3.7 facts (checked against tests/data/debezium, a real Debezium 3.7.0 on Kafka
Connect 4.3.1 with JsonConverter):
- Every change record and tombstone carries the headers `__debezium.context.connectorLogicalName`
  (the topic prefix), `__debezium.context.taskId` ("0": the connector has one task),
  `__debezium.context.connectorName` ("postgresql") and `__debezium.context.runId` (one UUID per
  run of the connector), unless `extended.headers.enabled=false`. A primary-key change adds
  `__debezium.newkey` (on the old key's delete and tombstone) or `__debezium.oldkey` (on the new
  key's create) *first*; its value is the other key. Their bytes are the header converter's
  (`bridge.format.headers`): with Connect's SimpleHeaderConverter the text, and the other key's
  JSON without schema.
- `source` ends with `origin` and `origin_lsn`, both null (no replication origin).
- A column Debezium cannot convert (numeric NaN with decimal.handling.mode=precise) is null,
  with a logged warning, and the connector streams on (its default in a column that has one);
  in a key column, a NOT NULL one without a default, or with
  event.converting.failure.handling.mode=fail the event fails (`ValueNotConverted`), and
  event.processing.failure.handling.mode decides (`bridge.produce.failures`).
- A column's default (`bridge.convert.defaults`, read from the catalog with each Relation
  message) is its field's `default`. A NULL in a NOT NULL column is written as that default,
  in any row image; a NULL in a nullable one too, by JsonConverter (`replace.null.with.default`,
  on by default), not by StringConverter.
- A null in a NOT NULL column without a default (the columns a DEFAULT/INDEX replica identity
  leaves out of a delete's old row) becomes the converter's fallback: 0, false, "", ...
  (`bridge.convert.fallbacks`).
- Values are spelled as Jackson writes them (`bridge.format.jackson`).
"""

from __future__ import annotations

import logging
import struct
import time
import uuid
from typing import TYPE_CHECKING, NamedTuple

import msgspec

from bridge.convert.names import adjuster
from bridge.convert.options import ConversionOptions
from bridge.convert.schema import envelope_schema, field_schema, key_schema, value_schema
from bridge.convert.types import TypeRegistry
from bridge.convert.defaults import column_default
from bridge.convert.fallbacks import null_fallback, required_converter
from bridge.convert.values import converter_for, snapshot_converter_for
from bridge.convert.values_numeric import NotRepresentable
from bridge.errors import ConfigError, ValueNotConverted
from bridge.format.converter import KEY, VALUE, Converters, RecordWriter, Writer, converters_for
from bridge.format.headers import Headers, context_headers, key_frame
from bridge.format.json import json_bytes, literal
from bridge.format.source import SourceTemplate
from bridge.pgoutput.messages import UNCHANGED_TOAST, Delete, Insert, Relation, Update
from bridge.produce.fastrows import Reader, compile_reader, key_mask
from bridge.produce.unwrapped import Unwrapped, Unwrapping, row_change
from bridge.route.records import NEW_KEY_HALF, OLD_KEY_HALF, WHOLE
from bridge.route.settings import EventConfig
from bridge.source.catalog import TableInfo
from bridge.transform.chain import Chain, Written, capturing
from bridge.transform.columns import ColumnMapper, mapper_for
from bridge.transform.record import ConnectRecord
from bridge.transform.settings import NO_RULES, ColumnRules

if TYPE_CHECKING:
    from bridge.produce.avrorows import Reader as AvroReader

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode
_U32 = struct.Struct(">I").unpack_from
_time_ns = time.time_ns  # the processing time of an event (its ts_ms, ts_us, ts_ns)


class Record(NamedTuple):
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers | None = None


class TxnContext:
    """What every event of one transaction shares: its id, commit time, and Debezium's
    `sequence` anchor (the previous transaction's commit position). With transaction metadata
    on, `order` is the current event's (total_order, data_collection_order), set per event."""

    __slots__ = ("xid", "commit_ts_us", "last_commit_lsn", "metadata", "order")

    def __init__(self, xid: int, commit_ts_us: int, last_commit_lsn: int | None, metadata: bool = False) -> None:
        self.xid = xid
        self.commit_ts_us = commit_ts_us
        self.last_commit_lsn = last_commit_lsn
        self.metadata = metadata
        self.order = (0, 0)

    def block(self, lsn: int) -> dict | None:
        """The envelope's `transaction` (Debezium's id is `<txId>:<LSN of this event>`)."""
        if not self.metadata:
            return None
        return {"id": f"{self.xid}:{lsn}", "total_order": self.order[0], "data_collection_order": self.order[1]}


class TableEvents:
    """The per-relation half of event building.

    Columns Debezium leaves out (unknown types without `include.unknown.datatypes`) have no
    converter and are skipped: `picks` lists the tuple positions that are emitted.
    """

    __slots__ = ("topic", "schema", "table", "picks", "key_picks", "key_writer", "value_writer", "source",
                 "envelope", "envelope_txn", "envelope_snapshot", "envelope_format", "reader", "avro", "key_mask",
                 "key_frame", "unwrapped",
                 "_snapshot_picks", "_columns", "_types", "_options", "_mappers", "_keys", "_required",
                 "_defaults", "_converting")

    def __init__(self, relation: Relation, info: TableInfo, topic: str, types: TypeRegistry,
                 options: ConversionOptions, events: EventConfig, db: str, converters: Converters,
                 columns: ColumnRules = NO_RULES, converting: str = "warn") -> None:
        """`columns`: the column masking/hashing/truncation rules, applied to the row images
        only (`bridge.transform.columns`); `converting`: event.converting.failure.handling.mode
        (`bridge.produce.failures`)."""
        self.schema, self.table = relation.namespace, relation.name
        self.topic = topic
        # the Connect schema names start with the topic the decoder named (sanitized as Debezium
        # does); they and the field names go through schema/field.name.adjustment.mode
        schema_name = adjuster(events.schema_name_adjustment)
        field_name = adjuster(events.field_name_adjustment, field=True)
        picks, fields, required_fields = [], {}, set()
        plain_picks, plain_fields = {}, {}  # of mapped columns: what the key keeps
        self._mappers: dict[int, ColumnMapper] = {}  # by position: the mappers that change values
        defaults = dict(info.defaults)
        null_is_default = converters.value.null_is_default
        for i, col in enumerate(relation.columns):
            if col.name in info.excluded:
                continue
            type_info = types.get(col.type_oid)
            cv = converter_for(type_info, col.type_modifier, options)
            if cv is None:
                continue
            default = column_default(defaults.get(col.name), type_info, col.type_modifier, cv, options)
            required, fname = col.name in info.not_null, field_name(col.name)
            field = field_schema(fname, cv.schema, optional=not required, default=default)
            # what NULL becomes in a NOT NULL column: its default, else the converter's fallback
            # (even where the field is optional by its type: the geometric ones)
            convert, null = cv.convert, None
            if required:
                fallback = null_fallback(type_info, col.type_modifier, options, cv.schema)
                convert = required_converter(cv, fallback)
                null = fallback if default is None else default
            # (position, name, convert, what an unchanged TOASTed value becomes, what NULL becomes)
            pick = (i, fname, convert, cv.toast, null)
            rule = columns.rule_for(self.schema, self.table, col.name) if columns else None
            mapper = rule and mapper_for(rule, type_info, col.type_modifier, cv.schema)
            if mapper:
                plain_picks[fname], plain_fields[fname] = pick, field
                pick, field = mapper.pick(pick), mapper.field(field)
                if mapper.value is not None:
                    self._mappers[i] = mapper
            if pick[4] is None and default is not None and null_is_default:
                pick = (*pick[:4], default)  # after the rule: JsonConverter replaces what stays null
            picks.append(pick)
            fields[fname] = field
            if required:
                required_fields.add(fname)
        self.picks = tuple(picks)
        self._snapshot_picks: tuple | None = None
        self._columns, self._types, self._options = relation.columns, types, options
        by_name = {p[1]: plain_picks.get(p[1], p) for p in picks}
        key_names = [field_name(n) for n in info.key_columns]
        self.key_picks = tuple(by_name[n] for n in key_names if n in by_name)
        # what a value Debezium cannot convert does to the event (`_unrepresentable`): in a key
        # column it fails it; in a NOT NULL one Debezium writes the field's default, and without
        # a default Connect refuses the null; in a nullable one JsonConverter writes the default
        # (its replace.null.with.default) if there is one
        self._keys = frozenset(key_names)
        self._required = {n: f.get("default") for n, f in fields.items() if n in required_fields}
        self._defaults = {n: f["default"] for n, f in fields.items() if "default" in f and null_is_default}
        self._converting = converting
        key_fields = [plain_fields.get(p[1], fields[p[1]]) for p in self.key_picks]
        keys = key_schema(topic, key_fields, schema_name)  # None without key columns: such a table's records have no key
        self.key_writer: RecordWriter | None = converters.key.prepare(keys, topic, KEY) if keys else None
        # around the other key's JSON in a key change's header (`key_header`)
        self.key_frame = key_frame(events.header_format, keys)
        self.value_writer: RecordWriter = converters.value.prepare(
            envelope_schema(topic, value_schema(topic, list(fields.values()), schema_name), schema_name), topic,
            VALUE)
        # the envelope's template around its source block (`EventBuilder.envelope_format`); None
        # for a writer without templates, which gets the envelope as a Connect value
        self.source = SourceTemplate(events.topic_prefix, db, self.schema, self.table)
        templates = self.value_writer.templates and (self.key_writer is None or self.key_writer.templates)
        self.envelope = _envelope_template(self.value_writer) if templates else None  # type: ignore[arg-type]
        # EventBuilder's envelope template of the current transaction (`envelope_format`)
        self.envelope_txn: TxnContext | None = None
        self.envelope_snapshot = ""
        self.envelope_format = b""
        self.reader = self.reader_for(self.value_writer, self.key_writer) if templates else None  # type: ignore[arg-type]
        # the same for Avro writers (`bridge.produce.avrorows`, imported with them: its tables
        # cost a JSON producer nothing)
        self.avro = None
        if getattr(self.value_writer, "binary", False) and not any(p[0] in self._mappers for p in self.key_picks):
            from bridge.produce.avrorows import compile_avro
            self.avro = compile_avro(len(relation.columns), self.picks, self.key_picks, self.value_writer,
                                     self.key_writer, self.source)
        self.key_mask = key_mask(self.key_picks)
        # with a chain that only unwraps, its creates and updates' fast path (`EventBuilder.relation`)
        self.unwrapped: Unwrapping | None = None

    def reader_for(self, row_writer: Writer, key_writer: Writer | None) -> Reader | None:
        """The fast path's tuple reader (`bridge.produce.fastrows`) writing the row's payload as
        `row_writer` and the key record as `key_writer`. It gives the key the row's values, so
        a key column whose values a rule maps takes the general path (None)."""
        if any(p[0] in self._mappers for p in self.key_picks):
            return None
        return compile_reader(len(self._columns), self.picks, self.key_picks, row_writer, key_writer)

    def avro_reader_for(self, row_nodes: list, row_space: str | None, key_writer: Writer | None) -> AvroReader | None:
        """`reader_for` for Avro writers (`bridge.produce.avrorows.row_reader`): the row written
        as the record fields of types `row_nodes` (in namespace `row_space`), the key as
        `key_writer` writes it."""
        if any(p[0] in self._mappers for p in self.key_picks):
            return None
        from bridge.produce.avrorows import row_reader
        return row_reader(len(self._columns), self.picks, self.key_picks, row_nodes, row_space, key_writer)

    def snapshot_picks(self) -> tuple:
        """`picks` with the converters of values read by a snapshot (`snapshot_converter_for`)."""
        if self._snapshot_picks is None:
            picks = []
            for i, name, convert, toast, null in self.picks:
                col = self._columns[i]
                cv = snapshot_converter_for(self._types.get(col.type_oid), col.type_modifier, self._options)
                if cv is not None:
                    mapper = self._mappers.get(i)
                    convert = cv.convert if mapper is None else mapper.convert(cv.convert)
                picks.append((i, name, convert, toast, null))
            self._snapshot_picks = tuple(picks)
        return self._snapshot_picks

    def row(self, values: tuple, picks: tuple | None = None) -> dict:
        out = {}
        for i, name, convert, toast, null in picks or self.picks:
            raw = values[i]
            if raw is None:
                out[name] = null
            elif raw is UNCHANGED_TOAST:
                out[name] = toast
            else:
                try:
                    out[name] = convert(raw)
                except NotRepresentable as exc:
                    out[name] = self._unrepresentable(name, exc)
        return out

    def _unrepresentable(self, column: str, exc: NotRepresentable) -> object:
        """A value Debezium cannot convert (`TableSchemaBuilder`): in a key column the event fails
        (`ValueNotConverted`); else, per event.converting.failure.handling.mode, it fails too
        (fail) or the column is null, logged (warn) or not (skip). A null in a NOT NULL column is
        its field's default, or without one fails the event: Connect refuses the null in a
        required field; in a nullable column JsonConverter writes the field's default, if any."""
        if column in self._keys:
            raise ValueNotConverted(f"column {column}: {exc}; it is a key column")
        if self._converting == "fail":
            raise ValueNotConverted(f"column {column}: {exc} (event.converting.failure.handling.mode=fail)")
        required = column in self._required
        if required and self._required[column] is None:
            raise ValueNotConverted(f"column {column}: {exc}; it is a NOT NULL column without a default, "
                                    "which cannot be null")
        value = self._required[column] if required else self._defaults.get(column)
        outcome = "null" if value is None else "its default"
        if self._converting == "warn":
            log.warning("%s.%s.%s: %s; the column is emitted as %s, as Debezium does",
                        self.schema, self.table, column, exc, outcome)
        else:
            log.debug("%s.%s.%s: %s; the column is emitted as %s (event.converting.failure.handling.mode=skip)",
                      self.schema, self.table, column, exc, outcome)
        return value

    def text_row(self, values: tuple) -> dict[str, str | None]:
        """A tuple's values as text, by column (what a failure logs when asked to)."""
        return {col.name: None if raw is None or raw is UNCHANGED_TOAST else raw.decode("utf-8", "replace")
                for col, raw in zip(self._columns, values)}

    def _key_values(self, values: tuple) -> dict:
        payload = {}
        for i, name, convert, _, null in self.key_picks:
            raw = values[i]
            try:
                payload[name] = null if raw is None else convert(raw)
            except NotRepresentable as exc:
                payload[name] = self._unrepresentable(name, exc)
        return payload

    def key_payload(self, values: tuple) -> bytes | None:
        """The key's JSON without schema: the value of the newkey/oldkey headers (whatever the
        key converter), and what tells a key change; for a JSON key writer, its payload."""
        return json_bytes(self._key_values(values)) if self.key_picks else None

    def key_header(self, payload: bytes | None) -> bytes:
        """The `__debezium.newkey`/`oldkey` header of the key whose `key_payload` is `payload`,
        as the header converter writes it (whatever the key converter)."""
        head, tail = self.key_frame
        return head + (payload or b"") + tail

    def wrap_key(self, payload: bytes, values: tuple) -> bytes | None:
        """The key record of `values`, whose `key_payload` is `payload`: a JSON writer's head
        and tail around it; another writer's record of the key."""
        writer = self.key_writer
        if self.envelope is None:
            return writer.write(self._key_values(values))  # type: ignore[union-attr]
        return writer.head + payload + writer.tail  # type: ignore[union-attr]

    def key(self, values: tuple) -> bytes | None:
        if self.envelope is None:
            return self.key_writer.write(self._key_values(values)) if self.key_picks else None  # type: ignore[union-attr]
        payload = self.key_payload(values)
        return None if payload is None else self.wrap_key(payload, values)


class EventBuilder:
    """Turns Insert/Update/Delete of known relations into Debezium records.

    `run_id` is the `__debezium.context.runId` header: one id per run of the bridge, the same
    in every producer process (pass it down from the coordinator); by default a fresh UUID.
    """

    def __init__(self, events: EventConfig, options: ConversionOptions, types: TypeRegistry, db: str,
                 run_id: str | None = None, converters: Converters | None = None,
                 columns: ColumnRules = NO_RULES, converting: str = "warn", chain: Chain | None = None) -> None:
        """`converters`: the key and value converters, by default the ones `events` names;
        `columns`: the column masking/hashing/truncation rules; `converting`:
        event.converting.failure.handling.mode (`bridge.produce.failures`); `chain`: the
        transforms (`bridge.transform.chain`), which take the events as Connect values: with
        one, every table takes the general path and the chain writes the records, but the creates
        and updates of a table whose chain only unwraps them (`fast_unwrapped`; with Avro values
        `bridge.produce.avro_unwrapped`)."""
        self._converting = converting
        self._events = events
        self._columns = columns
        self._converters = self._writes = converters or converters_for(events)
        self._chain = chain
        if chain is not None:
            self._converters = capturing(self._converters)
            # a table whose creates and updates the chain only unwraps has a fast path of its own
            self.fast_change = self.fast_unwrapped  # type: ignore[method-assign]
        self._options = options
        self._types = types
        self._db = db
        self._tables: dict[int, TableEvents] = {}
        self._skipped = events.skipped_operations
        self.run_id = run_id or str(uuid.uuid4())
        # the same on every record of the run: written once, in the header converter's bytes
        # (extended.headers.enabled=false: none, as Debezium's EventDispatcher adds none)
        self.headers: Headers = (context_headers(events.header_format, events.topic_prefix, self.run_id)
                                 if events.extended_headers else [])
        if getattr(self._converters.value, "binary", False):  # Avro: its own fast path
            from bridge.produce.avrorows import avro_fast_change
            self.fast_change = avro_fast_change(self._tables, self._skipped, events.tombstones_on_delete,  # type: ignore[method-assign]
                                                self.headers)
        elif chain is not None and getattr(self._writes.value, "binary", False):  # and with a chain that unwraps
            from bridge.produce.avro_unwrapped import avro_fast_unwrapped
            self.fast_change = avro_fast_unwrapped(self._tables, self._skipped)  # type: ignore[method-assign]

    def relation(self, msg: Relation, info: TableInfo, topic: str) -> TableEvents:
        """A Relation message (first use or after ALTER TABLE) replaces the table's shape; `topic`
        is the table's topic as the decoder named it (`bridge.route.router`)."""
        for column in msg.columns:  # re-read enums/domains: the server re-sends after ALTER TYPE
            self._types.invalidate(column.type_oid)
        table = TableEvents(msg, info, topic, self._types, self._options, self._events, self._db, self._converters,
                            self._columns, self._converting)
        if self._chain is not None:
            table.unwrapped = self._unwrapped(table)
        self._tables[msg.relation_id] = table
        return table

    def _unwrapped(self, t: TableEvents) -> Unwrapping | None:
        """The fast path of `t`'s creates and updates (`bridge.produce.unwrapped`), when the
        chain only unwraps them (and renames their topic) and the converters write JSON, or
        Avro (`bridge.produce.avro_unwrapped`)."""
        envelope = t.value_writer.schema  # type: ignore[attr-defined]  # a capturing writer's
        try:
            found = self._chain.unwrap_only(t.topic, envelope, self.headers)  # type: ignore[union-attr]
            if found is None or found[1] is None:
                return None
            topic, step = found
            if step.rowwise:
                return None  # a topic or dropped fields per row: the general path
            value_schema, rewrite, fields, header_refs = step.row_plan(envelope)
        except ConfigError:
            return None  # what the step refuses, it refuses on the general path
        if not Unwrapped.supports(fields, header_refs, [p[1] for p in t.picks], rewrite) or \
                (fields or rewrite) and not t.picks:
            return None
        if getattr(self._writes.value, "binary", False):  # Avro: the chain's writers
            from bridge.produce.avro_unwrapped import AvroUnwrapped
            return AvroUnwrapped.of(t, topic, self._chain, value_schema, rewrite, fields, header_refs,  # type: ignore[arg-type]
                                    self._events.header_format, self.headers)
        value_writer = self._writes.value.prepare(value_schema, topic, VALUE)
        key_writer = None if t.key_writer is None else \
            self._writes.key.prepare(t.key_writer.schema, topic, KEY)  # type: ignore[attr-defined]
        if not value_writer.templates or key_writer is not None and not key_writer.templates:
            return None
        reader = t.reader_for(value_writer, key_writer)  # type: ignore[arg-type]
        if reader is None:
            return None
        return Unwrapped(topic, reader, value_writer, rewrite, fields, header_refs,  # type: ignore[arg-type]
                         self._events.header_format, self.headers, t.source)

    def relation_names(self, relation_id: int) -> tuple[str, str]:
        """(schema.table, topic) of a relation, for a change that could not be decoded (its id
        when the relation is unknown)."""
        t = self._tables.get(relation_id)
        return (f"relation {relation_id}", "") if t is None else (f"{t.schema}.{t.table}", t.topic)

    def relation_of_topic(self, topic: str) -> str:
        """schema.table of the table whose events go to `topic` (a refused record's); the topic
        itself when none does (a transform renamed it, or a side topic)."""
        return next((f"{t.schema}.{t.table}" for t in self._tables.values() if t.topic == topic), topic)

    def failed_row(self, msg: Insert | Update | Delete) -> tuple[str, dict[str, str | None] | None]:
        """(schema.table, its values as text) of a change whose event could not be built."""
        t = self._tables.get(msg.relation_id)
        if t is None:
            return f"relation {msg.relation_id}", None
        values = msg.new if type(msg) is not Delete else msg.old
        return f"{t.schema}.{t.table}", None if values is None else t.text_row(values)

    def _envelope(self, t: TableEvents, before, after, op: str, txn: TxnContext, lsn: int,
                  snapshot: str = "false", transaction: bool = True) -> bytes:
        """The envelope from the row images (dicts, or None): only they go through the writer
        (a writer without templates writes the whole envelope)."""
        if t.envelope is None:
            ns = _time_ns()
            return t.value_writer.write({
                "before": before, "after": after,
                "source": t.source.block(snapshot, txn.commit_ts_us, txn.xid, txn.last_commit_lsn, lsn),
                "transaction": txn.block(lsn) if transaction else None, "op": op,
                "ts_ms": ns // 1_000_000, "ts_us": ns // 1000, "ts_ns": ns})
        payload = t.value_writer.payload  # type: ignore[attr-defined]  # a writer with templates  # an image that is None is `null`, as `payload(None)` writes it
        return self._value(t, b"null" if before is None else payload(before),
                           b"null" if after is None else payload(after), op.encode(), txn, lsn, snapshot, transaction)

    def _value(self, t: TableEvents, before: bytes, after: bytes, op: bytes, txn: TxnContext, lsn: int,
               snapshot: str = "false", transaction: bool = True) -> bytes:
        """The envelope from the row images' payloads, filling `envelope_format`."""
        if t.envelope_txn is txn and t.envelope_snapshot == snapshot:
            fmt = t.envelope_format
        else:
            fmt = self.envelope_format(t, txn, snapshot)
        block = txn.block(lsn) if transaction and txn.metadata else None
        ns = b"%d" % _time_ns()  # ts_ms, ts_us and ts_ns: one clock reading, formatted once
        return fmt % (before, after, lsn, lsn, b"null" if block is None else _encode(block), op,
                      ns[:-6], ns[:-3], ns)

    def envelope_format(self, t: TableEvents, txn: TxnContext, snapshot: str = "false") -> bytes:
        """The whole value of `t`'s events in `txn` (schema included) as a `%` template, cached
        on `t` for the transaction: everything but the row images, the event's LSN (twice),
        `transaction` block, op and processing time is the same for all of them. `%` slots:
        before, after, sequence's LSN, lsn, transaction, op, ts_ms, ts_us, ts_ns."""
        head, tail = t.envelope
        fmt = b"".join((head, t.source.txn(snapshot, txn.commit_ts_us, txn.xid, txn.last_commit_lsn), tail))
        t.envelope_txn, t.envelope_snapshot, t.envelope_format = txn, snapshot, fmt
        return fmt

    def change(self, msg: Insert | Update | Delete, txn: TxnContext, lsn: int,
               half: int = WHOLE) -> list[Record] | list[Written]:
        """The records of one change. A primary-key change is routed as two halves (see
        `bridge.route.records`): `half` says which one this process emits."""
        t = self._tables[msg.relation_id]
        records = self._change(t, msg, txn, lsn, half)
        return records if self._chain is None else self._transformed(t, records)

    def _transformed(self, t: TableEvents, records: list[Record]) -> list[Written]:
        """Records built as Connect values (`capturing`) through the chain, then written (each
        with the partition a step may have chosen)."""
        chain, out = self._chain, []
        key_schema = t.key_writer.schema if t.key_writer is not None else None  # type: ignore[attr-defined]
        value_schema = t.value_writer.schema  # type: ignore[attr-defined]
        # a change's records that share their headers (a delete and its tombstone) share one
        # list, as Debezium's do: what a transform adds to the delete's, the tombstone has too
        lists: dict[int, list] = {}
        for topic, key, value, headers in records:
            shared = lists.get(id(headers))
            if shared is None:
                shared = lists[id(headers)] = list(headers or ())
            record = chain.run(ConnectRecord(topic, key_schema if key is not None else None, key,  # type: ignore[union-attr]
                                             None if value is None else value_schema, value, shared))
            if record is not None:
                out.append(chain.write(record))  # type: ignore[union-attr]  # a Written: with its partition
        return out

    def _change(self, t: TableEvents, msg: Insert | Update | Delete, txn: TxnContext, lsn: int,
                half: int) -> list[Record]:
        skipped = self._events.skipped_operations
        headers = self.headers
        if type(msg) is Insert:
            if "c" in skipped:
                return []
            return [Record(t.topic, t.key(msg.new), self._envelope(t, None, t.row(msg.new), "c", txn, lsn), headers)]
        if type(msg) is Delete:
            if "d" in skipped:
                return []
            key = t.key(msg.old)
            records = [Record(t.topic, key, self._envelope(t, t.row(msg.old), None, "d", txn, lsn), headers)]
            if self._events.tombstones_on_delete:
                records.append(Record(t.topic, key, None, headers))
            return records
        return self._update(t, msg, txn, lsn, half)

    def fast_change(self, buf: bytes, pos: int, end: int, txn: TxnContext, lsn: int,
                    half: int = WHOLE) -> tuple[tuple[str, bytes | None, bytes | None, Headers], ...] | None:
        """What `change(decode(buf[pos:end]), txn, lsn, half)` returns, as plain
        (topic, key, value, headers) tuples, straight from the Insert/Update/Delete message at
        `buf[pos:end]` (outside a streamed block) with the table's reader (`bridge.produce.fastrows`).
        None when the change needs the general path: an unknown relation, a primary-key change,
        unchanged TOAST where the general path fills it in, a skipped operation, a value the
        reader leaves to it (binary, not representable) or a malformed message."""
        try:
            t = self._tables.get(_U32(buf, pos + 1)[0])
            if t is None or t.reader is None:
                return None
            kind, marker = buf[pos], buf[pos + 5]
            if kind == 0x49:  # 'I' relid 'N' new
                after, key, p, toast = t.reader(buf, pos + 6)
                if p != end or toast or marker != 0x4E or "c" in self._skipped:
                    return None
                before, op = b"null", b"c"
            elif kind == 0x44:  # 'D' relid ('K' | 'O') old
                before, key, p, toast = t.reader(buf, pos + 6)
                if p != end or toast or (marker != 0x4B and marker != 0x4F) or "d" in self._skipped:
                    return None
                after, op = b"null", b"d"
            elif kind == 0x55 and "u" not in self._skipped:  # 'U' relid [('K' | 'O') old] 'N' new
                before, op = b"null", b"u"
                if marker == 0x4E:  # no old tuple: the key did not change
                    after, key, p, toast = t.reader(buf, pos + 6)
                    if toast & t.key_mask:
                        return None
                else:
                    old, old_key, p, old_toast = t.reader(buf, pos + 6)
                    if buf[p] != 0x4E or old_toast:
                        return None
                    after, key, p, toast = t.reader(buf, p + 1)
                    if toast & t.key_mask or key != old_key:
                        return None  # a key from the old tuple, or a primary-key change
                    if marker == 0x4F:  # REPLICA IDENTITY FULL
                        if toast:
                            return None  # filled in from the old row
                        before = old
                    elif marker != 0x4B:
                        return None
                if p != end:
                    return None
            else:
                return None
            # `_value`, inlined (a call per row saved): keep the two in step
            if t.envelope_txn is txn and t.envelope_snapshot == "false":
                fmt = t.envelope_format
            else:
                fmt = self.envelope_format(t, txn)
            ns = b"%d" % _time_ns()
            record = (t.topic, key, fmt % (before, after, lsn, lsn,
                                           _encode(txn.block(lsn)) if txn.metadata else b"null",
                                           op, ns[:-6], ns[:-3], ns), self.headers)
        except Exception:  # noqa: BLE001 - the general path raises what applies, or copes
            return None
        if op == b"d" and self._events.tombstones_on_delete:
            return record, (t.topic, key, None, self.headers)
        return (record,)

    def fast_unwrapped(self, buf: bytes, pos: int, end: int, txn: TxnContext, lsn: int,
                       half: int = WHOLE) -> tuple[tuple[str, bytes | None, bytes | None, Headers], ...] | None:
        """`fast_change` with a chain: what `change` returns for a create or update of a table
        whose chain only unwraps it (`TableEvents.unwrapped`), written from its template; None
        for the rest, as `fast_change` (its tuples read by `row_change`)."""
        try:
            t = self._tables.get(_U32(buf, pos + 1)[0])
            u = None if t is None else t.unwrapped
            if u is None:
                return None
            change = row_change(u.reader, t.key_mask, buf, pos, end, self._skipped)  # type: ignore[union-attr]
            if change is None:
                return None
            op, row, key = change
            if u.txn is not txn:
                u.renew(txn)
            formats = u.values
            if formats is None:
                return None
            if u.timed:
                n = _time_ns()
                ns = b"%d" % n
                value = formats[op] % {b"r": row[:-1], b"l": lsn, b"m": ns[:-6], b"u": ns[:-3], b"n": ns}
                headers = u.headers[op] if u.headers else u.record_headers(op, txn, lsn, n)
            else:
                value = formats[op] % {b"r": row[:-1], b"l": lsn}
                headers = u.headers[op]
        except Exception:  # noqa: BLE001 - the general path raises what applies, or copes
            return None
        return ((u.topic, key, value, headers),)

    def snapshot_row(self, msg: Insert, txn: TxnContext, lsn: int, marker: str) -> Record | None:
        """A row read by the initial snapshot: `op: "r"` with Debezium's `source.snapshot` marker,
        values as Debezium's JDBC reads convert them, and no `transaction` block (Debezium's
        snapshot records have none, even with transaction metadata on). None: the chain dropped it."""
        t = self._tables[msg.relation_id]
        record = Record(t.topic, t.key(msg.new),
                        self._envelope(t, None, t.row(msg.new, t.snapshot_picks()), "r", txn, lsn, marker, False),
                        self.headers)
        return record if self._chain is None else next(iter(self._transformed(t, [record])), None)

    def truncate(self, relation_id: int, txn: TxnContext, lsn: int) -> Record | None:
        """Debezium's truncate event: null key, `op: "t"`, before and after null. None: the
        chain dropped it."""
        t = self._tables[relation_id]
        record = Record(t.topic, None, self._envelope(t, None, None, "t", txn, lsn), self.headers)
        return record if self._chain is None else next(iter(self._transformed(t, [record])), None)

    def _update(self, t: TableEvents, msg: Update, txn: TxnContext, lsn: int, half: int) -> list[Record]:
        new_values = _fill_unchanged(msg.new, msg.old)
        new_payload = t.key_payload(new_values)
        old_payload = t.key_payload(msg.old) if msg.old is not None else new_payload
        if old_payload != new_payload:
            # Primary-key change: Debezium emits a delete (+ tombstone) under the old key and a
            # create under the new one, each pointing at the other key in a header.
            records = []
            if half != NEW_KEY_HALF:
                old_key = t.wrap_key(old_payload, msg.old) if old_payload is not None else None
                headers = [("__debezium.newkey", t.key_header(new_payload)), *self.headers]
                records.append(Record(t.topic, old_key, self._envelope(t, t.row(msg.old), None, "d", txn, lsn),
                                      headers))
                if self._events.tombstones_on_delete:
                    records.append(Record(t.topic, old_key, None, headers))
            if half != OLD_KEY_HALF:
                new_key = t.wrap_key(new_payload, new_values) if new_payload is not None else None
                headers = [("__debezium.oldkey", t.key_header(old_payload)), *self.headers]
                records.append(Record(t.topic, new_key, self._envelope(t, None, t.row(msg.new), "c", txn, lsn),
                                      headers))
            return records
        if "u" in self._events.skipped_operations:
            return []
        new_key = t.wrap_key(new_payload, new_values) if new_payload is not None else None
        # REPLICA IDENTITY FULL: the old row holds the TOASTed values the new one leaves out
        before = t.row(msg.old) if msg.old_kind == "O" else None
        after = t.row(new_values if msg.old_kind == "O" else msg.new)
        return [Record(t.topic, new_key, self._envelope(t, before, after, "u", txn, lsn), self.headers)]


def _envelope_template(writer: Writer) -> tuple[bytes, bytes]:
    """The `%` template of a table's envelope (`writer`'s record of it) before and after its
    source block, in Debezium's Envelope field order; slots: before, after | transaction, op,
    ts_ms, ts_us, ts_ns."""
    return (literal(writer.head) + b'{"before":%s,"after":%s,"source":',
            b',"transaction":%s,"op":"%s","ts_ms":%s,"ts_us":%s,"ts_ns":%s}' + literal(writer.tail))


def _fill_unchanged(new: tuple, old: tuple | None) -> tuple:
    """A key column stored out of line arrives as unchanged TOAST in the new tuple; the old
    tuple (sent in that case) carries its value."""
    if old is None or UNCHANGED_TOAST not in new:
        return new
    return tuple(o if n is UNCHANGED_TOAST else n for n, o in zip(new, old))
