"""Catalog facts, read-only, over the normal connection: what a Relation message does not carry
(keys, nullability), and what the preflight checks read (tables and their replica identity,
the connected role's rights)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import psycopg2.extensions

from bridge.errors import ConfigError
from bridge.pgoutput.messages import Relation
from bridge.route.filters import TableFilter

# Debezium keys a table by its primary key, in the key's own column order (JDBC
# getPrimaryKeys KEY_SEQ); without one, by the replica identity index; else no key.
_KEY_SQL = """
SELECT i.indisprimary, a.attname
FROM pg_index i
JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, pos) ON true
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = %s AND (i.indisprimary OR i.indisreplident)
ORDER BY i.indisprimary DESC, k.pos
"""
_NOT_NULL_SQL = "SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND attnotnull AND NOT attisdropped"


class TableInfo(NamedTuple):
    key_columns: tuple[str, ...]  # may be empty: the events then have a null key
    not_null: frozenset[str]  # columns whose Connect schema is not optional
    excluded: frozenset[str] = frozenset()  # left out of the events (column.include/exclude.list)


def describe_table(conn: psycopg2.extensions.connection, relation: Relation,
                   filters: TableFilter | None = None) -> TableInfo:
    """Key and nullability of `relation`; `message.key.columns` (in `filters`) overrides the key."""
    with conn.cursor() as cur:
        cur.execute(_KEY_SQL, (relation.relation_id,))
        key_rows = cur.fetchall()
        cur.execute(_NOT_NULL_SQL, (relation.relation_id,))
        not_null = frozenset(name for (name,) in cur.fetchall())
    present = {c.name for c in relation.columns}
    excluded = frozenset(c.name for c in relation.columns
                         if filters is not None and not filters.captures_column(relation.namespace, relation.name, c.name))
    override = filters.key_override(relation.namespace, relation.name) if filters else None
    if override is not None:
        missing = [name for name in override if name not in present]
        if missing:
            raise ConfigError(f"message.key.columns names {missing} for {relation.namespace}.{relation.name}, "
                              f"which has no such column (columns: {sorted(present)})")
        return TableInfo(override, not_null, excluded)
    primary = key_rows[0][0] if key_rows else False  # the primary key wins over an identity index
    keys = tuple(name for is_pk, name in key_rows if is_pk == primary and name in present)
    return TableInfo(keys, not_null, excluded)


_TABLES_SQL = """
SELECT n.nspname, c.relname, c.relreplident,
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary),
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1, 2
"""
_SESSION_SQL = """
SELECT current_user, current_database(), r.rolsuper, r.rolreplication,
       (SELECT system_identifier::text FROM pg_control_system())
FROM pg_roles r WHERE r.rolname = current_user
"""


@dataclass(frozen=True, slots=True)
class TableFacts:
    """An ordinary or partitioned table (not a partition: the publication lists its root)."""

    schema: str
    name: str
    replica_identity: str  # pg_class.relreplident: d(efault: the primary key), n(othing), f(ull), i(ndex)
    has_primary_key: bool
    has_identity_index: bool  # the index REPLICA IDENTITY USING INDEX names still exists


@dataclass(frozen=True, slots=True)
class SessionFacts:
    """Who pgbridge is connected as, and to what."""

    role: str
    database: str
    superuser: bool
    replication: bool  # the REPLICATION attribute: slots and replication connections
    system_identifier: str  # the cluster's: exactly-once positions belong to one cluster


def inspect_tables(conn: psycopg2.extensions.connection) -> tuple[TableFacts, ...]:
    """Every table of the database, system catalogs included, by schema and name."""
    with conn.cursor() as cur:
        cur.execute(_TABLES_SQL)
        return tuple(TableFacts(*row) for row in cur.fetchall())


def inspect_session(conn: psycopg2.extensions.connection) -> SessionFacts:
    with conn.cursor() as cur:
        cur.execute(_SESSION_SQL)
        return SessionFacts(*cur.fetchone())
