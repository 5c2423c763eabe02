"""Kafka's Flatten ($Key / $Value, `delimiter`, default "."): nested structs become top-level
fields named by their path joined with the delimiter, in depth-first field order.

As Connect builds the schema: the struct by copySchemaBasics (required), each leaf by
copySchemaBasics of its own schema (arrays keep their items), optional when it or any
ancestor is, with its default or its parent's default's. A null nested struct leaves its leaves
null (JsonConverter then writes a leaf's default, as here). Maps fail, as in Connect; a null
key/value passes unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.convert.schema import Schema
from bridge.format.settings import HeaderFormat
from bridge.transform.kafka.structs import SchemaCache, Side, TransformFailed, copy_basics, require_struct
from bridge.transform.record import ConnectRecord

if TYPE_CHECKING:
    from bridge.transform.smt_settings import TransformSpec

_BASICS = ("name", "version", "doc", "parameters")


def _leaf(schema: Schema, name: str, optional: bool, default: object) -> Schema:
    """Flatten.convertFieldSchema: copySchemaBasics(orig), optional, the default."""
    out: Schema = {"type": schema["type"]}
    if schema["type"] == "array":
        out["items"] = schema["items"]
    out["optional"] = optional
    out.update((k, schema[k]) for k in _BASICS if k in schema)
    if default is not None:
        out["default"] = default
    out["field"] = name
    return out


class Flatten:
    def __init__(self, spec: TransformSpec, _headers: HeaderFormat) -> None:
        self._side = Side(spec.type)
        self.changes_routing = False  # a key's fields renamed, none merged: the same keys group together
        self._delimiter = spec.option("delimiter", ".")
        self._schemas = SchemaCache()

    def _name(self, prefix: str, name: str) -> str:
        return name if not prefix else prefix + self._delimiter + name

    def _plan(self, schema: Schema) -> tuple[Schema, list[tuple[tuple[str, ...], Schema]]]:
        """(the flat schema, for each leaf: its path of field names and its flat field)."""
        leaves: list[tuple[tuple[str, ...], Schema]] = []

        def walk(struct: Schema, prefix: str, path: tuple[str, ...], optional: bool, parent_default: object) -> None:
            for f in struct["fields"]:
                name = self._name(prefix, f["field"])
                is_optional = optional or f["optional"]
                default = f.get("default")
                if default is None and isinstance(parent_default, dict):
                    default = parent_default.get(f["field"])
                if f["type"] == "struct":
                    walk(f, name, (*path, f["field"]), is_optional, default)
                elif f["type"] == "map":
                    raise TransformFailed(f"Flatten transformation does not support MAP for record with schemas "
                                          f"(for field {name}).")
                else:
                    leaves.append(((*path, f["field"]), _leaf(f, name, is_optional, default)))

        walk(schema, "", (), schema["optional"], schema.get("default"))
        names = [leaf["field"] for _, leaf in leaves]
        if len(set(names)) != len(names):
            raise TransformFailed("Flatten: two fields flatten to one name")
        return copy_basics(schema, fields=[leaf for _, leaf in leaves]), leaves

    def __call__(self, record: ConnectRecord) -> ConnectRecord:
        side = self._side
        value = side.value(record)
        if value is None:
            return record
        schema = side.schema(record)
        if schema is None:
            raise TransformFailed("Flatten: a record without a schema is not supported by pgbridge")
        require_struct(value, "flattening")
        plan = self._schemas.get(schema) or self._schemas.put(schema, self._plan(schema))
        flat, leaves = plan  # type: ignore[misc]
        out = {}
        for path, leaf in leaves:
            current = value
            for step in path:
                current = current.get(step) if isinstance(current, dict) else None  # type: ignore[assignment]
            out[leaf["field"]] = leaf.get("default") if current is None else current
        return side.replace(record, flat, out)
