"""New fields put into a struct by dotted names, as Debezium 3.7's ConnectRecordUtil
(`makeNewSchema`, `makeUpdatedValue`) puts them: what HeaderToValue uses.

- An entry `a.b` goes into the struct field `a` (rebuilt: copySchemaBasics, so required, its
  fields then the new ones not already there); when the struct has no field `a`, an optional
  unnamed struct `a` is appended holding `b`. An entry without a dot is a top-level field.
- A field is rebuilt when any dotted entry contains its name followed by a dot (Debezium's
  `contains`, not a prefix test: `data.x` rebuilds a field `a` too); a primitive one stays as
  it is in the schema, but a non-null value of it fails the record (Requirements.requireStruct).
- Deeper levels follow Debezium's code as it is: an entry `a.b.c` whose `a` exists lands in
  `a`'s field `b` when `b` exists, keyed by the last parent's name only; under a new parent
  `a` it becomes `a.b` with the entry's schema and value.
- A dotted entry whose parent is a primitive field fails the record; a field name added twice
  (a new parent named like a new field) fails it as SchemaBuilder does.
- Values: each field of the original struct that is not null (its default counting, Struct.get)
  is kept; the entries put over. A rebuilt struct field that is null stays null; a required one
  (the rebuilt copy of an optional struct is required) then fails the record, as JsonConverter
  fails it.
"""

from __future__ import annotations

from bridge.convert.schema import Schema
from bridge.transform.kafka.structs import TransformFailed, copy_basics, field_schema, named, require_struct

Entry = tuple[str, "Schema | None", object]  # (dotted field name, its schema, its value)

_ROOT = "payload"  # the name Debezium gives the top level
_PRIMITIVE = frozenset({"int8", "int16", "int32", "int64", "float32", "float64", "boolean", "string", "bytes"})


def _split(name: str) -> list[str]:
    """Java's String.split on "."; trailing empty strings removed."""
    parts = name.split(".")
    while len(parts) > 1 and parts[-1] == "":
        parts.pop()
    return parts


def _contained(name: str, nested: list[str]) -> bool:
    return any(name + "." in n for n in nested)


def _field_name(dest: str, at: str, level: int) -> str | None:
    """The name `dest` takes in the struct `at` (level `level`), or None when it is not there."""
    parts = _split(dest)
    if len(parts) == 1 and at == _ROOT:
        return parts[0]
    if len(parts) == level + 1 and parts[0 if level == 0 else level - 1] == at:
        return parts[level]
    return None


def _new_parents(at: str, schema: Schema, nested: list[str], level: int) -> list[str]:
    existing = {f["field"] for f in schema["fields"]}
    out: list[str] = []
    for entry in nested:
        parts = _split(entry)
        if level == 0 and at == _ROOT or 0 < level < len(parts) and parts[level - 1] == at:
            if level < len(parts) - 1 and parts[level] not in existing and parts[level] not in out:
                out.append(parts[level])
    return out


def _in_new_parent(dest: str, parent: str, at: str, level: int) -> str | None:
    parts = _split(dest)
    if level == 0 and at == _ROOT:
        return parts[1] if len(parts) > 1 and parts[0] == parent else None
    if level > 0 and ".".join(parts[:level + 1]) == parent and level + 1 < len(parts):
        return parts[level + 1]
    return None


def _checked(schema: Schema | None, name: str) -> Schema:
    if schema is None:
        raise TransformFailed(f"fieldSchema for field {name} cannot be null")
    return schema


def _append(fields: list[Schema], field: Schema) -> None:
    if any(f["field"] == field["field"] for f in fields):
        raise TransformFailed(f"Cannot create field because of field name duplication {field['field']}")
    fields.append(field)


def _validate(schema: Schema, nested: list[str]) -> None:
    for entry in nested:
        current = schema
        for parent in _split(entry)[:-1]:
            field = next((f for f in current.get("fields", ()) if f["field"] == parent), None)
            if field is None:
                break
            if field["type"] in _PRIMITIVE:
                raise TransformFailed(f"Field '{parent}' is a primitive type, not a struct. Cannot add nested "
                                      f"field '{entry}'.")
            current = field


def new_schema(schema: Schema, entries: list[Entry]) -> Schema:
    """The struct schema with the entries' fields (makeNewSchema)."""
    nested = [name for name, _, _ in entries if "." in name]
    _validate(schema, nested)
    return _schema(_ROOT, schema, entries, nested, 0)


def _schema(at: str, old: Schema, entries: list[Entry], nested: list[str], level: int) -> Schema:
    if old["type"] in _PRIMITIVE:
        return old
    if old["type"] != "struct":
        raise TransformFailed(f"Cannot look up fields on non-struct type {old['type'].upper()}")
    fields = [named(f["field"], _schema(f["field"], field_schema(f), entries, nested, level + 1))
              if _contained(f["field"], nested) else f for f in old["fields"]]
    for name, schema, _ in entries:
        new = _field_name(name, at, level)
        if new is not None and all(f["field"] != new for f in fields):
            fields.append(named(new, _checked(schema, new)))
    for parent in _new_parents(at, old, nested, level):
        inner: list[Schema] = []
        for name, schema, _ in entries:
            new = _in_new_parent(name, parent, at, level)
            if new is not None:
                _append(inner, named(new, _checked(schema, new)))
        _append(fields, named(parent, {"type": "struct", "fields": inner, "optional": True}))
    return copy_basics(old, fields=fields)


def new_value(value: dict, schema: Schema, updated: Schema, entries: list[Entry]) -> dict:
    """The struct `value` (of `schema`) as a value of `updated` with the entries put in
    (makeUpdatedValue)."""
    nested = [name for name, _, _ in entries if "." in name]
    return _value(_ROOT, value, schema, updated, entries, nested, 0)


def _put(out: dict, updated: dict[str, Schema], name: str, value: object) -> None:
    """Struct.put: the field must be there, and a null needs an optional field."""
    field = updated.get(name)
    if field is None:
        raise TransformFailed(f"{name} is not a valid field name (the schema was built from the first record of its "
                              "value schema)")
    if value is None and not field.get("optional", False):
        raise TransformFailed(f"Invalid value: null used for required field: \"{name}\"")
    out[name] = value


def _value(at: str, value: dict, schema: Schema, updated: Schema, entries: list[Entry], nested: list[str],
           level: int) -> dict:
    by_name = {f["field"]: f for f in updated["fields"]}
    out: dict = dict.fromkeys(by_name)
    for f in schema["fields"]:
        name = f["field"]
        v = value.get(name)
        if v is None:
            v = f.get("default")
        if v is None:
            continue
        if _contained(name, nested):
            v = _value(name, require_struct(v, "Nested field"), field_schema(f), by_name[name], entries, nested,
                       level + 1)
        out[name] = v
    for name, _, v in entries:
        new = _field_name(name, at, level)
        if new is not None:
            _put(out, by_name, new, v)
    for parent in _new_parents(at, schema, nested, level):
        field = by_name.get(parent)
        if field is not None:
            inner_fields = {f["field"]: f for f in field["fields"]}
            inner: dict = dict.fromkeys(inner_fields)
            for name, _, v in entries:
                new = _in_new_parent(name, parent, at, level)
                if new is not None:
                    _put(inner, inner_fields, new, v)
            out[parent] = inner
    for f in updated["fields"]:
        if out[f["field"]] is None and _contained(f["field"], nested) and f["type"] == "struct" \
                and not f.get("optional", False) and f.get("default") is None:
            raise TransformFailed(f"Conversion error: null value for field \"{f['field']}\" that is required and has "
                                  "no default value")
    return out
