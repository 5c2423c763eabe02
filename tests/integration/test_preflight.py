"""The PostgreSQL preflight against the real server: inspection only reads (it runs in a
read-only session), checks come before any DDL, and the DDL does what the plan says."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import psycopg2
import psycopg2.errors
import pytest

from bridge.config import ReplicationConfig
from bridge.errors import ReplicationSetupError
from bridge.route.filters import TableFilter
from bridge.source.preflight import check_postgres, ensure_slot, inspect_postgres, prepare_postgres
from bridge.source.publication import PublicationChange, apply_publication_change, inspect_publication
from bridge.source.slots import copy_slot, drop_slot, inspect_slot


@pytest.fixture
def schema(pg, unique_name) -> Iterator[str]:
    """A schema of three tables (keyed, keyless, REPLICA IDENTITY FULL); dropped afterwards with
    the test's publication and slots."""
    with pg.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {unique_name}")
        cur.execute(f"CREATE TABLE {unique_name}.keyed (id int PRIMARY KEY)")
        cur.execute(f"CREATE TABLE {unique_name}.keyless (v int)")
        cur.execute(f"CREATE TABLE {unique_name}.full_row (v int)")
        cur.execute(f"ALTER TABLE {unique_name}.full_row REPLICA IDENTITY FULL")
    yield unique_name
    with pg.cursor() as cur:
        cur.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                    "WHERE slot_name LIKE %s AND NOT active", (f"{unique_name}%",))
        cur.execute(f"DROP PUBLICATION IF EXISTS {unique_name}_pub")
        cur.execute(f"DROP SCHEMA {unique_name} CASCADE")


def replication(name: str, mode: str = "filtered") -> ReplicationConfig:
    return ReplicationConfig(f"{name}_slot", f"{name}_pub", mode, 10_000)


def read_only_connection(pg_dsn: str, how: str) -> psycopg2.extensions.connection:
    if how == "session":
        conn = psycopg2.connect(pg_dsn, options="-c default_transaction_read_only=on")
        conn.autocommit = True
    else:  # one explicit READ ONLY transaction around every statement of the test
        conn = psycopg2.connect(pg_dsn)
        with conn.cursor() as cur:
            cur.execute("SET TRANSACTION READ ONLY")
    return conn


@pytest.mark.parametrize("how", ["session", "transaction"])
def test_inspection_and_checks_only_read(pg, pg_dsn, schema, how):
    cfg = replication(schema)
    only_ours = TableFilter.from_lists(schema_include=schema)
    conn = read_only_connection(pg_dsn, how)
    try:
        # WHEN the facts are read and checked where nothing can be written
        facts = inspect_postgres(conn, cfg)
        findings, change = check_postgres(facts, cfg, only_ours)

        # THEN they say what is there and what the start would do
        assert facts.publication is None and facts.slot is None
        assert facts.session.replication or facts.session.superuser
        assert facts.session.system_identifier.isdigit()
        ours = {t.name: t for t in facts.tables if t.schema == schema}
        assert (ours["keyed"].replica_identity, ours["keyed"].has_primary_key) == ("d", True)
        assert (ours["keyless"].replica_identity, ours["keyless"].has_primary_key) == ("d", False)
        assert ours["full_row"].replica_identity == "f"
        assert change == PublicationChange(cfg.publication_name, "filtered", tables=(
            (schema, "full_row"), (schema, "keyed"), (schema, "keyless")))
        [finding] = findings
        assert finding.check == "replica identity" and f": {schema}.keyless; " in finding.message

        # AND the connection really refuses writes: the DDL fails on it
        with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
            apply_publication_change(conn, change)
    finally:
        conn.close()
    assert inspect_publication(pg, cfg.publication_name) is None
    assert inspect_slot(pg, cfg.slot_name) is None


@pytest.mark.parametrize("how", ["session", "transaction"])
def test_inspection_reads_an_existing_slot_and_publication(pg, pg_dsn, schema, how):
    cfg = replication(schema)
    with pg.cursor() as cur:
        cur.execute(f"CREATE PUBLICATION {cfg.publication_name} FOR TABLE {schema}.keyed, {schema}.keyless")
        cur.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (cfg.slot_name,))
    conn = read_only_connection(pg_dsn, how)
    try:
        facts = inspect_postgres(conn, cfg)
    finally:
        conn.close()
    assert facts.publication.tables == ((schema, "keyed"), (schema, "keyless"))
    assert not facts.publication.all_tables
    slot = facts.slot
    assert (slot.slot_type, slot.plugin, slot.database, slot.temporary) == ("logical", "pgoutput",
                                                                           facts.session.database, False)
    assert not slot.active and slot.wal_status == "reserved"
    assert 0 < slot.restart_lsn <= slot.confirmed_flush_lsn


def test_prepare_creates_then_follows_the_filtered_publication(pg, schema, caplog):
    cfg = replication(schema)
    caplog.set_level(logging.INFO, logger="bridge.source")
    keyed_only = TableFilter.from_lists(table_include=f"{schema}.keyed")
    with pg.cursor() as cur:
        cur.execute("SELECT system_identifier::text FROM pg_control_system()")
        system = cur.fetchone()[0]

    # WHEN the start prepares a filtered publication, again, and with wider lists
    assert prepare_postgres(pg, cfg, keyed_only) == system
    created = inspect_publication(pg, cfg.publication_name)
    prepare_postgres(pg, cfg, keyed_only)
    prepare_postgres(pg, cfg, TableFilter.from_lists(schema_include=schema))

    # THEN it was created for the captured table, left alone, then set to the new lists,
    # with a warning for the keyless table it now publishes
    assert created.tables == ((schema, "keyed"),)
    assert inspect_publication(pg, cfg.publication_name).tables == (
        (schema, "full_row"), (schema, "keyed"), (schema, "keyless"))
    logged = [r.getMessage() for r in caplog.records]
    assert logged.count(f"created publication {cfg.publication_name} (filtered)") == 1
    assert (f"publication {cfg.publication_name} updated to the include/exclude lists: added {schema}.full_row, "
            f"{schema}.keyless; removed nothing") in logged
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert f"publication '{cfg.publication_name}' publishes them: {schema}.keyless; " in warning.getMessage()


def test_a_bad_slot_stops_the_start_before_the_publication_is_created(pg, schema):
    cfg = replication(schema, "all_tables")
    with pg.cursor() as cur:
        cur.execute("SELECT pg_create_logical_replication_slot(%s, 'test_decoding')", (cfg.slot_name,))
    with pytest.raises(ReplicationSetupError, match=f"replication slot '{cfg.slot_name}' exists but is a logical "
                                                    "slot with plugin 'test_decoding'"):
        prepare_postgres(pg, cfg)
    with pytest.raises(ReplicationSetupError, match="with plugin 'test_decoding'"):
        ensure_slot(pg, cfg)
    assert inspect_publication(pg, cfg.publication_name) is None


def test_slot_ddl_creates_copies_and_drops(pg, schema):
    cfg = replication(schema)
    ensure_slot(pg, cfg)
    ensure_slot(pg, cfg)  # exists and is fine: nothing to do
    created = inspect_slot(pg, cfg.slot_name)
    assert created.plugin == "pgoutput" and not created.temporary

    copy = f"{schema}_copy"
    copy_slot(pg, cfg.slot_name, copy, replace=False)
    assert inspect_slot(pg, copy).confirmed_flush_lsn == created.confirmed_flush_lsn
    with pytest.raises(psycopg2.errors.DuplicateObject):
        copy_slot(pg, cfg.slot_name, copy, replace=False)
    copy_slot(pg, cfg.slot_name, copy, replace=True)

    drop_slot(pg, copy)
    drop_slot(pg, copy)  # already gone: fine
    assert inspect_slot(pg, copy) is None and inspect_slot(pg, cfg.slot_name) is not None
