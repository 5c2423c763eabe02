"""Debezium's PartitionRouting (`io.debezium.transforms.partitions.PartitionRouting`): a change
event's partition from fields of its payload, as Debezium 3.7 computes it.

- `partition.payload.fields`: envelope fields, nested with dots (`after.customer_id`,
  `source.table`, `op`); `change.<field>` is `before.<field>` on a delete, else `after.<field>`.
  A field the envelope does not have, or whose value is null, is left out; reading through a
  null struct (`before.x` on a create) fails the event, as it fails Debezium's task. When no
  field is left, the record passes unchanged.
- partition = (sum of the values' hashes, as a 32-bit int) & 0x7fffffff (0 when that is
  0x7fffffff) % `partition.topic.num`. `partition.hash.function`: `java` (default; any other
  value too) is Java's `hashCode` of the value (String over UTF-16 units, Integer, Long,
  Short, Byte, Boolean, Float, Double as Java defines them), `murmur` Debezium's MurmurHash3
  (x64, seed 9001, the high 32 bits of h1) of a String's UTF-8 bytes, else of the 4 bytes of
  its `hashCode`. Values without a stable Java hash (bytes, decimals, structs, arrays) are
  refused when the first event of a table meets them.
- Tombstones, records that are not change events, truncates and logical messages pass.

Routing: the partition comes from the payload, not the key: a table with this step is routed
by table (`changes_routing`), so every partition it picks is written by one producer in order.
"""

from __future__ import annotations

import struct

from bridge.convert.schema import Schema
from bridge.transform.kafka.structs import TransformFailed
from bridge.transform.record import ConnectRecord
from bridge.transform.smt_settings import TransformSpec

_M64 = (1 << 64) - 1
_M32 = 0xFFFFFFFF
_C1, _C2 = 0x87C37B91114253D5, 0x4CF5AD432745937F
_INTS = ("int8", "int16", "int32")
_HASHED = (*_INTS, "int64", "float", "double", "boolean", "string")


class PartitionError(TransformFailed):
    """Debezium's PartitionRouting fails the event (and its task) here."""


def _int32(v: int) -> int:
    v &= _M32
    return v - (1 << 32) if v & 0x80000000 else v


def java_string_hash(text: str) -> int:
    h = 0
    raw = text.encode("utf-16-be", "surrogatepass")
    for i in range(0, len(raw), 2):
        h = (31 * h + (raw[i] << 8 | raw[i + 1])) & _M32
    return _int32(h)


def java_hash(value: object, type_: str) -> int:
    """Java's `hashCode` of a Connect value of schema type `type_`."""
    if type_ == "string":
        return java_string_hash(value)  # type: ignore[arg-type]
    if type_ == "boolean":
        return 1231 if value else 1237
    if type_ in _INTS:
        return value  # type: ignore[return-value]
    if type_ == "int64":
        v = value & _M64  # type: ignore[operator]
        return _int32(v ^ (v >> 32))
    # a double's Connect value here is its JSON (Java spelling) or "NaN" / "Infinity" / "-Infinity"
    number = float(value if isinstance(value, (str, int, float)) else bytes(value))  # type: ignore[arg-type]
    if type_ == "float":
        return _int32(struct.unpack(">i", struct.pack(">f", number))[0] if number == number else 0x7FC00000)
    bits = struct.unpack(">q", struct.pack(">d", number))[0] & _M64 if number == number else 0x7FF8000000000000
    return _int32(bits ^ (bits >> 32))


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M64


def _fmix(k: int) -> int:
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & _M64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & _M64
    return k ^ (k >> 33)


def murmur3_x64_32(data: bytes, seed: int = 9001) -> int:
    """Debezium's MurmurHash3_x64_32: the high 32 bits of MurmurHash3_x64_64 (h1 of x64_128,
    with its per-block constants c1, c2 updated as Debezium's variant does), tail bytes
    sign-extended as Java's `(long) byte` is."""
    h1, h2, c1, c2 = 0x9368E53C2F6AF274 ^ seed, 0x586DCD208F7CD3FD ^ seed, _C1, _C2

    def bmix(k1: int, k2: int) -> None:
        nonlocal h1, h2, c1, c2
        k1 = _rotl((k1 * c1) & _M64, 23)
        k1 = (k1 * c2) & _M64
        h1 = ((h1 ^ k1) + h2) & _M64
        h2 = _rotl(h2, 41)
        k2 = _rotl((k2 * c2) & _M64, 23)
        k2 = (k2 * c1) & _M64
        h2 = ((h2 ^ k2) + h1) & _M64
        h1 = (h1 * 3 + 0x52DCE729) & _M64
        h2 = (h2 * 3 + 0x38495AB5) & _M64
        c1 = (c1 * 5 + 0x7B7D159C) & _M64
        c2 = (c2 * 5 + 0x6BCE6396) & _M64

    n = len(data)
    blocks = n // 16
    for i in range(blocks):
        bmix(int.from_bytes(data[16 * i:16 * i + 8], "little"), int.from_bytes(data[16 * i + 8:16 * i + 16], "little"))
    tail = data[16 * blocks:]
    if tail:
        k1 = k2 = 0
        for i, b in enumerate(tail):
            signed = (b - 256 if b & 0x80 else b) & _M64  # (long) byte: sign-extended
            if i < 8:
                k1 ^= (signed << (8 * i)) & _M64
            else:
                k2 ^= (signed << (8 * (i - 8))) & _M64
        bmix(k1, k2)
    h2 ^= n
    h1 = (h1 + h2) & _M64
    h2 = (h2 + h1) & _M64
    h1, h2 = _fmix(h1), _fmix(h2)
    h1 = (h1 + h2) & _M64
    return _int32(h1 >> 32)


def murmur_hash(value: object, type_: str) -> int:
    if type_ == "string":
        # Debezium reads a String's code points as UTF-8, a lone surrogate as '?'
        return murmur3_x64_32(value.encode("utf-8", "replace"))  # type: ignore[attr-defined]
    return murmur3_x64_32(struct.pack("<i", java_hash(value, type_)))


class PartitionRouting:
    changes_routing = True  # see the module docstring

    def __init__(self, spec: TransformSpec, _headers: object = None) -> None:
        fields = [f.strip() for f in spec.option("partition.payload.fields", "").split(",")]
        self._paths = tuple(tuple(p.strip() for p in f.split(".")) for f in fields)
        self._partitions = int(spec.option("partition.topic.num", "0").strip())
        murmur = spec.option("partition.hash.function", "java").strip().lower() == "murmur"
        self._hash = murmur_hash if murmur else java_hash
        self._plans: dict[int, tuple[Schema, dict[tuple[str, ...], str | None]]] = {}

    def __call__(self, record: ConnectRecord) -> ConnectRecord:
        envelope, schema = record.value, record.value_schema
        if envelope is None or schema is None or not str(schema.get("name", "")).endswith(".Envelope"):
            return record
        op = envelope.get("op")  # type: ignore[attr-defined]
        if op == "t" or op == "m":
            return record
        types = self._types(schema)
        total = 0
        found = False
        for path in self._paths:
            type_ = types.get(path)
            if type_ is None:
                continue  # not a field of this envelope
            value = self._value(envelope, path, op)  # type: ignore[arg-type]
            if value is None:
                continue
            if type_ not in _HASHED:
                raise PartitionError(f"PartitionRouting: the field {'.'.join(path)} ({type_}) has no hash pgbridge "
                                     "computes as Java does; use string, integer, boolean or floating point fields")
            total = _int32(total + self._hash(value, type_))
            found = True
        if not found:
            return record
        normalized = total & 0x7FFFFFFF
        partition = (0 if normalized == 0x7FFFFFFF else normalized) % self._partitions
        return record._replace(partition=partition, headers=list(record.headers))

    @staticmethod
    def _value(envelope: dict, path: tuple[str, ...], op: str) -> object:
        current: object = envelope
        for i, name in enumerate(path):
            if name == "change" and i < len(path) - 1:
                name = "before" if op == "d" else "after"
            if current is None:
                raise PartitionError(f"PartitionRouting: unprocessable message: {'.'.join(path[:i])} is null "
                                     f"(reading {'.'.join(path)})")
            current = current.get(name)  # type: ignore[attr-defined]
        return current

    def _types(self, envelope: Schema) -> dict[tuple[str, ...], str | None]:
        """For each configured path the envelope has, its schema type (`change` read as `after`;
        `before` has the same schema)."""
        found = self._plans.get(id(envelope))
        if found is not None and found[0] is envelope:
            return found[1]
        types: dict[tuple[str, ...], str | None] = {}
        for path in self._paths:
            schema: Schema | None = envelope
            for i, name in enumerate(path):
                if name == "change" and i < len(path) - 1:
                    name = "after"
                fields = {f["field"]: f for f in schema.get("fields", ())} if schema is not None else {}
                schema = fields.get(name)
                if schema is None:
                    break
            if schema is not None:
                types[path] = schema["type"]
        self._plans[id(envelope)] = (envelope, types)
        return types
