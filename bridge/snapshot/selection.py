"""Which tables a snapshot reads, in which order (Debezium's `RelationalSnapshotChangeEventSource`).

- The captured tables are those of the connector's filters (`bridge.route.filters.TableFilter`:
  schema/table include and exclude lists, Debezium's splitting and matching rules).
- `snapshot.include.collection.list` further restricts which captured tables get a snapshot.
- Snapshot order: with `table.include.list`, pattern by pattern in list order, each pattern's
  tables sorted by name (a table matched twice keeps its first place); otherwise all tables
  sorted by `schema.table`.
- `snapshot.select.statement.overrides` names tables whose snapshot query is
  `snapshot.select.statement.overrides.<schema.table>`.
- The signal table (`signal.data.collection`) is captured whatever the filters say, and its rows
  are never read by the snapshot (Debezium skips it); it is listed among the snapshot's tables
  in its notifications (`listed`), after the include list's tables.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bridge.route.filters import TableFilter, compile_list
from bridge.snapshot.settings import SnapshotConfig

log = logging.getLogger(__name__)

OVERRIDES_KEY = "snapshot.select.statement.overrides"


@dataclass(frozen=True, slots=True)
class TableSelection:
    filters: TableFilter = field(default_factory=TableFilter)
    snapshot_include: tuple = ()
    # `schema.table` -> the SELECT that replaces the table's snapshot query
    select_overrides: Mapping[str, str] = field(default_factory=dict)
    signal_table: str | None = None  # signal.data.collection, "schema.table"

    @classmethod
    def from_properties(cls, props: Mapping[str, str], filters: TableFilter | None = None) -> TableSelection:
        """From connector properties, by their Debezium names (no `debezium.source.` prefix).
        `filters` defaults to the ones those properties describe."""
        overrides = {}
        for table in (t.strip() for t in props.get(OVERRIDES_KEY, "").split(",")):
            if not table:
                continue
            statement = props.get(f"{OVERRIDES_KEY}.{table}")
            if statement is None:  # Debezium warns and reads the table normally
                log.warning("%s names %s but %s.%s is not set; reading the whole table",
                            OVERRIDES_KEY, table, OVERRIDES_KEY, table)
                continue
            overrides[table] = statement
        if filters is None:
            filters = TableFilter.from_lists(
                schema_include=props.get("schema.include.list"), schema_exclude=props.get("schema.exclude.list"),
                table_include=props.get("table.include.list"), table_exclude=props.get("table.exclude.list"))
        snapshot_include = compile_list("snapshot.include.collection.list",
                                        props.get("snapshot.include.collection.list")) or ()
        return cls(filters, snapshot_include, overrides)

    @classmethod
    def of(cls, snap: SnapshotConfig, filters: TableFilter, signal_table: str | None = None) -> TableSelection:
        include = compile_list("snapshot.include.collection.list", snap.include) or ()
        return cls(filters, include, dict(snap.select_overrides), signal_table)

    def captured(self, schema: str, table: str) -> bool:
        """Whether the connector captures `schema.table` at all (stream and snapshot)."""
        return self.filters.captures(schema, table)

    def snapshotted(self, schema: str, table: str) -> bool:
        """Whether the initial snapshot reads `schema.table`."""
        return f"{schema}.{table}" != self.signal_table and self.listed(schema, table)

    def listed(self, schema: str, table: str) -> bool:
        """Whether `schema.table` is one of the snapshot's tables (Debezium's captured tables of
        the snapshot): read, or the signal table."""
        qualified = f"{schema}.{table}"
        if not (self.captured(schema, table) or qualified == self.signal_table):
            return False
        return not self.snapshot_include or any(p.fullmatch(qualified) for p in self.snapshot_include)

    def listed_order(self, tables: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """`order`, then the signal table when the include list does not name it (Debezium's
        captured tables: the include list's patterns, then the signal table's)."""
        tables = set(tables)
        ordered = self.order(tables)
        ordered += [t for t in sorted(tables) if f"{t[0]}.{t[1]}" == self.signal_table and t not in ordered]
        return ordered

    def order(self, tables: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """`tables` ((schema, table) pairs) in Debezium's snapshot order."""
        by_name = sorted(set(tables), key=lambda t: f"{t[0]}.{t[1]}")
        if not self.filters.table_include:
            return by_name
        ordered: dict[tuple[str, str], None] = {}
        for pattern in self.filters.table_include:
            ordered.update((t, None) for t in by_name if pattern.fullmatch(f"{t[0]}.{t[1]}"))
        return list(ordered)
