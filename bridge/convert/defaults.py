"""Column defaults: a pg_attrdef expression -> the Connect value Debezium makes the field's default.

Debezium (PostgresDefaultValueConverter, 3.7) does not evaluate expressions; it reads a literal
out of the text of `pg_get_expr(adbin, adrelid)` by the column's type name, then converts that
with the column's own value converter. Its rules, which `column_default` follows:

- Types with a parser: int2/int4/int8 (and serials), float4/float8, numeric, bool, bpchar,
  varchar, text, json, jsonb, xml, uuid, date, time, timestamp, timestamptz, interval, bit,
  varbit and enums. Every other type (timetz, money, bytea, arrays, domains, ranges, network
  and geometric types, hstore, ...) gets no default.
- A function call (`^(?name(...)`: `now()`, `nextval('s'::regclass)`, `gen_random_uuid()`,
  `CURRENT_TIMESTAMP(3)`, `(now() + '1 day'::interval)`) or one of CURRENT_TIMESTAMP,
  CURRENT_TIME, CURRENT_DATE, LOCALTIME, LOCALTIMESTAMP stands for a placeholder: 0, false,
  "", "{}", the zero UUID, the epoch, a zero interval. So serial columns default to 0 and
  `DEFAULT now()` to the epoch; identity columns have no pg_attrdef row, hence no default.
- Otherwise an expression without a quote is taken as it is (`42`, `1.5`, `true`), and one with
  quotes gives the text of its first quoted literal with `''` undoubled (`'-1'::integer`,
  `'abc'::character varying`, `('a'::text || 'b'::text)` gives "a"); `NULL::type` gives none.
- An enum takes the quoted text before a `::` cast to its own type name, quotes left doubled.
- Text the type's parser rejects (`(1 + 1)`, `(- (1)::smallint)`, `'NaN'::numeric`, a numeric
  with more fraction digits than the column's scale) and a value the converter cannot make (a
  VariableScaleDecimal struct, +-infinity timestamps in millisecond modes, timestamptz
  +-infinity) give no default; Debezium logs a warning for each.
- pgjdbc's parsers read `infinity` dates and timestamps as java.time MAX/MIN, `24:00:00` as
  LocalTime.MAX (23:59:59.999999999), and Debezium converts those with Java's overflowing
  arithmetic (a date's epoch day is cast to int).

A NULL in a column with a default is written as the default: in a NOT NULL column by Debezium's
converters (`bridge.convert.fallbacks`), in any column by Kafka's JsonConverter
(`replace.null.with.default`, true by default), not by StringConverter (`bridge.produce.events`).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from decimal import MAX_PREC, Context, Decimal, Inexact, InvalidOperation

from bridge.convert import values_temporal as vt
from bridge.convert.options import ConversionOptions
from bridge.convert.types import TypeInfo, TypeKind
from bridge.convert.values import ColumnConverter, numeric_scale

log = logging.getLogger(__name__)

_FUNCTION = re.compile(r"^[(]?[A-Za-z0-9_.]+\((?:.+(?:, ?.+)*)?\)")
_LITERAL = re.compile(r"'([^']*(?:''[^']*)*)'")
_CURRENT = frozenset({"current_timestamp", "current_time", "current_date", "localtime", "localtimestamp"})


class NoDefault(ValueError):
    """Debezium cannot make a default of the expression (it logs it and leaves the field without)."""


def extract_literal(expression: str, placeholder: str) -> str | None:
    """PostgresDefaultValueConverter.extractDefault: the literal text of `expression`, the
    `placeholder` for a generated value, None for `NULL::type`."""
    if _FUNCTION.search(expression) or expression.lower() in _CURRENT:
        return placeholder
    if "'" not in expression:
        return None if expression.startswith("NULL::") else expression
    m = _LITERAL.search(expression)
    if m is None:
        raise NoDefault("no quoted literal")
    return m.group(1).replace("''", "'")


def _literal(expression: str, placeholder: str) -> str:
    text = extract_literal(expression, placeholder)
    if text is None:
        raise NoDefault("NULL")
    return text


# --- Java's parsers, as far as PostgreSQL's spelling of constants reaches them ---------------

_JAVA_INT = re.compile(r"[+-]?[0-9]+")
_JAVA_FLOAT = re.compile(r"[+-]?(NaN|Infinity|([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?)")
_BIG_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_JAVA_UUID = re.compile(r"([0-9a-fA-F]{1,8})-([0-9a-fA-F]{1,4})-([0-9a-fA-F]{1,4})-([0-9a-fA-F]{1,4})-"
                        r"([0-9a-fA-F]{1,12})")


def _java_int(bits: int) -> Callable[[str], str]:
    """Short/Integer/Long.parseLong of the literal (0 for a generated value)."""
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def parse(expression: str) -> str:
        text = _literal(expression, "0")
        if not _JAVA_INT.fullmatch(text) or not low <= int(text) <= high:
            raise NoDefault(f"not an int{bits}")
        return text

    return parse


def _java_float(expression: str) -> str:
    """Float/Double.parseFloat of the literal (which trims it)."""
    text = _literal(expression, "0.0").strip()
    if not _JAVA_FLOAT.fullmatch(text):
        raise NoDefault("not a float")
    return text.lstrip("+")


# --- per type: expression -> the Connect value, given the column's converter ------------------

Mapper = Callable[[str, ColumnConverter, int, ConversionOptions], object]


def _not_null(mapper: Mapper) -> Mapper:
    """parseNullDefault: `NULL::type` is no default, before any parsing."""

    def checked(expression: str, cv: ColumnConverter, typmod: int, o: ConversionOptions) -> object:
        if expression.startswith("NULL::"):
            raise NoDefault("NULL")
        return mapper(expression, cv, typmod, o)

    return checked


def _converted(parse: Callable[[str], str]) -> Mapper:
    """The literal `parse` accepts, through the column's converter (as if pgoutput sent it)."""
    return lambda e, cv, typmod, o: cv.convert(parse(e).encode())


def _text(placeholder: str) -> Mapper:
    return lambda e, cv, typmod, o: _literal(e, placeholder)


def _bool(expression: str, cv: ColumnConverter, typmod: int, o: ConversionOptions) -> object:
    return _literal(expression, "false").lower() == "true"  # Boolean.parseBoolean


def _uuid(expression: str, cv: ColumnConverter, typmod: int, o: ConversionOptions) -> object:
    """UUID.fromString(...).toString(): five groups of hex digits, canonical lower case."""
    m = _JAVA_UUID.fullmatch(_literal(expression, "00000000-0000-0000-0000-000000000000"))
    if m is None:
        raise NoDefault("not a UUID")
    return str(uuid.UUID("-".join(part.zfill(width) for part, width in zip(m.groups(), (8, 4, 4, 4, 12)))))


# BigDecimal.setScale(scale) without a rounding mode: exact, or an ArithmeticException
_EXACT = Context(prec=MAX_PREC, traps=[Inexact, InvalidOperation])


def _numeric(expression: str, cv: ColumnConverter, typmod: int, o: ConversionOptions) -> object:
    text = _literal(expression, "0.0")
    if not _BIG_DECIMAL.fullmatch(text):
        raise NoDefault("not a BigDecimal")
    value = Decimal(text)
    scale = numeric_scale(typmod)
    if scale is None:
        if o.decimal_handling_mode == "precise":
            raise NoDefault("a VariableScaleDecimal is a struct, which Connect refuses as a default")
    else:
        try:
            value = value.quantize(Decimal(1).scaleb(-scale), context=_EXACT)
        except (Inexact, InvalidOperation):
            raise NoDefault(f"more than {scale} fraction digits") from None
    return cv.convert(format(value, "f").encode())

# java.time's MAX and MIN dates (LocalDateTime.MAX/MIN.toLocalDate)
_DAY_MAX = vt.days_from_civil(999_999_999, 12, 31)
_DAY_MIN = vt.days_from_civil(-999_999_999, 1, 1)


def _java_int32(n: int) -> int:
    return (n + 2**31) % 2**32 - 2**31


def _date(expression: str, cv: ColumnConverter, typmod: int, o: ConversionOptions) -> object:
    text = _literal(expression, "1970-01-01")
    days = {"infinity": _DAY_MAX, "-infinity": _DAY_MIN}.get(text)
    if days is None:
        return cv.convert(text.encode())
    if o.time_precision_mode == "isostring":
        return ("+999999999-12-31" if days > 0 else "-999999999-01-01") + "Z"
    return _java_int32(days)  # Date.toEpochDay: (int) LocalDate.toEpochDay()


_US_PER_DAY = vt.US_PER_DAY


def _time(expression: str, cv: ColumnConverter, typmod: int, o: ConversionOptions) -> object:
    text = _literal(expression, "00:00")
    if text != "24:00:00":
        return cv.convert((text + ":00" if text.count(":") == 1 else text).encode())
    # LocalTime.MAX, 23:59:59.999999999: truncated to the field's unit
    mode = o.time_precision_mode
    if mode == "isostring":
        return "23:59:59.999999999Z"
    if mode == "nanoseconds":
        return _US_PER_DAY * 1000 - 1
    return cv.convert(b"23:59:59.999999")


def _timestamp(expression: str, cv: ColumnConverter, typmod: int, o: ConversionOptions) -> object:
    text = _literal(expression, "1970-01-01")
    if text not in ("infinity", "-infinity"):
        return cv.convert((text if " " in text else text + " 00:00:00").encode())
    # OffsetDateTime.MAX / MIN (offsets -18:00 / +18:00)
    positive = text == "infinity"
    mode, name = o.time_precision_mode, cv.schema.get("name")
    if mode == "isostring":
        return "+999999999-12-31T23:59:59.999999999Z" if positive else "-999999999-01-01T00:00:00Z"
    if name == "io.debezium.time.MicroTimestamp":
        instant_us = ((_DAY_MAX + 1) * _US_PER_DAY + 18 * 3600 * 1_000_000 - 1 if positive
                      else _DAY_MIN * _US_PER_DAY - 18 * 3600 * 1_000_000)
        return vt.java_epoch_micros(instant_us)
    raise NoDefault("an infinite timestamp overflows this field's unit")


def _timestamptz(expression: str, cv: ColumnConverter, typmod: int, o: ConversionOptions) -> object:
    text = _literal(expression, "1970-01-01")
    if text in ("infinity", "-infinity"):
        raise NoDefault("OffsetDateTime.MAX/MIN cannot be moved to UTC")
    if " " not in text:
        text += " 00:00:00+00"
    return cv.convert(text.encode())


def _interval(expression: str, cv: ColumnConverter, typmod: int, o: ConversionOptions) -> object:
    text = _literal(expression, "epoch")
    return cv.convert(b"00:00:00" if text == "epoch" else text.encode())


def _bit(expression: str, cv: ColumnConverter, typmod: int, o: ConversionOptions) -> object:
    text = _literal(expression, "00")  # a generated value: taken as longer than one bit
    if cv.schema["type"] == "boolean":
        if len(text) != 1:
            raise NoDefault("a bit string for a bit(1) column")
        return text == "1"
    if len(text) == 1:
        raise NoDefault("a boolean for a bit string column")
    return cv.convert(text.encode())


def _varbit(expression: str, cv: ColumnConverter, typmod: int, o: ConversionOptions) -> object:
    text = _literal(expression, "0")
    if cv.schema["type"] == "boolean":
        raise NoDefault("a bit string for a one-bit column")
    return cv.convert(text.encode())


_MAPPERS: dict[str, Mapper] = {
    "int2": _not_null(_converted(_java_int(16))),
    "int4": _not_null(_converted(_java_int(32))),
    "int8": _not_null(_converted(_java_int(64))),
    "float4": _not_null(_converted(_java_float)),
    "float8": _not_null(_converted(_java_float)),
    "numeric": _not_null(_numeric),
    "bool": _not_null(_bool),
    "bpchar": _text(""), "varchar": _text(""), "text": _text(""),
    "json": _text("{}"), "jsonb": _text("{}"), "xml": _text(""),
    "uuid": _uuid,
    "date": _date, "time": _time, "timestamp": _timestamp, "timestamptz": _timestamptz, "interval": _interval,
    "bit": _bit, "varbit": _varbit,
}  # fmt: skip


def _enum_default(expression: str, type_info: TypeInfo) -> str:
    """extractEnumDefault: `'label'::[schema.]type` for the column's own enum type."""
    cast = expression.rfind("::")
    if cast < 0 or _type_name(expression[cast + 2:]) != type_info.name:
        raise NoDefault("not a literal of the enum type")
    value = expression[:cast]
    if len(value) < 2 or not (value.startswith("'") and value.endswith("'")):
        raise NoDefault("not a quoted literal")
    return value[1:-1]  # '' stays doubled


def _type_name(text: str) -> str | None:
    """The type name of `[schema.]name`, either part possibly double-quoted (TypeId.parse)."""
    parts = re.fullmatch(r'(?:("(?:[^"]|"")+"|[^".]+)\.)?("(?:[^"]|"")+"|[^".]+)', text.strip())
    if parts is None:
        return None
    name = parts.group(2)
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def column_default(expression: str | None, type_info: TypeInfo, type_modifier: int, cv: ColumnConverter,
                   options: ConversionOptions) -> object | None:
    """The Connect value Debezium gives as the default of a column of `type_info` (atttypmod
    `type_modifier`, converter `cv`) whose pg_attrdef expression is `expression`; None when
    the field has no default."""
    if expression is None:
        return None
    try:
        if type_info.kind is TypeKind.ENUM:
            return _enum_default(expression, type_info)
        mapper = _MAPPERS.get(type_info.name) if type_info.kind is TypeKind.BASE else None
        if mapper is None:
            return None  # no parser for the type (domains included): no default, no warning
        value = mapper(expression, cv, type_info.effective_typmod(type_modifier), options)
    except Exception as exc:  # noqa: BLE001 - Debezium catches everything a parser throws
        log.warning("cannot make a default of %r for a %s column (%s); the field has none, as in Debezium",
                    expression, type_info.name, exc)
        return None
    if isinstance(value, dict):
        return None  # a struct (KAFKA-12694): Debezium leaves the field without a default
    return value
