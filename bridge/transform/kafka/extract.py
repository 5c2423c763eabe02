"""Kafka's key and nesting transforms: ValueToKey, ExtractField and HoistField ($Key / $Value).

- ValueToKey (`fields`, `replace.null.with.default`): the key becomes a struct (no name,
  required) of those value fields, in the listed order; a value that is not a struct (a
  tombstone, unwrap's null-payload delete) fails, as in Connect.
- ExtractField (`field`, `field.syntax.version` V1: a top-level name, V2: a dotted path with
  backtick quoting; `replace.null.with.default`): the key/value becomes that field, with the
  field's schema; a null stays null (with the field's schema); an unknown field fails.
- HoistField (`field`): the key/value is wrapped in a struct (no name, required) of one field
  (a null of a required schema fails, as Connect's Struct refuses it); a schemaless one (a
  tombstone) in a map.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.convert.schema import Schema
from bridge.errors import ConfigError
from bridge.format.settings import HeaderFormat
from bridge.transform.kafka.structs import (SchemaCache, Side, TransformFailed, field_schema, get, named,
                                            read_bool, read_list, require_struct, struct_fields)
from bridge.transform.record import ConnectRecord

if TYPE_CHECKING:
    from bridge.transform.smt_settings import TransformSpec


def field_path(text: str, version: str) -> tuple[str, ...]:
    """SingleFieldPath's steps of `text` (V1: the whole text; V2: dots split, backticks quote,
    a backslash escapes a backtick before a dot). ConfigError: an unclosed backtick."""
    if version.upper() == "V1":
        return (text,)
    steps: list[str] = []
    i = 0
    while 0 <= i < len(text):
        if text[i] != "`":
            dot = text.find(".", i)
            steps.append(text[i:] if dot < 0 else text[i:dot])
            i = -1 if dot < 0 else dot + 1
            continue
        opened, i, start, name = i, i + 1, i + 1, []
        while True:
            i = text.find("`", i)
            if i == -1:
                raise ConfigError(f"incomplete backtick pair in path {text!r} at position {opened}")
            escaped = text[i - 1] == "\\"
            if i >= len(text) - 1:
                if escaped:
                    raise ConfigError(f"incomplete backtick pair in path {text!r} at position {opened}")
                name.append(text[start:i])
                steps.append("".join(name))
                i += 1
                break
            if text[i + 1] != ".":
                i += 1
                continue
            if escaped:
                name.append(text[start:i - 1] + "`")
                i += 1
                start = i
                continue
            name.append(text[start:i])
            steps.append("".join(name))
            i += 2
            break
    if text.endswith("."):
        steps.append("")
    return tuple(steps)


class ValueToKey:
    changes_routing = True

    def __init__(self, spec: TransformSpec, _headers: HeaderFormat) -> None:
        self._fields = read_list(spec.option("fields", ""))
        self._defaults = read_bool(spec.option("replace.null.with.default", "true")) is not False
        self._schemas = SchemaCache()

    def _plan(self, schema: Schema) -> tuple[Schema, list[Schema]]:
        by_name = {f["field"]: f for f in schema["fields"]}
        picked = []
        for name in self._fields:
            if name not in by_name:
                raise TransformFailed(f"ValueToKey: Field does not exist: {name}")
            picked.append(by_name[name])
        return {"type": "struct", "fields": [named(f["field"], f) for f in picked], "optional": False}, picked

    def __call__(self, record: ConnectRecord) -> ConnectRecord:
        schema = record.value_schema
        struct_fields(schema, "copying fields from value to key")
        struct = require_struct(record.value, "copying fields from value to key")
        plan = self._schemas.get(schema) or self._schemas.put(schema, self._plan(schema))  # type: ignore[arg-type]
        key_schema, picked = plan  # type: ignore[misc]
        key = {f["field"]: get(struct, f, self._defaults) for f in picked}
        return record._replace(key_schema=key_schema, key=key, headers=list(record.headers))


class ExtractField:
    def __init__(self, spec: TransformSpec, _headers: HeaderFormat) -> None:
        self._side = Side(spec.type)
        self.changes_routing = self._side.key
        self._name = spec.option("field", "")
        self._path = field_path(self._name, spec.option("field.syntax.version", "V1").strip())
        self._defaults = read_bool(spec.option("replace.null.with.default", "true")) is not False
        self._schemas = SchemaCache()

    def _field(self, schema: Schema) -> Schema:
        current = schema
        for step in self._path[:-1]:
            found = next((f for f in current.get("fields", ()) if f["field"] == step), None)
            if found is None:
                raise TransformFailed(f"ExtractField: Unknown field: {self._name}")
            current = found
        found = next((f for f in current.get("fields", ()) if f["field"] == self._path[-1]), None)
        if found is None:
            raise TransformFailed(f"ExtractField: Unknown field: {self._name}")
        return found

    def __call__(self, record: ConnectRecord) -> ConnectRecord:
        side = self._side
        schema = side.schema(record)
        value = side.value(record)
        if schema is None:
            if value is None:
                return side.replace(record, None, None)
            raise TransformFailed("ExtractField: a record without a schema is not supported by pgbridge")
        field = self._schemas.get(schema) or self._schemas.put(schema, self._field(schema))
        if value is not None:
            require_struct(value, "field extraction")
            value = self._value(value, schema)
        return side.replace(record, field_schema(field), value)  # type: ignore[arg-type]

    def _value(self, struct: dict, schema: Schema) -> object:
        current, current_schema = struct, schema
        for step in self._path[:-1]:
            field = next((f for f in current_schema["fields"] if f["field"] == step), None)
            if field is None:
                return None
            current = get(current, field, True)  # type: ignore[assignment]
            if current is None:
                return None
            require_struct(current, "nested field access")
            current_schema = field
        field = next((f for f in current_schema["fields"] if f["field"] == self._path[-1]), None)
        return None if field is None else get(current, field, self._defaults)


class HoistField:
    def __init__(self, spec: TransformSpec, _headers: HeaderFormat) -> None:
        self._side = Side(spec.type)
        self.changes_routing = False  # one key in, one wrapped key out: the same keys group together
        self._name = spec.option("field", "")
        self._schemas = SchemaCache()

    def __call__(self, record: ConnectRecord) -> ConnectRecord:
        side = self._side
        schema, value = side.schema(record), side.value(record)
        if schema is None:
            return side.replace(record, None, {self._name: value})
        if value is None and not schema["optional"]:  # Struct.put validates the field
            raise TransformFailed(f"HoistField: Invalid value: null used for required field: \"{self._name}\"")
        hoisted = self._schemas.get(schema)
        if hoisted is None:
            hoisted = self._schemas.put(schema, {"type": "struct", "fields": [named(self._name, schema)],
                                                 "optional": False})
        return side.replace(record, hoisted, {self._name: value})  # type: ignore[arg-type]
