"""bool, integers, float4/8, numeric and money: PostgreSQL text -> Debezium's Connect values.

Debezium facts (PostgresValueConverter.convertDecimal/convertMoney, SpecialValueDecimal,
VariableScaleDecimal, Kafka JsonConverter):
- Decimal (precise mode) is the unscaled value's big-endian two's-complement bytes, minimal
  length (java BigInteger.toByteArray()), which JsonConverter writes as base64.
- numeric without typmod -> VariableScaleDecimal {scale, value}, trailing zeros stripped first
  (22.2200 -> scale 2), negative scales clamped to 0 (100 -> scale 0, not 1E+2).
- NaN/+-Infinity: string mode emits the enum names "NAN", "POSITIVE_INFINITY",
  "NEGATIVE_INFINITY" (sic); double mode emits doubles, which Jackson writes as the JSON strings
  "NaN", "Infinity", "-Infinity"; precise mode cannot represent them: the conversion throws,
  Debezium's TableSchemaBuilder logs the failure and leaves the *column* null (an array with one
  such element is null as a whole) and streams on. Here the converter raises
  `NotRepresentable` and the event builder turns it into null plus a warning.
- float4/float8 NaN/Infinity likewise become the JSON strings "NaN"/"Infinity"/"-Infinity".
- Finite doubles/floats are JSON numbers spelled by Java's Double/Float.toString (`1.0E10`,
  `3.4028235E38`): the converters return `msgspec.Raw` fragments (values_float).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal

from bridge.convert.values_float import raw_double, raw_float4_text, raw_float8_text

Convert = Callable[[bytes], object]

_SPECIAL_FLOATS = {b"NaN": "NaN", b"Infinity": "Infinity", b"-Infinity": "-Infinity"}
_SPECIAL_NUMERIC_STRING = {b"NaN": "NAN", b"Infinity": "POSITIVE_INFINITY", b"-Infinity": "NEGATIVE_INFINITY"}


def unscaled_bytes(unscaled: int) -> bytes:
    """java BigInteger.toByteArray(): minimal two's complement, big-endian."""
    length = (unscaled if unscaled >= 0 else ~unscaled).bit_length() // 8 + 1
    return unscaled.to_bytes(length, "big", signed=True)


def bool_value(raw: bytes) -> object:
    return raw == b"t"


float4_value = raw_float4_text  # float4out text -> FLOAT32 JSON (Float.toString spelling)
float8_value = raw_float8_text  # float8out text -> FLOAT64 JSON (Double.toString spelling)


def _unscaled(raw: bytes, scale: int) -> int:
    """'-12.5' at scale 2 -> -1250 (BigDecimal.setScale, which never needs to round here)."""
    whole, _, frac = raw.partition(b".")
    if len(frac) > scale:
        raise ValueError(f"numeric {raw!r} has more than {scale} fraction digits")
    return int(whole + frac + b"0" * (scale - len(frac)))


class NotRepresentable(ValueError):
    """A value Debezium fails to convert: the column is emitted as null (with a warning)."""


def _special_numeric(raw: bytes) -> object:
    raise NotRepresentable(
        f"the special value {raw.decode()} cannot be represented with decimal.handling.mode=precise "
        "(use decimal.handling.mode=string or double to keep it)"
    )


def numeric_converter(mode: str, scale: int | None) -> Convert:
    """numeric(p,s) (`scale` = s) or numeric without typmod (`scale` None)."""
    if mode == "double":
        # NaN / Infinity end in a letter, every finite numeric text in a digit
        return lambda raw: raw_double(float(raw)) if raw[-1] < 58 else _SPECIAL_FLOATS[raw]
    if mode == "string":
        special = _SPECIAL_NUMERIC_STRING

        def to_string(raw: bytes) -> object:
            if raw[-1] >= 58:
                return special[raw]
            if scale is None:
                return raw.decode()
            return raw.decode() if len(raw.partition(b".")[2]) == scale else f"{Decimal(raw.decode()):.{scale}f}"

        return to_string
    if scale is None:

        def to_variable(raw: bytes) -> object:
            if raw[-1] >= 58:
                return _special_numeric(raw)
            whole, _, frac = raw.partition(b".")
            frac = frac.rstrip(b"0")
            unscaled = int(whole + frac)
            return {"scale": len(frac), "value": unscaled_bytes(unscaled)}

        return to_variable

    def to_decimal(raw: bytes) -> object:
        if raw[-1] >= 58:
            return _special_numeric(raw)
        whole, _, frac = raw.partition(b".")
        # numeric(p,s) text has exactly s fraction digits: the digits are the unscaled value
        unscaled = int(whole + frac) if len(frac) == scale else _unscaled(raw, scale)
        # unscaled_bytes, inlined: this is on every row's path
        length = (unscaled if unscaled >= 0 else ~unscaled).bit_length() // 8 + 1
        return unscaled.to_bytes(length, "big", signed=True)

    return to_decimal


def _money_decimal(raw: bytes) -> Decimal:
    """PostgresMoney.parse: drop the currency symbol and ',' separators; '-' or '(..)' = negative.

    Like Debezium this assumes '.' is the decimal point (lc_monetary C or en_US style).
    """
    text = raw.decode()
    digits = "".join(ch for ch in text if ch.isdigit() or ch == ".")
    value = Decimal(digits)
    return -value if ("-" in text or "(" in text) else value


def money_converter(mode: str, fraction_digits: int) -> Convert:
    if mode == "double":
        return lambda raw: raw_double(float(_money_decimal(raw)))
    if mode == "string":
        return lambda raw: format(_money_decimal(raw), "f")
    quantum = Decimal(1).scaleb(-fraction_digits)

    def to_decimal(raw: bytes) -> object:
        value = _money_decimal(raw).quantize(quantum, rounding=ROUND_HALF_UP)
        return unscaled_bytes(int(value.scaleb(fraction_digits)))

    return to_decimal
