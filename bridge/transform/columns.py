"""Column rules (`bridge.transform.settings`) compiled for one column: what the rule does to the
column's Connect schema and to each of its values (Debezium's ColumnMapper.alterFieldSchema and
ColumnMapper.create).

Debezium 3.7 facts (MaskStrings, TruncateColumn, TableSchemaBuilder; checked against a real
Debezium 3.7.0 by tests/integration/test_live_masking.py):
- A rule maps the value struct only, so `before` and `after`; the key keeps the column's real
  values and schema.
- Mask and hash add the parameter `masked: "true"` to the schema of every column they list,
  whatever its type, and change the values of character columns only (JDBC CHAR and VARCHAR:
  text, varchar, bpchar, "char", name, enums, domains over them). A mask replaces every value,
  NULL included. A hash keeps NULL and is cut to the column's declared length (varchar(n),
  char(n), "char").
- Truncation applies when the column's length exceeds n or is unknown, whatever its type (the
  length is pgjdbc's precision: int4 10, bool 1, varchar(n) n, numeric(p,s) p, text unbounded):
  the schema gets `truncateLength: "<n>"`, then every Java String value (any STRING schema: text,
  json, uuid, ...) keeps its first n UTF-16 units and every bytea value in bytes mode its first
  n bytes; other values (numbers, decimals, arrays) pass unchanged.
- A rule's mapping runs after the column's converter on everything the converter yields: the
  stand-in for NULL in a required field and the unchanged-TOAST placeholder too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bridge.convert.schema import Schema
from bridge.convert.types import TypeInfo, TypeKind
from bridge.transform.settings import HASH, MASK, ColumnRule
from bridge.transform.strings import hasher, truncate_text

Mapping = Callable[[object], object]

_UNBOUNDED = 2**31 - 1  # pgjdbc's unknownLength (Integer.MAX_VALUE)
# pgjdbc's java.sql.Types CHAR / VARCHAR of the built-in types (TypeInfoCache); enums are VARCHAR
_CHARACTER_TYPES = frozenset({"text", "varchar", "bpchar", "char", "name"})
# pgjdbc TypeInfoCache.getPrecision of built-in types whose precision does not depend on the typmod
_FIXED_LENGTHS = {"int2": 5, "int4": 10, "oid": 10, "int8": 19, "float4": 8, "float8": 17, "char": 1, "bool": 1,
                  "date": 13, "interval": 49}


@dataclass(frozen=True, slots=True)
class ColumnMapper:
    """What one rule does to one column: schema parameters, and the mapping of its values
    (None: the values stay as they are)."""

    parameters: dict[str, str]
    value: Mapping | None

    def field(self, field: Schema) -> Schema:
        """A column's struct field (`bridge.convert.schema.field_schema`) with the rule's
        parameters added after the type's own, where JsonConverter writes them: before the
        field's `default` and name."""
        parameters = {**field.get("parameters", {}), **self.parameters}
        out: Schema = {}
        for key, value in field.items():
            if key in ("default", "field") and "parameters" not in out:
                out["parameters"] = parameters
            out[key] = parameters if key == "parameters" else value
        return out

    def pick(self, pick: tuple) -> tuple:
        """A `TableEvents` pick (position, name, convert, toast value, NULL value) whose every
        value goes through the mapping."""
        i, name, convert, toast, null = pick
        value = self.value
        if value is None:
            return pick
        return i, name, self.convert(convert), value(toast), value(null)

    def convert(self, convert: Callable[[bytes], object]) -> Callable[[bytes], object]:
        value = self.value
        if value is None:
            return convert
        return lambda raw: value(convert(raw))


def mapper_for(rule: ColumnRule, type_info: TypeInfo, type_modifier: int, schema: Schema) -> ColumnMapper | None:
    """The mapper of `rule` for a column of `type_info` and atttypmod `type_modifier` whose
    converter gives values of Connect `schema`; None when the rule leaves the column alone."""
    if rule.kind == MASK or rule.kind == HASH:
        if not _is_character(type_info):
            return ColumnMapper({"masked": "true"}, None)
        if rule.kind == MASK:
            mask = "*" * rule.chars
            return ColumnMapper({"masked": "true"}, lambda _: mask)
        length = column_length(type_info, type_modifier)
        return ColumnMapper({"masked": "true"}, hasher(rule.algorithm, rule.salt, rule.v2, length))
    length = column_length(type_info, type_modifier)
    if 0 <= length <= rule.chars:
        return None
    return ColumnMapper({"truncateLength": str(rule.chars)}, _truncation(rule.chars, schema))


def _truncation(n: int, schema: Schema) -> Mapping | None:
    if schema["type"] == "string":
        return lambda v: truncate_text(v, n) if type(v) is str else v
    if schema["type"] == "bytes" and "name" not in schema:  # bytea in bytes mode: a ByteBuffer
        return lambda v: v[:n] if type(v) is bytes else v
    return None


def _is_character(type_info: TypeInfo) -> bool:
    root = type_info.root
    if root.kind is TypeKind.ENUM:
        return True
    return root.kind is TypeKind.BASE and root.namespace == "pg_catalog" and root.name in _CHARACTER_TYPES


def column_length(type_info: TypeInfo, type_modifier: int) -> int:
    """Debezium's `Column.length()`: pgjdbc 42.7's TypeInfoCache.getPrecision of the column's
    root type (of its element type for an array) and typmod (a domain's when the column has
    none), or getDisplaySize where the precision is 0 (numeric without precision)."""
    typmod = type_info.effective_typmod(type_modifier)
    root = type_info.root
    if root.kind is TypeKind.ARRAY and root.element is not None:
        root = root.element
    if root.namespace != "pg_catalog" or root.kind not in (TypeKind.BASE, TypeKind.ARRAY):
        return _UNBOUNDED
    name = root.name
    fixed = _FIXED_LENGTHS.get(name)
    if fixed is not None:
        return fixed
    if name in ("bpchar", "varchar"):
        return _UNBOUNDED if typmod == -1 else typmod - 4
    if name == "numeric":
        return 131089 if typmod == -1 else ((typmod - 4) >> 16) & 0xFFFF
    if name in ("time", "timetz", "timestamp", "timestamptz"):
        base = 22 if name.startswith("timestamp") else 8  # the text before the fraction
        fraction = 6 if typmod == -1 else typmod
        zone = 6 if name.endswith("tz") else 0
        return base + (fraction + 1 if fraction > 0 else 0) + zone
    if name == "bit":
        return typmod
    if name == "varbit":
        return _UNBOUNDED if typmod == -1 else typmod
    return _UNBOUNDED
