"""Publication and replication slot: check what exists, create what is missing, explain what is wrong."""

from __future__ import annotations

import logging
import time

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from psycopg2 import sql

from bridge.config import ReplicationConfig
from bridge.errors import ReplicationSetupError
from bridge.route.filters import TableFilter

log = logging.getLogger(__name__)


def ensure_publication(conn: psycopg2.extensions.connection, cfg: ReplicationConfig,
                       filters: TableFilter | None = None, signal_table: str | None = None) -> None:
    """Make sure `publication.name` exists, per `publication.autocreate.mode`; `filtered`
    creates it for the tables the include/exclude lists capture, plus the signal table
    (`signal.data.collection`, always captured, as in Debezium), and, as Debezium does, sets
    an existing one's tables to that list when the lists or the tables changed."""
    with conn.cursor() as cur:
        cur.execute("SELECT puballtables FROM pg_publication WHERE pubname = %s", (cfg.publication_name,))
        row = cur.fetchone()
        if row is not None:
            if cfg.publication_autocreate_mode == "filtered":
                _update_filtered(conn, cfg, row[0], filters, signal_table)
            return
        if cfg.publication_autocreate_mode == "disabled":
            raise ReplicationSetupError(
                f"publication {cfg.publication_name!r} does not exist and "
                "publication.autocreate.mode=disabled: create it, e.g. "
                f"CREATE PUBLICATION {cfg.publication_name} FOR ALL TABLES"
            )
        if cfg.publication_autocreate_mode == "all_tables":
            target = sql.SQL("FOR ALL TABLES")
        elif cfg.publication_autocreate_mode == "filtered":
            target = sql.SQL("FOR TABLE {}").format(_table_list(_filtered_tables(conn, cfg, filters, signal_table)))
        else:
            target = sql.SQL("")
        statement = sql.SQL("CREATE PUBLICATION {} {}").format(sql.Identifier(cfg.publication_name), target)
        try:
            cur.execute(statement)
        except psycopg2.errors.InsufficientPrivilege as exc:
            raise ReplicationSetupError(
                f"cannot create publication {cfg.publication_name!r}: {exc.pgerror.strip()} "
                "(FOR ALL TABLES needs a superuser; or create the publication yourself and set "
                "publication.autocreate.mode=disabled)"
            ) from None
        log.info("created publication %s (%s)", cfg.publication_name, cfg.publication_autocreate_mode)


def _filtered_tables(conn: psycopg2.extensions.connection, cfg: ReplicationConfig, filters: TableFilter | None,
                     signal_table: str | None) -> list[tuple[str, str]]:
    tables = captured_tables(conn, filters or TableFilter())
    if signal_table is not None and tuple(signal_table.split(".", 1)) not in tables:
        tables.append(tuple(signal_table.split(".", 1)))
    if not tables:
        raise ReplicationSetupError(
            f"publication.autocreate.mode=filtered: no table matches the include/exclude lists, "
            f"so publication {cfg.publication_name!r} would be empty"
        )
    return sorted(tables)


def _table_list(tables: list[tuple[str, str]]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(schema, table) for schema, table in tables)


def _update_filtered(conn: psycopg2.extensions.connection, cfg: ReplicationConfig, all_tables: bool,
                     filters: TableFilter | None, signal_table: str | None) -> None:
    name = cfg.publication_name
    if all_tables:
        raise ReplicationSetupError(
            f"publication {name!r} is FOR ALL TABLES, but publication.autocreate.mode=filtered needs one that "
            "lists the captured tables: drop it (pgbridge then creates it) or use all_tables/disabled")
    wanted = _filtered_tables(conn, cfg, filters, signal_table)
    with conn.cursor() as cur:
        cur.execute("SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s", (name,))
        current = sorted(cur.fetchall())
        if current == wanted:
            return
        added = sorted(set(wanted) - set(current))
        removed = sorted(set(current) - set(wanted))
        try:
            cur.execute(sql.SQL("ALTER PUBLICATION {} SET TABLE {}").format(sql.Identifier(name), _table_list(wanted)))
        except psycopg2.errors.InsufficientPrivilege as exc:
            raise ReplicationSetupError(
                f"publication {name!r} must change to match the include/exclude lists, but: {exc.pgerror.strip()} "
                "(its owner can run it; or set publication.autocreate.mode=disabled and manage it yourself)"
            ) from None
    log.info("publication %s updated to the include/exclude lists: added %s; removed %s", name,
             ", ".join(".".join(t) for t in added) or "nothing", ", ".join(".".join(t) for t in removed) or "nothing")


def captured_tables(conn: psycopg2.extensions.connection, filters: TableFilter) -> list[tuple[str, str]]:
    """Ordinary and partitioned tables the filters capture, as (schema, table)."""
    with conn.cursor() as cur:
        cur.execute("SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1, 2")
        return [(schema, table) for schema, table in cur.fetchall() if filters.captures(schema, table)]


def ensure_slot(conn: psycopg2.extensions.connection, cfg: ReplicationConfig, *, create: bool = True) -> None:
    """Check an existing slot (logical, pgoutput, this database); create it when missing and
    `create` (an initial snapshot creates it itself, see `bridge.snapshot.initial`)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT plugin, slot_type, database, current_database() FROM pg_replication_slots "
            "WHERE slot_name = %s",
            (cfg.slot_name,),
        )
        row = cur.fetchone()
        if row is not None:
            plugin, slot_type, database, current = row
            if slot_type != "logical" or plugin != "pgoutput":
                raise ReplicationSetupError(
                    f"replication slot {cfg.slot_name!r} exists but is a {slot_type} slot with plugin "
                    f"{plugin!r}; pgbridge needs a logical slot with plugin 'pgoutput' "
                    "(drop it or choose another slot.name)"
                )
            if database != current:
                raise ReplicationSetupError(
                    f"replication slot {cfg.slot_name!r} belongs to database {database!r}, "
                    f"not {current!r}; choose another slot.name"
                )
            return
        if not create:
            return
        try:
            cur.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (cfg.slot_name,))
        except psycopg2.errors.InsufficientPrivilege as exc:
            raise ReplicationSetupError(
                f"cannot create replication slot {cfg.slot_name!r}: {exc.pgerror.strip()} "
                "(the user needs the REPLICATION attribute)"
            ) from None
        except psycopg2.errors.DuplicateObject:
            return  # created concurrently by another process: fine, it is checked on next start
        except psycopg2.errors.ObjectNotInPrerequisiteState as exc:
            raise ReplicationSetupError(
                f"cannot create replication slot {cfg.slot_name!r}: {exc.pgerror.strip()} "
                "(logical decoding needs wal_level=logical and a free max_replication_slots)"
            ) from None
        except psycopg2.errors.ConfigurationLimitExceeded as exc:
            raise ReplicationSetupError(
                f"cannot create replication slot {cfg.slot_name!r}: {exc.pgerror.strip()}"
            ) from None
        log.info("created replication slot %s", cfg.slot_name)


def slot_exists(conn: psycopg2.extensions.connection, slot_name: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot_name,))
        return cur.fetchone() is not None


def confirmed_flush_lsn(conn: psycopg2.extensions.connection, slot_name: str) -> int | None:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT confirmed_flush_lsn - '0/0'::pg_lsn FROM pg_replication_slots WHERE slot_name = %s",
            (slot_name,),
        )
        row = cur.fetchone()
        return None if row is None or row[0] is None else int(row[0])


def drop_slot(conn: psycopg2.extensions.connection, slot_name: str, wait_s: float = 10.0) -> None:
    """Drop the slot (`slot.drop.on.stop`), waiting briefly for its walsender to let go."""
    deadline = time.monotonic() + wait_s
    with conn.cursor() as cur:
        while True:
            try:
                cur.execute("SELECT pg_drop_replication_slot(%s) FROM pg_replication_slots WHERE slot_name = %s",
                            (slot_name, slot_name))
                log.info("dropped replication slot %s (slot.drop.on.stop)", slot_name)
                return
            except psycopg2.errors.ObjectInUse:
                if time.monotonic() > deadline:
                    raise ReplicationSetupError(f"slot.drop.on.stop: slot {slot_name!r} is still in use") from None
                time.sleep(0.2)
