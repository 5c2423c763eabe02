"""What the Kafka transforms share: Connect's view of a record's key or value and its schema.

Structs are dicts in their schema's field order (`bridge.convert.schema`: a struct schema's
`fields` are field schemas, each its schema plus `field` last). Connect's `Struct.get` gives a
field's default for a null (`replace.null.with.default=true`, every transform's default);
`getWithoutDefault` the null. `SchemaUtil.copySchemaBasics` copies a schema's name, version,
doc and parameters, never its optionality or default: a struct it rebuilds is required.
A transform failing on a record (Connect's DataException) raises `TransformFailed`: Connect
fails the task, pgbridge stops.
"""

from __future__ import annotations

from bridge.convert.schema import Schema
from bridge.errors import BridgeError
from bridge.transform.record import ConnectRecord

KEY_SUFFIX, VALUE_SUFFIX = "$Key", "$Value"
_BASICS = ("name", "version", "doc", "parameters")


class TransformFailed(BridgeError):
    """A transform cannot apply to a record (Kafka Connect's DataException: the task fails)."""


def field_schema(field: Schema) -> Schema:
    """A struct field's own schema (without its `field` name)."""
    return {k: v for k, v in field.items() if k != "field"}


def named(name: str, schema: Schema) -> Schema:
    """`schema` as the struct field `name` (`field` goes last, as JsonConverter writes it)."""
    return {**{k: v for k, v in schema.items() if k != "field"}, "field": name}


def copy_basics(schema: Schema, type_: str = "struct", fields: list[Schema] | None = None) -> Schema:
    """SchemaUtil.copySchemaBasics(schema, SchemaBuilder.<type_>()) built with `fields`:
    required, no default."""
    out: Schema = {"type": type_}
    if type_ == "struct":
        out["fields"] = fields or []
    out["optional"] = False
    out.update((k, schema[k]) for k in _BASICS if k in schema)
    return out


def struct_fields(schema: Schema | None, purpose: str) -> list[Schema]:
    """The fields of a struct schema (Requirements.requireStruct's schema side)."""
    if schema is None or schema.get("type") != "struct":
        kind = "null" if schema is None else schema.get("type")
        raise TransformFailed(f"Only Struct objects supported for [{purpose}], found: {kind}")
    return schema["fields"]


def require_struct(value: object, purpose: str) -> dict:
    if not isinstance(value, dict):
        found = "null" if value is None else type(value).__name__
        raise TransformFailed(f"Only Struct objects supported for [{purpose}], found: {found}")
    return value


def get(struct: dict, field: Schema, defaults: bool) -> object:
    """Struct.get (`defaults`) or Struct.getWithoutDefault of one field."""
    value = struct.get(field["field"])
    if value is None and defaults:
        return field.get("default")
    return value


def read_bool(value: str) -> bool | None:
    """A Connect BOOLEAN option (true/false, any case); None when it is neither."""
    lowered = value.strip().lower()
    return True if lowered == "true" else False if lowered == "false" else None


def read_list(value: str) -> list[str]:
    """A Connect LIST option: comma-separated, each item trimmed; empty text, no items."""
    text = value.strip()
    return [] if not text else [item.strip() for item in text.split(",")]


class Side:
    """The key ($Key) or the value ($Value) of a record, as a step operates on it."""

    __slots__ = ("key",)

    def __init__(self, cls: str) -> None:
        self.key = cls.endswith(KEY_SUFFIX)

    def schema(self, record: ConnectRecord) -> Schema | None:
        return record.key_schema if self.key else record.value_schema

    def value(self, record: ConnectRecord) -> object:
        return record.key if self.key else record.value

    def replace(self, record: ConnectRecord, schema: Schema | None, value: object) -> ConnectRecord:
        """Connect's `newRecord` with the side replaced: the headers are copied."""
        if self.key:
            return record._replace(key_schema=schema, key=value, headers=list(record.headers))
        return record._replace(value_schema=schema, value=value, headers=list(record.headers))


class SchemaCache:
    """Per-schema results, keyed by identity (a table's schemas are built once and kept; the
    cache holds them so an id is never reused)."""

    __slots__ = ("_found",)

    def __init__(self) -> None:
        self._found: dict[int, tuple[Schema, object]] = {}

    def get(self, schema: Schema) -> object | None:
        found = self._found.get(id(schema))
        return None if found is None or found[0] is not schema else found[1]

    def put(self, schema: Schema, result: object) -> object:
        self._found[id(schema)] = (schema, result)
        return result
