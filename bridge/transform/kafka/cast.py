"""Kafka's Cast ($Key / $Value): `spec` is one type (the whole key/value) or `field:type`
pairs (top-level struct fields); types int8, int16, int32, int64, float32, float64, boolean,
string (any case); `replace.null.with.default`.

As Connect casts (Cast.castValueToType): numbers narrow as Java's `Number.xxxValue()` does
(wrapping; a double truncates), booleans become 1/0, strings are parsed (Byte.parseByte...,
Boolean.parseBoolean), anything becomes a string by its `toString` (Java's spelling of floats
and decimals, base64 for bytes, ISO-8601 for Connect's Date/Time/Timestamp). A cast field keeps
its optionality and gets its default cast; the struct keeps its optionality (copySchemaBasics
plus `optional`). A null key/value passes unchanged; a null field stays null. Casting from a
struct, array or map fails, as in Connect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import base64
import datetime as dt
import re
from decimal import Decimal

from bridge.convert.schema import Schema, connect_schema
from bridge.format.settings import HeaderFormat
from bridge.transform.kafka.fields import DECIMAL
from bridge.convert.values_float import java_double, java_float_slow, raw_double
from bridge.transform.kafka.numbers import float32, number, raw_float, to_integer
from bridge.transform.kafka.structs import (SchemaCache, Side, TransformFailed, copy_basics, get, named, read_bool,
                                            read_list, require_struct)
from bridge.transform.record import ConnectRecord

if TYPE_CHECKING:
    from bridge.transform.smt_settings import TransformSpec

# Kafka's type names -> JsonConverter's
CAST_TYPES = {"int8": "int8", "int16": "int16", "int32": "int32", "int64": "int64", "float32": "float",
              "float64": "double", "boolean": "boolean", "string": "string"}
_INPUT = frozenset({"int8", "int16", "int32", "int64", "float", "double", "boolean", "string", "bytes"})
_JAVA_INT = re.compile(r"[+-]?[0-9]+")
_TEMPORAL = {"org.apache.kafka.connect.data.Date", "org.apache.kafka.connect.data.Time",
             "org.apache.kafka.connect.data.Timestamp"}
_DAY_MS = 86_400_000
_EPOCH = dt.datetime(1970, 1, 1)


def parse_spec(text: str) -> dict[str | None, str] | str:
    """{field (None: the whole value): JsonConverter type} of a `spec`, or why it is invalid."""
    items = read_list(text)
    if not items:
        return "Must specify at least one field to cast"
    out: dict[str | None, str] = {}
    for item in items:
        parts = item.split(":")
        if len(parts) > 2:
            return f"invalid cast mapping {item!r}"
        type_ = CAST_TYPES.get(parts[-1].strip().lower())
        if type_ is None:
            return f"invalid type {parts[-1].strip()!r}: use one of {', '.join(CAST_TYPES)}"
        out[None if len(parts) == 1 else parts[0].strip()] = type_
    if None in out and len(items) > 1:
        return "a cast of the whole value may only specify a single cast"
    return out


def _date_text(ms: int, name: str) -> str:
    """Values.dateFormatFor(date).format(date): a time before one day is a Time, a whole day a
    Date, else a Timestamp (UTC)."""
    if name == "org.apache.kafka.connect.data.Date":
        ms *= _DAY_MS  # the value is days
    moment = _EPOCH + dt.timedelta(milliseconds=ms)
    if ms < _DAY_MS:
        return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if ms % _DAY_MS == 0:
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _decimal(value: bytes, schema: Schema) -> Decimal:
    scale = int(schema.get("parameters", {}).get("scale", "0"))
    return Decimal(int.from_bytes(value, "big", signed=True)).scaleb(-scale)


def cast(value: object, schema: Schema, target: str) -> object:
    """`value` of `schema` cast to the JsonConverter type `target`."""
    if value is None:
        return None
    type_, name = schema["type"], schema.get("name")
    if type_ not in _INPUT:
        raise TransformFailed(f"Cast transformation does not support casting from {type_}")
    if name == DECIMAL:
        value = _decimal(value, schema)  # type: ignore[arg-type]
    elif type_ == "bytes":
        if target != "string":
            raise TransformFailed(f"Cast: unexpected type in Cast transformation: bytes to {target}")
        return base64.b64encode(value).decode()  # type: ignore[arg-type]
    if target == "string":
        if name in _TEMPORAL:
            return _date_text(value, name)  # type: ignore[arg-type]
        if type_ == "boolean":
            return "true" if value else "false"
        if type_ == "float":
            return java_float_slow(number(value))
        if type_ == "double":
            return java_double(number(value))  # type: ignore[arg-type]
        return str(value)
    if isinstance(value, bool):
        x: int | float | Decimal = int(value)
    elif isinstance(value, str) and type_ == "string":
        return _parse(value, target)
    elif isinstance(value, Decimal):
        x = value
    else:
        x = number(value)
    if target == "boolean":
        return int(x) != 0
    if target.startswith("int"):
        return to_integer(int(x) if isinstance(x, Decimal) else x, target)
    f = float(x)
    return raw_float(float32(f)) if target == "float" else raw_double(f)


def _parse(text: str, target: str) -> object:
    """Java's parseByte / parseShort / parseInt / parseLong / parseFloat / parseDouble /
    Boolean.parseBoolean of a string."""
    if target == "boolean":
        return text.lower() == "true"
    try:
        if target.startswith("int"):
            if not _JAVA_INT.fullmatch(text) or to_integer(int(text), target) != int(text):
                raise ValueError
            return int(text)
        f = float(text.strip().rstrip("fFdD"))
    except ValueError:
        raise TransformFailed(f"Cast: value ({text}) was out of range for requested data type") from None
    return raw_float(float32(f)) if target == "float" else raw_double(f)


class Cast:
    def __init__(self, spec: TransformSpec, _headers: HeaderFormat) -> None:
        self._side = Side(spec.type)
        self.changes_routing = self._side.key
        parsed = parse_spec(spec.option("spec", ""))
        assert not isinstance(parsed, str), parsed  # refused at start (names.check_cast)
        self._whole = parsed.get(None)
        self._casts = parsed
        self._defaults = read_bool(spec.option("replace.null.with.default", "true")) is not False
        self._schemas = SchemaCache()

    def _schema(self, schema: Schema) -> Schema:
        if self._whole is not None:
            out = copy_basics(schema, self._whole)
        else:
            if schema["type"] != "struct":
                raise TransformFailed(f"Only Struct objects supported for [cast types], found: {schema['type']}")
            fields = []
            for f in schema["fields"]:
                target = self._casts.get(f["field"])
                if target is None:
                    fields.append(f)
                    continue
                new = connect_schema(target, optional=f["optional"])
                if f.get("default") is not None:
                    new["default"] = cast(f["default"], f, target)
                fields.append(named(f["field"], new))
            out = copy_basics(schema, fields=fields)
        if schema["optional"]:
            out["optional"] = True
        return out

    def __call__(self, record: ConnectRecord) -> ConnectRecord:
        side = self._side
        value = side.value(record)
        if value is None:
            return record
        schema = side.schema(record)
        if schema is None:
            raise TransformFailed("Cast: a record without a schema is not supported by pgbridge")
        updated = self._schemas.get(schema) or self._schemas.put(schema, self._schema(schema))
        if self._whole is not None:
            return side.replace(record, updated, cast(value, schema, self._whole))  # type: ignore[arg-type]
        struct = require_struct(value, "cast types")
        casts, defaults = self._casts, self._defaults
        out = {}
        for f in schema["fields"]:
            v = get(struct, f, defaults)
            target = casts.get(f["field"])
            out[f["field"]] = v if target is None else cast(v, f, target)
        return side.replace(record, updated, out)  # type: ignore[arg-type]
