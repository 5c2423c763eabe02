"""Connect values → what fastavro's encoder takes, compiled once per schema.

Most Connect values are already Avro data: ints, strings, bytes (Decimal's unscaled bytes
included: the writer schema's `decimal` passes bytes through), booleans, None, dicts for
records, lists, string-keyed dicts for maps. What is not:
- FLOAT64/FLOAT32 values come as `msgspec.Raw` (Java's spelling) or "NaN" / "Infinity" /
  "-Infinity": they become floats;
- a map whose keys are not required strings is an array of {key, value} records;
- an optional struct is a union: it is handed to fastavro as (record name, value), which
  spares fastavro trying (validating) each branch of the union for every record.
A schema whose values need none of this gets no adapter (None): its values go through as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.convert.schema import Schema
from bridge.format.avro.schema import NAMESPACE

Adapt = Callable[[Any], Any]


def float_value(value: Any) -> float:
    """A FLOAT64/FLOAT32 Connect value (`msgspec.Raw`, "NaN", "Infinity", ...) as a float."""
    if type(value) is float:
        return value
    return float(value if isinstance(value, (str, int)) else bytes(value))


def adapter(schema: Schema) -> Adapt | None:
    """The function that makes a Connect value of `schema` Avro data, None when it is already."""
    return _Compiler().compile(schema)


class _Compiler:
    def __init__(self) -> None:
        self.default_names = 0

    def compile(self, s: Schema) -> Adapt | None:
        kind = s["type"]
        if kind in ("double", "float"):
            return float_value
        if kind == "array":
            item = self.compile(s["items"])
            if item is None:
                return None
            return lambda v: [None if x is None else item(x) for x in v]
        if kind == "map":
            return self._map(s)
        if kind == "struct":
            return self._struct(s)
        return None

    def _map(self, s: Schema) -> Adapt | None:
        keys, values = self.compile(s["keys"]), self.compile(s["values"])
        if s["keys"]["type"] == "string" and not s["keys"].get("optional"):
            if values is None:
                return None
            return lambda v: {k: None if x is None else values(x) for k, x in v.items()}
        key = keys or _same
        value = values or _same
        return lambda v: [{"key": None if k is None else key(k), "value": None if x is None else value(x)}
                          for k, x in v.items()]

    def _struct(self, s: Schema) -> Adapt | None:
        steps = []
        for f in s["fields"]:
            inner = self.compile(f)
            if f["type"] == "struct" and f.get("optional"):
                steps.append((f["field"], self._union_branch(f, inner)))
            elif inner is not None:
                steps.append((f["field"], inner))
        if not steps:
            return None
        changed = tuple(steps)

        def struct(value: dict) -> dict:
            out = dict(value)
            for name, adapt in changed:
                v = out.get(name)
                if v is not None:
                    out[name] = adapt(v)
            return out
        return struct

    def _union_branch(self, s: Schema, inner: Adapt | None) -> Adapt:
        if s.get("name"):
            name = s["name"]
        else:
            self.default_names += 1
            name = f"{NAMESPACE}.ConnectDefault{self.default_names if self.default_names > 1 else ''}"
        if inner is None:
            return lambda v: (name, v)
        return lambda v: (name, inner(v))


def _same(value: Any) -> Any:
    return value
