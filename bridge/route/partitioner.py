"""Where a key goes: which producer process, and which Kafka partition.

`hash = mmh3_32(salt || key bytes)`. The producer that owns a key is `hash % producers`, a
fixed function of the key, so one key's changes are always produced by one process, in WAL
order, by an idempotent producer: per-key order holds in Kafka. Ownership is by key, not by
partition, so a topic with a single partition still spreads its rows over every producer
(several idempotent producers may append to one partition; each key's events still come from
one of them, in order).

The partition is `hash % partitions(topic)` ("mmh3" mode), or, for cut-overs from Debezium,
Kafka's Java default partitioner over the serialized key ("murmur2" mode:
`toPositive(murmur2(key)) % partitions`), so existing keys stay on their partitions.

The salt spreads hot key ranges differently; changing it moves keys, so keep it fixed for a
topic's lifetime. Rows of tables without a key are spread by transaction: all rows of one
transaction go to one producer and partition.
"""

from __future__ import annotations

import struct

import mmh3

_U32 = struct.Struct("<I")
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def key_hash(salt: bytes, key: bytes) -> int:
    """Unsigned 32-bit salted murmur3 of a routing key."""
    return mmh3.hash(salt + key, 0, False)  # positional: (data, seed, signed)


def keyless_hash(salt: bytes, xid: int) -> int:
    """Hash for rows without a key: one value per transaction."""
    return mmh3.hash(salt + _U32.pack(xid & _MASK), 0, False)


def murmur2(data: bytes) -> int:
    """Kafka's `Utils.murmur2` (seed 0x9747b28c), as a signed 32-bit int like Java's."""
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    end = length - (length & 3)
    for i in range(0, end, 4):
        k = (data[i] | data[i + 1] << 8 | data[i + 2] << 16 | data[i + 3] << 24)
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    rest = length & 3
    if rest == 3:
        h ^= data[end + 2] << 16
    if rest >= 2:
        h ^= data[end + 1] << 8
    if rest >= 1:
        h ^= data[end]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def java_default_partition(key: bytes, partitions: int) -> int:
    """Partition the Java producer's default partitioner picks for a non-null key."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions
