"""Debezium's ExtractNewRecordState ("unwrap"), as Debezium 3.7 applies it.

- A change event becomes its `after` row (create, update, read) or, for a delete, what
  `delete.tombstone.handling.mode` says: `tombstone` (default) a record with a null value but
  the row's schema (JsonConverter writes `{"schema":...,"payload":null}`), `drop` nothing,
  `delete-to-tombstone` a true tombstone, `rewrite` / `rewrite-with-tombstone` the `before`
  row. The rewrite modes add `__deleted` ("true" on deletes, "false" otherwise: an optional
  string, added by Kafka's InsertField). Truncate events are dropped.
- Debezium's own tombstones are dropped, but kept with `rewrite-with-tombstone`.
- Headers are added in place, to the record's own headers (Debezium's delete and its tombstone
  share theirs: the tombstone carries the delete's added headers too), before the record is
  copied (Connect's `newRecord` copies the headers).
- `add.fields` appends fields of the envelope (`op`, `ts_ms`...), of `source` (any other
  name, or `source.<name>`) or of `transaction` (`id`, `total_order`, `data_collection_order`)
  as `<prefix><name>` (`<prefix><struct>_<name>` when the struct is named; `name:new` names it),
  each an optional copy of its schema without default; `add.headers` the same as headers (on a
  tombstone only `op`, as "d"). A field the envelope lacks is left out.
  A field of `before` or `after` (`after.<column>`, named `<prefix>after_<column>`) is added
  the same way (null when that struct is).
- The row's schema is rebuilt (by add.fields, which runs with no fields to add too, and by
  InsertField for `__deleted`), so it is no longer optional (Kafka's
  SchemaUtil.copySchemaBasics copies the name, version, doc and parameters only); only the
  null-payload delete of `tombstone` mode keeps `after`'s optional schema.
- `replace.null.with.default` (default true) is InsertField's, which adds `__deleted` in a
  rewrite mode: a null column with a default becomes the default. The rows pgbridge builds
  already carry a NULL column's default when the converter writes it (JsonConverter, Avro: the
  converters a chain takes; their own `replace.null.with.default=false` is refused), so true
  and false give the same records, as Debezium's converters then write them.
- `route.by.field`: the topic becomes the row's value of that string field (a create's or
  update's row once unwrapped, `__deleted` included; a delete's `before`, in every delete mode
  that keeps a record); null or blank keeps the topic; a missing or non-string field fails
  the record (Connect's `Struct.getString`).
- `drop.fields.header.name`: the first header of that name lists field names (a Connect array
  of strings, as ExtractChangedRecordState writes them); those fields are removed from the
  value, and with `drop.fields.from.key` from the key, by Kafka's ReplaceField (its
  `replace.null.with.default`: the kept nulls become their defaults, the schema is rebuilt,
  required). With `drop.fields.keep.schema.compatible` (default) only the listed fields that
  are optional are removed. Creates and updates drop after add.fields (so an added field can be
  dropped), deletes before. A missing, null or empty list drops nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.convert.schema import Schema, connect_schema
from bridge.errors import ConfigError
from bridge.format.settings import HeaderFormat
from bridge.transform.kafka.fields import ReplaceField
from bridge.transform.kafka.structs import TransformFailed, read_bool
from bridge.transform.record import ConnectRecord, connect_header
from bridge.transform.smt_settings import TransformSpec

_TRANSACTION_FIELDS = ("id", "total_order", "data_collection_order")
_TOP_FIELDS = ("op", "ts_ms", "ts_us", "ts_ns")
_DELETED_SCHEMA = {**connect_schema("string", optional=True), "field": "__deleted"}
_BASICS = ("name", "version", "doc", "parameters")
_STRUCT_FIELDS = ("before", "after", "source", "transaction")
_STRUCTS = (None, "source", "transaction", "before", "after")  # where an added field may be
_JAVA_BLANK = "".join(map(chr, range(33)))  # what Java's String.trim() removes (Strings.isNullOrBlank)
_REPLACE_KEY = "org.apache.kafka.connect.transforms.ReplaceField$Key"
_REPLACE_VALUE = "org.apache.kafka.connect.transforms.ReplaceField$Value"


@dataclass(frozen=True, slots=True)
class FieldReference:
    """One `add.fields` / `add.headers` entry: where the value is, and its new name."""

    struct: str | None  # "source", "transaction", "before", "after" or None (the envelope itself)
    field: str
    new_name: str

    @classmethod
    def parse(cls, alias: str, prefix: str, entry: str) -> FieldReference:
        parts = entry.split(":")
        if len(parts) > 2:
            raise ConfigError(f"transform {alias!r} (ExtractNewRecordState): unexpected field name {entry!r}")
        path = parts[0].split(".")
        field = path[0] if len(path) == 1 else path[1]
        if len(path) == 1:
            struct = "transaction" if field in _TRANSACTION_FIELDS else None if field in _TOP_FIELDS else "source"
        else:
            struct = path[0]
        new = prefix + (parts[1] if len(parts) == 2 else field if len(path) == 1 else f"{struct}_{field}")
        return cls(struct, field, new)

    def locate(self, envelope: Schema) -> tuple[str | None, Schema] | None:
        """(the struct holding the field, or None for the envelope, the field's schema), or None
        when the envelope has no such field (Debezium leaves it out)."""
        fields = {f["field"]: f for f in envelope["fields"]}
        parent = fields.get(self.struct) if self.struct is not None else None
        if self.struct is not None and parent is None:
            return None  # Debezium fails the record here; refused when the chain is compiled
        inner = {f["field"]: f for f in parent["fields"]} if parent is not None else fields
        if self.field in inner:
            return self.struct, inner[self.field]
        if self.field in fields:
            return None, fields[self.field]  # "in case the field was added by another SMT"
        return None

    def value(self, where: str | None, envelope: dict) -> object:
        parent = envelope.get(where) if where is not None else envelope
        return None if parent is None else parent.get(self.field)


def _copy_basics(schema: Schema) -> Schema:
    """Kafka's SchemaUtil.copySchemaBasics(...).optional(): type, name, version, doc,
    parameters; no default, no fields (a struct's fields are not copied)."""
    if schema["type"] in ("struct", "array", "map"):
        raise ConfigError(f"ExtractNewRecordState: adding the struct/array/map field {schema.get('field')!r} "
                          "is not supported by pgbridge")
    out = {"type": schema["type"], "optional": True}
    out.update((k, schema[k]) for k in _BASICS if k in schema)
    return out


def _rebuilt(schema: Schema, extra: list[Schema]) -> Schema:
    """A struct schema as copySchemaBasics + its fields + `extra` builds it: not optional."""
    out = {"type": "struct", "fields": [*schema["fields"], *extra], "optional": False}
    out.update((k, schema[k]) for k in _BASICS if k in schema)
    return out


class ExtractNewRecordState:
    def __init__(self, spec: TransformSpec, headers: HeaderFormat) -> None:
        self._mode = spec.option("delete.tombstone.handling.mode", "tombstone").strip().lower()
        self._rewrite = self._mode in ("rewrite", "rewrite-with-tombstone")
        self._fields = self._references(spec, "add.fields")
        self._headers = self._references(spec, "add.headers")
        self._header_format = headers
        self._plans: dict[int, tuple] = {}  # id(envelope schema) -> (schemas, placements), kept alive
        self._route = spec.option("route.by.field", "") or None
        drop = spec.option("drop.fields.header.name", "")
        self._drop_header = drop if drop.strip() else None
        self._drop_key = read_bool(spec.option("drop.fields.from.key", "false")) is True
        self._keep_compatible = read_bool(spec.option("drop.fields.keep.schema.compatible", "true")) is not False
        self._droppers: dict[tuple[bool, tuple[str, ...]], ReplaceField] = {}  # (key side, names) -> ReplaceField
        # dropping key fields makes the Kafka key: the table's changes go to one producer (`chain.changes_routing`)
        self.changes_routing = self._drop_key and self._drop_header is not None
        self._alias = spec.alias

    @property
    def rowwise(self) -> bool:
        """Whether a create's or update's topic or fields depend on the row beyond what
        `row_plan` says (route.by.field, drop.fields.header.name): the general path only."""
        return self._route is not None or self._drop_header is not None

    @staticmethod
    def _references(spec: TransformSpec, name: str) -> tuple[FieldReference, ...]:
        prefix = spec.option(name + ".prefix", "__")
        entries = [e.strip() for e in spec.option(name, "").split(",")]
        refs = tuple(FieldReference.parse(spec.alias, prefix, e) for e in entries if e)
        for ref in refs:
            if ref.struct not in _STRUCTS:  # Debezium fails every record (no such struct in the envelope)
                raise ConfigError(f"transform {spec.alias!r} (ExtractNewRecordState): {name} names the struct "
                                  f"{ref.struct!r}; the envelope has before, after, source and transaction")
            if ref.field in _STRUCT_FIELDS:  # found in the envelope itself, whatever struct is named
                raise ConfigError(f"transform {spec.alias!r} (ExtractNewRecordState): {name} entry {ref.field!r} "
                                  "is a struct: Debezium fails every record with it (a struct schema copied "
                                  "without its fields); name a field inside it, e.g. after.<column>")
        return refs

    def _plan(self, envelope: Schema) -> tuple:
        """What one table's envelope schema gives, computed once: the row schema, the schemas
        with `__deleted`, add.fields and both, and where each added field and header is."""
        plan = self._plans.get(id(envelope))
        if plan is not None:
            return plan[1:]
        row = next(f for f in envelope["fields"] if f["field"] == "after")
        row = {k: v for k, v in row.items() if k != "field"}
        fields = [(ref, *found) for ref in self._fields if (found := ref.locate(envelope)) is not None]
        headers = [(ref, *found) for ref in self._headers if (found := ref.locate(envelope)) is not None]
        added = [{**_copy_basics(schema), "field": ref.new_name} for ref, _, schema in fields]
        header_schemas = [(ref, where, _copy_basics(schema)) for ref, where, schema in headers]
        # Debezium runs add.fields on every row it keeps, with no fields to add too: the schema
        # is always rebuilt (so never optional)
        value_schema = _rebuilt(row, [_DELETED_SCHEMA, *added] if self._rewrite else added)
        plan = (envelope, row, value_schema, tuple(fields), tuple(header_schemas))
        self._plans[id(envelope)] = plan
        return plan[1:]

    def header_names(self, envelope: Schema) -> list[str]:
        """The names of the headers added to a change event whose value schema is `envelope`."""
        return [ref.new_name for ref, _, _ in self._plan(envelope)[3]]

    def row_plan(self, envelope: Schema) -> tuple[Schema, bool, tuple, tuple]:
        """What a create or update becomes, for writing it without this step
        (`bridge.produce.unwrapped`): the value's schema, whether `__deleted` ("false") follows
        the row, then the added fields and headers as (reference, its struct, schema), in order."""
        _, value_schema, fields, headers = self._plan(envelope)
        return value_schema, self._rewrite, fields, headers

    def __call__(self, record: ConnectRecord) -> ConnectRecord | None:
        envelope = record.value
        if envelope is None:  # Debezium's tombstone
            if self._headers:
                record = self._tombstone_headers(record)
            return record if self._mode == "rewrite-with-tombstone" else None
        schema = record.value_schema
        if schema is None or not str(schema.get("name", "")).endswith(".Envelope"):
            return record  # not a change event
        row_schema, value_schema, fields, headers = self._plan(schema)
        if headers:  # in place, as Debezium adds them (see `Chain.run`)
            fmt = self._header_format
            record.headers.extend(connect_header(fmt, ref.new_name, s, ref.value(where, envelope))
                                  for ref, where, s in headers)
        record = record._replace(headers=list(record.headers))  # Connect's newRecord: a copy
        after = envelope["after"]
        if after is None:
            if envelope["before"] is None:
                return None  # truncate
            mode = self._mode
            if mode == "drop":
                return None
            if mode == "tombstone":
                record = record._replace(value_schema=row_schema, value=None)
            elif mode == "delete-to-tombstone":
                record = record._replace(value_schema=None, value=None)
            else:
                record = record._replace(value_schema=value_schema, value={**envelope["before"], "__deleted": "true"})
            if self._route is not None:
                record = self._routed(record, envelope["before"], row_schema, False)
            if self._drop_header is not None:
                record = self._dropped(record)
            if record.value is None or not fields:
                return record
            return record._replace(value={**record.value, **{ref.new_name: ref.value(where, envelope)
                                                             for ref, where, _ in fields}})
        row = {**after, "__deleted": "false"} if self._rewrite else after
        if self._route is not None:
            record = self._routed(record, row, row_schema, self._rewrite)
        if fields:
            row = {**row, **{ref.new_name: ref.value(where, envelope) for ref, where, _ in fields}}
        record = record._replace(value_schema=value_schema, value=row)
        return record if self._drop_header is None else self._dropped(record)

    def _routed(self, record: ConnectRecord, row: dict, schema: Schema, deleted: bool) -> ConnectRecord:
        """route.by.field: the topic named by the row's field (Struct.getString: the field must
        be there and a string; a null takes its default; `deleted`: the row has `__deleted`,
        the added fields not yet); null or blank keeps the topic."""
        name = self._route
        fields = [*schema["fields"], _DELETED_SCHEMA] if deleted else schema["fields"]
        field = next((f for f in fields if f["field"] == name), None)
        if field is None:
            raise TransformFailed(f"ExtractNewRecordState ({self._alias}): route.by.field: {name} is not a valid "
                                  "field name")
        if field["type"] != "string":
            raise TransformFailed(f"ExtractNewRecordState ({self._alias}): route.by.field: field '{name}' is not of "
                                  f"type STRING (it is {field['type'].upper()})")
        topic = row.get(name)
        if topic is None:
            topic = field.get("default")
        return record if topic is None or not topic.strip(_JAVA_BLANK) else record._replace(topic=topic)

    def _dropped(self, record: ConnectRecord) -> ConnectRecord:
        """drop.fields.header.name: the fields its header lists removed (Kafka's ReplaceField)."""
        name = self._drop_header
        header = next((h for h in record.headers if h[0] == name), None)
        if header is None:
            return record
        listed = getattr(header, "value", None)
        if listed is None and hasattr(header, "value"):
            return record  # a header with no value
        if not isinstance(listed, list):
            raise TransformFailed(f"ExtractNewRecordState ({self._alias}): the header {name!r} is not a list of "
                                  "field names (Debezium casts its value to a List)")
        if not listed:
            return record
        if self._drop_key and record.key is not None:
            record = self._replaced(record, True, record.key_schema, listed)
        return self._replaced(record, False, record.value_schema, listed)

    def _replaced(self, record: ConnectRecord, key: bool, schema: Schema | None, listed: list) -> ConnectRecord:
        if self._keep_compatible:
            if schema is None:
                raise TransformFailed(f"ExtractNewRecordState ({self._alias}): drop.fields.keep.schema.compatible "
                                      "on a record without a value schema (delete-to-tombstone)")
            names = tuple(f["field"] for f in schema["fields"] if f.get("optional") and f["field"] in listed)
        else:
            names = tuple(str(n).strip() for n in listed)
        if not names:
            return record
        step = self._droppers.get((key, names))
        if step is None:
            spec = TransformSpec(self._alias, _REPLACE_KEY if key else _REPLACE_VALUE, (("exclude", ",".join(names)),))
            step = self._droppers[(key, names)] = ReplaceField(spec, self._header_format)
        return step(record)

    def _tombstone_headers(self, record: ConnectRecord) -> ConnectRecord:
        """On a tombstone Debezium adds only an `op` header, "d" (a required string), in place."""
        fmt = self._header_format
        record.headers.extend(connect_header(fmt, ref.new_name, connect_schema("string"), "d")
                              for ref in self._headers if ref.field == "op")
        return record
