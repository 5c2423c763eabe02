"""Kafka Connect's StringConverter: a record is its Connect value's Java `toString()`.

`StringConverter.fromConnectData` writes `value.toString()` in `converter.encoding` (UTF-8 by
default), null as a null record. What Debezium's values print (checked against Java 17 and
Kafka Connect 4.3's classes):
- Struct: `Struct{name=value,...}` in field order, fields whose value is null left out, no
  quoting or escaping (`Struct{id=1,v=a, b}`). A source block's `snapshot` is null while
  streaming (JSON shows its default, "false"), so it is left out too.
- List: `[a, null, c]`; Map (hstore in map mode, a java.util.HashMap): `{k=v, n=null}` in the
  map's iteration order, which the converter already gave the dict.
- Decimal (BigDecimal): `BigDecimal.toString`, scientific when the scale is negative or the
  adjusted exponent is below -6 (`1E-7`, `1.23E+4`, `0E-8`).
- FLOAT64 / FLOAT32: `Double.toString` / `Float.toString` (the values already carry it).
- BYTES: a java.nio.ByteBuffer (bytea, message content) prints its position, not its bytes:
  `java.nio.HeapByteBuffer[pos=0 lim=3 cap=3]`. Debezium's byte[] values (Bits, the `value` of
  a VariableScaleDecimal, a geometry's `wkb`) print Java's identity hash, `[B@1b6d3586`, which
  differs from run to run and cannot be reproduced: pgbridge prints `[B@` and a hash of the bytes.
- Connect Date/Time/Timestamp (time.precision.mode=connect): java.util.Date's `toString` in
  the JVM's time zone, here UTC (`Thu Jan 01 00:00:00 UTC 1970`; Julian calendar before 1582-10-15).
"""

from __future__ import annotations

import datetime
import zlib
from collections.abc import Callable

import msgspec

from bridge.convert.schema import Schema
from bridge.convert.values_float import java_double, java_float_slow

Render = Callable[[object], str]

_DECIMAL = "org.apache.kafka.connect.data.Decimal"
_JAVA_DATES = {"org.apache.kafka.connect.data.Date": 86_400_000, "org.apache.kafka.connect.data.Time": 1,
               "org.apache.kafka.connect.data.Timestamp": 1}  # name -> milliseconds per unit
# BYTES values Debezium makes as byte[] (the rest are ByteBuffers): by schema name, or by the
# name of the struct that holds them
_BYTE_ARRAYS = ("io.debezium.data.Bits",)
# Debezium never puts a source block's `snapshot` "false" (SnapshotRecord.FALSE leaves the field
# null; JsonConverter writes the field's default, "false"): the Struct leaves it out
_SOURCE = "io.debezium.connector.postgresql.Source"
_BYTE_ARRAY_STRUCTS = ("io.debezium.data.VariableScaleDecimal", "io.debezium.data.geometry.Geometry",
                       "io.debezium.data.geometry.Geography", "io.debezium.data.geometry.Point")


def big_decimal(unscaled: int, scale: int) -> str:
    """java.math.BigDecimal.toString of unscaled × 10^-scale."""
    digits = str(abs(unscaled))
    sign = "-" if unscaled < 0 else ""
    if scale == 0:
        return sign + digits
    adjusted = len(digits) - 1 - scale
    if scale > 0 and adjusted >= -6:
        if len(digits) > scale:
            return f"{sign}{digits[:-scale]}.{digits[-scale:]}"
        return f"{sign}0.{'0' * (scale - len(digits))}{digits}"
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    exponent = "" if adjusted == 0 else f"E{'+' if adjusted > 0 else ''}{adjusted}"
    return sign + mantissa + exponent


_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_GREGORIAN_CUTOVER_MS = -12_219_292_800_000  # 1582-10-15T00:00Z: java.util.Date's calendar switch
_EPOCH_JDN = 2_440_588  # the Julian day number of 1970-01-01


def java_date(ms: int) -> str:
    """java.util.Date.toString of epoch milliseconds in a JVM whose time zone is UTC."""
    days, ms_of_day = divmod(ms, 86_400_000)
    jdn = days + _EPOCH_JDN
    if ms >= _GREGORIAN_CUTOVER_MS:
        d = datetime.date.fromordinal(days + 719_163)  # 719_163: the ordinal of 1970-01-01
        year, month, day = d.year, d.month, d.day
    else:  # the Julian calendar (Richards' algorithm)
        c = jdn + 32_082
        d4 = (4 * c + 3) // 1461
        e = c - 1461 * d4 // 4
        m = (5 * e + 2) // 153
        day, month = e - (153 * m + 2) // 5 + 1, m + 3 - 12 * (m // 10)
        year = d4 - 4800 + m // 10
    seconds = ms_of_day // 1000
    return (f"{_DAYS[(jdn + 1) % 7]} {_MONTHS[month - 1]} {day:02d} {seconds // 3600:02d}:{seconds // 60 % 60:02d}:"
            f"{seconds % 60:02d} UTC {year}")


def _byte_buffer(value: bytes) -> str:
    return f"java.nio.HeapByteBuffer[pos=0 lim={len(value)} cap={len(value)}]"


def _byte_array(value: bytes) -> str:
    return f"[B@{zlib.crc32(value) & 0x7FFFFFFF:x}"


def _float(java: Callable[[float], str]) -> Render:
    def render(value: object) -> str:
        if isinstance(value, msgspec.Raw):  # already spelled as Java does
            return bytes(value).decode()
        if isinstance(value, float):
            return java(value)
        return str(value)  # "NaN", "Infinity", "-Infinity"
    return render


def _scalar(value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def renderer(schema: Schema, holder: str | None = None) -> Render:
    """The `toString` of values of `schema` (compiled once per schema); `holder` names the
    struct that holds the field."""
    kind, name = schema["type"], schema.get("name")
    if kind == "struct":
        fields = tuple((f["field"], renderer(f, name), "false" if name == _SOURCE and f["field"] == "snapshot" else None)
                       for f in schema["fields"])

        def struct(value: dict) -> str:
            return "Struct{" + ",".join([f"{field}={render(v)}" for field, render, unset in fields
                                         if (v := value.get(field)) is not None and v != unset]) + "}"
        return struct  # type: ignore[return-value]
    if kind == "array":
        item = renderer(schema["items"])
        return lambda value: "[" + ", ".join(["null" if v is None else item(v) for v in value]) + "]"  # type: ignore[attr-defined]
    if kind == "map":
        key, val = renderer(schema["keys"]), renderer(schema["values"])
        return lambda value: "{" + ", ".join([f"{'null' if k is None else key(k)}={'null' if v is None else val(v)}"
                                              for k, v in value.items()]) + "}"  # type: ignore[attr-defined]
    if kind == "bytes":
        if name == _DECIMAL:
            scale = int(schema["parameters"]["scale"])
            return lambda value: big_decimal(int.from_bytes(value, "big", signed=True), scale)  # type: ignore[arg-type]
        if name in _BYTE_ARRAYS or holder in _BYTE_ARRAY_STRUCTS:
            return _byte_array  # type: ignore[return-value]
        return _byte_buffer  # type: ignore[return-value]
    if name in _JAVA_DATES:
        unit = _JAVA_DATES[name]
        return lambda value: java_date(value * unit)  # type: ignore[operator]
    if kind == "double":
        return _float(java_double)
    if kind == "float":
        return _float(java_float_slow)
    return _scalar


class StringWriter:
    """The `toString()` of one (topic, key|value)'s Connect values, encoded."""

    __slots__ = ("topic", "field", "_render", "_encoding")

    templates = False

    def __init__(self, schema: Schema | None, topic: str, field: str, encoding: str) -> None:
        self.topic, self.field = topic, field
        self._render = _scalar if schema is None else renderer(schema)
        self._encoding = encoding

    def write(self, value: object) -> bytes | None:
        # Java's encoders replace what the charset cannot hold (a lone surrogate too) with '?'
        return None if value is None else self._render(value).encode(self._encoding, "replace")


class StringConverter:
    """`org.apache.kafka.connect.storage.StringConverter` with its `converter.encoding`."""

    __slots__ = ("encoding",)
    null_is_default = False  # Struct.toString leaves a null field out, default or not

    def __init__(self, encoding: str = "utf-8") -> None:
        self.encoding = encoding

    def prepare(self, schema: Schema | None, topic: str, field: str) -> StringWriter:
        return StringWriter(schema, topic, field, self.encoding)
