"""The snapshot plan: the publication's tables that Debezium's filters select, each with the
columns pgoutput sends for it, a row estimate, and the SELECTs that read it (one, or several
disjoint chunks that together cover the table).

Columns follow pgoutput's Relation message (logicalrep_write_attrs): attnum order, no dropped
or generated columns, only the publication's column list when it has one, key flag = member of
the replica identity (primary key for DEFAULT, the identity index for INDEX, every column for
FULL). So the snapshot rows have the shape of the streamed rows and the same converters apply.

Chunking (only with `snapshot.max.threads` > 1, for tables larger than `chunk_pages`):
- a single-column integer primary key: key ranges, [min, max] split evenly;
- otherwise, plain tables: heap page ranges `ctid >= '(a,0)' AND ctid < '(b,0)'`, which
  PostgreSQL 14+ reads with a TID Range Scan (only those pages);
- partitioned tables without such a key, and tables with a select override: one chunk.
The first and last ranges are open-ended, so rows beyond the bounds seen while planning (the
plan may run outside the snapshot, or the table may grow) are still read exactly once.
The number of chunks comes from the relation size, which needs no statistics.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import psycopg2
import psycopg2.extensions

from bridge.errors import ConfigError, ReplicationSetupError
from bridge.pgoutput.messages import Relation, RelationColumn
from bridge.snapshot.selection import OVERRIDES_KEY, TableSelection

log = logging.getLogger(__name__)

_INTEGER_OIDS = frozenset({20, 21, 23})  # int8, int2, int4
MAX_CHUNKS = 1024

_TABLES_SQL = """
SELECT c.oid::int, n.nspname, c.relname, c.relkind, c.relreplident, pt.attnames::text[]
FROM pg_publication_tables pt
JOIN pg_namespace n ON n.nspname = pt.schemaname
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename
WHERE pt.pubname = %s
"""
_COLUMNS_SQL = """
SELECT attnum, attname, atttypid::int, atttypmod FROM pg_attribute
WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped AND attgenerated = ''
ORDER BY attnum
"""
_IDENTITY_SQL = """
SELECT indkey::int2[], indisprimary, indisreplident FROM pg_index
WHERE indrelid = %s AND (indisprimary OR indisreplident)
"""
# Per leaf (a plain table is its own only leaf): statistics and the current size in pages.
# pg_partition_tree returns nothing for a table outside any partition tree, hence the OR.
_SIZE_SQL = """
SELECT reltuples, relpages, pg_relation_size(oid) / current_setting('block_size')::int
FROM pg_class
WHERE (oid = %(oid)s AND relkind <> 'p') OR oid IN (SELECT relid FROM pg_partition_tree(%(oid)s) WHERE isleaf)
"""


@dataclass(frozen=True, slots=True)
class TablePlan:
    relation: Relation  # as pgoutput would describe the table
    estimated_rows: int | None  # None: never analyzed
    queries: tuple[str, ...]  # SELECTs of the relation's columns in order; disjoint, covering

    @property
    def name(self) -> str:
        return f"{self.relation.namespace}.{self.relation.name}"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_qualified(name: str) -> str:
    """A "schema.table" name (as configured) quoted for SQL."""
    schema, table = name.split(".")
    return f"{quote_ident(schema)}.{quote_ident(table)}"


def key_bounds(low: int, high: int, chunks: int) -> list[int]:
    """Inner bounds splitting the integers [low, high] into up to `chunks` even ranges."""
    span = high - low + 1
    return sorted({b for i in range(1, chunks) if low < (b := low + -(-i * span // chunks)) <= high})


def page_bounds(pages: int, chunks: int) -> list[int]:
    """Inner bounds splitting heap pages [0, pages) into up to `chunks` even ranges."""
    per_chunk = max(1, math.ceil(pages / chunks))
    return list(range(per_chunk, pages, per_chunk))


def range_conditions(expr: str, bounds: list[str]) -> list[str]:
    """WHERE conditions for the ranges between `bounds`, the first and last open-ended;
    [""] (no condition) without bounds."""
    if not bounds:
        return [""]
    lows: list[str | None] = [None, *bounds]
    highs: list[str | None] = [*bounds, None]
    return [
        " AND ".join(([f"{expr} >= {lo}"] if lo else []) + ([f"{expr} < {hi}"] if hi else []))
        for lo, hi in zip(lows, highs, strict=True)
    ]


def plan_snapshot(
    conn: psycopg2.extensions.connection,
    publication: str,
    selection: TableSelection,
    *,
    max_threads: int = 1,
    chunk_pages: int = 8192,
) -> list[TablePlan]:
    """The tables of `publication` that `selection` snapshots, in Debezium's order.

    Run it on a snapshot session (`reader.open_snapshot_session`) so the table list, the column
    lists and the key bounds are those of the snapshot."""
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (publication,))
        if cur.fetchone() is None:
            raise ReplicationSetupError(f"publication {publication!r} does not exist")
        cur.execute(_TABLES_SQL, (publication,))
        found = {(schema, name): (oid, kind, identity, cols) for oid, schema, name, kind, identity, cols in cur}
        plans = []
        for schema, name in selection.order(t for t in found if selection.snapshotted(*t)):
            oid, relkind, identity, published = found[(schema, name)]
            relation, integer_key = catalog_relation(cur, oid, schema, name, identity, published)
            override = selection.select_overrides.get(f"{schema}.{name}")
            plans.append(_plan_table(cur, relation, relkind, integer_key, override, max_threads, chunk_pages))
        return plans


def listed_tables(conn: psycopg2.extensions.connection, publication: str, selection: TableSelection
                  ) -> list[tuple[str, str]]:
    """The publication's tables the snapshot lists (`TableSelection.listed`), in Debezium's
    order of captured tables (`TableSelection.listed_order`)."""
    with conn.cursor() as cur:
        cur.execute(_TABLES_SQL, (publication,))
        return selection.listed_order((schema, name) for _, schema, name, *_ in cur if selection.listed(schema, name))


def catalog_relation(
    cur: psycopg2.extensions.cursor, oid: int, schema: str, name: str, identity: str, published: list[str] | None
) -> tuple[Relation, str | None]:
    """The Relation pgoutput would send, and the primary key column's name if it is one integer."""
    cur.execute(_COLUMNS_SQL, (oid,))
    attributes = cur.fetchall()
    cur.execute(_IDENTITY_SQL, (oid,))
    indexes = cur.fetchall()
    primary: list[int] = next((keys for keys, is_primary, _ in indexes if is_primary), [])
    replident: list[int] = next((keys for keys, _, is_replident in indexes if is_replident), [])
    key_attnums = set(primary if identity == "d" else replident if identity == "i" else [])
    columns = tuple(
        RelationColumn(identity == "f" or attnum in key_attnums, attname, typid, typmod)
        for attnum, attname, typid, typmod in attributes
        if published is None or attname in published
    )
    types = {attnum: (attname, typid) for attnum, attname, typid, _ in attributes}
    key = types.get(primary[0]) if len(primary) == 1 else None
    integer_key = key[0] if key is not None and key[1] in _INTEGER_OIDS else None
    return Relation(oid, schema, name, identity, columns), integer_key


def _plan_table(
    cur: psycopg2.extensions.cursor,
    relation: Relation,
    relkind: str,
    integer_key: str | None,
    override: str | None,
    max_threads: int,
    chunk_pages: int,
) -> TablePlan:
    estimate, pages = _size(cur, relation.relation_id)
    columns = [c.name for c in relation.columns]
    if override is not None:
        queries = [_wrap_override(cur, relation, override, columns)]
    else:
        # ONLY: rows of inheritance children belong to the children's own events.
        table = ("ONLY " if relkind == "r" else "") + f"{quote_ident(relation.namespace)}.{quote_ident(relation.name)}"
        select = f"SELECT {', '.join(map(quote_ident, columns))} FROM {table}"
        chunks = min(MAX_CHUNKS, math.ceil(pages / chunk_pages)) if max_threads > 1 else 1
        conditions = _chunk_conditions(cur, table, relkind, integer_key, pages, chunks) if chunks > 1 else [""]
        queries = [f"{select} WHERE {cond}" if cond else select for cond in conditions]
    log.info("snapshot plan: %s.%s, ~%s rows, %d pages, %d quer%s", relation.namespace, relation.name,
             "?" if estimate is None else estimate, pages, len(queries), "y" if len(queries) == 1 else "ies")
    return TablePlan(relation, estimate, tuple(queries))


def _size(cur: psycopg2.extensions.cursor, oid: int) -> tuple[int | None, int]:
    """(estimated rows or None, current size in pages), summed over partitions.

    Like the planner, scale the last ANALYZE's rows-per-page to the current size."""
    cur.execute(_SIZE_SQL, {"oid": oid})
    estimate: int | None = 0
    total_pages = 0
    for reltuples, relpages, pages in cur.fetchall():
        total_pages += pages
        if pages == 0:
            continue
        if estimate is None or reltuples < 0 or relpages == 0:
            estimate = None
        else:
            estimate += round(reltuples / relpages * pages)
    return estimate, total_pages


def _chunk_conditions(
    cur: psycopg2.extensions.cursor, table: str, relkind: str, integer_key: str | None, pages: int, chunks: int
) -> list[str]:
    if integer_key is not None:
        cur.execute(f"SELECT min({quote_ident(integer_key)}), max({quote_ident(integer_key)}) FROM {table}")
        low, high = cur.fetchone()
        if low is None:
            return [""]
        return range_conditions(quote_ident(integer_key), [str(b) for b in key_bounds(low, high, chunks)])
    if relkind == "r":
        return range_conditions("ctid", [f"'({b},0)'" for b in page_bounds(pages, chunks)])
    return [""]


def _wrap_override(cur: psycopg2.extensions.cursor, relation: Relation, statement: str, columns: list[str]) -> str:
    """The override as a SELECT of the table's columns in order; columns the override does not
    return are NULL (Debezium maps an override's result columns to the table's by name)."""
    inner = statement.strip().rstrip(";")
    try:
        cur.execute(f"SELECT * FROM ({inner}) AS o LIMIT 0")
    except psycopg2.Error as exc:
        key = f"{OVERRIDES_KEY}.{relation.namespace}.{relation.name}"
        raise ConfigError(f"{key}: {(exc.pgerror or str(exc)).strip()}") from None
    returned = {d.name for d in cur.description}
    select = ", ".join(f"o.{quote_ident(c)}" if c in returned else f"NULL AS {quote_ident(c)}" for c in columns)
    return f"SELECT {select} FROM ({inner}) AS o"
