"""The iteration order of Java's `HashMap` and `HashSet`, which Debezium's notifications show.

Debezium builds a notification's `additional_data` as a `java.util.HashMap`, and joins some
table lists from a `java.util.HashSet`; JsonConverter and `toString` write them in iteration
order: by bucket (the key's `String.hashCode`, spread `h ^ (h >>> 16)`, masked by the table
size), and within a bucket in insertion order (a resize splits a bucket keeping that order, so
the final order is insertion order sorted stably by final bucket). Table sizes follow JDK 17:
`new HashMap<>()` gets 16 slots at its first put; the copy constructor pre-sizes for its source
(`tableSizeFor((int) (n / 0.75f + 1))`); `new HashSet<>(collection)` asks for
`max((int) (n / .75f) + 1, 16)`; a map doubles when its size passes three quarters of the table.
Bins of 8 or more colliding keys (trees) do not occur with the few keys written here.
"""

from __future__ import annotations

from collections.abc import Iterable

_LOAD_FACTOR = 0.75
_DEFAULT_CAPACITY = 16


def string_hash(text: str) -> int:
    """Java's `String.hashCode` (over UTF-16 code units), as an unsigned 32-bit int."""
    h = 0
    data = text.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + (data[i] << 8 | data[i + 1])) & 0xFFFFFFFF
    return h


def _spread(h: int) -> int:
    return h ^ (h >> 16)


def _table_size_for(capacity: int) -> int:
    """The smallest power of two at or above `capacity` (1 at least)."""
    size = 1
    while size < capacity:
        size <<= 1
    return size


class JavaHashMap:
    """Keys and values of a `java.util.HashMap` of strings, iterated in Java's order."""

    __slots__ = ("_entries", "_capacity", "_threshold")

    def __init__(self, initial_capacity: int | None = None) -> None:
        self._entries: dict[str, str] = {}  # insertion order
        self._capacity = 0  # no table until the first put
        # before the table exists: the capacity it will get (0: the default)
        self._threshold = 0 if initial_capacity is None else _table_size_for(initial_capacity)

    @classmethod
    def copy_of(cls, source: Iterable[tuple[str, str]]) -> JavaHashMap:
        """`new HashMap<>(source)`: pre-sized for it, then its entries in its iteration order."""
        pairs = list(source)
        made = cls()
        if pairs:
            made._threshold = _table_size_for(int(len(pairs) / _LOAD_FACTOR + 1))
        for key, value in pairs:
            made.put(key, value)
        return made

    def put(self, key: str, value: str) -> None:
        if key in self._entries:
            self._entries[key] = value
            return
        if self._capacity == 0:
            self._resize()
        self._entries[key] = value
        if len(self._entries) > self._threshold:
            self._resize()

    def _resize(self) -> None:
        if self._capacity:
            self._capacity *= 2
        else:
            self._capacity = self._threshold or _DEFAULT_CAPACITY
        self._threshold = int(self._capacity * _LOAD_FACTOR)

    def items(self) -> list[tuple[str, str]]:
        """The entries in Java's iteration order."""
        mask = self._capacity - 1
        return sorted(self._entries.items(), key=lambda kv: _spread(string_hash(kv[0])) & mask)

    def __str__(self) -> str:
        """`AbstractMap.toString`: `{k=v, k=v}`."""
        return "{" + ", ".join(f"{k}={v}" for k, v in self.items()) + "}"


def hash_set_order(elements: Iterable[str]) -> list[str]:
    """`new HashSet<>(elements)` (strings, or objects hashing as their string) in iteration order."""
    items = list(dict.fromkeys(elements))
    made = JavaHashMap(max(int(len(items) / _LOAD_FACTOR) + 1, _DEFAULT_CAPACITY))
    for item in items:
        made.put(item, "")
    return [k for k, _ in made.items()]


def string_order(elements: Iterable[str]) -> list[str]:
    """Sorted as Java's `String.compareTo` sorts (UTF-16 code units), as a `TreeSet` iterates."""
    return sorted(set(elements), key=lambda s: s.encode("utf-16-be"))
