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
# Nullability and default expressions as pgjdbc's getColumns reports them (Debezium reads
# both through it): a column is NOT NULL when the attribute is, or when its type is a NOT NULL
# domain; COLUMN_DEF is pg_get_expr of pg_attrdef (generated columns' expressions included).
_COLUMNS_SQL = """
SELECT a.attname, a.attnotnull OR (t.typtype = 'd' AND t.typnotnull), pg_catalog.pg_get_expr(d.adbin, d.adrelid)
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
"""
# pg_get_expr spells constants with the session's settings: those of pgjdbc's session, which
# Debezium parses (ISO dates, shortest-exact floats), with the postgres interval style and UTC
# offsets pgbridge's converters read.
_EXPRESSION_SESSION = ("BEGIN; SET LOCAL DateStyle = 'ISO'; SET LOCAL IntervalStyle = 'postgres'; "
                       "SET LOCAL extra_float_digits = 3; SET LOCAL TimeZone = 'UTC'")


class TableInfo(NamedTuple):
    key_columns: tuple[str, ...]  # may be empty: the events then have a null key
    not_null: frozenset[str]  # columns whose Connect schema is not optional
    excluded: frozenset[str] = frozenset()  # left out of the events (column.include/exclude.list)
    defaults: tuple[tuple[str, str], ...] = ()  # (column, default expression) of the columns with one


def describe_table(conn: psycopg2.extensions.connection, relation: Relation,
                   filters: TableFilter | None = None) -> TableInfo:
    """Key, nullability and column defaults of `relation`, read now (Debezium reads them anew
    on each Relation message too); `message.key.columns` (in `filters`) overrides the key."""
    with conn.cursor() as cur:
        cur.execute(_KEY_SQL, (relation.relation_id,))
        key_rows = cur.fetchall()
        columns = _column_facts(cur, relation.relation_id)
    not_null = frozenset(name for name, required, _ in columns if required)
    present = {c.name for c in relation.columns}
    defaults = tuple((name, expression) for name, _, expression in columns
                     if expression is not None and name in present)
    excluded = frozenset(c.name for c in relation.columns
                         if filters is not None and not filters.captures_column(relation.namespace, relation.name, c.name))
    override = filters.key_override(relation.namespace, relation.name) if filters else None
    if override is not None:
        missing = [name for name in override if name not in present]
        if missing:
            raise ConfigError(f"message.key.columns names {missing} for {relation.namespace}.{relation.name}, "
                              f"which has no such column (columns: {sorted(present)})")
        return TableInfo(override, not_null, excluded, defaults)
    primary = key_rows[0][0] if key_rows else False  # the primary key wins over an identity index
    keys = tuple(name for is_pk, name in key_rows if is_pk == primary and name in present)
    return TableInfo(keys, not_null, excluded, defaults)


def _column_facts(cur: psycopg2.extensions.cursor, relation_id: int) -> list[tuple[str, bool, str | None]]:
    """(name, NOT NULL, default expression) of each column, in a transaction of its own whose
    settings spell the expressions (the connection is in autocommit mode)."""
    try:
        cur.execute(_EXPRESSION_SESSION)
        cur.execute(_COLUMNS_SQL, (relation_id,))
        rows = cur.fetchall()
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    cur.execute("COMMIT")
    return rows


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


# The server settings the doctor judges, in their base units (kB/MB settings as bytes, times in
# ms), and what is in use of the slots and walsenders.
_SERVER_SQL = """
SELECT current_setting('wal_level'), current_setting('max_replication_slots')::int,
       current_setting('max_wal_senders')::int,
       (SELECT CASE WHEN setting::bigint < 0 THEN NULL ELSE setting::bigint * 1024 * 1024 END
          FROM pg_settings WHERE name = 'max_slot_wal_keep_size'),
       (SELECT setting::bigint FROM pg_settings WHERE name = 'wal_sender_timeout'),
       (SELECT count(*) FROM pg_replication_slots)::int,
       (SELECT count(*) FROM pg_stat_replication)::int,
       extract(epoch FROM clock_timestamp())::float8,
       pg_is_in_recovery()
"""
_RIGHTS_SQL = """
SELECT has_database_privilege(current_database(), 'CREATE'),
       (SELECT pg_get_userbyid(pubowner) FROM pg_publication WHERE pubname = %s)
"""
_UNREADABLE_SQL = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE (n.nspname, c.relname) IN %s AND NOT has_table_privilege(c.oid, 'SELECT') ORDER BY 1, 2
"""


@dataclass(frozen=True, slots=True)
class ServerFacts:
    """The server's replication settings and use, as `bridge doctor` judges them."""

    wal_level: str
    max_replication_slots: int
    max_wal_senders: int
    max_slot_wal_keep_bytes: int | None  # None: -1, unlimited
    wal_sender_timeout_ms: int  # 0: disabled
    slots_used: int
    wal_senders_used: int
    clock_epoch_s: float  # the server's clock_timestamp()
    in_recovery: bool  # a standby: no logical slots on PostgreSQL 15


@dataclass(frozen=True, slots=True)
class RoleRights:
    """What the connected role may do beyond replicating."""

    can_create_in_database: bool  # CREATE PUBLICATION needs it
    publication_owner: str | None  # ALTER PUBLICATION needs ownership; None: no publication
    unreadable: tuple[tuple[str, str], ...]  # captured tables without SELECT (snapshots read them)


def inspect_server(conn: psycopg2.extensions.connection) -> ServerFacts:
    with conn.cursor() as cur:
        cur.execute(_SERVER_SQL)
        return ServerFacts(*cur.fetchone())


def inspect_rights(conn: psycopg2.extensions.connection, publication: str,
                   tables: tuple[tuple[str, str], ...]) -> RoleRights:
    """`tables`: the captured tables, checked for SELECT."""
    with conn.cursor() as cur:
        cur.execute(_RIGHTS_SQL, (publication,))
        create, owner = cur.fetchone()
        unreadable: tuple[tuple[str, str], ...] = ()
        if tables:
            cur.execute(_UNREADABLE_SQL, (tuple(tables),))
            unreadable = tuple(cur.fetchall())
    return RoleRights(create, owner, unreadable)
