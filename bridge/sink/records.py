"""A Kafka record read as the change it asks of the target: the Debezium envelope applied.

`c`/`r`/`u` → a row to write (insert, upsert or update by `insert.mode`), `d` → a delete (with
`delete.enabled`), a tombstone → a delete by the record key (with `delete.enabled` and
`primary.key.mode=record_key`, as Debezium's JDBC sink does), `t` → a truncate (with
`truncate.enabled`); `m`, heartbeats, transaction metadata and schema changes are skipped. A value
that is not an envelope (an unwrapped row, ExtractNewRecordState) is a row to write.

JSON with schemas: the Connect schema gives each field's decoder, compiled once per distinct
schema (`Readers`). Without schemas the target table's column types give them, at apply time.
Avro (`bridge.sink.avro_input`): the registry's schema, read as a Connect schema, and the value
spelled as JSON's payload, then the same plans (cached by the record's schema id).
Unchanged-TOAST columns of an update (the placeholder in its per-type encodings) are left out.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import msgspec
from msgspec.structs import astuple

from bridge.errors import BridgeError
from bridge.sink import rowstructs
from bridge.sink.naming import Naming, TableName
from bridge.sink.settings import SinkConfig
from bridge.sink.values import DECODE_ERRORS, unavailable_at

UPSERT, DELETE, TRUNCATE = 1, 2, 3
KAFKA_COLUMNS = ("__connect_topic", "__connect_partition", "__connect_offset")
_UNKNOWN = object()
_GENERAL = object()  # a record the lane does not read: read the general way
_TEXT_ERRORS = (*DECODE_ERRORS, BridgeError)  # what a plan's generated functions raise on a value
_RUN_MIN = 2  # a shorter run of creates is given as changes
_TABLES_KEPT = 10_000
_SOURCE_FIELD = re.compile(r"\$\{source\.(.*?)\}")
_SKIPPED_SCHEMAS = ("io.debezium.connector.common.Heartbeat", "io.debezium.connector.common.TransactionMetadataValue",
                    "io.debezium.connector.common.TransactionMetadataKey")


class RecordRefused(BridgeError):
    """A record the sink cannot read or the target refuses; with errors.tolerance=all it goes to
    the dead-letter topic. `stage` is Kafka Connect's name of where it failed."""

    def __init__(self, message: str, stage: str = "TASK_PUT", cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.stage = stage
        self.cause = cause


class Change(msgspec.Struct, gc=False, eq=False):
    """One change for one table: key and row values as the JSON held them. `key_fields` /
    `value_fields` map each column to its Connect schema field (None: schemaless JSON, the
    target's column types decide); they are a plan's, shared by every record of a schema.
    A struct made in C and left out of the garbage collector (it holds no cycle): one is made
    and freed per record."""

    kind: int
    table: TableName
    key_columns: tuple[str, ...] = ()
    key: tuple[object, ...] = ()
    key_fields: Mapping[str, dict] | None = None
    columns: tuple[str, ...] = ()
    values: tuple[object, ...] = ()
    value_fields: Mapping[str, dict] | None = None
    lsn: int | None = None
    # set by a lane (`_Lane`): one object per layout (all but key, values and LSN), so that the
    # writer finds its plan without hashing them; None: the writer works the layout out
    layout: object | None = None
    # a create or snapshot read (`c`, `r`): a row the target most likely does not hold yet, which
    # the writer may COPY straight into its table (`apply`); False for anything else
    created: bool = False
    # (plan, key texts, COPY line) made ahead on the preparing thread (`apply.Writer.pretext`)
    text: tuple | None = None

    def _compared(self) -> tuple:  # what equality compares: all but the writer's hints (layout, created, text)
        return (self.kind, self.table, self.key_columns, self.key, self.key_fields, self.columns, self.values,
                self.value_fields, self.lsn)

    def __eq__(self, other: object) -> bool:
        return self._compared() == other._compared() if isinstance(other, Change) else NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable (`text`), as the dataclass it replaced

    def field(self, column: str) -> dict | None:
        """The Connect schema field of a column (schema evolution), None when unknown."""
        for fields in (self.key_fields, self.value_fields):
            if fields is not None and column in fields:
                return fields[column]
        return None


class _Wrapped(msgspec.Struct):
    """JsonConverter's {schema, payload}: the schema kept as bytes (the key of its plan), the
    payload decoded in the same pass."""

    schema: msgspec.Raw = msgspec.Raw(b"null")
    payload: Any = None


class _Source(msgspec.Struct):
    lsn: Any = None


class _Envelope(msgspec.Struct):
    """A change event's payload, as far as the sink reads it."""

    before: Any = None
    after: Any = None
    source: _Source | None = None
    op: Any = None


_wrapped = msgspec.json.Decoder(_Wrapped)
_envelope = msgspec.json.Decoder(_Envelope)
_plain = msgspec.json.Decoder()
# primary.key.mode=kafka: Connect's coordinates as key columns
KAFKA_FIELDS = {KAFKA_COLUMNS[0]: {"type": "string", "field": KAFKA_COLUMNS[0]},
                KAFKA_COLUMNS[1]: {"type": "int32", "field": KAFKA_COLUMNS[1]},
                KAFKA_COLUMNS[2]: {"type": "int64", "field": KAFKA_COLUMNS[2]}}


@dataclass(frozen=True, slots=True)
class _ValuePlan:
    """What a value schema says: whether to skip it, whether it is an envelope, the row's fields
    by their names in the record (`fields`) and by target column (`by_column`)."""

    skip: bool
    envelope: bool
    fields: Mapping[str, dict]
    by_column: Mapping[str, dict]


@dataclass(frozen=True, slots=True)
class _KeyPlan:
    names: tuple[str, ...]  # key fields; a primitive key has one, named by primary.key.fields
    by_column: Mapping[str, dict]
    primitive: bool
    columns: tuple[str, ...]  # their target column names


@dataclass(frozen=True, slots=True)
class _Lane:
    """How the records of one topic whose value and key carry the schemas of a record already
    read are read without a look at either schema (their JSON must start with the same bytes):
    the payload decoded into structs generated for the row's fields (`rowstructs`), the row's
    values taken out in schema order, everything else the first record's. Without schemas
    (`whole`), the records whose row and key have exactly the fields of one already read: the
    structs refuse any other (that record is read the general way)."""

    topic: str
    value_prefix: bytes  # JsonConverter's text up to the payload
    key_prefix: bytes | None  # the same for the key (primary.key.mode=record_key)
    envelope: msgspec.json.Decoder
    key: msgspec.json.Decoder | None  # None: no key is read (primary.key.mode none, kafka)
    kafka_key: bool
    table: TableName
    key_columns: tuple[str, ...]
    key_fields: Mapping[str, dict] | None
    pick: Callable[[object], tuple]  # the row's values of `columns`
    columns: tuple[str, ...]
    value_fields: Mapping[str, dict] | None
    layouts: tuple[object, object, object, object]  # (kind UPSERT / DELETE) x (with / without an LSN)
    value_cut: int  # where the payload starts: len(value_prefix)
    key_cut: int
    whole: bool = False  # JSON without schemas: the value and key are the payloads (no prefix, no cut)


@dataclass(slots=True)
class CreatedRun:
    """Consecutive records of one lane, each a create or a snapshot read with an LSN and a key of
    its own in the run, read straight into COPY's lines by the writer's plan of the lane's layout
    (`Readers.read_batch`): no `Change` per record. `changes` gives them back one by one (a
    rollback made the plan stale, a record the target refuses)."""

    lane: _Lane
    plan: Any  # the writer's plan of `lane.layouts[0]`: `copy_line`, `key_texts`, `shape`, `generation`
    records: list = dataclasses.field(default_factory=list)  # the Kafka messages
    keys: list = dataclasses.field(default_factory=list)  # each record's key values
    texts: list = dataclasses.field(default_factory=list)  # ... as text (`plan.key_texts`)
    values: list = dataclasses.field(default_factory=list)  # the row's values of `lane.columns`
    lsns: list = dataclasses.field(default_factory=list)
    lines: list = dataclasses.field(default_factory=list)  # the rows as COPY's lines

    def change(self, i: int) -> Change:
        """The change of the run's `i`-th record, as `read` makes it, with its texts made ahead."""
        lane = self.lane
        return Change(UPSERT, lane.table, lane.key_columns, self.keys[i], lane.key_fields, lane.columns,
                      self.values[i], lane.value_fields, self.lsns[i], lane.layouts[0], True,
                      (self.plan, self.texts[i], self.lines[i]))

    def changes(self) -> list[tuple[object, Change]]:
        """(record, change) of each record."""
        return [(record, self.change(i)) for i, record in enumerate(self.records)]


class Readers:
    """Reads records into changes for one worker; plans cached by schema bytes."""

    def __init__(self, config: SinkConfig, placeholder: str, wait: Callable[[float], bool] | None = None) -> None:
        """`wait(seconds)`: how a retry of the schema registry sleeps; true when the sink stops."""
        self.config = config
        self.placeholder = placeholder
        self.naming = Naming(config.table_format, config.quote_identifiers)
        self._values: dict[bytes, _ValuePlan] = {}
        self._keys: dict[bytes, _KeyPlan] = {}
        self._key_avro = self._value_avro = None
        if config.key_avro is not None or config.value_avro is not None:
            from bridge.sink.avro_input import AvroInput  # the avro extra, checked by the settings
            waits = {} if wait is None else {"wait": wait}
            if config.key_avro is not None:
                self._key_avro = AvroInput(config.key_avro, config.errors, "KEY_CONVERTER", **waits)
            if config.value_avro is not None:
                self._value_avro = AvroInput(config.value_avro, config.errors, "VALUE_CONVERTER", **waits)
        # the plans of the last schema seen: a topic's records mostly share theirs
        self._last_value: tuple[bytes, _ValuePlan] | None = None  # (JsonConverter's text up to the payload, plan)
        self._last_key: tuple[str, msgspec.Raw, _KeyPlan, bytes] | None = None  # (topic, schema, plan, text up to the payload)
        # the table of a topic (and of the source fields the format names), worked out once
        self._source_fields = tuple(_SOURCE_FIELD.findall(config.table_format))
        self._tables: dict[tuple, TableName | None] = {}
        self._rows: dict[tuple, tuple[tuple[str, ...], tuple[str, ...]]] = {}  # see _set_row
        self._lane: _Lane | None = None  # that of the last record read the general way
        self._lanes: dict[tuple, _Lane] = {}
        lanes = self._key_avro is None and self._value_avro is None and not self._source_fields \
            and config.pk_mode != "record_value"
        self._lanes_on = lanes and config.value_schemas and (config.key_schemas or config.pk_mode != "record_key")
        # JSON without schemas (a key too, with record_key): lanes by the fields of the last row read
        self._plain_lanes = lanes and not config.value_schemas and not (config.key_schemas and
                                                                        config.pk_mode == "record_key")
        self._last_fields: tuple | None = None  # (row's field names, key's or None) of the last general read
        self._plain_key: tuple[str, ...] | None = None  # the key's fields of the record being read, all of them keys

    # -- plans ------------------------------------------------------------------------------

    def _table(self, topic: str, source: dict | None) -> TableName | None:
        """`Naming.table`, kept per topic and the text of the source fields the format names."""
        if source is None or not self._source_fields:
            ident: tuple = (topic,)
        else:
            ident = (topic, *[str(source.get(f, "")) for f in self._source_fields])
        table = self._tables.get(ident, _UNKNOWN)
        if table is _UNKNOWN:
            if len(self._tables) >= _TABLES_KEPT:
                self._tables.clear()
            table = self._tables[ident] = self.naming.table(topic, source)
        return table  # type: ignore[return-value]

    def _value_plan(self, schema: dict | None) -> _ValuePlan:
        if not isinstance(schema, dict):
            return _ValuePlan(False, False, {}, {})
        name = schema.get("name") or ""
        if name in _SKIPPED_SCHEMAS or "SchemaChange" in name:
            return _ValuePlan(True, False, {}, {})
        fields = {f["field"]: f for f in schema.get("fields") or ()}
        envelope = name.endswith(".Envelope") or (not name and "op" in fields)
        row = fields
        if envelope:
            after = fields.get("after") or fields.get("before") or {}
            row = {f["field"]: f for f in after.get("fields") or ()}
        return _ValuePlan(False, envelope, row, {self.naming.column(n): f for n, f in row.items()})

    def _key_plan(self, schema: dict | None, topic: str) -> _KeyPlan:
        column = self.naming.column
        if not isinstance(schema, dict):
            raise RecordRefused(f"primary.key.mode=record_key but the key on {topic!r} has no schema",
                                "KEY_CONVERTER")
        if schema.get("type") == "struct":
            fields = {f["field"]: f for f in schema.get("fields") or ()}
            names = self._key_names(topic, tuple(fields))
            missing = [n for n in names if n not in fields]
            if missing:
                raise RecordRefused(f"primary.key.fields names {', '.join(missing)}, not in the record key of "
                                    f"topic {topic!r}")
            return _KeyPlan(names, {column(n): fields[n] for n in names}, False, tuple(column(n) for n in names))
        if len(self.config.pk_fields) != 1:
            raise RecordRefused(f"a primitive record key on topic {topic!r} needs primary.key.fields to name exactly "
                                "one column")
        name = self.config.pk_fields[0]
        return _KeyPlan((name,), {column(name): {**schema, "field": name}}, True, (column(name),))

    def _key_names(self, topic: str, available: tuple[str, ...]) -> tuple[str, ...]:
        if self.config.pk_fields:
            return self.config.pk_fields
        keeps = self.config.fields.keeps
        return tuple(n for n in available if keeps(topic, n))

    # -- records ----------------------------------------------------------------------------

    def read(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None) -> Change | None:
        """The change of one record, or None when the sink skips it: through the lane of the last
        record read the general way when it has one and the record fits it, else the general way."""
        lane = self._lane
        if lane is not None and value is not None and topic == lane.topic and value.startswith(lane.value_prefix) \
                and value.endswith(b"}"):
            change = self._through(lane, topic, partition, offset, key, value)
            if change is not _GENERAL:
                return change  # type: ignore[return-value]
        change = self._read(topic, partition, offset, key, value)
        if self._lanes_on and change is not None and change.kind != TRUNCATE:
            self._lane = self._lane_of(topic, key, value, change)
        elif self._plain_lanes:
            fields, self._last_fields = self._last_fields, None
            if change is not None and change.kind == UPSERT and fields is not None:
                self._lane = self._plain_lane_of(topic, change, *fields)
        return change

    def read_batch(self, batch: list, plan_of: Callable[[object], Any] | None, next_offsets: dict,
                   refused: list) -> list:
        """The (record, change) pairs of a batch of Kafka messages, in order, as `read` makes them
        one by one; each partition's next offset set in `next_offsets`, the records refused added
        to `refused` with their error. With `plan_of` (the writer's current plan of a layout, or
        None), consecutive creates and snapshot reads of the current lane whose layout has a plan
        come as one (None, `CreatedRun`): read straight into COPY's lines, the writer's work for
        them done here, with no `Change` per record."""
        out: list = []
        read, n, i = self.read, len(batch), 0
        while i < n:
            if self._lane is not None:
                i = self._lane_loop(batch, i, plan_of, next_offsets, out)
                if i >= n:
                    break
            message = batch[i]
            i += 1
            topic, partition, offset = message.topic(), message.partition(), message.offset()
            next_offsets[(topic, partition)] = offset + 1
            try:
                change = read(topic, partition, offset, message.key(), message.value())
            except RecordRefused as error:
                refused.append((message, error))
                continue
            if change is not None:
                out.append((message, change))
        return out

    def _lane_loop(self, batch: list, i: int, plan_of: Callable[[object], Any] | None, next_offsets: dict,
                   out: list) -> int:
        """`read_batch` over the records from `i` on that the current lane reads; where the next
        record starts (one the lane does not read, or the batch's end)."""
        lane = self._lane
        plan = plan_of(lane.layouts[0]) if plan_of is not None else None  # type: ignore[union-attr]
        copy_line = key_texts = None
        if plan is not None:
            copy_line, key_texts = plan.copy_line, plan.key_texts
        topic, prefix, cut, whole = lane.topic, lane.value_prefix, lane.value_cut, lane.whole  # type: ignore[union-attr]
        decode = lane.envelope.decode  # type: ignore[union-attr]
        key_decode = lane.key.decode if lane.key is not None else None  # type: ignore[union-attr]
        key_prefix, key_cut, kafka_key = lane.key_prefix, lane.key_cut, lane.kafka_key  # type: ignore[union-attr]
        pick, placeholder = lane.pick, self.placeholder  # type: ignore[union-attr]
        run: CreatedRun | None = None
        part = None  # the partition of the records read last
        n, j = len(batch), i
        while j < n:
            message = batch[j]
            value = message.value()
            if value is None or message.topic() != topic or not value.startswith(prefix) or value[-1:] != b"}":
                break
            try:
                event = decode(value if whole else value[cut:-1])
            except (msgspec.DecodeError, msgspec.ValidationError):
                break
            p = message.partition()
            op = event.op
            line = None  # the record's COPY line when it joins the run
            if copy_line is not None and (op == "r" or op == "c") and event.after is not None:
                source = event.source
                lsn = source.lsn if source is not None else None
                key = message.key()
                key_values = None
                if type(lsn) is int:
                    if key_decode is None:
                        key_values = (topic, p, message.offset()) if kafka_key else ()
                    elif key is not None and key.startswith(key_prefix) and key[-1:] == b"}":  # type: ignore[arg-type]
                        try:
                            key_values = astuple(key_decode(key if whole else key[key_cut:-1]))
                        except (msgspec.DecodeError, msgspec.ValidationError):
                            pass
                if key_values is not None:
                    values = pick(event.after)
                    if op == "r" or not unavailable_at(values, placeholder):
                        try:
                            texts = key_texts(key_values)  # type: ignore[misc]
                            line = copy_line(texts, values, lsn)  # type: ignore[misc]
                        except _TEXT_ERRORS:  # the writer makes it again, for the error naming the column
                            pass
            if line is not None:
                if run is None:
                    run = CreatedRun(lane, plan)  # type: ignore[arg-type]
                run.records.append(message)
                run.keys.append(key_values)
                run.texts.append(texts)
                run.values.append(values)
                run.lsns.append(lsn)
                run.lines.append(line)
            else:  # any other record the lane reads: its change, as `read` makes it
                change = self._through_event(lane, topic, p, message.offset(), message.key(), event)  # type: ignore[arg-type]
                if change is _GENERAL:
                    break
                if run is not None:
                    _add_run(run, out)
                    run = None
                if change is not None:
                    out.append((message, change))
            if p != part:
                if part is not None:
                    next_offsets[(topic, part)] = batch[j - 1].offset() + 1
                part = p
            j += 1
        if run is not None:
            _add_run(run, out)
        if part is not None:
            next_offsets[(topic, part)] = batch[j - 1].offset() + 1
        return j

    def _through(self, lane: _Lane, topic: str, partition: int, offset: int, key: bytes | None,
                 value: bytes) -> Change | None | object:
        """`read` through `lane`; `_GENERAL` when the record does not fit it."""
        try:
            # a copy of the payload: cheaper than a memoryview
            event = lane.envelope.decode(value if lane.whole else value[lane.value_cut:-1])
        except (msgspec.DecodeError, msgspec.ValidationError):
            return _GENERAL
        return self._through_event(lane, topic, partition, offset, key, event)

    def _through_event(self, lane: _Lane, topic: str, partition: int, offset: int, key: bytes | None,
                       event) -> Change | None | object:
        """`_through` once the lane has decoded the record's payload (`event`)."""
        op = event.op
        if op == "d":
            if not self.config.delete_enabled:
                return None
            row, kind = event.before, DELETE
        elif op == "m" or op == "t" or op is None:
            return _GENERAL
        else:
            row, kind = event.after, UPSERT
        if row is None:
            return _GENERAL
        if lane.key is not None:
            if key is None or not key.startswith(lane.key_prefix) or not key.endswith(b"}"):  # type: ignore[arg-type]
                return _GENERAL
            try:
                key_values = astuple(lane.key.decode(key if lane.whole else key[lane.key_cut:-1]))
            except (msgspec.DecodeError, msgspec.ValidationError):
                return _GENERAL
        else:
            key_values = (topic, partition, offset) if lane.kafka_key else ()
        source = event.source
        lsn = source.lsn if source is not None else None
        if type(lsn) is not int:
            lsn = None
        layout = lane.layouts[(kind == DELETE) * 2 + (lsn is None)]
        if kind == DELETE:
            return Change(DELETE, lane.table, lane.key_columns, key_values, lane.key_fields, lsn=lsn, layout=layout)
        columns, values = lane.columns, lane.pick(row)
        if op != "r":  # a snapshot read holds real values; a create can hold the placeholder (a key change's new row)
            unchanged = unavailable_at(values, self.placeholder)
            if unchanged:
                columns = tuple(c for i, c in enumerate(columns) if i not in unchanged)
                values = tuple(v for i, v in enumerate(values) if i not in unchanged)
                layout = None
        return Change(UPSERT, lane.table, lane.key_columns, key_values, lane.key_fields, columns, values,
                      lane.value_fields, lsn, layout, op == "c" or op == "r")

    def _lane_of(self, topic: str, key: bytes | None, value: bytes | None, change: Change) -> _Lane | None:
        """The lane of the records like this one, just read the general way (None: they have none)."""
        last_value, last_key = self._last_value, self._last_key
        if last_value is None or value is None or not value.startswith(last_value[0]):
            return None
        plan = last_value[1]
        if not plan.envelope or plan.skip or len(set(map(self.naming.column, plan.fields))) < len(plan.fields):
            return None  # (two fields of one column: the general way keeps the last)
        key_prefix = None
        if self.config.pk_mode == "record_key":
            if last_key is None or last_key[0] != topic or last_key[2].primitive or key is None \
                    or not key.startswith(last_key[3]) or len(set(last_key[2].names)) < len(last_key[2].names):
                return None
            key_prefix = last_key[3]
        lane = self._lane
        if lane is not None and lane.topic == topic and lane.value_prefix is last_value[0] \
                and lane.key_prefix is key_prefix:
            return lane
        ident = (topic, last_value[0], key_prefix)
        lane = self._lanes.get(ident)
        if lane is None:
            if len(self._lanes) >= _TABLES_KEPT:
                self._lanes.clear()
            lane = self._lanes[ident] = self._new_lane(topic, last_value[0], key_prefix, plan, change)
        return lane

    def _new_lane(self, topic: str, value_prefix: bytes, key_prefix: bytes | None, plan: _ValuePlan,
                  change: Change) -> _Lane | None:
        names = tuple(plan.fields)
        keeps, column = self.config.fields.keeps, self.naming.column
        kept = tuple(i for i, n in enumerate(names) if column(n) not in change.key_columns and keeps(topic, n))
        key_names = self._last_key[2].names if key_prefix is not None else ()  # type: ignore[index]
        return _Lane(topic, value_prefix, key_prefix, rowstructs.envelope_decoder(names),
                     rowstructs.key_decoder(key_names) if key_prefix is not None else None,
                     self.config.pk_mode == "kafka", change.table, change.key_columns, change.key_fields,
                     rowstructs.getter(kept), tuple(column(names[i]) for i in kept), plan.by_column,
                     (object(), object(), object(), object()), len(value_prefix), len(key_prefix or b""))

    def _plain_lane_of(self, topic: str, change: Change, names: tuple[str, ...],
                       key_names: tuple[str, ...] | None) -> _Lane | None:
        """The lane of the records without schemas like the row just read the general way: its
        fields `names` (and its key's, `key_names`, with record_key), none two of one column."""
        column = self.naming.column
        if len(set(map(column, names))) < len(names):
            return None  # (two fields of one column: the general way keeps the last)
        record_key = self.config.pk_mode == "record_key"
        if record_key and (key_names is None or len(set(key_names)) < len(key_names)):
            return None
        ident = (topic, names, key_names)
        lane = self._lanes.get(ident)
        if lane is None:
            if len(self._lanes) >= _TABLES_KEPT:
                self._lanes.clear()
            keeps = self.config.fields.keeps
            kept = tuple(i for i, n in enumerate(names) if column(n) not in change.key_columns and keeps(topic, n))
            lane = self._lanes[ident] = _Lane(
                topic, b"", b"" if record_key else None, rowstructs.envelope_decoder(names),
                rowstructs.key_decoder(key_names, exact=True) if record_key else None,  # type: ignore[arg-type]
                self.config.pk_mode == "kafka", change.table, change.key_columns, None, rowstructs.getter(kept),
                tuple(column(names[i]) for i in kept), None, (object(), object(), object(), object()), 0, 0, True)
        return lane

    def _read(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None) -> Change | None:
        """`read` the general way."""
        config = self.config
        if value is None:
            return self._tombstone(topic, key)
        try:
            if self._value_avro is not None:
                header, schema, payload = self._value_avro.read(value)
                plan = self._values.get(header)
                if plan is None:
                    plan = self._values[header] = self._value_plan(schema)
            elif config.value_schemas:
                payload, plan = self._same_schema(value)
                if plan is None:
                    wrapped = _wrapped.decode(value)
                    schema_bytes = bytes(wrapped.schema)
                    plan = self._values.get(schema_bytes)
                    if plan is None:
                        plan = self._values[schema_bytes] = self._value_plan(_plain.decode(schema_bytes))
                    self._last_value = (b'{"schema":' + schema_bytes + b',"payload":', plan)
                    payload = wrapped.payload
            else:
                payload = _plain.decode(value)
                plan = None
        except (msgspec.DecodeError, msgspec.ValidationError, TypeError, KeyError, AttributeError) as exc:
            raise RecordRefused(f"the value is not JsonConverter JSON: {exc}", "VALUE_CONVERTER", exc) from None
        if type(payload) is _Envelope:
            return self._from_envelope(topic, partition, offset, key, payload, plan)  # type: ignore[arg-type]
        if payload is None:
            return self._tombstone(topic, key)
        if not isinstance(payload, dict):
            raise RecordRefused("the value is not a JSON object", "VALUE_CONVERTER")
        if plan is not None and plan.skip:
            return None
        if plan is None:
            if set(payload) == {"ts_ms"}:  # a heartbeat without its schema
                return None
            envelope = "op" in payload and ("after" in payload or "before" in payload)
        else:
            envelope = plan.envelope
        source = payload.get("source") if envelope else None
        lsn = source.get("lsn") if isinstance(source, dict) else None
        op = payload.get("op") if envelope else None
        if envelope:
            if op == "m" or op is None:
                return None
            if op == "t":
                if not config.truncate_enabled:
                    return None
                table = self._table(topic, source)
                return None if table is None else Change(TRUNCATE, table, lsn=lsn if type(lsn) is int else None)
            if op == "d":
                if not config.delete_enabled:
                    return None
                row, kind = payload.get("before"), DELETE
            else:
                row, kind = payload.get("after"), UPSERT
        else:
            row, kind = payload, UPSERT
        if not isinstance(row, dict):
            raise RecordRefused(f"the event's {'before' if kind == DELETE else 'after'} is not a row",
                                "VALUE_CONVERTER")
        return self._row_change(topic, partition, offset, key, op, kind, row, self._table(topic, source), lsn, plan)

    def _row_change(self, topic: str, partition: int, offset: int, key: bytes | None, op: str, kind: int,
                    row: dict, table, lsn, plan: _ValuePlan) -> Change | None:
        """The change of a row event (`kind` UPSERT or DELETE) once its table is known."""
        if table is None:
            return None
        change = Change(kind, table, lsn=lsn if type(lsn) is int else None, created=op == "c" or op == "r")
        self._plain_key = None
        self._set_key(change, topic, partition, offset, key, row, plan)
        if kind == UPSERT:
            # a snapshot read holds real values; a create can hold the placeholder (a key change's new row)
            self._set_row(change, topic, row, plan, op != "r")
            if self._plain_lanes:
                self._last_fields = (tuple(row), self._plain_key)
        return change

    def _same_schema(self, value: bytes) -> tuple[object, _ValuePlan | None]:
        """(payload, plan) of a value written as JsonConverter writes it with the last value's
        schema: `{"schema":<the same bytes>,"payload":<payload>}`. The bytes are compared (no
        hash, no parse of the schema) and only the payload is decoded: an envelope into
        `_Envelope` (its source block but the LSN skipped) when the table name needs nothing
        from the source block. Anything else, (None, None): the caller reads the value in full."""
        last = self._last_value
        if last is None or not value.startswith(last[0]) or value[-1:] != b"}":
            return None, None
        payload = memoryview(value)[len(last[0]):-1]
        plan = last[1]
        if plan.envelope and not plan.skip and not self._source_fields:
            try:
                return _envelope.decode(payload), plan
            except (msgspec.DecodeError, msgspec.ValidationError):
                pass  # null, or a member of another type: read as any JSON
        try:
            return _plain.decode(payload), plan
        except msgspec.DecodeError:
            return None, None

    def _from_envelope(self, topic: str, partition: int, offset: int, key: bytes | None, event: _Envelope,
                       plan: _ValuePlan) -> Change | None:
        """`read` of an envelope decoded into `_Envelope` (the same steps, without the dict)."""
        config = self.config
        op = event.op
        if op == "m" or op is None:
            return None
        lsn = event.source.lsn if event.source is not None else None
        table = self._table(topic, None)  # the format names no source field: the topic decides
        if op == "t":
            if not config.truncate_enabled:
                return None
            return None if table is None else Change(TRUNCATE, table, lsn=lsn if type(lsn) is int else None)
        if op == "d":
            if not config.delete_enabled:
                return None
            row, kind = event.before, DELETE
        else:
            row, kind = event.after, UPSERT
        if not isinstance(row, dict):
            raise RecordRefused(f"the event's {'before' if kind == DELETE else 'after'} is not a row",
                                "VALUE_CONVERTER")
        return self._row_change(topic, partition, offset, key, op, kind, row, table, lsn, plan)

    def _tombstone(self, topic: str, key: bytes | None) -> Change | None:
        if not (self.config.delete_enabled and self.config.pk_mode == "record_key"):
            return None
        if self.naming.uses_source:
            return None  # no source block to name the table: Debezium skips it too
        change = Change(DELETE, self.naming.table(topic, None))
        self._set_key(change, topic, 0, 0, key, {}, None)
        return change

    def _set_key(self, change: Change, topic: str, partition: int, offset: int, key: bytes | None,
                 row: dict, plan: _ValuePlan | None) -> None:
        mode = self.config.pk_mode
        column = self.naming.column
        if mode == "none":
            return
        if mode == "kafka":
            change.key_columns = KAFKA_COLUMNS
            change.key = (topic, partition, offset)
            change.key_fields = KAFKA_FIELDS
            return
        if mode == "record_value":
            names = self._key_names(topic, tuple(row))
            if plan is not None:
                missing = [n for n in names if n not in plan.fields]
                if missing:
                    raise RecordRefused(f"primary.key.fields names {', '.join(missing)}, not in the rows of {topic!r}")
                change.key_fields = plan.by_column
            change.key_columns = tuple(column(n) for n in names)
            change.key = tuple(row.get(n) for n in names)
            return
        if key is None:
            raise RecordRefused(f"primary.key.mode=record_key but the record on {topic!r} has no key", "KEY_CONVERTER")
        try:
            if self._key_avro is not None:
                header, schema, payload = self._key_avro.read(key)
                key_plan = self._keys.get(header)
                if key_plan is None:
                    key_plan = self._keys[header] = self._key_plan(schema, topic)
            elif self.config.key_schemas:
                wrapped = _wrapped.decode(key)
                last_key = self._last_key
                if last_key is not None and last_key[0] == topic and wrapped.schema == last_key[1]:
                    key_plan = last_key[2]
                else:
                    schema_bytes = bytes(wrapped.schema)
                    key_plan = self._keys.get(schema_bytes)
                    if key_plan is None:
                        key_plan = self._keys[schema_bytes] = self._key_plan(_plain.decode(schema_bytes), topic)
                    self._last_key = (topic, wrapped.schema, key_plan, b'{"schema":' + schema_bytes + b',"payload":')
                payload = wrapped.payload
            else:
                payload = _plain.decode(key)
                key_plan = None
        except (msgspec.DecodeError, msgspec.ValidationError, TypeError, KeyError, AttributeError) as exc:
            raise RecordRefused(f"the key is not JsonConverter JSON: {exc}", "KEY_CONVERTER", exc) from None
        if key_plan is not None and key_plan.primitive:
            change.key_columns, change.key = key_plan.columns, (payload,)
        else:
            if not isinstance(payload, dict):
                raise RecordRefused(f"the record key on {topic!r} is not a struct", "KEY_CONVERTER")
            if key_plan is not None:
                names, change.key_columns = key_plan.names, key_plan.columns
            else:
                fields = tuple(payload)
                names = self._key_names(topic, fields)
                change.key_columns = tuple(column(n) for n in names)
                if names == fields:  # a lane reads keys of exactly these fields (`_plain_lane_of`)
                    self._plain_key = fields
            change.key = tuple([payload.get(n) for n in names])
        if key_plan is not None:
            change.key_fields = key_plan.by_column

    def _set_row(self, change: Change, topic: str, row: dict, plan: _ValuePlan | None, toast: bool) -> None:
        """The non-key columns of a row to write, unchanged-TOAST ones left out (with `toast`).
        Which fields they are, and their column names, is worked out once per row layout."""
        ident = (topic, id(plan), change.key_columns, tuple(row))
        picks = self._rows.get(ident)
        if picks is None:
            if len(self._rows) >= _TABLES_KEPT:
                self._rows.clear()
            keeps, column = self.config.fields.keeps, self.naming.column
            kept = [(n, column(n)) for n in row if column(n) not in change.key_columns and keeps(topic, n)]
            picks = self._rows[ident] = (tuple(n for n, _ in kept), tuple(c for _, c in kept))
        names, columns = picks
        values = tuple([row[n] for n in names])
        if toast:
            unchanged = unavailable_at(values, self.placeholder)
            if unchanged:
                columns = tuple(c for i, c in enumerate(columns) if i not in unchanged)
                values = tuple(v for i, v in enumerate(values) if i not in unchanged)
        change.columns = columns
        change.values = values
        change.value_fields = plan.by_column if plan is not None else None


def _add_run(run: CreatedRun, out: list) -> None:
    """A run of creates into `out`: as one (None, run), or as its changes when it is short or holds
    a key twice (the writer then starts a new statement at the repeated key)."""
    if len(run.texts) < _RUN_MIN or len(set(run.texts)) < len(run.texts):
        out.extend(run.changes())
    else:
        out.append((None, run))


def one_pair_each(pairs: list) -> list:
    """(record, change) pairs with each (None, `CreatedRun`) given as its records' pairs."""
    if not any(change.__class__ is CreatedRun for _, change in pairs):
        return pairs
    return [pair for record, change in pairs
            for pair in (change.changes() if change.__class__ is CreatedRun else ((record, change),))]
