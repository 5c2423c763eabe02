"""Target table and column names, as Debezium's JDBC sink makes them for PostgreSQL.

`collection.name.format` (default `${topic}`): `${topic}` is the topic name with every `.` made
`_` (DefaultCollectionNamingStrategy), `${source.<field>}` a field of the event's `source` block.
The result is split at dots into schema and table (TableId.parseParts: a three-part name's first
part is the catalog). With `quote.identifiers=false` names are folded to lower case, as
PostgreSQL folds unquoted identifiers; with true they are quoted as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

_SOURCE = re.compile(r"\$\{source\.(.*?)\}")


@dataclass(frozen=True, slots=True)
class TableName:
    schema: str | None
    name: str

    def sql(self) -> str:
        return f"{quote(self.schema)}.{quote(self.name)}" if self.schema else quote(self.name)

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


@dataclass(frozen=True, slots=True)
class Naming:
    table_format: str
    quote_identifiers: bool

    @property
    def uses_source(self) -> bool:
        return "${source." in self.table_format

    def column(self, field: str) -> str:
        return field if self.quote_identifiers else field.lower()

    def table(self, topic: str, source: Mapping[str, object] | None) -> TableName | None:
        """The table of a record of `topic` whose `source` block is `source`; None when the format
        needs a source block the record lacks (Debezium skips such a record with a warning)."""
        name = self.table_format.replace("${topic}", topic.replace(".", "_"))
        if "${source." in name:
            if source is None:
                return None
            name = _SOURCE.sub(lambda m: str(source.get(m.group(1), "")), name)
        parts = split_parts(name)
        if not self.quote_identifiers:
            parts = [p.lower() for p in parts]
        if len(parts) == 1:
            return TableName(None, parts[0])
        return TableName(parts[-2], parts[-1])


def split_parts(name: str) -> list[str]:
    """A dotted name's parts; a part in double quotes may hold dots (TableId.parseParts)."""
    parts, current, quoted, i = [], [], False, 0
    while i < len(name):
        ch = name[i]
        if ch == '"':
            if quoted and i + 1 < len(name) and name[i + 1] == '"':
                current.append('"')
                i += 2
                continue
            quoted = not quoted
        elif ch == "." and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return [p for p in parts if p] or [name]
