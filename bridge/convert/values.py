"""Column value conversion: pgoutput text -> the Connect value and schema Debezium emits.

Values are Connect values, format-neutral: `bytes` for BYTES (bytea in binary.handling.mode=bytes,
Decimal, a VariableScaleDecimal's value, WKB, Bits), dicts for structs, lists for arrays, and
`msgspec.Raw` for doubles already spelled as Java does; the record's writer (`bridge.format`)
encodes them.

`converter_for(type_info, type_modifier, options)` is called once per relation column and returns
a `ColumnConverter` whose `convert(raw)` is a precompiled callable (no per-value mode checks), or
None when Debezium leaves the column out of its events (unknown types without
`include.unknown.datatypes`, and a few array types Debezium never supports).

The facts follow Debezium 3.7.0.Final (PostgresValueConverter, ReplicationMessageColumnValueResolver,
JdbcValueConverters, pgjdbc TypeInfoCache for typmod -> length/scale), checked against the golden
output of a real Debezium 3.7.0 in tests/data/debezium; see the values_* modules for each
family's rules. Changes from 3.6: geometric types (line, lseg, box, path, polygon, circle) are
emitted, temporal infinities moved, numeric NaN/Infinity in precise mode is a null column.

Which session settings shape the text pgoutput sends: the walsender runs the types' output
functions with its own session GUCs (startup `options` apply to replication connections), so
- DateStyle changes date/timestamp text: pgjdbc (hence Debezium) always connects with
  DateStyle=ISO, and the temporal parsers here expect ISO -> force `DateStyle=ISO`.
- IntervalStyle changes interval text; Debezium parses the server default `postgres` style
  -> force `IntervalStyle=postgres`.
- extra_float_digits <= 0 rounds float4/float8 text; pgjdbc sets 3 (shortest exact) -> force 3.
- bytea_output: both `hex` and `escape` are decoded here; `hex` is forced since it is cheaper.
- TimeZone only moves the offset of timestamptz text, which is converted to UTC anyway; UTC
  enables the fast path.
- lc_monetary changes money text; it is *not* forced, because money values are printed with
  the locale's fraction digits and Debezium sees the server's locale. Like Debezium, the money
  parser expects '.' as the decimal point (C / en_US style); `money.fraction.digits` is the scale.
`REPLICATION_SESSION_OPTIONS` is the libpq `options` string the replication connection should use.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from bridge.convert import values_binary as vb
from bridge.convert import values_numeric as vn
from bridge.convert import values_structured as vs
from bridge.convert import values_temporal as vt
from bridge.convert.options import ConversionOptions
from bridge.convert.schema import (
    Schema,
    array_schema,
    as_optional,
    connect_schema,
    map_schema,
    struct_schema,
)
from bridge.convert.schema import field_schema as _field
from bridge.convert.types import TypeInfo, TypeKind

REPLICATION_SESSION_OPTIONS = (
    "-c DateStyle=ISO -c IntervalStyle=postgres -c extra_float_digits=3 -c bytea_output=hex -c TimeZone=UTC"
)

Convert = Callable[[bytes], object]


@dataclass(frozen=True, slots=True)
class ColumnConverter:
    convert: Convert  # pgoutput text bytes (never NULL) -> Connect value
    schema: Schema  # the column's Connect schema before nullability (schema.field_schema); shared, read-only
    toast: object  # the value Debezium emits for an unchanged TOASTed column



# --- schemas of Debezium's logical types --------------------------------------------------------


def _named(type_: str, name: str, **params: str) -> Schema:
    return connect_schema(type_, name=name, version=1, parameters=params or None)


_STRING = connect_schema("string")
_JSON = _named("string", "io.debezium.data.Json")
_BINARY_SCHEMA = {"bytes": connect_schema("bytes")}  # other binary modes are plain strings
_VSD = struct_schema(
    [_field("scale", connect_schema("int32")), _field("value", connect_schema("bytes"))],
    name="io.debezium.data.VariableScaleDecimal",
    version=1,
    doc="Variable scaled decimal",
)
_POINT = struct_schema(
    [
        _field("x", connect_schema("double")),
        _field("y", connect_schema("double")),
        _field("wkb", connect_schema("bytes", optional=True)),
        _field("srid", connect_schema("int32", optional=True)),
    ],
    name="io.debezium.data.geometry.Point",
    version=1,
    doc="Geometry (POINT)",
)


_DOUBLE = connect_schema("double")
# Debezium 3.7 builds the line, lseg, box, path, polygon and circle schemas optional, whatever
# the column's nullability (a real Debezium 3.7.0, tests/integration/test_live_defaults.py)
_LINE = struct_schema(
    [_field("a", _DOUBLE), _field("b", _DOUBLE), _field("c", _DOUBLE)],
    optional=True,
    name="io.debezium.data.geometry.Line",
    version=1,
    doc="Geometry (LINE)",
)
_GEOMETRY = struct_schema(
    [
        _field("wkb", connect_schema("bytes")),
        _field("srid", connect_schema("int32", optional=True)),
        _field("extensions", {**map_schema(_STRING, _STRING), "optional": True}),
    ],
    optional=True,
    name="io.debezium.data.geometry.Geometry",
    version=2,
    doc="Geometry",
)
_CIRCLE = struct_schema(
    [_field("center", _POINT), _field("radius", _DOUBLE)],
    optional=True,
    name="io.debezium.data.geometry.Circle",
    version=1,
    doc="Geometry (CIRCLE)",
)


def _postgis_schema(kind: str) -> Schema:
    # Geometry.builder() is optional by itself, Geography.builder() is not
    return struct_schema(
        [_field("wkb", connect_schema("bytes")), _field("srid", connect_schema("int32", optional=True))],
        optional=kind == "Geometry",
        name=f"io.debezium.data.geometry.{kind}",
        version=1,
        doc=kind,
    )


def _decimal_schema(mode: str, scale: int, precision: int | None) -> Schema:
    if mode == "double":
        return connect_schema("double")
    if mode == "string":
        return _STRING
    params = {"scale": str(scale)}
    if precision is not None:
        params["connect.decimal.precision"] = str(precision)
    return _named("bytes", "org.apache.kafka.connect.data.Decimal", **params)


def _date_schema(mode: str) -> Schema:
    if mode == "isostring":
        return _named("string", "io.debezium.time.IsoDate")
    if mode == "connect":
        return _named("int32", "org.apache.kafka.connect.data.Date")
    return _named("int32", "io.debezium.time.Date")


def _time_schema(mode: str, precision: int) -> Schema:
    if mode == "isostring":
        return _named("string", "io.debezium.time.IsoTime")
    if mode == "connect":
        return _named("int32", "org.apache.kafka.connect.data.Time")
    if mode == "nanoseconds":
        return _named("int64", "io.debezium.time.NanoTime")
    if mode == "adaptive" and precision <= 3:
        return _named("int32", "io.debezium.time.Time")
    return _named("int64", "io.debezium.time.MicroTime")


def _timestamp_schema(mode: str, precision: int) -> Schema:
    if mode == "isostring":
        return _named("string", "io.debezium.time.IsoTimestamp")
    if mode == "connect":
        return _named("int64", "org.apache.kafka.connect.data.Timestamp")
    adaptive = mode.startswith("adaptive")
    if mode == "nanoseconds" or (adaptive and precision > 6):
        return _named("int64", "io.debezium.time.NanoTimestamp")
    if adaptive and precision <= 3:
        return _named("int64", "io.debezium.time.Timestamp")
    return _named("int64", "io.debezium.time.MicroTimestamp")


# --- typmod -> length / scale (pgjdbc TypeInfoCache.getPrecision/getScale) ------------------------

_UNBOUNDED_LENGTH = 2**31 - 1  # pgjdbc's unknownLength default: Integer.MAX_VALUE


def _time_precision(typmod: int) -> int:
    return 6 if typmod == -1 else typmod


def _numeric_precision_scale(typmod: int) -> tuple[int, int] | None:
    """numeric(p,s) typmod -> (p, s); None for an unconstrained numeric (VariableScaleDecimal)."""
    if typmod == -1:
        return None
    return ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF


def numeric_scale(typmod: int) -> int | None:
    """The scale of a numeric(p,s) (the effective typmod); None for an unconstrained numeric."""
    ps = _numeric_precision_scale(typmod)
    return None if ps is None else ps[1]


# --- the factory -------------------------------------------------------------------------------

_TEXT = bytes.decode
_STRING_TYPES = {
    "text", "varchar", "bpchar", "char", "cidr", "inet", "macaddr", "macaddr8", "citext", "isbn",
    "int4range", "numrange", "int8range", "tsrange", "tstzrange", "daterange",
}  # fmt: skip
_NAMED_STRING_TYPES = {
    "json": "io.debezium.data.Json",
    "jsonb": "io.debezium.data.Json",
    "xml": "io.debezium.data.Xml",
    "uuid": "io.debezium.data.Uuid",
    "tsvector": "io.debezium.data.Tsvector",
    "ltree": "io.debezium.data.Ltree",
}
_INTEGERS = {"int2": "int16", "int4": "int32", "int8": "int64", "oid": "int64"}
# arrays Debezium gives no schema even with include.unknown.datatypes (PostgresValueConverter:
# "These array types still need to be implemented"); _bit gets a non-array schema and would
# fail in Debezium, so it is left out too.
_UNSUPPORTED_ARRAYS = {"_money", "_name", "_interval", "_varbit", "_xml", "_point", "_refcursor", "_bit"}
# geometric element types: 3.7 converts the scalars; their arrays are not known to work, so they
# stay unknown (bytes of the text with include.unknown.datatypes), as in 3.6 (unverified)
_GEOMETRIC = {"line", "lseg", "box", "path", "polygon", "circle"}
# array element types pgjdbc's PgArray hands over as java.sql.Time (millisecond precision)
_MS_TRUNCATED_ELEMENTS = {"time", "timetz"}


def converter_for(type_info: TypeInfo, type_modifier: int, options: ConversionOptions) -> ColumnConverter | None:
    """The converter of a column of type `type_info` with atttypmod `type_modifier`, or None
    when Debezium leaves such a column out of its events."""
    typmod = type_info.effective_typmod(type_modifier)
    root = type_info.root
    if root.name in _UNSUPPORTED_ARRAYS and root.namespace == "pg_catalog":
        return None
    if root.kind is TypeKind.ARRAY:
        built = _array(root, typmod, options)
    else:
        built = _scalar(root, typmod, options)
    binary = root.name == "bytea"
    if built is None:
        if not options.include_unknown_datatypes:
            return None
        # unknown types go out as the bytes of their text (convertBinary of a String)
        built, binary = _unknown(options), True
    convert, schema = built
    return ColumnConverter(convert, schema, _toast_value(type_info.name, binary, options))


def snapshot_converter_for(type_info: TypeInfo, type_modifier: int, options: ConversionOptions
                           ) -> ColumnConverter | None:
    """The converter of a column's values read by the initial snapshot. Debezium's snapshot
    reads through JDBC (ResultSet.getObject) instead of the replication stream's text, which
    differs for two types (a real Debezium 3.7.0, tests/integration/test_live_parity.py):
    `name` is a string like varchar (streamed: always null), and `date` loses the era of BC
    dates and maps +-infinity elsewhere (`values_temporal.snapshot_date_converter`)."""
    streamed = converter_for(type_info, type_modifier, options)
    root = type_info.root
    if streamed is None or root.kind is TypeKind.ARRAY or root.namespace != "pg_catalog":
        return streamed
    if root.name == "name":
        return ColumnConverter(_TEXT, streamed.schema, streamed.toast)
    if root.name == "date":
        return ColumnConverter(vt.snapshot_date_converter(options.time_precision_mode), streamed.schema,
                               streamed.toast)
    return streamed


def _unknown(o: ConversionOptions) -> tuple[Convert, Schema]:
    return vb.text_as_binary_converter(o.binary_handling_mode), _binary_schema(o)


def _binary_schema(options: ConversionOptions) -> Schema:
    return _BINARY_SCHEMA.get(options.binary_handling_mode, _STRING)


def _scalar(t: TypeInfo, typmod: int, o: ConversionOptions) -> tuple[Convert, Schema] | None:
    name = t.name  # extension types (hstore, citext, ...) are known by name, as in Debezium
    if t.kind is TypeKind.ENUM:
        return _TEXT, _named("string", "io.debezium.data.Enum", allowed=",".join(t.enum_labels))
    if t.kind is not TypeKind.BASE and t.kind is not TypeKind.RANGE:
        return None  # composite, multirange, pseudo: no Debezium mapping (custom ranges: below)
    if name in _STRING_TYPES:
        return _TEXT, _STRING
    if name in _NAMED_STRING_TYPES:
        return _TEXT, _named("string", _NAMED_STRING_TYPES[name])
    if name in _INTEGERS:
        return int, connect_schema(_INTEGERS[name])
    simple = _SIMPLE.get(name)
    if simple is not None:
        return simple(typmod, o)
    return None


def _numeric(typmod: int, o: ConversionOptions) -> tuple[Convert, Schema]:
    ps = _numeric_precision_scale(typmod)
    mode = o.decimal_handling_mode
    if ps is None:
        schema = _VSD if mode == "precise" else _decimal_schema(mode, 0, None)
        return vn.numeric_converter(mode, None), schema
    precision, scale = ps
    return vn.numeric_converter(mode, scale), _decimal_schema(mode, scale, precision)


def _bits(typmod: int, o: ConversionOptions, *, varying: bool) -> tuple[Convert, Schema]:
    length = typmod if typmod != -1 or not varying else _UNBOUNDED_LENGTH
    if length > 1:
        return vb.bits_value, _named("bytes", "io.debezium.data.Bits", length=str(length))
    return vb.bit_bool, connect_schema("boolean")


def _hstore(typmod: int, o: ConversionOptions) -> tuple[Convert, Schema]:
    if o.hstore_handling_mode == "map":
        return vs.hstore_map, map_schema(_STRING, as_optional(_STRING))
    return vs.hstore_json, _JSON


def yields_null(raw: bytes) -> object:
    """The converter of values Debezium never reads (`name`): null (a NOT NULL column's
    fallback, see `bridge.convert.fallbacks.required_converter`)."""
    return None


def _name(typmod: int, o: ConversionOptions) -> tuple[Convert, Schema]:
    # Surprising but Debezium: `name` has a string schema (JDBC VARCHAR) yet its value resolver
    # has no case for it, so the value is null unless include.unknown.datatypes is on.
    if o.include_unknown_datatypes:
        return _TEXT, _STRING
    return yields_null, _STRING


_SIMPLE: dict[str, Callable[[int, ConversionOptions], tuple[Convert, Schema]]] = {
    "bool": lambda m, o: (vn.bool_value, connect_schema("boolean")),
    "float4": lambda m, o: (vn.float4_value, connect_schema("float")),
    "float8": lambda m, o: (vn.float8_value, connect_schema("double")),
    "numeric": _numeric,
    "money": lambda m, o: (
        vn.money_converter(o.decimal_handling_mode, o.money_fraction_digits),
        _decimal_schema(o.decimal_handling_mode, o.money_fraction_digits, None),
    ),
    "bytea": lambda m, o: (vb.bytea_converter(o.binary_handling_mode), _binary_schema(o)),
    "bit": lambda m, o: _bits(m, o, varying=False),
    "varbit": lambda m, o: _bits(m, o, varying=True),
    "date": lambda m, o: (vt.date_converter(o.time_precision_mode), _date_schema(o.time_precision_mode)),
    "time": lambda m, o: (
        vt.time_converter(o.time_precision_mode, _time_precision(m)),
        _time_schema(o.time_precision_mode, _time_precision(m)),
    ),
    "timetz": lambda m, o: (vt.timetz_converter(), _named("string", "io.debezium.time.ZonedTime")),
    "timestamp": lambda m, o: (
        vt.timestamp_converter(o.time_precision_mode, _time_precision(m)),
        _timestamp_schema(o.time_precision_mode, _time_precision(m)),
    ),
    "timestamptz": lambda m, o: (
        vt.timestamptz_converter(_time_precision(m)),
        _named("string", "io.debezium.time.ZonedTimestamp"),
    ),
    "interval": lambda m, o: (
        vt.interval_converter(o.interval_handling_mode),
        _named("string", "io.debezium.time.Interval")
        if o.interval_handling_mode == "string"
        else _named("int64", "io.debezium.time.MicroDuration"),
    ),
    "point": lambda m, o: (vs.point_value, _POINT),
    "line": lambda m, o: (vs.line_value, _LINE),
    "lseg": lambda m, o: (vs.lseg_value, _GEOMETRY),
    "box": lambda m, o: (vs.box_value, _GEOMETRY),
    "path": lambda m, o: (vs.path_value, _GEOMETRY),
    "polygon": lambda m, o: (vs.polygon_value, _GEOMETRY),
    "circle": lambda m, o: (vs.circle_value, _CIRCLE),
    "geometry": lambda m, o: (vs.postgis_value, _postgis_schema("Geometry")),
    "geography": lambda m, o: (vs.postgis_value, _postgis_schema("Geography")),
    "hstore": _hstore,
    "name": _name,
}


def _array(t: TypeInfo, typmod: int, o: ConversionOptions) -> tuple[Convert, Schema] | None:
    element = t.element
    if element is None:
        return None
    # Debezium finds no JDBC mapping for domain elements: they are unknown, like unknown types
    unknown = element.kind is TypeKind.DOMAIN or element.name in _GEOMETRIC
    built = None if unknown else _scalar(element, typmod, o)
    if built is None:
        if not o.include_unknown_datatypes:
            return None
        built = _unknown(o)
    convert, schema = built
    if element.name in _MS_TRUNCATED_ELEMENTS:
        convert = _ms_truncated(convert)
    array = vs.array_converter(convert)
    if element.name == "numeric":
        array = _no_special_numerics(array)
    # enum elements keep their required schema (Debezium builds them without .optional())
    return array, array_schema(schema if element.kind is TypeKind.ENUM else as_optional(schema))


def _no_special_numerics(convert: Convert) -> Convert:
    """pgjdbc reads numeric[] elements with `new BigDecimal(text)`, which fails on NaN and
    +-Infinity: Debezium then emits the whole column as null, in every decimal mode."""

    def checked(raw: bytes) -> object:
        if b"NaN" in raw or b"Infinity" in raw:
            raise vn.NotRepresentable(f"numeric[] {raw[:60].decode()!r} holds NaN or Infinity, which "
                                      "pgjdbc cannot read into a BigDecimal")
        return convert(raw)

    return checked


def _ms_truncated(convert: Convert) -> Convert:
    """Elements of time[]/timetz[] reach Debezium as java.sql.Time: sub-millisecond digits are lost."""

    def truncate(raw: bytes) -> object:
        head, dot, rest = raw.decode().partition(".")
        if not dot:
            return convert(raw)
        offset = rest.lstrip("0123456789")  # timetz: '+02'
        return convert(f"{head}.{rest[: len(rest) - len(offset)][:3]}{offset}".encode())

    return truncate


# --- unchanged TOAST placeholders (UnchangedToastedPlaceholder, UnchangedToastedReplicationMessageColumn)


def _toast_value(type_name: str, binary: bool, o: ConversionOptions) -> object:
    """Debezium picks the placeholder by the column's type name, then runs the converter on it:
    string-like and all non-binary converters yield the placeholder string (handleUnknownData),
    binary ones its bytes (bytes mode), the string (hex mode) or null (base64 modes)."""
    ph = o.unavailable_value_placeholder
    ph_bytes = ph.encode()
    if type_name in ("_text", "_varchar", "_bpchar", "_json", "_jsonb"):
        return [ph]
    if type_name == "_bytea":  # the JSON is base64 in every mode; BYTES elements in bytes mode
        return [ph_bytes if o.binary_handling_mode == "bytes" else vb.connect_bytes("base64")(ph_bytes)]
    if type_name in ("_int4", "_date", "_int8"):
        return list(ph_bytes)
    if type_name == "_uuid":
        return [str(uuid.UUID(bytes=hashlib.md5(ph_bytes).digest(), version=3))]  # nameUUIDFromBytes
    if type_name == "hstore":
        if o.hstore_handling_mode == "map":
            return {ph: ph}
        return "{" + vs.jackson_string(ph) + ":" + vs.jackson_string(ph) + "}"
    if binary and o.binary_handling_mode != "hex":
        return ph_bytes if o.binary_handling_mode == "bytes" else None
    return ph
