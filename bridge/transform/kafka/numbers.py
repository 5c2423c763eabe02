"""Java's numbers as the Kafka transforms see Connect values: narrowing conversions that wrap
(`Number.byteValue()`...), float32 rounding, and the JSON spelling Jackson gives the results.

A FLOAT32/FLOAT64 value here is a `msgspec.Raw` JSON number in Java's spelling, or the string
"NaN" / "Infinity" / "-Infinity" (`bridge.convert.values_float`); `number` reads any of them.
"""

from __future__ import annotations

import math
import struct

import msgspec

from bridge.convert.values_float import java_float_slow

_F32 = struct.Struct("<f")
_BITS = {"int8": 8, "int16": 16, "int32": 32, "int64": 64}


def number(value: object) -> int | float:
    """A Connect number (int, float, `msgspec.Raw`, or a NaN/Infinity string) as Python's."""
    if isinstance(value, msgspec.Raw):
        return float(bytes(value))
    if isinstance(value, str):
        return float(value)
    return value  # type: ignore[return-value]


def wrap(n: int, type_: str) -> int:
    """`n` narrowed to the Java integer type, as a cast does (two's complement, wrapping)."""
    bits = _BITS[type_]
    n &= (1 << bits) - 1
    return n - (1 << bits) if n >= 1 << (bits - 1) else n


def to_integer(x: int | float, type_: str) -> int:
    """Java's `Number.<type>Value()`: a double truncates toward zero (NaN 0, saturating at the
    long range first), then narrows by wrapping (a double's int conversions saturate at int's
    range before byte/short narrowing, as `(byte)(int) d` does)."""
    if isinstance(x, float):
        if math.isnan(x):
            return 0
        if type_ == "int64":
            return int(max(-2**63, min(2**63 - 1, x))) if math.isfinite(x) else (2**63 - 1 if x > 0 else -2**63)
        i = int(max(-2**31, min(2**31 - 1, x))) if math.isfinite(x) else (2**31 - 1 if x > 0 else -2**31)
        return wrap(i, type_)
    return wrap(x, type_)


def float32(x: float) -> float:
    """`x` rounded to a Java float."""
    try:
        return _F32.unpack(_F32.pack(x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


def raw_float(x: float) -> object:
    """A Java float (already rounded) as Jackson writes it."""
    text = java_float_slow(x)
    return text if text in ("NaN", "Infinity", "-Infinity") else msgspec.Raw(text.encode())
