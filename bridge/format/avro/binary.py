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
    return LOW14[z & 0x3FFF] + LOW14[z >> 14 & 0x3FFF] + varint(z >> 28)


def varint(z: int) -> bytes:
    """An unsigned varint (7 bits a byte, least significant first)."""
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


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


def encoder(node: Any, utf8: bool = False) -> Encode | None:
    """The encoding of values of the schema node `node`; None when it is not compiled here.
    `utf8`: a string's values come as their UTF-8 bytes."""
    if isinstance(node, list):
        return _union(node, utf8)
    kind = node if isinstance(node, str) else node.get("type")
    if kind == "record":
        return _record(node)
    if kind == "string" and utf8:
        return _bytes
    if isinstance(kind, str):
        return _PRIMITIVES.get(kind)  # properties and logical types change nothing for these values
    return None


def _union(branches: list, utf8: bool) -> Encode | None:
    """A union of null and one other branch (what an optional Connect schema becomes)."""
    if len(branches) != 2 or "null" not in branches:
        return None
    null_index = branches.index("null")
    inner = encoder(branches[1 - null_index], utf8)
    if inner is None:
        return None
    null, tag = long_bytes(null_index), long_bytes(1 - null_index)

    def union(v: Any) -> bytes:
        return null if v is None else tag + inner(v)
    return union


def _record(node: dict) -> Encode | None:
    fields = []
    for f in node["fields"]:
        enc = encoder(f["type"])
        if enc is None:
            return None
        fields.append((f["name"], enc))
    steps = tuple(fields)

    def record(v: dict) -> bytes:
        return b"".join([enc(v.get(name)) for name, enc in steps])
    return record


def union_tags(node: Any) -> tuple[bytes, bytes] | None:
    """(the null branch's tag, the other branch's tag) of a union of null and one more branch,
    else None."""
    if not isinstance(node, list) or len(node) != 2 or "null" not in node:
        return None
    i = node.index("null")
    return long_bytes(i), long_bytes(1 - i)
