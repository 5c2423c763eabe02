"""Kafka's field transforms: InsertField, ReplaceField, MaskField ($Key / $Value).

- InsertField (`topic.field`, `partition.field`, `timestamp.field`, `static.field` +
  `static.value`, a `!` suffix making a field required, `?` or none optional;
  `replace.null.with.default`): appends the fields in that order to a struct (schema rebuilt by
  copySchemaBasics: required); a null key/value passes unchanged. Debezium's source records
  carry no partition and no timestamp (`SourceRecord(..., timestamp null)`), so Connect leaves
  those fields null: they are written null, and a required one (`!`) is refused at start (Connect
  fails each record). `offset.field` is for sink records only (Connect fails a source record):
  refused.
- ReplaceField (`exclude`, `include`, `renames` old:new; `replace.null.with.default`): keeps
  the fields not excluded and, when `include` is set, included, renamed, in their order; a null
  passes unchanged. Kafka 4 removed `whitelist`/`blacklist` (Connect ignores them): refused.
- MaskField (`fields`, `replacement`, `replace.null.with.default`): a listed field's non-null
  value becomes the null value of its type (false, 0, 0.0, "", the epoch, decimal 0, [], {}) or
  `replacement` read as the field's type (numbers, strings, decimals); the schema is kept.
  Bytes, structs and booleans with a replacement fail, as in Connect; so does a null value
  (Connect requires a struct).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from decimal import Decimal, InvalidOperation

from bridge.convert.schema import Schema, connect_schema
from bridge.format.settings import HeaderFormat
from bridge.convert.values_float import raw_double
from bridge.transform.kafka.numbers import float32, raw_float, to_integer
from bridge.transform.kafka.structs import (SchemaCache, Side, TransformFailed, copy_basics, get, named,
                                            read_bool, read_list, require_struct, struct_fields)
from bridge.transform.record import ConnectRecord

if TYPE_CHECKING:
    from bridge.transform.smt_settings import TransformSpec

TIMESTAMP_SCHEMA = connect_schema("int64", name="org.apache.kafka.connect.data.Timestamp", version=1)
DECIMAL = "org.apache.kafka.connect.data.Decimal"
INSERTIONS = ("topic.field", "partition.field", "timestamp.field", "static.field")
_INSERTED_TYPES = {"topic.field": "string", "partition.field": "int32", "timestamp.field": "int64",
                   "static.field": "string"}


def insertion(spec: str) -> tuple[str, bool]:
    """(field name, optional) of an InsertField `<name>[!|?]`."""
    if spec.endswith("?"):
        return spec[:-1], True
    if spec.endswith("!"):
        return spec[:-1], False
    return spec, True


def _defaults(spec: TransformSpec) -> bool:
    return read_bool(spec.option("replace.null.with.default", "true")) is not False


class InsertField:
    def __init__(self, spec: TransformSpec, _headers: HeaderFormat) -> None:
        self._side = Side(spec.type)
        self.changes_routing = self._side.key
        self._defaults = _defaults(spec)
        self._static = spec.option("static.value", "")
        self._inserted = [(option, *insertion(spec.option(option, ""))) for option in INSERTIONS
                          if spec.option(option, "")]
        self._schemas = SchemaCache()

    def _schema(self, schema: Schema) -> Schema:
        fields = list(schema["fields"])
        names = {f["field"] for f in fields}
        for option, name, optional in self._inserted:
            if name in names:
                raise TransformFailed(f"InsertField: cannot create field {name!r}: the struct has one")
            names.add(name)
            base = TIMESTAMP_SCHEMA if option == "timestamp.field" else connect_schema(_INSERTED_TYPES[option])
            fields.append(named(name, {**base, "optional": optional}))
        return copy_basics(schema, fields=fields)

    def __call__(self, record: ConnectRecord) -> ConnectRecord:
        side = self._side
        value = side.value(record)
        if value is None:
            return record
        schema = side.schema(record)
        struct = require_struct(value, "field insertion")
        fields = struct_fields(schema, "field insertion")
        updated = self._schemas.get(schema) or self._schemas.put(schema, self._schema(schema))  # type: ignore[arg-type]
        out = {f["field"]: get(struct, f, self._defaults) for f in fields}
        for option, name, _ in self._inserted:
            # no partition and no timestamp on Debezium's records: those fields stay null
            out[name] = record.topic if option == "topic.field" else self._static if option == "static.field" else None
        return side.replace(record, updated, out)  # type: ignore[arg-type]


def renames(text: str) -> dict[str, str] | None:
    """ReplaceField's `renames` (old:new, ...); None when an entry is not one pair."""
    out = {}
    for mapping in read_list(text):
        parts = mapping.split(":")
        if len(parts) != 2:
            return None
        out[parts[0]] = parts[1]
    return out


class ReplaceField:
    def __init__(self, spec: TransformSpec, _headers: HeaderFormat) -> None:
        self._side = Side(spec.type)
        self.changes_routing = self._side.key
        self._exclude = frozenset(read_list(spec.option("exclude", "")))
        self._include = frozenset(read_list(spec.option("include", "")))
        self._renames = renames(spec.option("renames", "")) or {}
        self._defaults = _defaults(spec)
        self._schemas = SchemaCache()

    def _plan(self, schema: Schema) -> tuple[Schema, tuple[tuple[str, Schema], ...]]:
        kept = [f for f in schema["fields"]
                if f["field"] not in self._exclude and (not self._include or f["field"] in self._include)]
        fields = [named(self._renames.get(f["field"], f["field"]), f) for f in kept]
        return copy_basics(schema, fields=fields), tuple((new["field"], old) for new, old in zip(fields, kept))

    def __call__(self, record: ConnectRecord) -> ConnectRecord:
        side = self._side
        value = side.value(record)
        if value is None:
            return record
        schema = side.schema(record)
        struct = require_struct(value, "field replacement")
        struct_fields(schema, "field replacement")
        plan = self._schemas.get(schema) or self._schemas.put(schema, self._plan(schema))  # type: ignore[arg-type]
        updated, moves = plan  # type: ignore[misc]
        defaults = self._defaults
        return side.replace(record, updated, {new: get(struct, old, defaults) for new, old in moves})


def _decimal_bytes(text: str, schema: Schema) -> bytes:
    """A decimal replacement as Connect's Decimal writes it: the unscaled value's big-endian
    two's complement bytes; its scale must be the schema's."""
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise TransformFailed(f"MaskField: unable to convert {text} to a decimal") from None
    scale = int(schema.get("parameters", {}).get("scale", "0"))
    exponent = d.as_tuple().exponent
    if not isinstance(exponent, int) or -exponent != scale:
        raise TransformFailed("MaskField: BigDecimal has mismatching scale value for given Decimal schema")
    unscaled = int(d.scaleb(scale))
    return unscaled.to_bytes(max(1, (unscaled + (unscaled < 0)).bit_length() // 8 + 1), "big", signed=True)


def masked_null(schema: Schema) -> object:
    """The value MaskField puts in place of a value of `schema` without a replacement."""
    type_ = schema["type"]
    if type_ == "boolean":
        return False
    if type_ in ("int8", "int16", "int32", "int64"):
        return 0
    if type_ in ("float", "double"):
        return raw_float(0.0) if type_ == "float" else raw_double(0.0)
    if type_ == "string":
        return ""
    if type_ == "bytes" and schema.get("name") == DECIMAL:
        return b"\x00"
    if type_ == "array":
        return []
    if type_ == "map":
        return {}
    raise TransformFailed(f"MaskField: cannot mask a value of type {schema.get('name') or type_}")


def masked_with(schema: Schema, replacement: str) -> object:
    """`replacement` as a value of `schema` (MaskField's REPLACEMENT_MAPPING_FUNC)."""
    type_ = schema["type"]
    if schema.get("name") in ("org.apache.kafka.connect.data.Timestamp", "org.apache.kafka.connect.data.Date",
                              "org.apache.kafka.connect.data.Time"):
        raise TransformFailed("MaskField: cannot mask a java.util.Date with a custom replacement")
    if type_ == "string":
        return replacement
    if type_ == "bytes" and schema.get("name") == DECIMAL:
        return _decimal_bytes(replacement, schema)
    if type_ in ("int8", "int16", "int32", "int64", "float", "double"):
        try:
            x = float(replacement) if any(c in replacement for c in ".eE") else int(replacement)
        except ValueError:
            raise TransformFailed(f"MaskField: unable to convert {replacement} to a number") from None
        if type_.startswith("int"):
            return to_integer(x, type_)
        return raw_float(float32(float(x))) if type_ == "float" else raw_double(float(x))
    raise TransformFailed(f"MaskField: cannot mask a value of type {schema.get('name') or type_} "
                          "with a custom replacement")


class MaskField:
    def __init__(self, spec: TransformSpec, _headers: HeaderFormat) -> None:
        self._side = Side(spec.type)
        self.changes_routing = self._side.key
        self._fields = frozenset(read_list(spec.option("fields", "")))
        replacement = dict(spec.options).get("replacement")
        self._replacement = replacement
        self._defaults = _defaults(spec)
        self._masks = SchemaCache()

    def _plan(self, schema: Schema) -> tuple:
        """Per field: (field, the masked value, or None for fields left alone)."""
        out = []
        for f in schema["fields"]:
            if f["field"] not in self._fields:
                out.append((f, None, False))
                continue
            try:
                mask = masked_null(f) if self._replacement is None else masked_with(f, self._replacement)
            except TransformFailed as exc:
                out.append((f, exc, True))
                continue
            out.append((f, mask, True))
        return tuple(out)

    def __call__(self, record: ConnectRecord) -> ConnectRecord:
        side = self._side
        schema = side.schema(record)
        struct_fields(schema, "mask fields")
        struct = require_struct(side.value(record), "mask fields")
        plan = self._masks.get(schema) or self._masks.put(schema, self._plan(schema))  # type: ignore[arg-type]
        out = {}
        defaults = self._defaults
        for f, mask, listed in plan:  # type: ignore[attr-defined]
            value = get(struct, f, defaults)
            if listed and value is not None:
                if isinstance(mask, TransformFailed):
                    raise mask
                value = mask
            out[f["field"]] = value
        return side.replace(record, schema, out)
