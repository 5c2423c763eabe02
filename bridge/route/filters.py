"""Which tables are captured, and which columns key them: Debezium's filter properties.

As in Debezium (`Predicates.includes`/`excludes`, `Strings.RegExSplitter`): each list is
comma-separated regular expressions (`\\,` escapes a comma), matched case-insensitively against
the whole name, the schema for
`schema.*.list` and `schema.table` for `table.*.list`. An include list and its exclude list
cannot both be set. System schemas are never captured.

`message.prefix.include.list` / `exclude.list` filter logical messages by prefix the same way,
and `column.include.list` / `exclude.list` the columns of the events, as `schema.table.column`.

`message.key.columns` is `<table regex>:<column>,<column>;...` and replaces a matching table's
key (its primary key) for routing and for the Kafka key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bridge.errors import ConfigError

# Java's Pattern.CASE_INSENSITIVE without UNICODE_CASE folds ASCII letters only.
_FLAGS = re.IGNORECASE | re.ASCII
_SYSTEM_SCHEMAS = frozenset({"pg_catalog", "information_schema", "pg_toast"})


def split_regex_list(text: str | None) -> list[str]:
    """Debezium's `Strings.RegExSplitter`: split at commas not escaped by a backslash (`\\,` is a
    comma inside an expression); items are trimmed, empty ones dropped."""
    if not text:
        return []
    parts, start, i = [], 0, 0
    while i < len(text):
        if text[i] == "\\":
            i += 2  # the escaped character never separates
            continue
        if text[i] == ",":
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return [p.strip().replace("\\,", ",") for p in parts if p.strip()]


def compile_list(key: str, text: str | None) -> tuple[re.Pattern[str], ...] | None:
    if text is None or not text.strip():
        return None
    patterns = []
    for part in split_regex_list(text):
        try:
            patterns.append(re.compile(part, _FLAGS))
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
    message_include: tuple[re.Pattern[str], ...] | None = None
    message_exclude: tuple[re.Pattern[str], ...] | None = None
    column_include: tuple[re.Pattern[str], ...] | None = None
    column_exclude: tuple[re.Pattern[str], ...] | None = None

    @classmethod
    def from_lists(cls, *, schema_include: str | None = None, schema_exclude: str | None = None,
                   table_include: str | None = None, table_exclude: str | None = None,
                   key_columns: str | None = None, message_include: str | None = None,
                   message_exclude: str | None = None, column_include: str | None = None,
                   column_exclude: str | None = None, labels: dict[str, str] | None = None) -> TableFilter:
        names = {"schema.include.list": "schema.include.list", "schema.exclude.list": "schema.exclude.list",
                 "table.include.list": "table.include.list", "table.exclude.list": "table.exclude.list",
                 "message.key.columns": "message.key.columns",
                 "message.prefix.include.list": "message.prefix.include.list",
                 "message.prefix.exclude.list": "message.prefix.exclude.list",
                 "column.include.list": "column.include.list", "column.exclude.list": "column.exclude.list",
                 **(labels or {})}
        for include, exclude, a, b in ((schema_include, schema_exclude, "schema.include.list", "schema.exclude.list"),
                                       (table_include, table_exclude, "table.include.list", "table.exclude.list"),
                                       (message_include, message_exclude, "message.prefix.include.list",
                                        "message.prefix.exclude.list"),
                                       (column_include, column_exclude, "column.include.list", "column.exclude.list")):
            if include and include.strip() and exclude and exclude.strip():
                raise ConfigError(f"{names[a]} and {names[b]} cannot both be set")
        return cls(
            compile_list(names["schema.include.list"], schema_include),
            compile_list(names["schema.exclude.list"], schema_exclude),
            compile_list(names["table.include.list"], table_include),
            compile_list(names["table.exclude.list"], table_exclude),
            _key_columns(names["message.key.columns"], key_columns),
            compile_list(names["message.prefix.include.list"], message_include),
            compile_list(names["message.prefix.exclude.list"], message_exclude),
            compile_list(names["column.include.list"], column_include),
            compile_list(names["column.exclude.list"], column_exclude),
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

    def captures_message(self, prefix: str) -> bool:
        """`message.prefix.include.list` / `exclude.list` for logical decoding messages."""
        if self.message_include is not None and not _any(self.message_include, prefix):
            return False
        return self.message_exclude is None or not _any(self.message_exclude, prefix)

    def captures_column(self, schema: str, table: str, column: str) -> bool:
        """`column.include.list` / `exclude.list`, matched against `schema.table.column`."""
        name = f"{schema}.{table}.{column}"
        if self.column_include is not None and not _any(self.column_include, name):
            return False
        return self.column_exclude is None or not _any(self.column_exclude, name)

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
            out.append((re.compile(table.strip(), _FLAGS), names))
        except re.error as exc:
            raise ConfigError(f"{key}={text!r} is invalid: {table!r} is not a regular expression ({exc})") from None
    return tuple(out)
