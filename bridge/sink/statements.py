"""SQL for a run of changes of one shape (table, kind, columns): one multi-row statement for
`psycopg2.extras.execute_values`, each value cast from text (`%s::<column type>`), or, for a
longer run, COPY (text format) into a session-local staging table whose columns have those types
and one statement that merges what it holds (`staged_*`): PostgreSQL parses COPY's rows at a
fraction of the cost of a VALUES list of casts, and the merge is the same statement over a table.

`insert.mode` as Debezium's JDBC sink applies it to every row change (`c`, `r` and `u` alike):
insert → INSERT, upsert → INSERT ... ON CONFLICT (key) DO UPDATE, update → UPDATE by key. With
the LSN guard the hidden column takes the change's LSN and a change older than the row is a no-op
(`WHERE t.lsn IS NULL OR t.lsn < v.lsn`), so a replayed or reordered change never moves a row back;
a truncate deletes the rows older than it and is remembered per table (`bridge.sink.truncates.table`),
so a change older than the truncate that arrives after it (from another partition) is not written.
With delete markers (`bridge.sink.markers`, `markers` below: the marker table, None when off) a
delete also records its key and LSN, and a row write skips a key deleted at or after its LSN.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bridge.sink.markers import mark, truncated, unmarked
from bridge.sink.naming import TableName, quote
from bridge.sink.records import DELETE


@dataclass(frozen=True, slots=True)
class Shape:
    """What a statement depends on: rows of the same shape share one."""

    kind: int  # records.UPSERT (a row to write) | records.DELETE
    table: TableName
    keys: tuple[str, ...]
    columns: tuple[str, ...]
    guarded: bool


def _template(names: tuple[str, ...], types: dict[str, str]) -> str:
    return "(" + ", ".join(f"%s::{types[n]}" for n in names) + ")"


def _after_truncate(shape: Shape, truncates: str, v: str) -> str:
    """The guard's condition that the change is newer than the table's last truncate."""
    name = str(shape.table).replace("'", "''")
    return (f"{v} > coalesce((SELECT lsn FROM {quote(truncates)} WHERE table_name = '{name}'), -1)")


def write_statement(mode: str, shape: Shape, types: dict[str, str], guard: str,
                    truncates: str | None, markers: str | None = None) -> tuple[str, str]:
    """(statement with one `%s` for the VALUES list, per-row template) of a row write; `truncates`:
    the table of truncate LSNs (None: truncates are not applied, nothing to compare with)."""
    names = _names(shape, guard)
    listed = ", ".join(quote(n) for n in names)
    template = _template(names, {**types, guard: "bigint"})
    return _write(mode, shape, types, guard, truncates, markers, f"(VALUES %s) AS v({listed})",
                  "VALUES %s"), template


def delete_statement(shape: Shape, types: dict[str, str], guard: str,
                     markers: str | None = None) -> tuple[str, str]:
    names = _names(shape, guard)
    listed = ", ".join(quote(n) for n in names)
    template = _template(names, {**types, guard: "bigint"})
    if shape.guarded and markers:  # the rows are read twice: by the marker write and the delete
        prefix = f"WITH v ({listed}) AS (VALUES %s), {_mark(shape, types, guard, markers, 'v')} "
        return _delete(shape, guard, prefix, "v"), template
    return _delete(shape, guard, "", f"(VALUES %s) AS v({listed})"), template


@dataclass(frozen=True, slots=True)
class Staged:
    """The statements of a run written through a staging table: `create` it (once per session),
    `empty` it (when it already holds rows of this transaction), `copy` the rows into it, `merge`
    them into the target. `direct`: COPY of the same rows straight into the target, which writes
    what the merge would when no row conflicts with the target's (insert and upsert of rows; None
    where the merge does more: updates, deletes, delete markers to consult)."""

    table: str
    create: str
    empty: str
    copy: str
    merge: str
    direct: str | None = None


def staged_statements(mode: str, shape: Shape, types: dict[str, str], guard: str, truncates: str | None,
                      markers: str | None = None) -> Staged:
    """A run of `shape` through a temporary table typed as the statements' casts are, emptied by
    each commit or rollback (ON COMMIT DELETE ROWS); the caller empties it before a second use in
    one transaction."""
    names = _names(shape, guard)
    all_types = {**types, guard: "bigint"}
    listed = ", ".join(quote(n) for n in names)
    ident = hashlib.blake2s(repr((str(shape.table), shape.kind, names, [all_types[n] for n in names])).encode(),
                            digest_size=8).hexdigest()
    table = quote(f"__pgbridge_stage_{ident}")
    create = (f"CREATE TEMPORARY TABLE IF NOT EXISTS {table} ("
              + ", ".join(f"{quote(n)} {all_types[n]}" for n in names) + ") ON COMMIT DELETE ROWS")
    rows = f"pg_temp.{table} AS v"
    direct = None
    if shape.kind == DELETE:
        prefix = f"WITH {_mark(shape, types, guard, markers, rows)} " if shape.guarded and markers else ""
        merge = _delete(shape, guard, prefix, rows)
    else:
        merge = _write(mode, shape, types, guard, truncates, markers, rows, f"SELECT {listed} FROM {rows}")
        if mode != "update" and not (shape.guarded and markers) and (shape.keys or mode == "insert"):
            direct = f"COPY {shape.table.sql()} ({listed}) FROM STDIN"
    return Staged(table, create, f"TRUNCATE pg_temp.{table}", f"COPY pg_temp.{table} FROM STDIN", merge, direct)


def _names(shape: Shape, guard: str) -> tuple[str, ...]:
    return shape.keys + shape.columns + ((guard,) if shape.guarded else ())


def _mark(shape: Shape, types: dict[str, str], guard: str, markers: str, rows: str) -> str:
    return mark(markers, str(shape.table), shape.keys, types, f"v.{quote(guard)}", rows)


def _write(mode: str, shape: Shape, types: dict[str, str], guard: str, truncates: str | None, markers: str | None,
           rows: str, plain_rows: str) -> str:
    """A row write reading its rows from `rows` (`v`); `plain_rows` follows the column list when
    there is no truncate or delete marker to compare with."""
    table, keys, columns = shape.table.sql(), shape.keys, shape.columns
    listed = ", ".join(quote(n) for n in _names(shape, guard))
    g = quote(guard)
    if mode == "update":
        sets = [f"{quote(c)} = v.{quote(c)}" for c in columns] + ([f"{g} = v.{g}"] if shape.guarded else [])
        where = [f"t.{quote(k)} = v.{quote(k)}" for k in keys]
        if shape.guarded:
            where.append(f"(t.{g} IS NULL OR t.{g} < v.{g})")
            if truncates:
                where.append(_after_truncate(shape, truncates, f"v.{g}"))
        return (f"UPDATE {table} AS t SET {', '.join(sets)} FROM {rows}"
                + (f" WHERE {' AND '.join(where)}" if where else ""))
    conditions = []
    if shape.guarded and truncates:  # rows older than the table's last truncate are not written
        conditions.append(_after_truncate(shape, truncates, f"v.{g}"))
    if shape.guarded and markers and keys:  # nor rows of a key deleted at or after them
        conditions.append(unmarked(markers, str(shape.table), keys, types, f"v.{g}"))
    if conditions:
        sql = f"INSERT INTO {table} AS t ({listed}) SELECT * FROM {rows} WHERE {' AND '.join(conditions)}"
    else:
        sql = f"INSERT INTO {table} AS t ({listed}) {plain_rows}"
    if mode == "upsert":
        sets = [f"{quote(c)} = EXCLUDED.{quote(c)}" for c in columns] + ([f"{g} = EXCLUDED.{g}"] if shape.guarded
                                                                          else [])
        conflict = ", ".join(quote(k) for k in keys)
        if not sets:
            sql += f" ON CONFLICT ({conflict}) DO NOTHING"
        else:
            sql += f" ON CONFLICT ({conflict}) DO UPDATE SET {', '.join(sets)}"
            if shape.guarded:
                sql += f" WHERE t.{g} IS NULL OR t.{g} < EXCLUDED.{g}"
    return sql


def _delete(shape: Shape, guard: str, prefix: str, rows: str) -> str:
    g = quote(guard)
    where = [f"t.{quote(k)} = v.{quote(k)}" for k in shape.keys]
    if shape.guarded:
        where.append(f"(t.{g} IS NULL OR t.{g} < v.{g})")
    return f"{prefix}DELETE FROM {shape.table.sql()} AS t USING {rows} WHERE {' AND '.join(where)}"


def truncate_statements(table: TableName, lsn: int | None, guard: str, truncates: str,
                        markers: str | None = None) -> list[tuple[str, tuple]]:
    """A truncate. With the guard (a source LSN) only rows older than it are deleted and its LSN
    is kept, so that a change from before it applied later (another partition, a replay) stays out
    and a newer row written earlier stays in; it stands for the table's older delete markers."""
    if lsn is None:
        return [(f"TRUNCATE TABLE {table.sql()}", ())]
    g, t = quote(guard), quote(truncates)
    statements = [(f"DELETE FROM {table.sql()} WHERE {g} IS NULL OR {g} < %s", (lsn,)),
                  (f"INSERT INTO {t} VALUES (%s, %s) ON CONFLICT (table_name) DO UPDATE SET lsn = EXCLUDED.lsn "
                   f"WHERE {t}.lsn < EXCLUDED.lsn", (str(table), lsn))]
    if markers:
        statements.append(truncated(markers, str(table), lsn))
    return statements


def truncates_table(truncates: str) -> str:
    return f"CREATE TABLE IF NOT EXISTS {quote(truncates)} (table_name text PRIMARY KEY, lsn bigint NOT NULL)"
