"""A target column's type as format_type() prints it -> the source's type, for schemaless JSON.

Without a Connect schema the sink learns how a value was encoded from the column it goes into:
the type is turned into the `TypeInfo` and typmod the source would have seen, and the source's
own conversion (`bridge.convert.values.converter_for`) says which Connect schema its values had.
Names PostgreSQL does not build in and Debezium does not know by name (enums, domains, other
user types) are taken for enums: their values are the text. A domain should be given as its
base type (format_type(typbasetype, typtypmod)), since a domain's values are its base type's.
"""

from __future__ import annotations

import re

from bridge.convert.types import BUILTIN_TYPES, TypeInfo, TypeKind

# format_type() spellings -> pg_type.typname
_ALIASES = {
    "smallint": "int2", "integer": "int4", "bigint": "int8", "real": "float4", "double precision": "float8",
    "boolean": "bool", "character varying": "varchar", "character": "bpchar", '"char"': "char",
    "bit varying": "varbit", "time without time zone": "time", "time with time zone": "timetz",
    "timestamp without time zone": "timestamp", "timestamp with time zone": "timestamptz",
}  # fmt: skip
_BY_NAME = {t.name: t for t in BUILTIN_TYPES.values()}
# extension types Debezium recognises by name (TypeRegistry)
_EXTENSIONS = ("hstore", "citext", "ltree", "geometry", "geography", "isbn")
_MODIFIERS = re.compile(r"\(([^)]*)\)")


def parse(pg_type: str) -> tuple[TypeInfo, int]:
    """'numeric(10,2)', 'timestamp(3) without time zone', 'integer[]', 'public.geometry' ->
    (the type as the source's registry would give it, its typmod)."""
    text = pg_type.strip()
    dims = 0
    while text.endswith("[]"):
        text, dims = text[:-2].rstrip(), dims + 1
    found = _MODIFIERS.search(text)
    modifiers = [int(m) for m in found[1].split(",")] if found and found[1].replace(",", "").strip().isdigit() else []
    base = _MODIFIERS.sub("", text).strip()
    base = " ".join(base.split())
    name = _ALIASES.get(base, base)
    if "." in name and not name.startswith('"'):
        name = name.rpartition(".")[2]
    element = _type(name.strip('"') if name != '"char"' else "char")
    typmod = _typmod(element.name, modifiers)
    if dims:
        return TypeInfo(0, "_" + element.name, kind=TypeKind.ARRAY, element=element), typmod
    return element, typmod


def _type(name: str) -> TypeInfo:
    builtin = _BY_NAME.get(name)
    if builtin is not None and builtin.kind is not TypeKind.ARRAY:
        return builtin
    if name in _EXTENSIONS:
        return TypeInfo(0, name, "public")
    return TypeInfo(0, name, "public", TypeKind.ENUM)


def _typmod(name: str, modifiers: list[int]) -> int:
    if not modifiers:
        return -1
    if name == "numeric":
        precision, scale = modifiers[0], modifiers[1] if len(modifiers) > 1 else 0
        return ((precision << 16) | scale) + 4
    if name in ("varchar", "bpchar"):
        return modifiers[0] + 4
    return modifiers[0]  # time, timetz, timestamp, timestamptz (precision), bit, varbit (length)
