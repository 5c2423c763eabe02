"""Numbers, booleans, strings, bytes and bit strings: JSON values -> PostgreSQL input text.

The reverse of bridge/convert/values_numeric.py and values_binary.py. Every decoder takes a
non-null JSON-decoded value (the caller handles null) and returns the text PostgreSQL's input
function of the target type reads back to the source's value.
- Decimal: base64 of the big-endian two's-complement unscaled value (JsonConverter's
  decimal.format=BASE64) or a JSON number (NUMERIC), with the schema's `scale`; a
  VariableScaleDecimal is {scale, value}. Decimal string mode spells NaN and the infinities
  "NAN", "POSITIVE_INFINITY", "NEGATIVE_INFINITY".
- Doubles arrive as JSON numbers (Java spelling: `1.0E10`) or the strings "NaN", "Infinity",
  "-Infinity"; Python's repr of the parsed double reads back to the same double.
- A boolean is written `1`/`0`: both `boolean` and `bit(1)` (which Debezium also sends as a
  Connect boolean) read them.
- Bits: java.util.BitSet.toByteArray() (little-endian, minimal); the declared `length` pads a
  bit(n) back to n digits. varbit's own length is not in the event: its leading zeros are lost.
"""

from __future__ import annotations

from base64 import b64decode, urlsafe_b64decode
from binascii import a2b_base64
from collections.abc import Callable
from decimal import Decimal

Decode = Callable[[object], str]

_STRING_SPECIALS = {"NAN": "NaN", "POSITIVE_INFINITY": "Infinity", "NEGATIVE_INFINITY": "-Infinity"}
UNBOUNDED_BITS = 2**31 - 1  # the Bits length Debezium gives a varbit without a length


def integer(value: object) -> str:
    if type(value) is not int:
        raise ValueError(f"{value!r} is not an integer")
    return str(value)


def floating(value: object) -> str:
    """float4/float8 (and decimal.handling.mode=double): a number, or "NaN" / "Infinity" / "-Infinity"."""
    if type(value) is float:
        return repr(value)  # 'inf', 'nan' included: float8in reads them
    if type(value) is int or isinstance(value, Decimal):
        return str(value)
    if value in ("NaN", "Infinity", "-Infinity"):
        return value  # type: ignore[return-value]
    raise ValueError(f"{value!r} is not a floating-point number")


def decimal_of_double(value: object) -> str:
    """decimal.handling.mode=double into numeric or money: the shortest decimal without exponent
    (money's input reads no '1.0E7') and without a '.0' the double added to an integer."""
    text = floating(value)
    if not text[-1].isdigit():
        return text  # NaN, Infinity
    if "e" in text.lower():
        text = format(Decimal(text), "f")
    return text.removesuffix(".0")


def boolean(value: object) -> str:
    if value is True:
        return "1"
    if value is False:
        return "0"
    raise ValueError(f"{value!r} is not a boolean")


def string(value: object) -> str:
    if type(value) is not str:
        raise ValueError(f"{value!r} is not a string")
    return value


def scaled(unscaled: int, scale: int) -> str:
    """The decimal text of unscaled * 10^-scale, with exactly `scale` fraction digits."""
    if scale <= 0:
        return str(unscaled * 10**-scale)
    digits = str(abs(unscaled)).rjust(scale + 1, "0")
    return f"{'-' if unscaled < 0 else ''}{digits[:-scale]}.{digits[-scale:]}"


def unscaled_of(value: object) -> int:
    """A Connect BYTES decimal as JsonConverter writes it: base64 -> the signed big-endian integer."""
    if type(value) is not str:
        raise ValueError(f"{value!r} is not a base64 decimal")
    return int.from_bytes(a2b_base64(value, strict_mode=True), "big", signed=True)  # b64decode(validate=True)


def decimal(scale: int) -> Decode:
    """org.apache.kafka.connect.data.Decimal of `scale` (also MONEY in precise mode): `scaled`
    and `unscaled_of` in one function (it runs for every such value)."""
    if scale <= 0:
        factor = 10**-scale

        def decode_integral(value: object) -> str:
            if type(value) is str:
                return str(int.from_bytes(a2b_base64(value, strict_mode=True), "big", signed=True) * factor)
            return _number(value)  # decimal.format=NUMERIC

        return decode_integral
    width = scale + 1

    def decode(value: object) -> str:
        if type(value) is str:
            n = int.from_bytes(a2b_base64(value, strict_mode=True), "big", signed=True)
            if n < 0:
                digits = str(-n).rjust(width, "0")
                return f"-{digits[:-scale]}.{digits[-scale:]}"
            digits = str(n).rjust(width, "0")
            return f"{digits[:-scale]}.{digits[-scale:]}"
        return _number(value)  # decimal.format=NUMERIC

    return decode


def decimal_decoders() -> tuple[Decode, Decode]:
    """One decoder of each form `decimal` makes (for `values.text_kind`)."""
    return decimal(0), decimal(1)


def _number(value: object) -> str:
    if type(value) is int:
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if type(value) is float:
        return repr(value)
    raise ValueError(f"{value!r} is not a decimal")


def variable_scale_decimal(value: object) -> str:
    """io.debezium.data.VariableScaleDecimal {scale, value}."""
    if type(value) is not dict:
        raise ValueError(f"{value!r} is not a VariableScaleDecimal struct")
    return scaled(unscaled_of(value["value"]), value["scale"])


def decimal_string(value: object) -> str:
    """decimal.handling.mode=string: the text, or Debezium's names of NaN and the infinities."""
    text = string(value)
    return _STRING_SPECIALS.get(text, text)


# --- binary ------------------------------------------------------------------------------------

def bytea_text(data: bytes) -> str:
    return "\\x" + data.hex()


def binary_bytes(mode: str) -> Callable[[object], bytes]:
    """The bytes of a BYTES value (base64 in the JSON) or of a string of `binary.handling.mode`."""
    if mode == "hex":
        return lambda value: bytes.fromhex(string(value))
    if mode == "base64-url-safe":
        return lambda value: urlsafe_b64decode(string(value))
    return lambda value: b64decode(string(value), validate=True)


def bytea(mode: str) -> Decode:
    """bytea from a BYTES value (mode `bytes`) or a string in `mode`."""
    if mode == "hex":
        return lambda value: "\\x" + bytes.fromhex(string(value)).hex()  # validated, lower-case
    data = binary_bytes(mode)
    return lambda value: bytea_text(data(value))


def unknown_text(mode: str) -> Decode:
    """A type Debezium does not know, sent with include.unknown.datatypes: its text as bytes."""
    data = binary_bytes(mode)
    return lambda value: data(value).decode()


def bits(length: int, varying: bool) -> Decode:
    """io.debezium.data.Bits of declared `length`: bit(n) digits padded to n, varbit unpadded."""
    width = 0 if varying or length >= UNBOUNDED_BITS else length

    def decode(value: object) -> str:
        n = int.from_bytes(b64decode(string(value), validate=True), "little")
        return (format(n, "b") if n else "").rjust(width, "0")

    return decode
