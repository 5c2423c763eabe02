"""A Kafka record read as the change it asks of the target: the Debezium envelope applied.

`c`/`r`/`u` → a row to write (insert, upsert or update by `insert.mode`), `d` → a delete (with
`delete.enabled`), a tombstone → a delete by the record key (with `delete.enabled` and
`primary.key.mode=record_key`, as Debezium's JDBC sink does), `t` → a truncate (with
`truncate.enabled`); `m`, heartbeats, transaction metadata and schema changes are skipped. A value
that is not an envelope (an unwrapped row, ExtractNewRecordState) is a row to write.

JSON with schemas: the Connect schema gives each field's decoder, compiled once per distinct
schema (`Readers`). Without schemas the target table's column types give them, at apply time.
Unchanged-TOAST columns of an update (the placeholder in its per-type encodings) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import msgspec

from bridge.errors import BridgeError
from bridge.sink.naming import Naming, TableName
from bridge.sink.settings import SinkConfig
from bridge.sink.values import DecodeOptions, field_decoder, is_unavailable

UPSERT, DELETE, TRUNCATE = 1, 2, 3
Decoder = Callable[[object], "str | None"]
KAFKA_COLUMNS = ("__connect_topic", "__connect_partition", "__connect_offset")
_SKIPPED_SCHEMAS = ("io.debezium.connector.common.Heartbeat", "io.debezium.connector.common.TransactionMetadataValue",
                    "io.debezium.connector.common.TransactionMetadataKey")


class RecordRefused(BridgeError):
    """A record the sink cannot read or the target refuses; with errors.tolerance=all it goes to
    the dead-letter topic. `stage` is Kafka Connect's name of where it failed."""

    def __init__(self, message: str, stage: str = "TASK_PUT", cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.stage = stage
        self.cause = cause


@dataclass(slots=True)
class Change:
    """One change for one table. `values`/`key` are as the JSON held them; `decoders` /
    `key_decoders` make them PostgreSQL text (None: schemaless, the target's types decide).
    `fields`: each column's Connect schema field, for schema evolution (None: schemaless)."""

    kind: int
    table: TableName
    key_columns: tuple[str, ...] = ()
    key: tuple[object, ...] = ()
    key_decoders: tuple[Decoder, ...] | None = None
    columns: tuple[str, ...] = ()
    values: tuple[object, ...] = ()
    decoders: tuple[Decoder, ...] | None = None
    lsn: int | None = None
    fields: Mapping[str, dict] | None = None

    def key_text(self) -> tuple[str | None, ...]:
        decoders = self.key_decoders
        return tuple(decoders[i](v) for i, v in enumerate(self.key)) if decoders else tuple(self.key)


class _Wrapped(msgspec.Struct):
    schema: msgspec.Raw = msgspec.Raw(b"null")
    payload: msgspec.Raw = msgspec.Raw(b"null")


_wrapped = msgspec.json.Decoder(_Wrapped)
_plain = msgspec.json.Decoder()


@dataclass(frozen=True, slots=True)
class _ValuePlan:
    """What a value schema says: whether it is an envelope, the row's fields and their decoders."""

    skip: bool
    envelope: bool
    fields: Mapping[str, dict]
    decoders: Mapping[str, Decoder]


@dataclass(frozen=True, slots=True)
class _KeyPlan:
    names: tuple[str, ...]  # key fields; a primitive key has one, named by primary.key.fields
    decoders: tuple[Decoder, ...] | None
    fields: Mapping[str, dict] | None
    primitive: bool


class Readers:
    """Reads records into changes for one worker; compiled plans cached by schema bytes."""

    def __init__(self, config: SinkConfig, options: DecodeOptions) -> None:
        self.config = config
        self.options = options
        self.naming = Naming(config.table_format, config.quote_identifiers)
        self._values: dict[bytes, _ValuePlan] = {}
        self._keys: dict[bytes, _KeyPlan] = {}

    # -- values -----------------------------------------------------------------------------

    def _value_plan(self, schema: dict | None) -> _ValuePlan:
        if schema is None:
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
        return _ValuePlan(False, envelope, row, {n: field_decoder(f, self.options) for n, f in row.items()})

    def _key_plan(self, schema: dict | None, topic: str) -> _KeyPlan:
        if schema is None:
            return _KeyPlan((), None, None, False)
        if schema.get("type") == "struct":
            fields = {f["field"]: f for f in schema.get("fields") or ()}
            names = self._key_names(topic, tuple(fields))
            missing = [n for n in names if n not in fields]
            if missing:
                raise RecordRefused(f"primary.key.fields names {', '.join(missing)}, not in the record key of "
                                    f"topic {topic!r}")
            return _KeyPlan(names, tuple(field_decoder(fields[n], self.options) for n in names),
                            {n: fields[n] for n in names}, False)
        if len(self.config.pk_fields) != 1:
            raise RecordRefused(f"a primitive record key on topic {topic!r} needs primary.key.fields to name exactly "
                                "one column")
        name = self.config.pk_fields[0]
        return _KeyPlan((name,), (field_decoder(schema, self.options),), {name: {**schema, "field": name}}, True)

    def _key_names(self, topic: str, available: tuple[str, ...]) -> tuple[str, ...]:
        if self.config.pk_fields:
            return self.config.pk_fields
        keeps = self.config.fields.keeps
        return tuple(n for n in available if keeps(topic, n))

    # -- records ----------------------------------------------------------------------------

    def read(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None) -> Change | None:
        """The change of one record, or None when the sink skips it."""
        config = self.config
        if value is None:
            return self._tombstone(topic, key)
        try:
            if config.value_schemas:
                wrapped = _wrapped.decode(value)
                schema_bytes = bytes(wrapped.schema)
                plan = self._values.get(schema_bytes)
                if plan is None:
                    plan = self._values[schema_bytes] = self._value_plan(_plain.decode(schema_bytes))
                payload = _plain.decode(wrapped.payload)
            else:
                payload = _plain.decode(value)
                plan = None
        except (msgspec.DecodeError, TypeError, KeyError, AttributeError) as exc:
            raise RecordRefused(f"the value is not JsonConverter JSON: {exc}", "VALUE_CONVERTER", exc) from None
        if payload is None:
            return self._tombstone(topic, key)
        if not isinstance(payload, dict):
            raise RecordRefused("the value is not a JSON object", "VALUE_CONVERTER")
        if plan is not None and plan.skip:
            return None
        envelope = plan.envelope if plan is not None else "op" in payload and ("after" in payload or "before" in payload)
        if plan is None and set(payload) == {"ts_ms"}:  # a heartbeat without schema
            return None
        source = payload.get("source") if envelope else None
        lsn = source.get("lsn") if isinstance(source, dict) else None
        if envelope:
            op = payload.get("op")
            if op == "m" or op is None:
                return None
            if op == "t":
                if not config.truncate_enabled:
                    return None
                table = self.naming.table(topic, source)
                return None if table is None else Change(TRUNCATE, table, lsn=lsn)
            if op == "d":
                if not config.delete_enabled:
                    return None
                row = payload.get("before")
                kind = DELETE
            else:
                row = payload.get("after")
                kind = UPSERT
        else:
            row, kind = payload, UPSERT
        if not isinstance(row, dict):
            raise RecordRefused(f"the event's {'before' if kind == DELETE else 'after'} is not a row",
                                "VALUE_CONVERTER")
        table = self.naming.table(topic, source)
        if table is None:
            return None
        change = Change(kind, table, lsn=lsn if isinstance(lsn, int) else None)
        self._set_key(change, topic, partition, offset, key, row)
        if config.pk_mode == "record_value" and plan is not None:
            names = self._key_names(topic, tuple(row))
            missing = [n for n in names if n not in plan.decoders]
            if missing:
                raise RecordRefused(f"primary.key.fields names {', '.join(missing)}, not in the rows of {topic!r}")
            change.key_decoders = tuple(plan.decoders[n] for n in names)
            change.fields = {self.naming.column(n): plan.fields[n] for n in names}
        if kind == UPSERT:
            self._set_row(change, topic, row, plan, payload.get("op") == "u")
        return change

    def _tombstone(self, topic: str, key: bytes | None) -> Change | None:
        if not (self.config.delete_enabled and self.config.pk_mode == "record_key"):
            return None
        if self.naming.uses_source:
            return None  # no source block to name the table: Debezium skips it too
        change = Change(DELETE, self.naming.table(topic, None))
        self._set_key(change, topic, 0, 0, key, {})
        return change

    def _set_key(self, change: Change, topic: str, partition: int, offset: int, key: bytes | None,
                 row: dict) -> None:
        mode = self.config.pk_mode
        column = self.naming.column
        if mode == "none":
            return
        if mode == "kafka":
            change.key_columns = KAFKA_COLUMNS
            change.key = (topic, str(partition), str(offset))
            change.key_decoders = (str, str, str)
            change.fields = {KAFKA_COLUMNS[0]: {"type": "string"}, KAFKA_COLUMNS[1]: {"type": "int32"},
                             KAFKA_COLUMNS[2]: {"type": "int64"}}
            return
        if mode == "record_value":
            names = self._key_names(topic, tuple(row))
            change.key_columns = tuple(column(n) for n in names)
            change.key = tuple(row.get(n) for n in names)
            return  # decoders: the row's (set with the row) or the target's
        if key is None:
            raise RecordRefused(f"primary.key.mode=record_key but the record on {topic!r} has no key", "KEY_CONVERTER")
        try:
            if self.config.key_schemas:
                wrapped = _wrapped.decode(key)
                schema_bytes = bytes(wrapped.schema)
                plan = self._keys.get(schema_bytes)
                if plan is None:
                    plan = self._keys[schema_bytes] = self._key_plan(_plain.decode(schema_bytes), topic)
                payload = _plain.decode(wrapped.payload)
            else:
                payload = _plain.decode(key)
                plan = None
        except (msgspec.DecodeError, TypeError, KeyError, AttributeError) as exc:
            raise RecordRefused(f"the key is not JsonConverter JSON: {exc}", "KEY_CONVERTER", exc) from None
        if plan is not None and plan.primitive:
            change.key_columns, change.key = (column(plan.names[0]),), (payload,)
        else:
            if not isinstance(payload, dict):
                raise RecordRefused(f"the record key on {topic!r} is not a struct", "KEY_CONVERTER")
            names = plan.names if plan is not None else self._key_names(topic, tuple(payload))
            change.key_columns = tuple(column(n) for n in names)
            change.key = tuple(payload.get(n) for n in names)
        if plan is not None:
            change.key_decoders = plan.decoders
            change.fields = {column(n): f for n, f in plan.fields.items()}

    def _set_row(self, change: Change, topic: str, row: dict, plan: _ValuePlan | None, update: bool) -> None:
        """The non-key columns of a row to write, unchanged-TOAST ones left out of an update."""
        keeps = self.config.fields.keeps
        column = self.naming.column
        key_names = set(change.key_columns)
        placeholder = self.config.placeholder
        names, values, decoders = [], [], []
        fields = dict(change.fields or {}) if plan is not None else None
        plan_fields = plan.fields if plan is not None else {}
        for name, value in row.items():
            target = column(name)
            if target in key_names or not keeps(topic, name):
                continue
            field = plan_fields.get(name)
            if update and value is not None and is_unavailable(field, value, placeholder):
                continue
            names.append(target)
            values.append(value)
            if plan is not None:
                decoders.append(plan.decoders[name])
                fields[target] = field
        change.columns = tuple(names)
        change.values = tuple(values)
        change.decoders = tuple(decoders) if plan is not None else None
        change.fields = fields
