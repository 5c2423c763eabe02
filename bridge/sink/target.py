"""The target tables as the sink sees them: their columns and types from the catalog, created or
widened with `schema.evolution=basic`, and given the hidden ordering column the LSN guard keeps.

Debezium's JDBC sink with `schema.evolution=basic` creates a missing table (key columns first,
NOT NULL, a primary key over them) and adds missing columns (a required field without a default
cannot be added), each with the field's default as its DEFAULT (`bridge.sink.defaults`); it never
changes or drops a column. DDL runs in the batch's transaction, so a
rolled-back batch leaves no half-made table (the cache is dropped with it).
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg2

from bridge.sink.defaults import default_clause
from bridge.sink.naming import TableName, quote
from bridge.sink.quarantine.mismatch import SchemaMismatch
from bridge.sink.records import TRUNCATE, Change, RecordRefused
from bridge.sink.settings import SinkConfig
from bridge.sink.values import column_type

def connect(dsn: str):
    """A connection to the target in the UTF8 client encoding whatever the database's, as PgJDBC's
    (Debezium's JDBC sink's) always is: a character the database's encoding cannot hold is then
    PostgreSQL's error on that record's row (22P05: the record refused, dead-lettered with
    errors.tolerance=all) instead of Python's UnicodeEncodeError on the whole batch, which
    stopped the sink on every restart."""
    return psycopg2.connect(dsn, client_encoding="UTF8")


_COLUMNS = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), format_type(a.atttypid, NULL)
FROM pg_attribute a
WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum"""

# COPY FROM runs a table's triggers and checks as INSERT does, but not its rules (ON INSERT: event
# type '3'; pg_class.relhasrules stays true once a table had one), and it writes a GENERATED ALWAYS
# identity column that INSERT refuses; it writes into a plain or partitioned table only
_COPYABLE = """
SELECT c.relkind IN ('r', 'p')
    AND NOT EXISTS (SELECT FROM pg_rewrite r WHERE r.ev_class = c.oid AND r.ev_type = '3')
    AND NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attidentity = 'a' AND NOT a.attisdropped)
FROM pg_class c WHERE c.oid = to_regclass(%s)"""


# A cast to the type without its modifier lets the column's own assignment judge the value (a
# too-long string is an error, as it is for Debezium's bound parameters, not cut as an explicit
# `::varchar(3)` would cut it); bit and character without a modifier would mean length 1.
# Workers of one sink (and several sinks) serialise their DDL on this transaction-level advisory
# lock: concurrent CREATE TABLE IF NOT EXISTS of one name can fail in PostgreSQL.
DDL_LOCK = 0x70676273696E6B  # "pgbsink"


def lock_ddl(cur) -> None:
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (DDL_LOCK,))


_UNSIZED = {"bit": "bit varying", "character": "text", "bit[]": "bit varying[]", "character[]": "text[]"}


@dataclass(slots=True)
class TableInfo:
    name: TableName
    types: dict[str, str]  # column -> format_type() with its modifier (what the decoders read)
    casts: dict[str, str]  # column -> the type its text is cast to in statements
    copyable: bool = False  # COPY into it does what INSERT does (`apply`'s direct COPY)


class Target:
    """The catalog of the target tables one worker writes, cached until a rollback."""

    def __init__(self, config: SinkConfig) -> None:
        self.config = config
        self._tables: dict[TableName, TableInfo] = {}
        self._stages: set[tuple[int, str]] = set()  # (backend pid, staging table) made in that session
        self._filled: set[tuple[int, str]] = set()  # staging tables that may hold rows of this transaction
        self.generation = 0  # counts the rollbacks: what was learnt from the catalog before is stale

    def forget(self) -> None:
        """After a rollback: DDL of the batch is undone, so is what the cache learnt."""
        self._tables.clear()
        self._stages.clear()
        self._filled.clear()
        self.generation += 1

    def committed(self) -> None:
        """After a commit: the staging tables are empty (ON COMMIT DELETE ROWS)."""
        self._filled.clear()

    def stage(self, cur, table: str) -> bool:
        """Whether the staging table `table` is still to be made in this session (it is then
        counted as made: the caller creates it in this transaction, undone by a rollback which
        `forget`s it)."""
        ident = (cur.connection.info.backend_pid, table)
        if ident in self._stages:
            return False
        self._stages.add(ident)
        return True

    def fill(self, cur, table: str) -> bool:
        """Whether the staging table `table` may still hold rows of this transaction (the caller
        empties it before filling it again); it is counted as holding some from now on. Without
        a `committed` call after a commit, the answer errs on the safe side (an extra TRUNCATE)."""
        ident = (cur.connection.info.backend_pid, table)
        if ident in self._filled:
            return True
        self._filled.add(ident)
        return False

    def _read(self, cur, name: TableName) -> TableInfo | None:
        cur.execute(_COLUMNS, (name.sql(),))
        rows = cur.fetchall()
        if not rows:
            return None
        cur.execute(_COPYABLE, (name.sql(),))
        copyable = bool(cur.fetchone()[0])
        info = self._tables[name] = TableInfo(name, {c: t for c, t, _ in rows},
                                              {c: _UNSIZED.get(u, u) for c, _, u in rows}, copyable)
        return info

    def table(self, cur, change: Change) -> TableInfo:
        """The change's table, made able to take it (or a `RecordRefused` saying why not)."""
        name = change.table
        info = self._tables.get(name) or self._read(cur, name)
        basic = self.config.schema_evolution == "basic"
        if info is None:
            if not basic:
                raise SchemaMismatch(f"table {name} does not exist and schema.evolution=none: create it, or set "
                                     "schema.evolution=basic", "undefined_table")
            lock_ddl(cur)
            if self._read(cur, name) is None:  # not made by another worker meanwhile
                self._create(cur, change)
            info = self._read(cur, name)
        missing = [c for c in (*change.key_columns, *change.columns) if c not in info.types]
        if missing:
            if not basic:
                raise SchemaMismatch(f"table {name} has no column {', '.join(missing)} and schema.evolution=none",
                                     "undefined_column")
            lock_ddl(cur)
            info = self._read(cur, name)
            missing = [c for c in (*change.key_columns, *change.columns) if c not in info.types]
            if missing:
                self._add_columns(cur, change, missing)
                info = self._read(cur, name)
        guard = self.config.ordering_column
        if self.guarded(change) and guard not in info.types:
            lock_ddl(cur)
            cur.execute(f"ALTER TABLE {name.sql()} ADD COLUMN IF NOT EXISTS {quote(guard)} bigint")
            info = self._read(cur, name)
        return info

    def guarded(self, change: Change) -> bool:
        """Whether the LSN guard applies: on, a source LSN, and a key to find the row by (a
        truncate needs none)."""
        return self.config.ordering_guard == "lsn" and change.lsn is not None and (
            bool(change.key_columns) or change.kind == TRUNCATE)

    def _field(self, change: Change, column: str) -> dict:
        field = change.field(column)
        if field is None:
            raise RecordRefused(f"schema.evolution=basic needs the record's schema to make column {column} of "
                                f"{change.table} (JSON without schemas carries no types)")
        return field

    def _create(self, cur, change: Change) -> None:
        columns = []
        decode = self.config.decode
        for column in change.key_columns:
            field = self._field(change, column)
            columns.append(f"{quote(column)} {column_type(field)}{default_clause(field, decode)} NOT NULL")
        for column in change.columns:
            field = self._field(change, column)
            columns.append(f"{quote(column)} {column_type(field)}{default_clause(field, decode)} "
                           f"{'NULL' if field.get('optional') else 'NOT NULL'}")
        if change.key_columns:
            columns.append(f"PRIMARY KEY ({', '.join(quote(c) for c in change.key_columns)})")
        cur.execute(f"CREATE TABLE {change.table.sql()} ({', '.join(columns)})")

    def _add_columns(self, cur, change: Change, missing: list[str]) -> None:
        adds = []
        for column in missing:
            field = self._field(change, column)
            if not field.get("optional") and field.get("default") is None:
                raise SchemaMismatch(f"cannot add column {column} to {change.table}: the field is required and has "
                                     "no default (as Debezium's JDBC sink refuses)", "undefined_column")
            adds.append(f"ADD COLUMN {quote(column)} {column_type(field)}{default_clause(field, self.config.decode)} "
                        f"{'NULL' if field.get('optional') else 'NOT NULL'}")  # a required one has a default
        cur.execute(f"ALTER TABLE {change.table.sql()} {', '.join(adds)}")
