"""Kafka Connect schemas → Avro schemas, as Confluent's AvroData (and Apicurio's fork of it,
2.6.x) writes them for Debezium's records, in the text Java's Avro prints.

AvroData.fromConnectSchema, with `connect.meta.data=true` (the default):
- int8/int16 → `int` with `connect.type` int8/int16; int32 `int`, int64 `long`, float32
  `float`, float64 `double`, boolean, string, bytes; arrays `array`; maps with required string
  keys `map`, other maps an `array` of `MapEntry` records {key, value} (namespace
  `io.confluent.connect.avro`, or the map's own name).
- A struct is a record named by the Connect name (namespace = what precedes the last dot). A
  record is defined where it first appears; later appearances of the same name reference it.
- An optional schema is a union: `["null", T]`, or `[T, "null"]` when it has a default. An
  optional struct is always `["null", record]`.
- Every non-union type carries, in order: `connect.doc`, `connect.version`, `connect.parameters`
  (all of them, as strings), `connect.default` (a field's default), `connect.name`,
  `connect.type`. A Decimal (`org.apache.kafka.connect.data.Decimal`) is `bytes` with `scale`
  and `precision` (`connect.decimal.precision`, else 64) first and `logicalType: decimal` last;
  Connect Date/Time/Timestamp get `logicalType` date / time-millis / timestamp-millis. Debezium's
  own time types (`io.debezium.time.*`) stay plain int/long with their `connect.name`.
- A field's `default` is its Connect default (bytes as ISO-8859-1 text), else null when the
  field is optional.
Java's Avro prints a record as type, name, namespace (only where it differs from the enclosing
record's), fields, then the properties; a field as name, type, default, then properties; a
reference by its short name inside the same namespace, else the full name.

Names must be valid Avro names (Java Avro refuses others, and Debezium's converter with it):
`schema.name.adjustment.mode` and `field.name.adjustment.mode` make a table's record and field
names valid before they get here (`bridge.convert.names`).
"""

from __future__ import annotations

from typing import Any

import msgspec

from bridge.convert.schema import Schema
from bridge.errors import ConfigError

DECIMAL = "org.apache.kafka.connect.data.Decimal"
_LOGICAL = {"org.apache.kafka.connect.data.Date": "date", "org.apache.kafka.connect.data.Time": "time-millis",
            "org.apache.kafka.connect.data.Timestamp": "timestamp-millis"}
_PRIMITIVES = {"int8": "int", "int16": "int", "int32": "int", "int64": "long", "float": "float",
               "double": "double", "boolean": "boolean", "string": "string", "bytes": "bytes"}
_CONNECT_TYPES = ("int8", "int16")
NAMESPACE = "io.confluent.connect.avro"
_encode = msgspec.json.Encoder().encode


class InvalidName(ConfigError):
    """A record or field name Java's Avro refuses (Debezium's converter fails on it too)."""


def _valid(name: str) -> bool:
    """Java Avro's Schema.validateName (Character.isLetter / isLetterOrDigit)."""
    return bool(name) and (name[0].isalpha() or name[0] == "_") and all(c.isalnum() or c == "_" for c in name[1:])


def split_name(full: str) -> tuple[str | None, str]:
    namespace, _, name = full.rpartition(".")
    return (namespace or None), name


class _Context:
    def __init__(self, meta: bool, where: str) -> None:
        self.meta, self.where = meta, where
        self.defined: set[str] = set()
        self.default_names = 0

    def check(self, name: str, what: str) -> str:
        if not _valid(name):
            raise InvalidName(f"{self.where}: the {what} {name!r} is not a valid Avro name, which Debezium's Avro "
                              "converter refuses too; rename it, or set schema.name.adjustment.mode (record "
                              "names) or field.name.adjustment.mode (field names) to avro or avro_unicode")
        return name


def avro_schema(schema: Schema, *, meta: bool = True, where: str = "") -> Any:
    """The Avro schema (JSON-able, in Java's key order) of a Connect schema. `meta`:
    `connect.meta.data`; `where`: what a message about an invalid name names (the topic)."""
    return _convert(schema, _Context(meta, where), False, None)


def schema_text(avro: Any) -> str:
    """The schema as Java's Avro prints it (no whitespace)."""
    return _encode(avro).decode()


def record_name(schema: Schema) -> str | None:
    """The Avro full name of a struct schema's record (RecordNameStrategy's subject)."""
    name = schema.get("name")
    if schema.get("type") != "struct":
        return None
    return name or f"{NAMESPACE}.ConnectDefault"


def _convert(s: Schema, ctx: _Context, ignore_optional: bool, space: str | None) -> Any:
    """AvroData.fromConnectSchema; `space`: the enclosing record's namespace (what Java's printer
    leaves out of a nested record or reference in the same namespace)."""
    kind, name = s["type"], s.get("name")
    if kind == "struct":
        if s.get("optional") and not ignore_optional:
            return ["null", _record(s, ctx, space)]
        return _record(s, ctx, space)
    if kind == "array":
        base: dict[str, Any] = {"type": "array", "items": _convert(s["items"], ctx, False, space)}
    elif kind == "map":
        keys = s["keys"]
        if keys["type"] == "string" and not keys.get("optional"):
            base = {"type": "map", "values": _convert(s["values"], ctx, False, space)}
        else:
            base = {"type": "array", "items": _map_entry(s, ctx, space)}
    else:
        base = {"type": _PRIMITIVES[kind]}
        if name == DECIMAL:
            params = s.get("parameters") or {}
            base["scale"] = int(params["scale"])
            base["precision"] = int(params.get("connect.decimal.precision", 64))
    _props(base, s, ctx)
    if name == DECIMAL:  # as a logical type, or (scale outside 0..precision) the legacy way: the same text
        base["logicalType"] = "decimal"
    elif name in _LOGICAL:
        base["logicalType"] = _LOGICAL[name]
    node: Any = base["type"] if len(base) == 1 else base
    if s.get("optional") and not ignore_optional:
        return [node, "null"] if s.get("default") is not None else ["null", node]
    return node


def _props(base: dict, s: Schema, ctx: _Context) -> None:
    if not ctx.meta:
        return
    if s.get("doc") is not None:
        base["connect.doc"] = s["doc"]
    if s.get("version") is not None:
        base["connect.version"] = s["version"]
    if s.get("parameters"):
        base["connect.parameters"] = dict(s["parameters"])
    if s.get("default") is not None:
        base["connect.default"] = default_value(s, s["default"])
    if s.get("name") is not None:
        base["connect.name"] = s["name"]
    if s["type"] in _CONNECT_TYPES:
        base["connect.type"] = s["type"]


def _reference(full: str, space: str | None) -> str:
    namespace, short = split_name(full)
    return short if namespace == space else full


def _named(full: str, ctx: _Context, space: str | None) -> dict:
    namespace, short = split_name(full)
    node: dict[str, Any] = {"type": "record", "name": ctx.check(short, "record name")}
    for part in (namespace or "").split(".") if namespace else ():
        ctx.check(part, "namespace part")
    if namespace != space:
        node["namespace"] = namespace or ""
    return node


def _record(s: Schema, ctx: _Context, space: str | None) -> Any:
    if s.get("name"):
        full = s["name"]
    else:
        ctx.default_names += 1
        full = f"{NAMESPACE}.ConnectDefault{ctx.default_names if ctx.default_names > 1 else ''}"
    if full in ctx.defined:
        return _reference(full, space)
    ctx.defined.add(full)
    node = _named(full, ctx, space)
    inner = split_name(full)[0]
    node["fields"] = [_field(f["field"], f, ctx, inner) for f in s["fields"]]
    _props(node, {k: v for k, v in s.items() if k != "default"}, ctx)
    return node


def _map_entry(s: Schema, ctx: _Context, space: str | None) -> Any:
    full = s.get("name") or f"{NAMESPACE}.MapEntry"
    if full in ctx.defined:
        return _reference(full, space)
    ctx.defined.add(full)
    node = _named(full, ctx, space)
    inner = split_name(full)[0]
    node["fields"] = [_field("key", s["keys"], ctx, inner), _field("value", s["values"], ctx, inner)]
    if s.get("name"):
        node["connect.internal.type"] = "MapEntry"
    return node


def _field(name: str, s: Schema, ctx: _Context, space: str | None) -> dict:
    field: dict[str, Any] = {"name": ctx.check(name, "field name"), "type": _convert(s, ctx, False, space)}
    if s.get("default") is not None:
        field["default"] = default_value(s, s["default"])
    elif s.get("optional"):
        field["default"] = None
    return field


def default_value(s: Schema, value: Any) -> Any:
    """AvroData.defaultValueFromConnect: a Connect value as JSON (bytes as ISO-8859-1 text)."""
    kind = s["type"]
    if value is None:
        return None
    if kind == "bytes":
        return bytes(value).decode("latin-1")
    if kind == "array":
        return [default_value(s["items"], v) for v in value]
    if kind == "map":
        return {k: default_value(s["values"], v) for k, v in value.items()}
    if kind == "struct":
        return {f["field"]: default_value(f, value.get(f["field"])) for f in s["fields"]}
    return value
