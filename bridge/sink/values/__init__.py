"""Debezium's JSON values back into PostgreSQL: the decoding half of `bridge sink`.

A decoder turns one JSON-decoded column value into the text PostgreSQL's input function of the
target column's type reads back to the source's value (None for SQL NULL): the sink binds it as
`%s::<column type>`. Decoders are built once per field (or target column) and then only run.

- `field_decoder(field, options, pg_type=None)`: records with schemas; the Connect schema says
  how the value is encoded (semantic name, then parameters, then Connect type). Some encodings
  do not say which PostgreSQL type they came from (a bytea in binary.handling.mode=base64/hex is
  a plain string, an hstore in json mode is io.debezium.data.Json, numeric in
  decimal.handling.mode=string is a string): `pg_type`, the target column's type as
  format_type() prints it, or Debezium's `__debezium.source.column.type` parameter tells them.
- `text_decoder(pg_type, options)`: schemaless records; the target column's type and the
  source's options (`DecodeOptions`) give the Connect schema the source used.
- `unchecked(decoder)`: the same decoding without the per-value NULL test and error wrapping.
- `text_kind(decoder)`: what its text can be, for code that writes it straight into COPY's text
  format: "integer", "boolean", "string" (the value itself) or "plain" (a text never holding a
  character COPY escapes), else "any".
- `is_unavailable(field, value, placeholder)`: the unchanged-TOAST placeholder in its encodings;
  `unavailable_at(values, placeholder)`: where a row holds it.
- `column_type(field)`: the column type `schema.evolution=basic` creates, as Debezium's JDBC sink
  (PostgreSQL dialect) picks it.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from bridge.convert.options import ConversionOptions
from bridge.convert.values import converter_for
from bridge.sink.values import scalars as sc
from bridge.sink.values import structured as st
from bridge.sink.values import temporal as tm
from bridge.sink.values.columns import column_type
from bridge.sink.values.errors import ValueNotDecoded
from bridge.sink.values.options import DecodeOptions
from bridge.sink.values.pgtypes import parse
from bridge.sink.values.toast import is_unavailable, unavailable_at

__all__ = ["DECODE_ERRORS", "DecodeOptions", "ValueNotDecoded", "column_type", "field_decoder", "is_unavailable",
           "text_decoder", "text_kind", "unavailable_at", "unchecked"]

Decoder = Callable[[object], "str | None"]
_Decode = Callable[[object], str]

SOURCE_COLUMN_TYPE = "__debezium.source.column.type"


def field_decoder(field: dict, options: DecodeOptions, pg_type: str | None = None) -> Decoder:
    """The decoder of a Connect schema field (JsonConverter's spelling, schemas.enable=true);
    `pg_type`: the target column's type, for the encodings that do not name their source type."""
    target = _target(pg_type) if pg_type else _param_target(field)
    return _nullable(_decoder(field, options, target), field.get("field") or pg_type or field.get("type"))


def text_decoder(pg_type: str, options: DecodeOptions) -> Decoder:
    """The decoder of schemaless JSON values going into a column of type `pg_type`."""
    type_info, typmod = parse(pg_type)
    converter = converter_for(type_info, typmod, _conversion(options))
    if converter is None:
        raise ValueNotDecoded(f"{pg_type}: Debezium does not emit values of this type")
    return _nullable(_decoder(converter.schema, options, _target(pg_type)), pg_type)


def _conversion(o: DecodeOptions) -> ConversionOptions:
    return ConversionOptions(
        decimal_handling_mode=o.decimal_handling_mode, time_precision_mode=o.time_precision_mode,
        binary_handling_mode=o.binary_handling_mode, interval_handling_mode=o.interval_handling_mode,
        hstore_handling_mode=o.hstore_handling_mode, money_fraction_digits=o.money_fraction_digits,
        include_unknown_datatypes=True)


def _target(pg_type: str) -> str:
    """The target's base type name, lower case, without modifiers, schema or array brackets:
    'numeric(10,2)[]' -> 'numeric', 'public.geometry' -> 'geometry', 'bit varying(5)' -> 'bit varying'."""
    name = pg_type.strip().lower()
    while name.endswith("[]"):
        name = name[:-2].rstrip()
    head, paren, rest = name.partition("(")
    if paren:
        name = head + rest.partition(")")[2]
    name = " ".join(name.split())
    return name.rpartition(".")[2].strip('"') if not name.startswith('"') else name


def _param_target(field: dict) -> str | None:
    """Debezium's column.propagate.source.type parameter ('BYTEA', '_INT4', 'VARBIT'), if any."""
    params = field.get("parameters")
    column = params.get(SOURCE_COLUMN_TYPE) if params else None
    return {"varbit": "bit varying"}.get(t := column.lower().lstrip("_"), t) if column else None


# What a decoder raises on a value it cannot read (the checked decoders make it `ValueNotDecoded`).
DECODE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError)


def _nullable(decode: _Decode, what: object) -> Decoder:
    def decoder(value: object) -> str | None:
        if value is None:
            return None
        try:
            return decode(value)
        except DECODE_ERRORS as exc:
            raise ValueNotDecoded(f"{what}: cannot decode {str(value)[:80]!r}: {exc}") from exc

    decoder.unchecked = decode  # type: ignore[attr-defined]
    return decoder


def unchecked(decoder: Decoder) -> _Decode:
    """The decoder without its NULL test and error wrapping, for a caller that tests NULL itself,
    catches `DECODE_ERRORS` for a whole row and then runs the checked decoders for the message."""
    return decoder.unchecked  # type: ignore[attr-defined]


_KINDS = {sc.integer: "integer", sc.boolean: "boolean", sc.string: "string"}
# The decoders that spell numbers, dates and times (digits, signs, '.', ':', ' ', 'BC', 'infinity',
# 'NaN'), by their code (the same for every closure a factory makes).
_PLAIN = frozenset(decode.__code__ for decode in (
    sc.floating, sc.decimal_of_double, sc.variable_scale_decimal, *sc.decimal_decoders(), sc.bits(1, False),
    tm.date_of_days, *(tm.time(unit) for unit in ("ms", "us", "ns")),
    *(tm.timestamp(unit) for unit in ("ms", "us", "ns"))))


def text_kind(decoder: Decoder) -> str:
    decode = unchecked(decoder)
    kind = _KINDS.get(decode)  # type: ignore[call-overload]
    if kind is not None:
        return kind
    return "plain" if getattr(decode, "__code__", None) in _PLAIN else "any"


_NAMED: dict[str, _Decode] = {
    "io.debezium.data.VariableScaleDecimal": sc.variable_scale_decimal,
    "io.debezium.time.Date": tm.date_of_days,
    "org.apache.kafka.connect.data.Date": tm.date_of_days,
    "io.debezium.time.Time": tm.time("ms"),
    "org.apache.kafka.connect.data.Time": tm.time("ms"),
    "io.debezium.time.MicroTime": tm.time("us"),
    "io.debezium.time.NanoTime": tm.time("ns"),
    "io.debezium.time.Timestamp": tm.timestamp("ms"),
    "org.apache.kafka.connect.data.Timestamp": tm.timestamp("ms"),
    "io.debezium.time.MicroTimestamp": tm.timestamp("us"),
    "io.debezium.time.NanoTimestamp": tm.timestamp("ns"),
    "io.debezium.time.ZonedTimestamp": tm.zoned_timestamp,
    "io.debezium.time.ZonedTime": tm.zoned_time,
    "io.debezium.time.IsoDate": tm.iso_date,
    "io.debezium.time.IsoTime": tm.iso_time,
    "io.debezium.time.IsoTimestamp": tm.iso_timestamp,
    "io.debezium.time.MicroDuration": tm.micro_duration,
    "io.debezium.data.geometry.Line": st.line,
    "io.debezium.data.geometry.Circle": st.circle,
    "io.debezium.data.geometry.Geography": st.postgis,
}
_POSTGIS = ("geometry", "geography")
_NATIVE_GEOMETRIC = ("lseg", "box", "path", "polygon")
_CONNECT: dict[str, _Decode] = {
    "int8": sc.integer, "int16": sc.integer, "int32": sc.integer, "int64": sc.integer,
    "float": sc.floating, "double": sc.floating, "boolean": sc.boolean,
}  # fmt: skip


def _decoder(schema: dict, options: DecodeOptions, target: str | None) -> _Decode:
    name, kind = schema.get("name"), schema.get("type")
    named = _NAMED.get(name) if name else None
    if named is not None:
        return named
    if name == "org.apache.kafka.connect.data.Decimal":
        return sc.decimal(int((schema.get("parameters") or {}).get("scale", "0")))
    if name == "io.debezium.data.Bits":
        return sc.bits(int(schema["parameters"]["length"]), varying=target == "bit varying")
    if name == "io.debezium.data.Json" and target == "hstore":
        return st.hstore_from_json
    if name == "io.debezium.data.geometry.Point":
        return st.point_as_postgis if target in _POSTGIS else st.point
    if name == "io.debezium.data.geometry.Geometry":
        return _geometry(target)
    if kind == "double" and target in ("numeric", "money"):
        return sc.decimal_of_double
    connect = _CONNECT.get(kind)  # type: ignore[arg-type]
    if connect is not None:
        return connect
    if kind == "string":
        return _string(options, target)
    if kind == "bytes":
        return sc.bytea("bytes") if target in (None, "bytea") else sc.unknown_text("bytes")
    if kind == "array":
        return st.array(_nullable(_decoder(schema["items"], options, target), name or "array element"))
    if kind == "map":
        return (lambda value: json.dumps(value, ensure_ascii=False)) if target in ("json", "jsonb") \
            else st.hstore_from_map
    raise ValueNotDecoded(f"no decoder for the Connect schema {name or kind!r}")


def _string(options: DecodeOptions, target: str | None) -> _Decode:
    """A plain string: text, or what a mode made of bytea or numeric (told by the target type)."""
    if target == "bytea":
        return sc.bytea(options.binary_handling_mode if options.binary_handling_mode != "bytes" else "base64")
    if target in ("numeric", "money"):
        return sc.decimal_string
    if target == "hstore":
        return st.hstore_from_json
    return sc.string


def _geometry(target: str | None) -> _Decode:
    """io.debezium.data.geometry.Geometry: PostGIS (E)WKB, or Debezium 3.7's lseg/box/path/polygon
    (named by the struct's extensions, or by a native target column)."""
    if target in _NATIVE_GEOMETRIC:
        return st.native_geometry(target)
    if target in _POSTGIS:
        return st.postgis
    native = st.native_geometry(None)
    return lambda value: native(value) if type(value) is dict and value.get("extensions") else st.postgis(value)
