"""Kafka's header transforms: InsertHeader, DropHeaders, HeaderFrom$Key / $Value.

- InsertHeader (`header`, `value.literal`) adds a header whose value is the literal as
  Connect's `Values.parseString` reads it: `true`/`false` a boolean, a whole number the
  narrowest of int8..int64, `null` no value, anything else a string. Literals Values would read
  as a float, decimal, date, time, timestamp, array or map are refused at start (`literal`).
- DropHeaders (`headers`) removes every header of those names.
- HeaderFrom (`fields`, `headers`, `operation` move|copy, `replace.null.with.default`) adds,
  for each field, a header with its value and schema (null when the struct lacks it); `move`
  also drops the fields from the struct (schema rebuilt by copySchemaBasics: required).
Headers are written by the header converter (`connect_header`); every step copies the record's
headers, as Connect's `newRecord` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import re

from bridge.convert.schema import Schema, connect_schema
from bridge.format.settings import HeaderFormat
from bridge.transform.kafka.structs import (SchemaCache, Side, TransformFailed, copy_basics, field_schema, get,
                                            read_bool, read_list, require_struct, struct_fields)
from bridge.format.headers import ConnectHeader
from bridge.transform.record import ConnectRecord, connect_header

if TYPE_CHECKING:
    from bridge.transform.smt_settings import TransformSpec

_INTEGER = re.compile(r"[+-]?[0-9]+")
_RANGES = (("int8", 2**7), ("int16", 2**15), ("int32", 2**31), ("int64", 2**63))


def literal(text: str) -> tuple[Schema | None, object] | str:
    """(schema, value) of Values.parseString(text), or why pgbridge does not read it as Kafka
    does (a str)."""
    if text == "":
        return connect_schema("string"), ""
    if text == "null":
        return None, None
    if text in ("true", "false"):
        return connect_schema("boolean"), text == "true"
    if text[0] in "[{":
        return "Kafka reads it as an array or a map"
    if text[0].isdigit() or text[0] in "+-":
        if _INTEGER.fullmatch(text):
            number = int(text)
            for type_, bound in _RANGES:
                if -bound <= number < bound:
                    return connect_schema(type_), number
            return "Kafka reads it as a decimal"
        if any(c in text for c in ".eE:,-[]{}\" \t") or text[0] in "+-":
            return "Kafka may read it as a number, a date, a time or a timestamp"
    return connect_schema("string"), text


class InsertHeader:
    changes_routing = False

    def __init__(self, spec: TransformSpec, headers: HeaderFormat) -> None:
        parsed = literal(spec.option("value.literal", ""))
        assert not isinstance(parsed, str), parsed  # refused at start (names.check_insert_header)
        schema, value = parsed
        name = spec.option("header", "")
        self._header = ConnectHeader(name, None, None, None) if value is None else \
            connect_header(headers, name, schema, value)  # type: ignore[arg-type]

    def __call__(self, record: ConnectRecord) -> ConnectRecord:
        return record._replace(headers=[*record.headers, self._header])


class DropHeaders:
    changes_routing = False

    def __init__(self, spec: TransformSpec, _headers: HeaderFormat) -> None:
        self._names = frozenset(read_list(spec.option("headers", "")))

    def __call__(self, record: ConnectRecord) -> ConnectRecord:
        names = self._names
        return record._replace(headers=[h for h in record.headers if h[0] not in names])


class HeaderFrom:
    def __init__(self, spec: TransformSpec, headers: HeaderFormat) -> None:
        self._side = Side(spec.type)
        self.changes_routing = self._side.key and spec.option("operation", "") == "move"
        self._fields = read_list(spec.option("fields", ""))
        self._names = read_list(spec.option("headers", ""))
        self._move = spec.option("operation", "").strip() == "move"
        self._defaults = read_bool(spec.option("replace.null.with.default", "true")) is not False
        self._format = headers
        self._schemas = SchemaCache()

    def __call__(self, record: ConnectRecord) -> ConnectRecord:
        side = self._side
        schema = side.schema(record)
        fields = struct_fields(schema, "header " + ("move" if self._move else "copy"))
        struct = require_struct(side.value(record), "header " + ("move" if self._move else "copy"))
        by_name = {f["field"]: f for f in fields}
        added = []
        for name, header in zip(self._fields, self._names):
            field = by_name.get(name)
            if field is None:  # Connect's operatingSchema.field(name).schema() fails
                raise TransformFailed(f"HeaderFrom: the record has no field {name!r}")
            added.append(connect_header(self._format, header, field_schema(field), get(struct, field, self._defaults)))
        record = record._replace(headers=[*record.headers, *added])
        if not self._move:
            return record
        moved = self._schemas.get(schema)
        if moved is None:
            kept = [f for f in fields if f["field"] not in self._fields]
            moved = self._schemas.put(schema, copy_basics(schema, fields=kept))
        value = {f["field"]: get(struct, f, self._defaults) for f in moved["fields"]}  # type: ignore[index]
        return side.replace(record, moved, value)  # type: ignore[arg-type]

