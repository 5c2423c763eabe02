"""Which tables are captured, and which columns key them: Debezium's filter properties.

As in Debezium (`Predicates.includes`/`excludes`): each list is comma-separated regular
expressions, matched case-insensitively against the whole name, the schema for
`schema.*.list` and `schema.table` for `table.*.list`. An include list and its exclude list
cannot both be set. System schemas are never captured.

`message.key.columns` is `<table regex>:<column>,<column>;...` and replaces a matching table's
key (its primary key) for routing and for the Kafka key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bridge.errors import ConfigError

_SYSTEM_SCHEMAS = frozenset({"pg_catalog", "information_schema", "pg_toast"})


def split_regex_list(text: str) -> list[str]:
    """Split at commas that are not inside (), [] or {} (so `a{1,3}` stays one pattern)."""
    parts, depth, current = [], 0, []
    escaped = False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
            continue
        if ch == "\\":
            escaped = True
            current.append(ch)
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def _compile(key: str, text: str | None) -> tuple[re.Pattern[str], ...] | None:
    if text is None or not text.strip():
        return None
    patterns = []
    for part in split_regex_list(text):
        try:
            patterns.append(re.compile(part, re.IGNORECASE))
        except re.error as exc:
            raise ConfigError(f"{key}={text!r} is invalid: {part!r} is not a regular expression ({exc})") from None
    return tuple(patterns)


def _any(patterns: tuple[re.Pattern[str], ...], name: str) -> bool:
    return any(p.fullmatch(name) for p in patterns)


@dataclass(frozen=True, slots=True)
class TableFilter:
    schema_include: tuple[re.Pattern[str], ...] | None = None
    schema_exclude: tuple[re.Pattern[str], ...] | None = None
    table_include: tuple[re.Pattern[str], ...] | None = None
    table_exclude: tuple[re.Pattern[str], ...] | None = None
    key_columns: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = ()

    @classmethod
    def from_lists(cls, *, schema_include: str | None = None, schema_exclude: str | None = None,
                   table_include: str | None = None, table_exclude: str | None = None,
                   key_columns: str | None = None, labels: dict[str, str] | None = None) -> TableFilter:
        names = {"schema.include.list": "schema.include.list", "schema.exclude.list": "schema.exclude.list",
                 "table.include.list": "table.include.list", "table.exclude.list": "table.exclude.list",
                 "message.key.columns": "message.key.columns", **(labels or {})}
        for include, exclude, a, b in ((schema_include, schema_exclude, "schema.include.list", "schema.exclude.list"),
                                       (table_include, table_exclude, "table.include.list", "table.exclude.list")):
            if include and include.strip() and exclude and exclude.strip():
                raise ConfigError(f"{names[a]} and {names[b]} cannot both be set")
        return cls(
            _compile(names["schema.include.list"], schema_include),
            _compile(names["schema.exclude.list"], schema_exclude),
            _compile(names["table.include.list"], table_include),
            _compile(names["table.exclude.list"], table_exclude),
            _key_columns(names["message.key.columns"], key_columns),
        )

    def captures(self, schema: str, table: str) -> bool:
        if schema in _SYSTEM_SCHEMAS:
            return False
        if self.schema_include is not None and not _any(self.schema_include, schema):
            return False
        if self.schema_exclude is not None and _any(self.schema_exclude, schema):
            return False
        qualified = f"{schema}.{table}"
        if self.table_include is not None and not _any(self.table_include, qualified):
            return False
        if self.table_exclude is not None and _any(self.table_exclude, qualified):
            return False
        return True

    def key_override(self, schema: str, table: str) -> tuple[str, ...] | None:
        qualified = f"{schema}.{table}"
        for pattern, columns in self.key_columns:
            if pattern.fullmatch(qualified):
                return columns
        return None


def _key_columns(key: str, text: str | None) -> tuple[tuple[re.Pattern[str], tuple[str, ...]], ...]:
    if text is None or not text.strip():
        return ()
    out = []
    for entry in (e.strip() for e in text.split(";")):
        if not entry:
            continue
        table, sep, columns = entry.rpartition(":")
        names = tuple(c.strip() for c in columns.split(",") if c.strip())
        if not sep or not table.strip() or not names:
            raise ConfigError(f"{key}={text!r} is invalid: expected <schema.table>:<column>[,<column>...] "
                              "entries separated by ';'")
        try:
            out.append((re.compile(table.strip(), re.IGNORECASE), names))
        except re.error as exc:
            raise ConfigError(f"{key}={text!r} is invalid: {table!r} is not a regular expression ({exc})") from None
    return tuple(out)
