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


# the leaf schemas, shared (schemas are never changed once built)
_LEAVES = {t: _optional(t) for t in ("string", "boolean", "int32", "int64", "double", "bytes")}
_MAX_SHAPES = 4096  # interned schemas kept; beyond, the caches start again


class JsonPayloads:
    """Payload inference, compiled as it goes: the schemas are interned (one object per shape,
    so later steps and the writers cache by it) and a payload is walked once for its schema and
    value together."""

    def __init__(self, null_bytes: bool, empty_array_strings: bool) -> None:
        self._null_bytes, self._empty_strings = null_bytes, empty_array_strings
        self._structs: dict[tuple, Schema] = {}  # (name, ((member, id(schema)), ...)) -> struct schema
        self._arrays: dict[int, Schema] = {}  # id(items) -> array schema
        self._merged: dict[tuple[int, ...], Schema] = {}  # ids of an array's element shapes -> merged
        self._overflow: int | None = None  # an integer beyond int64 where a double is inferred

    def expand(self, name: str, text: str) -> tuple[Schema, dict] | None:
        """(struct schema, struct value) of the payload field `name`'s JSON `text`; None when
        Debezium keeps the string."""
        if not (text.startswith("{") or text.startswith("[")):
            return None
        try:
            node, _ = _decoder.raw_decode(text)
        except ValueError:
            return None
        if len(self._structs) + len(self._arrays) + len(self._merged) > _MAX_SHAPES:
            self._structs.clear(), self._arrays.clear(), self._merged.clear()
        self._overflow = None
        try:
            schema, value = self._walk(name, node)
        except _NotInferred:
            return None
        if schema is None or schema["type"] != "struct":
            raise PayloadError(f"outbox payload {text[:60]!r}: Debezium's EventRouter cannot expand a top-level "
                               "JSON array or empty value into a struct")
        if self._overflow is not None:  # Jackson's BigDecimal does not fit a FLOAT64 field
            raise PayloadError(f"outbox payload: the integer {self._overflow} does not fit the double Debezium "
                               "inferred")
        return schema, value  # type: ignore[return-value]

    def _walk(self, key: str | None, node: object) -> tuple[Schema | None, object]:
        """(schema, value) of a JSON node; the schema None: a member left out."""
        if isinstance(node, str):
            return _LEAVES["string"], node
        if isinstance(node, bool):
            return _LEAVES["boolean"], node
        if isinstance(node, int):
            if _INT32[0] <= node <= _INT32[1]:
                return _LEAVES["int32"], node
            if _INT64[0] <= node <= _INT64[1]:
                return _LEAVES["int64"], node
            self._overflow = node
            return _LEAVES["double"], None
        if isinstance(node, float):
            return _LEAVES["double"], raw_double(node)
        if isinstance(node, dict):
            shape, value = [], {}
            for member, child in node.items():
                kind = type(child)
                if kind is str or kind is bool:  # the commonest members, without a call
                    shape.append((member, _LEAVES["string" if kind is str else "boolean"]))
                    value[member] = child
                    continue
                schema, v = self._walk(member if not key else f"{key}.{member}", child)
                if schema is not None:
                    shape.append((member, schema))
                    value[member] = v
            return self._struct(key, shape), value
        if isinstance(node, list):
            if not node:
                return (self._array(_LEAVES["string"]), []) if self._empty_strings else (None, None)
            return self._list(key, node)
        return (_LEAVES["bytes"], None) if self._null_bytes else (None, None)  # null

    def _struct(self, key: str | None, shape: list[tuple[str, Schema]]) -> Schema:
        signature = (key, tuple((member, id(schema)) for member, schema in shape))
        found = self._structs.get(signature)
        if found is None:
            found = {"type": "struct", "fields": [{**schema, "field": member} for member, schema in shape],
                     "optional": True}
            if key is not None:  # an array's elements have no name
                found["name"] = key
            self._structs[signature] = found
        return found

    def _array(self, items: Schema) -> Schema:
        found = self._arrays.get(id(items))
        if found is None:
            found = self._arrays[id(items)] = {"type": "array", "items": items, "optional": True}
        return found

    def _list(self, key: str | None, array: list) -> tuple[Schema, list]:
        sample = next((e for e in array if e is not None), None)
        kind = _kind(sample)
        for element in array:
            if element is not None and _kind(element) != kind:
                raise _NotInferred()  # "not a homogenous array"
        if isinstance(sample, dict):
            walked = [self._walk(key, e) if isinstance(e, dict) else (None, None) for e in array]
            shapes: list[Schema] = []  # each element shape once (a set of schemas), in order
            for schema, _ in walked:
                if schema is not None and all(schema is not s for s in shapes):
                    shapes.append(schema)
            if len(shapes) == 1:
                return self._array(shapes[0]), [v for _, v in walked]
            items = self._merged.get(tuple(map(id, shapes)))
            if items is None:
                items = shapes[0]
                for schema in shapes[1:]:
                    items = _merge(items, schema)
                self._merged[tuple(map(id, shapes))] = items
            return self._array(items), [self._value(e, items) for e in array]
        # Debezium infers the elements' schema from the first one alone
        items, _ = self._walk(None, sample)
        if items is None:
            raise _NotInferred()  # "unrecognized member schema"
        return self._array(items), [self._value(e, items) for e in array]

    def _value(self, node: object, schema: Schema) -> object:
        """A node as a value of `schema` (inferred from other nodes)."""
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
            if isinstance(node, int):
                self._overflow = node
                return None
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
