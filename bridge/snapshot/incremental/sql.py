"""The SQL side of incremental snapshots: the `Database` the state machine uses (faked in unit
tests), the chunk SELECT, and `PostgresDatabase`, which runs them on a connection of its own."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Protocol

import psycopg2
import psycopg2.extensions

from bridge.pgoutput.messages import Relation
from bridge.snapshot.copytext import Row
from bridge.snapshot.incremental import progress
from bridge.snapshot.incremental.tables import SnapshotTable, TableRef
from bridge.snapshot.incremental.window import XidSnapshot
from bridge.snapshot.plan import catalog_relation, quote_ident, quote_qualified
from bridge.snapshot.reader import SESSION_SETTINGS, copy_rows

log = logging.getLogger(__name__)


class Database(Protocol):
    def insert_signal(self, id_: str, type_: str, data: str) -> None: ...
    def save_progress(self, id_: str, data: str) -> None: ...
    def load_progress(self, id_: str) -> str | None: ...
    def published_tables(self) -> list[TableRef]: ...
    def relation(self, ref: TableRef) -> Relation: ...
    def type_names(self, columns: Iterable[tuple[int, int]]) -> list[str]: ...
    def max_key(self, table: SnapshotTable) -> tuple[str | None, ...] | None: ...
    def read_chunk(self, table: SnapshotTable, limit: int) -> tuple[list[Row], XidSnapshot]: ...
    def row_count(self, table: SnapshotTable) -> int | None: ...


_PUBLISHED_SQL = """
SELECT n.nspname, c.relname, c.oid::int, c.relkind
FROM pg_publication_tables pt
JOIN pg_namespace n ON n.nspname = pt.schemaname
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename
WHERE pt.pubname = %s
ORDER BY 1, 2
"""
_ATTRS_SQL = ("SELECT attnames::text[] FROM pg_publication_tables "
              "WHERE pubname = %s AND schemaname = %s AND tablename = %s")
# Debezium's PostgresConnection.readRowCountEstimate
_ESTIMATE_SQL = ("SELECT c.reltuples::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                 "WHERE n.nspname = %s AND c.relname = %s")


def _rows_compare(columns: tuple[str, ...], op: str, values: tuple[str | None, ...], types: tuple[str, ...],
                  mogrify: Callable[[str, tuple], str]) -> str:
    """`(k1, k2) op (v1::t1, v2::t2)`, values bound as literals."""
    lhs = ", ".join(map(quote_ident, columns))
    rhs = ", ".join(f"%s::{t}" for t in types)
    return f"({lhs}) {op} ({mogrify(rhs, values)})"


def chunk_query(table: SnapshotTable, limit: int, mogrify: Callable[[str, tuple], str],
                after: tuple[str | None, ...] | None) -> str:
    """The SELECT of the table's next chunk: after the key `after` (`last_key` as text), up to
    `max_key`, in key order."""
    assert table.relation is not None and table.max_key is not None
    conditions = []
    if after is not None:
        conditions.append(_rows_compare(table.key_columns, ">", after, table.key_types, mogrify))
    conditions.append(_rows_compare(table.key_columns, "<=", table.max_key, table.key_types, mogrify))
    if table.condition:
        conditions.append(f"({table.condition})")
    columns = ", ".join(quote_ident(c.name) for c in table.relation.columns)
    return (f"SELECT {columns} FROM {_from(table)} WHERE {' AND '.join(conditions)} "
            f"ORDER BY {', '.join(map(quote_ident, table.key_columns))} LIMIT {int(limit)}")


def count_query(table: SnapshotTable, mogrify: Callable[[str, tuple], str]) -> str:
    """The rows up to `max_key` that the snapshot reads (Debezium's bounded row count)."""
    assert table.max_key is not None
    conditions = [_rows_compare(table.key_columns, "<=", table.max_key, table.key_types, mogrify)]
    if table.condition:
        conditions.append(f"({table.condition})")
    return f"SELECT COUNT(1) FROM {_from(table)} WHERE {' AND '.join(conditions)}"


def _from(table: SnapshotTable) -> str:
    # ONLY: rows of inheritance children belong to the children's own events.
    only = "ONLY " if table.ref.relkind == "r" else ""
    return f"{only}{quote_ident(table.ref.schema)}.{quote_ident(table.ref.name)}"


class PostgresDatabase:
    """The SQL side: its own connection, with the walsender's session settings so that rows read
    here have exactly the text pgoutput would send (`bridge.snapshot.reader`)."""

    def __init__(self, connect: Callable[[], psycopg2.extensions.connection], publication: str,
                 signal_table: str, captures: Callable[[str, str], bool]) -> None:
        self._connect = connect
        self._conn: psycopg2.extensions.connection | None = None
        self._publication = publication
        self._signal_table = signal_table
        self._signal_schema, self._signal_name = signal_table.split(".")
        self._signal = quote_qualified(signal_table)
        self._captures = captures

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _session(self) -> psycopg2.extensions.connection:
        if self._conn is None or self._conn.closed:
            conn = self._connect()
            conn.autocommit = True
            with conn.cursor() as cur:
                settings = ", ".join("set_config(%s, %s, false)" for _ in SESSION_SETTINGS)
                cur.execute(f"SELECT {settings}", [part for pair in SESSION_SETTINGS for part in pair])
            self._conn = conn
        return self._conn

    def _run(self, work):
        """`work(conn)`, once more on a new connection if the connection broke."""
        try:
            return work(self._session())
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            log.warning("incremental snapshot: SQL connection lost (%s); reconnecting", str(exc).strip())
            self.close()
            return work(self._session())

    def check_signal_table(self) -> None:
        """Warn at start when signals cannot arrive: the table is missing or not published."""
        def check(conn):
            with conn.cursor() as cur:
                cur.execute("SELECT to_regclass(%s) IS NOT NULL", (self._signal,))
                exists = cur.fetchone()[0]
                cur.execute(_ATTRS_SQL, (self._publication, self._signal_schema, self._signal_name))
                published = cur.fetchone() is not None
            return exists, published
        exists, published = self._run(check)
        if not exists:
            log.warning("signal.data.collection %s does not exist: create it (id varchar(42) PRIMARY KEY, "
                        "type varchar(32) NOT NULL, data varchar(2048)) and add it to publication %s",
                        self._signal, self._publication)
        elif not published:
            log.warning("signal.data.collection %s is not in publication %s: signals will not be seen",
                        self._signal, self._publication)

    def insert_signal(self, id_: str, type_: str, data: str) -> None:
        def insert(conn):
            with conn.cursor() as cur:
                cur.execute(f"INSERT INTO {self._signal} VALUES (%s, %s, %s)", (id_, type_, data))
        self._run(insert)

    def save_progress(self, id_: str, data: str) -> None:
        def save(conn):
            with conn.cursor() as cur:
                progress.save_progress(cur, self._signal_table, id_, data)
        self._run(save)

    def load_progress(self, id_: str) -> str | None:
        def load(conn):
            with conn.cursor() as cur:
                return progress.load_progress(cur, self._signal_table, id_)
        return self._run(load)

    def published_tables(self) -> list[TableRef]:
        def query(conn):
            with conn.cursor() as cur:
                cur.execute(_PUBLISHED_SQL, (self._publication,))
                return [TableRef(*row) for row in cur.fetchall()]
        return [t for t in self._run(query) if self._captures(t.schema, t.name)]

    def relation(self, ref: TableRef) -> Relation:
        def query(conn):
            with conn.cursor() as cur:
                cur.execute("SELECT relreplident FROM pg_class WHERE oid = %s", (ref.oid,))
                (identity,) = cur.fetchone()
                cur.execute(_ATTRS_SQL, (self._publication, ref.schema, ref.name))
                row = cur.fetchone()
                return catalog_relation(cur, ref.oid, ref.schema, ref.name, identity, row[0] if row else None)[0]
        return self._run(query)

    def type_names(self, columns: Iterable[tuple[int, int]]) -> list[str]:
        columns = list(columns)

        def query(conn):
            with conn.cursor() as cur:
                out = []
                for oid, typmod in columns:
                    cur.execute("SELECT format_type(%s, NULL)", (oid,))
                    out.append(cur.fetchone()[0])
                return out
        return self._run(query)

    def max_key(self, table: SnapshotTable) -> tuple[str | None, ...] | None:
        # Aliased: ORDER BY would otherwise sort the text output columns, which share the key's names.
        keys = ", ".join(f"{quote_ident(k)}::text AS key_{i}" for i, k in enumerate(table.key_columns))
        order = ", ".join(f"{quote_ident(k)} DESC" for k in table.key_columns)
        where = f" WHERE ({table.condition})" if table.condition else ""

        def query(conn):
            with conn.cursor() as cur:
                cur.execute(f"SELECT {keys} FROM {_from(table)}{where} ORDER BY {order} LIMIT 1")
                row = cur.fetchone()
                return None if row is None else tuple(row)
        return self._run(query)

    def read_chunk(self, table: SnapshotTable, limit: int) -> tuple[list[Row], XidSnapshot]:
        def read(conn):
            encoding = psycopg2.extensions.encodings[conn.encoding]

            def mogrify(sql: str, args: tuple) -> str:
                return conn.cursor().mogrify(sql, args).decode(encoding)
            after = None if table.last_key is None else tuple(
                None if v is None else v.decode(encoding) for v in table.last_key)
            query = chunk_query(table, limit, mogrify, after)
            rows: list[Row] = []
            with conn.cursor() as cur:
                cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                try:
                    cur.execute("SELECT pg_current_snapshot()::text")  # takes the transaction's snapshot
                    xids = XidSnapshot.parse(cur.fetchone()[0])
                    copy_rows(conn, query, len(table.relation.columns), batch_rows=limit, emit=rows.extend)
                finally:
                    cur.execute("ROLLBACK")
            return rows, xids
        return self._run(read)

    def row_count(self, table: SnapshotTable) -> int | None:
        """The table's rows as Debezium's notifications count them: the planner's estimate
        (`reltuples`) when positive and no additional condition applies, else a count up to the
        maximum key."""
        def count(conn):
            with conn.cursor() as cur:
                if not table.condition:
                    cur.execute(_ESTIMATE_SQL, (table.ref.schema, table.ref.name))
                    row = cur.fetchone()
                    if row is not None and row[0] is not None and row[0] > 0:
                        return int(row[0])
                cur.execute(count_query(table, lambda sql, args: cur.mogrify(sql, args).decode(
                    psycopg2.extensions.encodings[conn.encoding])))
                return int(cur.fetchone()[0])
        return self._run(count)
