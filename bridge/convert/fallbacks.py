"""What a NULL becomes in a column whose Connect field is required (NOT NULL).

Debezium converts a NULL in a NOT NULL column to the field's default value when it has one,
else to the converter's fallback (JdbcValueConverters.convertValue: `column.isOptional() ?
null : schema default ?: fallback`). Such NULLs are what a delete's old tuple holds under
REPLICA IDENTITY DEFAULT or USING INDEX for the columns outside the identity (and the
before-image of a primary-key change's delete); never a null in a required field, which
JsonConverter and Debezium's own JDBC sink reject.

The fallbacks are each converter's own (JdbcValueConverters, PostgresValueConverter), as a real
Debezium 3.7.0 writes them (tests/integration/test_live_defaults.py): zero, false, "" and empty
bytes by Connect type; [] for arrays; and per family:
- numeric / money: zero at the column's scale (Decimal bytes 0x00, 0.0, or "0.00" in string
  mode); a variable-scale numeric: {"scale": 0, "value": 0x00} ("0" in string mode);
- date / time / timestamp: the epoch (0, or "1970-01-01Z", "00:00:00Z", "1970-01-01T00:00:00Z"
  with time.precision.mode=isostring); timetz "00:00:00Z"; timestamptz "1970-01-01T00:00:00Z"
  (no fraction digits, whatever the column's precision);
- interval: 0 (or "P0Y0M0DT0H0M0S" with interval.handling.mode=string);
- hstore: "{}" (json) or {} (map);
- geometry: point (0,0); line {a 0, b 1, c 0}; circle at (0,0) of radius 0; lseg and path the
  segment (0,0)-(1,0); box the unit square from (0,0); polygon the triangle (0,0),(1,0),(0,1);
  PostGIS an empty GEOMETRYCOLLECTION.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from bridge.convert import values_numeric as vn
from bridge.convert import values_structured as vs
from bridge.convert import values_temporal as vt
from bridge.convert.options import ConversionOptions
from bridge.convert.schema import Schema
from bridge.convert.types import TypeInfo, TypeKind
from bridge.convert.values import Convert, ColumnConverter, numeric_scale, yields_null

_BY_CONNECT_TYPE: dict[str, object] = {
    "int8": 0, "int16": 0, "int32": 0, "int64": 0,
    "float": vn.float4_value(b"0"), "double": vn.float8_value(b"0"),
    "boolean": False, "string": "", "bytes": b"",
}  # fmt: skip


def _numeric(typmod: int, o: ConversionOptions) -> object:
    scale = numeric_scale(typmod)
    if o.decimal_handling_mode == "precise":
        return {"scale": 0, "value": b"\x00"} if scale is None else b"\x00"
    return _zero(scale or 0, o.decimal_handling_mode)


def _zero(scale: int, mode: str) -> object:
    """BigDecimal.ZERO at `scale` in decimal.handling.mode `mode` (double or string)."""
    return vn.float8_value(b"0") if mode == "double" else f"{Decimal(0):.{scale}f}"


def _money(typmod: int, o: ConversionOptions) -> object:
    mode = o.decimal_handling_mode
    return b"\x00" if mode == "precise" else _zero(o.money_fraction_digits, mode)


_PATH_FALLBACK = vs.path_value(b"[(0,0),(1,0)]")
_EMPTY_COLLECTION = vs.postgis_value(b"010700000000000000")  # GEOMETRYCOLLECTION EMPTY

_BY_TYPE: dict[str, Callable[[int, ConversionOptions], object]] = {
    "numeric": _numeric,
    "money": _money,
    "date": lambda m, o: vt.date_converter(o.time_precision_mode)(b"1970-01-01"),
    "time": lambda m, o: vt.time_converter(o.time_precision_mode, 6)(b"00:00:00"),
    "timestamp": lambda m, o: vt.timestamp_converter(o.time_precision_mode, 6)(b"1970-01-01 00:00:00"),
    "timetz": lambda m, o: "00:00:00Z",
    "timestamptz": lambda m, o: "1970-01-01T00:00:00Z",
    "interval": lambda m, o: vt.interval_converter(o.interval_handling_mode)(b"00:00:00"),
    "hstore": lambda m, o: {} if o.hstore_handling_mode == "map" else "{}",
    "point": lambda m, o: vs.point_value(b"(0,0)"),
    "line": lambda m, o: vs.line_value(b"{0,1,0}"),
    "circle": lambda m, o: vs.circle_value(b"<(0,0),0>"),
    "lseg": lambda m, o: vs.lseg_value(b"[(0,0),(1,0)]"),
    "path": lambda m, o: {**_PATH_FALLBACK, "extensions": {"type": "path"}},  # no "closed" here
    "box": lambda m, o: vs.box_value(b"(0,0),(1,1)"),
    "polygon": lambda m, o: vs.polygon_value(b"((0,0),(1,0),(0,1))"),
    "geometry": lambda m, o: _EMPTY_COLLECTION,
    "geography": lambda m, o: _EMPTY_COLLECTION,
}


def null_fallback(type_info: TypeInfo, type_modifier: int, options: ConversionOptions, schema: Schema) -> object:
    """The fallback of a NOT NULL column of `type_info` whose converter gives `schema`."""
    root = type_info.root
    if root.kind is TypeKind.ARRAY:
        return []
    family = _BY_TYPE.get(root.name) if root.kind is TypeKind.BASE else None
    if family is not None:
        return family(type_info.effective_typmod(type_modifier), options)
    return _BY_CONNECT_TYPE.get(schema["type"])


def required_converter(cv: ColumnConverter, fallback: object) -> Convert:
    """`cv.convert` for a NOT NULL column: a converter that yields null for every value (the
    streamed `name` type's, see `values._name`) yields the fallback instead, as Debezium's does."""
    if cv.convert is yields_null:
        return lambda raw: fallback
    return cv.convert
