"""Avro binary encoding of single values, compiled once per schema node: what the fast path
(`bridge.produce.avrorows`) puts together instead of handing whole records to fastavro.

Avro binary is a concatenation of field encodings in schema order (the specification's
"Binary Encoding"): int and long as zigzag varints, float and double as little-endian IEEE,
boolean one byte, string and bytes length-prefixed, a union as its branch index (a long) then
the branch, a record as its fields in order. `encoder(node)` compiles a schema node (the JSON
of `bridge.format.avro.schema.avro_schema`) into a function of a Connect value that writes
exactly the bytes fastavro's `schemaless_writer` writes for it after the converter's adapter
(`bridge.format.avro.values`): the same float spellings accepted, decimals' unscaled bytes
passed through, logical types on plain ints left as they are. Arrays, maps, enums and named
references are not compiled (None): a table with such a column keeps the general path.
"""

from __future__ import annotations

import struct
from functools import lru_cache
from collections.abc import Callable
from typing import Any

from bridge.format.avro.values import float_value

Encode = Callable[[Any], bytes]

_DOUBLE = struct.Struct("<d").pack
_FLOAT = struct.Struct("<f").pack
SMALL = tuple(bytes((n,)) for n in range(128))  # varints of one byte (the values below 128)
# varints of the values below 2**14, and the low 14 bits of a longer one (both bytes with
# their continuation bits), by value: a lookup instead of arithmetic on the hot path
FINAL14 = SMALL + tuple(bytes(((n & 0x7F) | 0x80, n >> 7)) for n in range(0x80, 0x4000))
LOW14 = tuple(bytes(((n & 0x7F) | 0x80, (n >> 7) | 0x80)) for n in range(0x4000))


def long_bytes(n: int) -> bytes:
    """The zigzag varint of a 64-bit signed integer (Avro's int and long)."""
    z = (n << 1) ^ (n >> 63)
    if z < 0x4000:
        return FINAL14[z]
    if z < 0x10000000:
        return LOW14[z & 0x3FFF] + FINAL14[z >> 14]
    return LOW14[z & 0x3FFF] + LOW14[z >> 14 & 0x3FFF] + _high(z >> 28)


def varint(z: int) -> bytes:
    """An unsigned varint (7 bits a byte, least significant first)."""
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


# the bits above the low 28 of the large values of every transaction (times) change seldom
_high = lru_cache(maxsize=256)(varint)


def _boolean(v: Any) -> bytes:
    return b"\x01" if v else b"\x00"


def _string(v: str) -> bytes:
    b = v.encode()
    return long_bytes(len(b)) + b


def _bytes(v: Any) -> bytes:
    b = bytes(v)
    return long_bytes(len(b)) + b


def _double(v: Any) -> bytes:
    return _DOUBLE(float_value(v))


def _float32(v: Any) -> bytes:
    return _FLOAT(float_value(v))


_PRIMITIVES: dict[str, Encode] = {"boolean": _boolean, "int": long_bytes, "long": long_bytes, "string": _string,
                                  "bytes": _bytes, "double": _double, "float": _float32,
                                  "null": lambda v: b""}


def encoder(node: Any, utf8: bool = False, names: dict | None = None, space: str | None = None) -> Encode | None:
    """The encoding of values of the schema node `node`; None when it is not compiled here.
    `utf8`: a string's values come as their UTF-8 bytes; `names`: the records compiled so far
    in the schema, by full name (a later use of a record is its name); `space`: the enclosing
    record's namespace (a name without a dot is in it)."""
    names = {} if names is None else names
    if isinstance(node, list):
        return _union(node, utf8, names, space)
    kind = node if isinstance(node, str) else node.get("type")
    if kind == "record":
        return _record(node, names, space)
    if kind == "string" and utf8:
        return _bytes
    if kind in _PRIMITIVES:
        return _PRIMITIVES[kind]  # properties and logical types change nothing for these values
    if isinstance(node, str):  # a reference to a record defined before
        return names.get(node if "." in node or not space else f"{space}.{node}")
    return None


def _union(branches: list, utf8: bool, names: dict, space: str | None) -> Encode | None:
    """A union of null and one other branch (what an optional Connect schema becomes)."""
    if len(branches) != 2 or "null" not in branches:
        return None
    null_index = branches.index("null")
    inner = encoder(branches[1 - null_index], utf8, names, space)
    if inner is None:
        return None
    null, tag = long_bytes(null_index), long_bytes(1 - null_index)

    def union(v: Any) -> bytes:
        return null if v is None else tag + inner(v)
    return union


def _record(node: dict, names: dict, space: str | None) -> Encode | None:
    space = node.get("namespace", space)  # Java's printer writes it where it changes
    full = f"{space}.{node['name']}" if space else node["name"]
    fields = []
    for f in node["fields"]:
        enc = encoder(f["type"], False, names, space)
        if enc is None:
            return None
        fields.append((f["name"], enc))
    steps = tuple(fields)

    def record(v: dict) -> bytes:
        return b"".join([enc(v.get(name)) for name, enc in steps])
    names[full] = record
    return record


def fits(node: Any, value: Any, utf8: bool = False, records: dict | None = None, space: str | None = None) -> bool:
    """Whether `value` is a value of `node` as fastavro checks a union's branches (the values
    that are not a converter's: NULL fallbacks, defaults, TOAST placeholders). `records`: the
    schema's records by full name (`records_of`), for references to them."""
    if isinstance(node, list):
        return value is None or any(fits(branch, value, utf8, records, space) for branch in node if branch != "null")
    kind = node if isinstance(node, str) else node.get("type")
    if isinstance(node, str) and kind not in _PRIMITIVES:
        node = (records or {}).get(node if "." in node or not space else f"{space}.{node}")
        if node is None:
            return False
        kind = "record"
    if kind == "record":
        space = node.get("namespace", space)
        return isinstance(value, dict) and all(fits(f["type"], value.get(f["name"]), False, records, space)
                                               for f in node["fields"])
    if kind in ("double", "float"):
        try:
            float_value(value)
        except (TypeError, ValueError):
            return False
        return True
    return type(value) in _TYPES.get(kind, ()) or (utf8 and kind == "string" and type(value) is bytes)


def records_of(node: Any, space: str | None = None, out: dict | None = None) -> dict:
    """The records a schema node defines, by full name."""
    out = {} if out is None else out
    if isinstance(node, list):
        for branch in node:
            records_of(branch, space, out)
    elif isinstance(node, dict):
        if node.get("type") == "record":
            space = node.get("namespace", space)
            out[f"{space}.{node['name']}" if space else node["name"]] = node
            for f in node["fields"]:
                records_of(f["type"], space, out)
        for inner in ("items", "values"):
            if inner in node:
                records_of(node[inner], space, out)
    return out


_TYPES = {"null": (type(None),), "boolean": (bool,), "int": (int,), "long": (int,), "string": (str,),
          "bytes": (bytes, bytearray)}


def union_tags(node: Any) -> tuple[bytes, bytes] | None:
    """(the null branch's tag, the other branch's tag) of a union of null and one more branch,
    else None."""
    if not isinstance(node, list) or len(node) != 2 or "null" not in node:
        return None
    i = node.index("null")
    return long_bytes(i), long_bytes(1 - i)
