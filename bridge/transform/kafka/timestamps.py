"""Kafka's TimestampConverter ($Key / $Value) and why TimestampRouter is refused.

TimestampConverter (`field`, empty: the whole key/value; `target.type` string, unix, Date,
Time, Timestamp; `format`, a SimpleDateFormat pattern (`bridge.transform.kafka.dateformat`),
needed for `string`; `unix.precision` seconds, milliseconds (default), microseconds,
nanoseconds; `replace.null.with.default`). The source kind follows the schema: Connect's
Timestamp/Date/Time logical names, else a string (parsed with `format`) or an int64 (Unix time
at `unix.precision`: Debezium's MicroTimestamp and NanoTimestamp are such int64s); anything
else fails. Conversions go through epoch milliseconds, truncating as Java's TimeUnit does.
Schemas: the whole value takes the target's schema (optional as the source was); a field
the target's schema (optional as the field was) in the struct rebuilt by copySchemaBasics,
optional as it was.

TimestampRouter needs the record's timestamp; Debezium's source records carry none, and
Connect fails each ("Timestamp missing on record"): refused at start (`names`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.convert.schema import Schema, connect_schema
from bridge.format.settings import HeaderFormat
from bridge.transform.kafka.dateformat import compile_pattern, format_ms, parse_ms, parser
from bridge.transform.kafka.structs import SchemaCache, Side, TransformFailed, copy_basics, get, named, read_bool
from bridge.transform.record import ConnectRecord

if TYPE_CHECKING:
    from bridge.transform.smt_settings import TransformSpec

TARGETS = ("string", "unix", "Date", "Time", "Timestamp")
PRECISIONS = {"seconds": 1000, "milliseconds": 1, "microseconds": -1000, "nanoseconds": -1_000_000}
_LOGICAL = "org.apache.kafka.connect.data."
_DAY_MS = 86_400_000
_LONG = 2**63


def _trunc_div(a: int, b: int) -> int:
    """Java's integer division (toward zero)."""
    q = abs(a) // b
    return q if a >= 0 else -q


def _saturate(n: int) -> int:
    return max(-_LONG, min(_LONG - 1, n))


def target_schema(target: str, optional: bool) -> Schema:
    if target == "string":
        return connect_schema("string", optional=optional)
    if target == "unix":
        return connect_schema("int64", optional=optional)
    type_ = "int64" if target == "Timestamp" else "int32"
    return connect_schema(type_, optional=optional, name=_LOGICAL + target, version=1)


class TimestampConverter:
    def __init__(self, spec: TransformSpec, _headers: HeaderFormat) -> None:
        self._side = Side(spec.type)
        self.changes_routing = self._side.key
        self._field = spec.option("field", "")
        self._target = spec.option("target.type", "").strip()
        self._precision = PRECISIONS[spec.option("unix.precision", "milliseconds").strip()]
        pattern = spec.option("format", "")
        fields = compile_pattern(pattern) if pattern.strip() else None
        assert not isinstance(fields, str), fields  # refused at start (names.check_timestamp_converter)
        self._format = fields
        self._parser = parser(fields) if fields is not None else None
        self._defaults = read_bool(spec.option("replace.null.with.default", "true")) is not False
        self._schemas = SchemaCache()

    # --- one timestamp -------------------------------------------------------------------------

    def _to_ms(self, value: object, schema: Schema) -> int:
        name, type_ = schema.get("name"), schema["type"]
        if name == _LOGICAL + "Timestamp" or name == _LOGICAL + "Time":
            return value  # type: ignore[return-value]
        if name == _LOGICAL + "Date":
            return value * _DAY_MS  # type: ignore[operator]
        if type_ == "string":
            if self._format is None:
                raise TransformFailed("TimestampConverter: a string timestamp needs `format`")
            ms = parse_ms(self._format, self._parser, value)  # type: ignore[arg-type]
            if ms is None:
                raise TransformFailed(f"TimestampConverter: could not parse timestamp: value ({value}) "
                                      "does not match the pattern")
            return ms
        if type_ == "int64":
            p = self._precision
            return _saturate(value * p) if p > 0 else _trunc_div(value, -p)  # type: ignore[operator]
        raise TransformFailed(f"TimestampConverter: schema {name or type_} does not correspond to a known "
                              "timestamp type format")

    def _from_ms(self, ms: int) -> object:
        target = self._target
        if target == "Timestamp":
            return ms
        if target == "Date":
            return ms // _DAY_MS
        if target == "Time":
            return ms % _DAY_MS
        if target == "unix":
            p = self._precision
            return _trunc_div(ms, p) if p > 0 else _saturate(ms * -p)
        return format_ms(self._format, ms)  # type: ignore[arg-type]

    def convert(self, value: object, schema: Schema) -> object:
        return None if value is None else self._from_ms(self._to_ms(value, schema))

    # --- the record ------------------------------------------------------------------------------

    def _schema(self, schema: Schema) -> tuple[Schema, Schema | None]:
        """(the updated schema, the converted field's original schema)."""
        if not self._field:
            return target_schema(self._target, schema["optional"]), None
        if schema["type"] != "struct":
            raise TransformFailed(f"Only Struct objects supported for [converting timestamp formats], found: "
                                  f"{schema['type']}")
        fields, found = [], None
        for f in schema["fields"]:
            if f["field"] == self._field:
                found = f
                fields.append(named(f["field"], target_schema(self._target, f["optional"])))
            else:
                fields.append(f)
        out = copy_basics(schema, fields=fields)
        if schema["optional"]:
            out["optional"] = True
        return out, found

    def __call__(self, record: ConnectRecord) -> ConnectRecord:
        side = self._side
        schema, value = side.schema(record), side.value(record)
        if schema is None:
            if value is None:
                return side.replace(record, None, None)
            raise TransformFailed("TimestampConverter: a record without a schema is not supported by pgbridge")
        plan = self._schemas.get(schema) or self._schemas.put(schema, self._schema(schema))
        updated, original = plan  # type: ignore[misc]
        if not self._field:
            return side.replace(record, updated, self.convert(value, schema))
        if value is None:
            return side.replace(record, updated, None)
        if not isinstance(value, dict):
            raise TransformFailed("Only Struct objects supported for [converting timestamp formats]")
        defaults, name = self._defaults, self._field
        out = {f["field"]: (self.convert(get(value, f, defaults), original) if f["field"] == name
                            else get(value, f, defaults)) for f in schema["fields"]}
        return side.replace(record, updated, out)
