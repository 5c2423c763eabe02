"""The DEFAULT clause of a column `schema.evolution=basic` creates or adds: the Connect field's
`default`, as Debezium's JDBC sink gives it (`GeneralDatabaseDialect.addColumnDefaultValue`:
the field type's default value binding, between the type and NULL / NOT NULL).

Debezium renders numbers bare, strings quoted, dates and times as formatted literals; its
PostgreSQL types give no default for serial columns (PostgreSQL refuses one), bit strings and
maps (hstore). Here the default is decoded as a value of the field is (`bridge.sink.values`) and
written as a quoted literal that PostgreSQL reads as the column's type: the catalog then holds
what Debezium's clause gives (`0`, `'abc'::text`, `'2024-02-29'::date`). Where Debezium has no
binding for a type (arrays, structs: its table creation fails) the literal is written too; a
default that does not decode gives no clause, as Debezium's null binding does.
"""

from __future__ import annotations

from bridge.sink.values import DecodeOptions, ValueNotDecoded, column_type, field_decoder

_NO_DEFAULT_TYPES = ("serial", "bigserial", "smallserial", "bit", "hstore")


def default_clause(field: dict, options: DecodeOptions) -> str:
    """` DEFAULT '<text>'`, or '' when the field has no default (or none Debezium would write)."""
    value = field.get("default")
    if value is None:
        return ""
    pg_type = column_type(field)
    if pg_type.split("(")[0] in _NO_DEFAULT_TYPES or field.get("type") == "map":
        return ""
    try:
        text = field_decoder(field, options, pg_type)(value)
    except ValueNotDecoded:
        return ""
    return "" if text is None else " DEFAULT '" + text.replace("'", "''") + "'"
