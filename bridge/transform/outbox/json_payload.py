"""`table.expand.json.payload`: a JSON string payload as a Connect struct, with the schema
Debezium 3.7 infers (its JsonSchemaData over a Jackson tree).

- Only a string starting with `{` or `[` is parsed (Jackson: trailing text ignored, no NaN).
- Schemas, all optional: string, boolean; a number int32 if it fits, else int64 if it fits,
  else float64 (a fraction or exponent: float64); an object a struct named by its path from
  the payload field (`payload`, `payload.address`, ...) with its members in order; an array
  `array<schema of its first non-null element>` (of objects: their structs merged, fields in
  order of appearance; a merge of different shapes is a required struct, as Kafka's
  copySchemaBasics leaves it). A null member is left out (`table.json.payload.null.behavior`
  `ignore`) or an optional bytes (`optional_bytes`); an empty array is left out (`ignore`) or
  `array<string>` (`table.json.payload.empty.array.behavior=optional_string`).
- What Debezium cannot infer (an array mixing types or number kinds, only nulls) leaves the
  payload a string with its column's schema (`None` here). What it infers but cannot fill (a
  top-level array, an integer beyond int64) fails the event, as it fails Debezium's task
  (`PayloadError`).
"""

from __future__ import annotations

import json

from bridge.convert.schema import Schema
from bridge.convert.values_float import raw_double
from bridge.transform.kafka.structs import TransformFailed

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_decoder = json.JSONDecoder(parse_constant=lambda name: _refuse(name))


class PayloadError(TransformFailed):
    """Debezium's EventRouter fails the event (and its task) on this payload."""


class _NotInferred(Exception):
    """JsonSchemaData found no schema: the payload stays a string."""


def _refuse(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _optional(type_: str) -> Schema:
    return {"type": type_, "optional": True}


class JsonPayloads:
    def __init__(self, null_bytes: bool, empty_array_strings: bool) -> None:
        self._null_bytes, self._empty_strings = null_bytes, empty_array_strings

    def expand(self, name: str, text: str) -> tuple[Schema, dict] | None:
        """(struct schema, struct value) of the payload field `name`'s JSON `text`; None when
        Debezium keeps the string."""
        if not (text.startswith("{") or text.startswith("[")):
            return None
        try:
            node, _ = _decoder.raw_decode(text)
        except ValueError:
            return None
        try:
            schema = self._schema(name, node)
        except _NotInferred:
            return None
        if schema is None or schema["type"] != "struct":
            raise PayloadError(f"outbox payload {text[:60]!r}: Debezium's EventRouter cannot expand a top-level "
                               "JSON array or empty value into a struct")
        return schema, self._value(node, schema)

    def _schema(self, key: str | None, node: object) -> Schema | None:
        if isinstance(node, str):
            return _optional("string")
        if isinstance(node, bool):
            return _optional("boolean")
        if isinstance(node, int):
            if _INT32[0] <= node <= _INT32[1]:
                return _optional("int32")
            return _optional("int64") if _INT64[0] <= node <= _INT64[1] else _optional("double")
        if isinstance(node, float):
            return _optional("double")
        if isinstance(node, list):
            if not node:
                return {"type": "array", "items": _optional("string"), "optional": True} if self._empty_strings else None
            return {"type": "array", "items": self._items(key, node), "optional": True}
        if isinstance(node, dict):
            fields = []
            for member, value in node.items():
                schema = self._schema(member if not key else f"{key}.{member}", value)
                if schema is not None:
                    fields.append({**schema, "field": member})
            struct: Schema = {"type": "struct", "fields": fields, "optional": True}
            if key is not None:  # an array's elements have no name
                struct["name"] = key
            return struct
        return _optional("bytes") if self._null_bytes else None  # null

    def _items(self, key: str | None, array: list) -> Schema:
        sample = next((e for e in array if e is not None), None)
        kind = _kind(sample)
        for element in array:
            if element is not None and _kind(element) != kind:
                raise _NotInferred()  # "not a homogenous array"
        if isinstance(sample, dict):
            merged: Schema | None = None
            seen: list[Schema] = []
            for element in array:
                if isinstance(element, dict):
                    schema = self._schema(key, element)
                    if schema not in seen:  # a set of schemas: each shape once
                        seen.append(schema)
            for schema in seen:
                merged = schema if merged is None else _merge(merged, schema)
            return merged  # type: ignore[return-value]
        schema = self._schema(None, sample)
        if schema is None:
            raise _NotInferred()  # "unrecognized member schema"
        return schema

    def _value(self, node: object, schema: Schema) -> object:
        if node is None:
            return None
        type_ = schema["type"]
        if type_ == "struct":
            if not isinstance(node, dict):
                raise PayloadError(f"outbox payload: {node!r} does not fit the struct Debezium inferred")
            return {f["field"]: self._value(node.get(f["field"]), f) for f in schema["fields"]}
        if type_ == "array":
            return [self._value(e, schema["items"]) for e in node]  # type: ignore[union-attr]
        if isinstance(node, float) or (type_ == "double" and isinstance(node, int)):
            if isinstance(node, int):  # beyond int64: Jackson's BigDecimal does not fit a FLOAT64 field
                raise PayloadError(f"outbox payload: the integer {node} does not fit the double Debezium inferred")
            return raw_double(node)
        return node


def _kind(node: object) -> str:
    """Jackson's node type, numbers split by the schema they give (int32, int64, double)."""
    if isinstance(node, bool):
        return "boolean"
    if isinstance(node, int):
        return "int32" if _INT32[0] <= node <= _INT32[1] else "int64" if _INT64[0] <= node <= _INT64[1] else "double"
    if isinstance(node, float):
        return "double"
    return type(node).__name__


def _merge(left: Schema, right: Schema) -> Schema:
    """JsonSchemaData.mergeSchema: left's fields, then right's new ones (a bytes field gives
    way to a typed one); the basics copied (name), so no longer optional."""
    fields = {f["field"]: f for f in left["fields"]}
    for f in right["fields"]:
        old = fields.get(f["field"])
        if old is None or (old != f and old["type"] == "bytes" and f["type"] != "bytes"):
            fields[f["field"]] = f
    out: Schema = {"type": "struct", "fields": list(fields.values()), "optional": False}
    if left.get("name") is not None:
        out["name"] = left["name"]
    return out
