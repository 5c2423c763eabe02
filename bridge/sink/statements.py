"""SQL for a run of changes of one shape (table, kind, columns): one multi-row statement for
`psycopg2.extras.execute_values`, each value cast from text (`%s::<column type>`).

`insert.mode` as Debezium's JDBC sink applies it to every row change (`c`, `r` and `u` alike):
insert → INSERT, upsert → INSERT ... ON CONFLICT (key) DO UPDATE, update → UPDATE by key. With
the LSN guard the hidden column takes the change's LSN and a change older than the row is a no-op
(`WHERE t.lsn IS NULL OR t.lsn < v.lsn`), so a replayed or reordered change never moves a row back.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.sink.naming import TableName, quote


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


def write_statement(mode: str, shape: Shape, types: dict[str, str], guard: str) -> tuple[str, str]:
    """(statement with one `%s` for the VALUES list, per-row template) of a row write."""
    table, keys, columns = shape.table.sql(), shape.keys, shape.columns
    names = keys + columns + ((guard,) if shape.guarded else ())
    all_types = {**types, guard: "bigint"}
    template = _template(names, all_types)
    listed = ", ".join(quote(n) for n in names)
    g = quote(guard)
    if mode == "update":
        sets = [f"{quote(c)} = v.{quote(c)}" for c in columns] + ([f"{g} = v.{g}"] if shape.guarded else [])
        where = [f"t.{quote(k)} = v.{quote(k)}" for k in keys]
        if shape.guarded:
            where.append(f"(t.{g} IS NULL OR t.{g} < v.{g})")
        sql = (f"UPDATE {table} AS t SET {', '.join(sets)} FROM (VALUES %s) AS v({listed})"
               + (f" WHERE {' AND '.join(where)}" if where else ""))
        return sql, template
    sql = f"INSERT INTO {table} AS t ({listed}) VALUES %s"
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
    return sql, template


def delete_statement(shape: Shape, types: dict[str, str], guard: str) -> tuple[str, str]:
    names = shape.keys + ((guard,) if shape.guarded else ())
    template = _template(names, {**types, guard: "bigint"})
    g = quote(guard)
    where = [f"t.{quote(k)} = v.{quote(k)}" for k in shape.keys]
    if shape.guarded:
        where.append(f"(t.{g} IS NULL OR t.{g} < v.{g})")
    sql = (f"DELETE FROM {shape.table.sql()} AS t USING (VALUES %s) AS v({', '.join(quote(n) for n in names)}) "
           f"WHERE {' AND '.join(where)}")
    return sql, template


def truncate_statement(table: TableName) -> str:
    return f"TRUNCATE TABLE {table.sql()}"
