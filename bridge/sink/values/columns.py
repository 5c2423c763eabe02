"""The column type `schema.evolution=basic` gives a Connect schema field, as Debezium's JDBC sink
(PostgreSQL dialect, Hibernate's PostgreSQL type names) picks it.

The order is Debezium's `GeneralDatabaseDialect.getSchemaType`: the schema's semantic name first,
then the `__debezium.source.column.type` parameter (column.propagate.source.type) where a
PostgreSQL type is registered for it, then the Connect type. Precisions come from the
`__debezium.source.column.scale`/`length` parameters when present.
A Decimal without `connect.decimal.precision` gets PostgreSQL's largest precision at its scale
(plain `numeric` at scale 0). Deliberate difference: a string is `text`, keys too (PostgreSQL
indexes text), never a guessed `varchar(n)`.
"""

from __future__ import annotations

from bridge.sink.values.errors import ValueNotDecoded

_POSTGIS_SCHEMA = "public"  # the JDBC sink's dialect.postgres.postgis.schema default
_MAX_PRECISION = 6  # time and timestamp
_UNBOUNDED_BITS = 2**31 - 1

_BY_NAME = {
    "io.debezium.time.Date": "date",
    "org.apache.kafka.connect.data.Date": "date",
    "io.debezium.time.MicroDuration": "interval",
    "io.debezium.data.Uuid": "uuid",
    "io.debezium.data.Xml": "xml",
    "io.debezium.data.Enum": "text",  # Debezium cannot create enum types: its STRING fallback
    "io.debezium.data.Ltree": "ltree",
    "io.debezium.data.Tsvector": "tsvector",
    "io.debezium.data.geometry.Point": "point",
    "io.debezium.data.geometry.Line": "line",
    "io.debezium.data.geometry.Circle": "circle",
    "io.debezium.data.geometry.Geography": f"{_POSTGIS_SCHEMA}.geography",
    "io.debezium.data.VariableScaleDecimal": "double precision",  # sic: Debezium's choice, it rounds
}
_TIMES = {"io.debezium.time.Time", "org.apache.kafka.connect.data.Time", "io.debezium.time.MicroTime",
          "io.debezium.time.NanoTime"}
_TIMESTAMPS = {"io.debezium.time.Timestamp", "org.apache.kafka.connect.data.Timestamp",
               "io.debezium.time.MicroTimestamp", "io.debezium.time.NanoTimestamp"}
# __debezium.source.column.type values with a registered PostgreSQL type
_BY_COLUMN_TYPE = {
    "MONEY": "money", "CIDR": "cidr", "INET": "inet", "MACADDR": "macaddr", "MACADDR8": "macaddr8",
    "CITEXT": "citext", "OID": "oid", "XML": "xml", "INT4RANGE": "int4range", "INT8RANGE": "int8range",
    "NUMRANGE": "numrange", "TSRANGE": "tsrange", "TSTZRANGE": "tstzrange", "DATERANGE": "daterange",
    "SMALLSERIAL": "smallserial", "SERIAL": "serial", "BIGSERIAL": "bigserial",
}  # fmt: skip
_BY_CONNECT_TYPE = {
    "int8": "smallint", "int16": "smallint", "int32": "integer", "int64": "bigint", "float": "real",
    "double": "double precision", "boolean": "boolean", "string": "text", "bytes": "bytea", "map": "hstore",
}  # fmt: skip
_NATIVE_ARRAY_ELEMENTS = {"inet", "cidr", "macaddr", "macaddr8", "int4range", "int8range", "numrange", "tsrange",
                          "tstzrange", "daterange", "jsonb"}
_NATIVE_GEOMETRIC = {"box", "lseg", "path", "polygon", "line", "circle", "point"}


def column_type(field: dict) -> str:
    """The PostgreSQL column type Debezium's JDBC sink creates for the Connect schema `field`."""
    name, kind = field.get("name"), field.get("type")
    params = field.get("parameters") or {}
    column = params.get("__debezium.source.column.type")
    if name in _BY_NAME:
        return _BY_NAME[name]
    if name == "org.apache.kafka.connect.data.Decimal":
        scale = max(int(params.get("scale", "0")), 0)
        precision = int(params.get("connect.decimal.precision", "0"))
        if precision > 0:
            return f"numeric({precision},{scale})"
        return f"numeric(1000,{scale})" if scale else "numeric"
    if name in _TIMES:
        return f"time({_precision(params, default=_MAX_PRECISION)})"
    if name in _TIMESTAMPS:
        return f"timestamp({_precision(params, default=_MAX_PRECISION)})"
    if name == "io.debezium.time.ZonedTimestamp":
        return f"timestamp({_precision(params, default=_MAX_PRECISION)}) with time zone"
    if name == "io.debezium.time.ZonedTime":
        return f"time({_precision(params, default=_MAX_PRECISION)}) with time zone"
    if name == "io.debezium.data.Json":
        return {"HSTORE": "hstore", "JSONB": "jsonb"}.get(column or "", "json")
    if name == "io.debezium.data.Bits":
        return _bits(int(params["length"]), column)
    if name == "io.debezium.data.geometry.Geometry":
        native = (column or "").lower()
        return native if native in _NATIVE_GEOMETRIC else f"{_POSTGIS_SCHEMA}.geometry"
    if column in _BY_COLUMN_TYPE:
        return _BY_COLUMN_TYPE[column]
    if kind == "boolean" and column in ("BIT", "VARBIT"):
        return "bit"
    if kind == "array":
        return _array_element(field, column) + "[]"
    if kind in _BY_CONNECT_TYPE:
        return _BY_CONNECT_TYPE[kind]
    raise ValueNotDecoded(f"no column type for the Connect schema {name or kind!r}")


def _precision(params: dict, default: int) -> int:
    """The source column's fractional-second precision (scale parameter, else length), if 1..6."""
    given = int(params.get("__debezium.source.column.scale") or params.get("__debezium.source.column.length") or 0)
    return given if 0 < given <= _MAX_PRECISION else default


def _bits(length: int, column: str | None) -> str:
    if length == _UNBOUNDED_BITS:
        return "bit varying"  # the only way to tell a varbit without type propagation
    return f"bit varying({length})" if column == "VARBIT" else f"bit({length})"


def _array_element(field: dict, column: str | None) -> str:
    element = (column or "").lower().removeprefix("_")
    if column and column.startswith("_") and element in _NATIVE_ARRAY_ELEMENTS:
        return element
    items = field["items"]
    if items.get("name") == "io.debezium.data.VariableScaleDecimal":
        return "numeric"  # an array keeps numeric's exact values
    return column_type(items)
