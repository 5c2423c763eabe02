"""Debezium's HeaderToValue (`io.debezium.transforms.HeaderToValue`): headers into the value.

- `headers` and `fields` (lists of as many names, no empty entry, no space) and `operation`
  (`move` or `copy`) are required, refused at start otherwise (`check`). A field name with dots
  puts the value inside a struct of the value, as Debezium does (`bridge.transform.nesting`).
- A record with a null value passes unchanged. Otherwise each header whose name is listed (in
  the record's header order; a name listed twice takes its first field) becomes the field named
  beside it, with the header's Connect schema and value. A record without such a header passes
  unchanged.
- The new value schema is the old one's basics (required, `copySchemaBasics`) with its fields,
  then the new ones not already there (`bridge.transform.nesting`). As in Debezium it is cached
  by the value schema: the
  first record of a schema decides which fields are added for every later one (a field such a
  record lacks a header for is null; a header it has beyond them fails the record).
- The value keeps every field's value (a null with a default becomes the default, Connect's
  `Struct.get`), with the headers' values put over.
- `move` drops every header of a listed name from the record; `copy` keeps the headers as
  they are (the same headers object, as Debezium passes it on).
The headers read are those pgbridge writes from a Connect value (`ConnectHeader`: the context
headers, those transforms add); a key change's `__debezium.newkey`/`oldkey`, kept as bytes
only, fails the record when listed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.errors import ConfigError
from bridge.format.settings import HeaderFormat
from bridge.properties import PropertyReader
from bridge.transform.kafka.structs import SchemaCache, TransformFailed, require_struct
from bridge.transform.nesting import new_schema, new_value
from bridge.transform.record import ConnectRecord
from bridge.transform.schema_change_filter import java_list

if TYPE_CHECKING:
    from bridge.transform.smt_settings import TransformSpec

HEADER_TO_VALUE = "io.debezium.transforms.HeaderToValue"
OPTIONS = ("headers", "fields", "operation")
_OPERATIONS = ("move", "copy")


def check(r: PropertyReader, prefix: str, step: TransformSpec) -> None:
    lists = {}
    for name in ("headers", "fields"):
        key = prefix + "." + name
        value = step.option(name, "")
        if not value.strip():
            raise ConfigError(f"{r.label(key)} is missing: HeaderToValue needs it")
        items = lists[name] = java_list(value)
        if "" in items:
            raise ConfigError(f"{r.label(key)}: empty entries are not permitted (HeaderToValue)")
        if any(" " in item for item in items):
            raise ConfigError(f"{r.label(key)}: entries containing a space are not permitted (HeaderToValue)")
    if len(lists["headers"]) != len(lists["fields"]):
        raise ConfigError(f"{r.label(prefix + '.fields')} must have as many entries as {r.label(prefix + '.headers')}")
    operation = step.option("operation", "")
    if operation.strip().lower() not in _OPERATIONS:
        raise ConfigError(f"{r.label(prefix + '.operation')}={operation!r} is invalid: use move or copy")


class HeaderToValue:
    changes_routing = False  # the value only

    def __init__(self, spec: TransformSpec, _headers: HeaderFormat) -> None:
        headers, fields = java_list(spec.option("headers", "")), java_list(spec.option("fields", ""))
        self._field_of: dict[str, str] = {}
        for header, field in zip(headers, fields):
            self._field_of.setdefault(header, field)  # Java's indexOf: a name's first entry
        self._move = spec.option("operation", "").strip().lower() == "move"
        self._schemas = SchemaCache()

    def __call__(self, record: ConnectRecord) -> ConnectRecord:
        if record.value is None:
            return record
        value = require_struct(record.value, "Header field insertion")
        field_of = self._field_of
        entries = [(field_of[h[0]], h) for h in record.headers if h[0] in field_of]
        if not entries:
            return record
        for _, header in entries:
            if not hasattr(header, "schema"):
                raise TransformFailed(f"HeaderToValue: pgbridge keeps the header {header[0]!r} as bytes only (a key "
                                      "change's header), without the Connect value to put in the record")
        schema = record.value_schema
        if schema is None or schema.get("type") != "struct":
            raise TransformFailed("Only Struct objects supported for [Header field insertion]")
        found = [(name, header.schema, header.value) for name, header in entries]  # type: ignore[attr-defined]
        updated = self._schemas.get(schema)
        if updated is None:
            updated = self._schemas.put(schema, new_schema(schema, found))
        out = new_value(value, schema, updated, found)  # type: ignore[arg-type]
        headers = record.headers
        if self._move:
            names = self._field_of
            headers = [h for h in headers if h[0] not in names]
        return record._replace(value_schema=updated, value=out, headers=headers)
