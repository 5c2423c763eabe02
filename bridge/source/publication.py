"""The publication: its facts (read-only), the change the configuration asks for, and the DDL.

`publication.autocreate.mode` decides the change: `all_tables` and `no_tables` create a missing
publication FOR ALL TABLES or with no table; `filtered` creates it FOR TABLE the tables the
include/exclude lists capture, plus the signal table (`signal.data.collection`, always
captured, as in Debezium), and, as Debezium does, sets an existing one's tables to that list
when the lists or the tables changed; `disabled` changes nothing. What would stop the change
(a missing publication with `disabled`, ...) is found by `bridge.source.checks`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from psycopg2 import sql

from bridge.errors import ReplicationSetupError
from bridge.route.filters import TableFilter
from bridge.source.catalog import TableFacts
from bridge.source.settings import ReplicationConfig

log = logging.getLogger(__name__)

Table = tuple[str, str]  # (schema, table)


@dataclass(frozen=True, slots=True)
class PublicationFacts:
    name: str
    all_tables: bool  # FOR ALL TABLES
    tables: tuple[Table, ...]  # what it publishes now, sorted


@dataclass(frozen=True, slots=True)
class PublicationChange:
    """CREATE PUBLICATION (when `previous` is None) or ALTER PUBLICATION ... SET TABLE."""

    name: str
    mode: str  # the publication.autocreate.mode asking for it
    all_tables: bool = False
    tables: tuple[Table, ...] = ()
    previous: tuple[Table, ...] | None = None  # the tables it lists now


def inspect_publication(conn: psycopg2.extensions.connection, name: str) -> PublicationFacts | None:
    """The publication `name`, or None when there is none. Read-only."""
    with conn.cursor() as cur:
        cur.execute("SELECT puballtables FROM pg_publication WHERE pubname = %s", (name,))
        row = cur.fetchone()
        if row is None:
            return None
        cur.execute("SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s", (name,))
        return PublicationFacts(name, row[0], tuple(sorted(cur.fetchall())))


def filtered_tables(tables: Iterable[TableFacts], filters: TableFilter | None,
                    signal_table: str | None) -> tuple[Table, ...]:
    """The tables `publication.autocreate.mode=filtered` publishes: those the filters capture
    and the signal table, sorted."""
    filters = filters or TableFilter()
    wanted = [(t.schema, t.name) for t in tables if filters.captures(t.schema, t.name)]
    if signal_table is not None and tuple(signal_table.split(".", 1)) not in wanted:
        wanted.append(tuple(signal_table.split(".", 1)))
    return tuple(sorted(wanted))


def plan_publication(publication: PublicationFacts | None, wanted: tuple[Table, ...],
                     cfg: ReplicationConfig) -> PublicationChange | None:
    """The change `cfg` asks for, given the publication and `filtered_tables`; None when there
    is nothing to do, or nothing that can be done (the checks say why)."""
    name, mode = cfg.publication_name, cfg.publication_autocreate_mode
    if publication is None:
        if mode == "all_tables":
            return PublicationChange(name, mode, all_tables=True)
        if mode == "no_tables":
            return PublicationChange(name, mode)
        if mode == "filtered" and wanted:
            return PublicationChange(name, mode, tables=wanted)
        return None
    if mode == "filtered" and not publication.all_tables and wanted and publication.tables != wanted:
        return PublicationChange(name, mode, tables=wanted, previous=publication.tables)
    return None


def apply_publication_change(conn: psycopg2.extensions.connection, change: PublicationChange) -> None:
    if change.previous is None:
        _create(conn, change)
    else:
        _set_tables(conn, change)


def _create(conn: psycopg2.extensions.connection, change: PublicationChange) -> None:
    if change.all_tables:
        target = sql.SQL("FOR ALL TABLES")
    elif change.tables:
        target = sql.SQL("FOR TABLE {}").format(_table_list(change.tables))
    else:
        target = sql.SQL("")
    statement = sql.SQL("CREATE PUBLICATION {} {}").format(sql.Identifier(change.name), target)
    with conn.cursor() as cur:
        try:
            cur.execute(statement)
        except psycopg2.errors.InsufficientPrivilege as exc:
            raise ReplicationSetupError(
                f"cannot create publication {change.name!r}: {exc.pgerror.strip()} "
                "(FOR ALL TABLES needs a superuser; or create the publication yourself and set "
                "publication.autocreate.mode=disabled)"
            ) from None
    log.info("created publication %s (%s)", change.name, change.mode)


def _set_tables(conn: psycopg2.extensions.connection, change: PublicationChange) -> None:
    name = change.name
    with conn.cursor() as cur:
        try:
            cur.execute(sql.SQL("ALTER PUBLICATION {} SET TABLE {}").format(sql.Identifier(name),
                                                                           _table_list(change.tables)))
        except psycopg2.errors.InsufficientPrivilege as exc:
            raise ReplicationSetupError(
                f"publication {name!r} must change to match the include/exclude lists, but: {exc.pgerror.strip()} "
                "(its owner can run it; or set publication.autocreate.mode=disabled and manage it yourself)"
            ) from None
    added = sorted(set(change.tables) - set(change.previous))
    removed = sorted(set(change.previous) - set(change.tables))
    log.info("publication %s updated to the include/exclude lists: added %s; removed %s", name,
             ", ".join(".".join(t) for t in added) or "nothing", ", ".join(".".join(t) for t in removed) or "nothing")


def _table_list(tables: Iterable[Table]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(schema, table) for schema, table in tables)
