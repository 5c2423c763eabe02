"""Debezium's column mapping keys: which columns are truncated, masked or hashed.

The keys name the operation, the value lists the columns (Debezium's ColumnMappers.create):
- `column.truncate.to.<n>.chars`: cut the value to `n` characters;
- `column.mask.with.<n>.chars`: replace the value with `n` asterisks (`0`: an empty string);
- `column.mask.hash.<algorithm>.with.salt.<salt>`: replace the value with the hex digest of the
  salt and the value's Java serialization (hashing strategy V1);
- `column.mask.hash.v2.<algorithm>.with.salt.<salt>`: the same over the value's UTF-8 bytes (V2).
`<algorithm>` is a Java MessageDigest name (case-insensitive, no dot), `<salt>` the rest of
the key (dots allowed). There is no other spelling: Debezium's hashing strategy is chosen by the
`v2.` of the key, and any other `column.mask.*` / `column.truncate.*` key is refused.

The value is a comma-separated list of regular expressions matched case-insensitively against
the whole `<schema>.<table>.<column>` (no database name: Debezium's PostgreSQL table ids have
none). A column takes the first rule that lists it, families in Debezium's order: every
truncation, then every mask, then every V1 hash, then every V2 hash. Within one family Debezium
takes them in the order of a Java HashMap, which no file controls; pgbridge takes the file's.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from bridge.errors import ConfigError
from bridge.properties import PropertyReader
from bridge.route.filters import compile_list

SOURCE = "debezium.source."
TRUNCATE, MASK, HASH = "truncate", "mask", "hash"
_JAVA_INT_MAX = 2**31 - 1  # Debezium reads <n> with Integer.valueOf and drops a key it cannot

_TRUNCATE = re.compile(r"column\.truncate\.to\.([0-9]+)\.chars")
_MASK = re.compile(r"column\.mask\.with\.([0-9]+)\.chars")
_HASH = re.compile(r"column\.mask\.hash\.(v2\.)?([^.]+)\.with\.salt\.(.+)")

# Java MessageDigest names and the aliases Java 17's SUN provider gives them (looked up
# case-insensitively), with the hashlib name of the same digest.
_ALGORITHMS = {
    "MD5": "md5",
    "SHA-1": "sha1", "SHA1": "sha1", "SHA": "sha1",
    "SHA-224": "sha224", "SHA224": "sha224",
    "SHA-256": "sha256", "SHA256": "sha256",
    "SHA-384": "sha384", "SHA384": "sha384",
    "SHA-512": "sha512", "SHA512": "sha512",
    "SHA-512/224": "sha512_224", "SHA512/224": "sha512_224",
    "SHA-512/256": "sha512_256", "SHA512/256": "sha512_256",
    "SHA3-224": "sha3_224", "SHA3-256": "sha3_256", "SHA3-384": "sha3_384", "SHA3-512": "sha3_512",
}
_KEYS = ("column.truncate.to.<n>.chars, column.mask.with.<n>.chars, column.mask.hash.<algorithm>.with.salt.<salt> "
         "or column.mask.hash.v2.<algorithm>.with.salt.<salt> (hashing strategy V2)")


@dataclass(frozen=True, slots=True)
class ColumnRule:
    """One key: what it does (`kind`) to the columns its `patterns` match."""

    key: str  # as the file wrote it
    patterns: tuple[re.Pattern[str], ...]
    kind: str  # TRUNCATE | MASK | HASH
    chars: int = 0  # TRUNCATE: the length kept; MASK: the number of '*'
    algorithm: str = ""  # HASH: the hashlib name
    salt: bytes = b""  # HASH: the salt's bytes (Java's String.getBytes, UTF-8)
    v2: bool = False  # HASH: strategy V2 (the value's bytes) rather than V1 (its Java serialization)


@dataclass(frozen=True, slots=True)
class ColumnRules:
    """Every rule, in the order Debezium tries them."""

    rules: tuple[ColumnRule, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.rules)

    def rule_for(self, schema: str, table: str, column: str) -> ColumnRule | None:
        """The rule of a column: the first that lists `<schema>.<table>.<column>`."""
        name = f"{schema}.{table}.{column}"
        for rule in self.rules:
            if any(p.fullmatch(name) for p in rule.patterns):
                return rule
        return None


NO_RULES = ColumnRules()


def read_columns(r: PropertyReader) -> ColumnRules:
    """The `column.mask.*` and `column.truncate.*` keys; a key Debezium would not honour as
    written (another spelling, a count beyond Java's int, a digest Java or Python lacks) is
    refused with a ConfigError naming it."""
    found = {**r.with_prefix(SOURCE + "column.truncate."), **r.with_prefix(SOURCE + "column.mask.")}
    by_kind: dict[str, list[ColumnRule]] = {TRUNCATE: [], MASK: [], HASH: [], "v2": []}
    for key, value in found.items():
        rule = _rule(r.label(key), key[len(SOURCE):], value)
        if rule.patterns:
            by_kind["v2" if rule.v2 else rule.kind].append(rule)
    return ColumnRules(tuple(by_kind[TRUNCATE] + by_kind[MASK] + by_kind[HASH] + by_kind["v2"]))


def _rule(label: str, name: str, value: str) -> ColumnRule:
    patterns = compile_list(label, value) or ()
    for kind, pattern in ((TRUNCATE, _TRUNCATE), (MASK, _MASK)):
        if (m := pattern.fullmatch(name)) is not None:
            chars = int(m[1])
            if chars > _JAVA_INT_MAX:
                raise ConfigError(f"{label} is invalid: {m[1]} characters is beyond what Debezium reads "
                                  f"(at most {_JAVA_INT_MAX})")
            return ColumnRule(label, patterns, kind, chars=chars)
    m = _HASH.fullmatch(name)
    if m is None:
        raise ConfigError(f"{label} is not a column mapping key Debezium knows: use {_KEYS}")
    algorithm = _ALGORITHMS.get(m[2].upper())
    if algorithm is None or algorithm not in hashlib.algorithms_available:
        raise ConfigError(f"{label} is invalid: {m[2]!r} is not a digest pgbridge can compute as Java does; "
                          f"use one of {', '.join(n for n, a in _ALGORITHMS.items() if '-' in n or a == 'md5')}")
    return ColumnRule(label, patterns, HASH, algorithm=algorithm, salt=m[3].encode(), v2=m[1] is not None)
