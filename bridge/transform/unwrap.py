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
- The row's schema is rebuilt (by add.fields, which runs with no fields to add too, and by
  InsertField for `__deleted`), so it is no longer optional (Kafka's
  SchemaUtil.copySchemaBasics copies the name, version, doc and parameters only); only the
  null-payload delete of `tombstone` mode keeps `after`'s optional schema.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.convert.schema import Schema, connect_schema
from bridge.errors import ConfigError
from bridge.format.settings import HeaderFormat
from bridge.transform.record import ConnectRecord, connect_header
from bridge.transform.smt_settings import TransformSpec

_TRANSACTION_FIELDS = ("id", "total_order", "data_collection_order")
_TOP_FIELDS = ("op", "ts_ms", "ts_us", "ts_ns")
_DELETED_SCHEMA = {**connect_schema("string", optional=True), "field": "__deleted"}
_BASICS = ("name", "version", "doc", "parameters")
_STRUCT_FIELDS = ("before", "after", "source", "transaction")


@dataclass(frozen=True, slots=True)
class FieldReference:
    """One `add.fields` / `add.headers` entry: where the value is, and its new name."""

    struct: str | None  # "source", "transaction" or None (the envelope itself)
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

    @staticmethod
    def _references(spec: TransformSpec, name: str) -> tuple[FieldReference, ...]:
        prefix = spec.option(name + ".prefix", "__")
        entries = [e.strip() for e in spec.option(name, "").split(",")]
        refs = tuple(FieldReference.parse(spec.alias, prefix, e) for e in entries if e)
        for ref in refs:
            if ref.struct not in (None, "source", "transaction"):
                raise ConfigError(f"transform {spec.alias!r} (ExtractNewRecordState): {name} names the struct "
                                  f"{ref.struct!r}; the envelope has source and transaction")
            if ref.field in _STRUCT_FIELDS:  # found in the envelope itself, whatever struct is named
                raise ConfigError(f"transform {spec.alias!r} (ExtractNewRecordState): {name} entry {ref.field!r} "
                                  "is a struct: not supported by pgbridge")
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
                return record._replace(value_schema=row_schema, value=None)
            if mode == "delete-to-tombstone":
                return record._replace(value_schema=None, value=None)
            row = {**envelope["before"], "__deleted": "true"}
        else:
            row = {**after, "__deleted": "false"} if self._rewrite else after
        if fields:
            row = {**row, **{ref.new_name: ref.value(where, envelope) for ref, where, _ in fields}}
        return record._replace(value_schema=value_schema, value=row)

    def _tombstone_headers(self, record: ConnectRecord) -> ConnectRecord:
        """On a tombstone Debezium adds only an `op` header, "d" (a required string), in place."""
        fmt = self._header_format
        record.headers.extend(connect_header(fmt, ref.new_name, connect_schema("string"), "d")
                              for ref in self._headers if ref.field == "op")
        return record
