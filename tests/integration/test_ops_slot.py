"""`bridge slot` against the real PostgreSQL: status agrees with pg_replication_slots, and
create / advance / drop / recreate do what their plans say on a scratch slot."""

from __future__ import annotations

import json
import subprocess
import sys

import psycopg2
import psycopg2.extras
import pytest

from bridge.lsn import format_lsn, parse_lsn
from tests.integration.support import REPO, drop_slot_and_publication, write_properties


@pytest.fixture
def slot_cli(tmp_path, pg_dsn, kafka_bootstrap, pg, unique_name):
    """run(*args) → (exit code, stdout, stderr) of `bridge slot ARGS -c FILE` on a scratch slot."""
    slot, publication = f"{unique_name}_slot", f"{unique_name}_pub"
    table = f"ops_{unique_name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
        cur.execute(f"CREATE TABLE {table}_nopk (v text)")
        cur.execute(f"CREATE PUBLICATION {publication} FOR TABLE {table}, {table}_nopk")
    cfg = write_properties(tmp_path / "slot.properties", pg_dsn, kafka_bootstrap, prefix=unique_name, slot=slot,
                           publication=publication,
                           extra={"debezium.source.snapshot.mode": "initial"})

    def run(*args: str) -> tuple[int, str, str]:
        proc = subprocess.run([sys.executable, "-m", "bridge.cli", "slot", *args, "-c", str(cfg)], cwd=REPO,
                              capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        return proc.returncode, proc.stdout, proc.stderr

    run.slot, run.table, run.publication = slot, table, publication
    yield run
    drop_slot_and_publication(pg, slot, publication)
    with pg.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {table}, {table}_nopk")


def _row(pg, slot: str):
    with pg.cursor() as cur:
        cur.execute("SELECT restart_lsn::text, confirmed_flush_lsn::text, wal_status, active_pid, plugin "
                    "FROM pg_replication_slots WHERE slot_name = %s", (slot,))
        return cur.fetchone()


def _current(pg) -> int:
    with pg.cursor() as cur:
        cur.execute("SELECT pg_current_wal_lsn()::text")
        return parse_lsn(cur.fetchone()[0])


def _write(pg, table: str, rows: int) -> None:
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {table} SELECT g, repeat('x', 100) FROM generate_series(1, {rows}) g "
                    "ON CONFLICT (id) DO UPDATE SET v = excluded.v || 'y'")


def test_slot_tools_on_a_scratch_slot(pg, slot_cli):
    slot = slot_cli.slot
    # GIVEN no slot: create refuses to skip the initial snapshot snapshot.mode=initial would take
    code, _, err = slot_cli("create")
    assert code == 4 and "Pass --at-current" in err and _row(pg, slot) is None
    # WHEN created at the current position THEN it exists, logical pgoutput, idle
    code, out, err = slot_cli("create", "--at-current")
    assert code == 0, err
    restart, confirmed, wal_status, pid, plugin = _row(pg, slot)
    assert plugin == "pgoutput" and pid is None and f"streaming starts at {confirmed}" in out

    # WHEN WAL is written THEN status reports pg_replication_slots' positions and the lag to the current WAL
    _write(pg, slot_cli.table, 2000)
    before = _current(pg)
    code, out, err = slot_cli("status", "--json")
    after = _current(pg)
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["restart_lsn"], doc["confirmed_flush_lsn"], doc["wal_status"]) == (restart, confirmed, wal_status)
    current = parse_lsn(doc["current_wal_lsn"])
    assert before <= current <= after
    assert doc["confirmed_lag_bytes"] == current - parse_lsn(confirmed) > 100_000
    assert doc["restart_lag_bytes"] == current - parse_lsn(restart)
    assert {(t["table"], t["replica_identity"], t["primary_key"]) for t in doc["tables"]} == {
        (slot_cli.table, "default", True), (slot_cli.table + "_nopk", "default", False)}
    code, out, _ = slot_cli("status")
    assert code == 0 and f"confirmed_flush_lsn  {confirmed}  lag " in out and "no primary key" in out

    # advance: refused backwards, past the current WAL, and without --yes (no terminal)
    code, _, err = slot_cli("advance", "--to", format_lsn(parse_lsn(confirmed) - 1), "--yes")
    assert code == 4 and "backwards" in err
    code, _, err = slot_cli("advance", "--to", format_lsn(_current(pg) + 1_000_000), "--yes")
    assert code == 4 and "past the WAL written so far" in err
    code, out, err = slot_cli("advance", "--to", format_lsn(before))
    assert code == 2 and "pass --yes" in err and "LOST: changes committed after" in out
    assert _row(pg, slot)[1] == confirmed
    # WHEN advanced with --yes THEN the slot's confirmed position moved there
    code, out, err = slot_cli("advance", "--to", format_lsn(before), "--yes")
    assert code == 0, err
    assert parse_lsn(_row(pg, slot)[1]) == before

    # recreate --from names the loss and makes a new slot at the current position
    code, out, err = slot_cli("recreate", "--from", format_lsn(before), "--yes")
    assert code == 0, err
    assert f"LOST: changes committed after {format_lsn(before)} and before the new slot's position" in out
    assert parse_lsn(_row(pg, slot)[1]) >= after

    # drop: needs --yes, then the slot is gone
    code, _, _ = slot_cli("drop")
    assert code == 2 and _row(pg, slot) is not None
    code, out, err = slot_cli("drop", "--yes")
    assert code == 0, err
    assert _row(pg, slot) is None


def test_slot_tools_leave_an_active_slot_alone(pg, pg_dsn, slot_cli):
    # GIVEN a walsender streaming from the slot (pg_recvlogical's role, played by psycopg2)
    slot_cli("create", "--at-current")
    conn = psycopg2.connect(pg_dsn, connection_factory=psycopg2.extras.LogicalReplicationConnection)
    try:
        cur = conn.cursor()
        cur.start_replication(slot_name=slot_cli.slot, decode=False,
                              options={"proto_version": "1", "publication_names": slot_cli.publication})
        # WHEN drop / advance are asked THEN they refuse, naming the process
        for args in (("drop", "--yes"), ("advance", "--to", format_lsn(_current(pg)), "--yes")):
            code, _, err = slot_cli(*args)
            assert code == 4 and "is streaming from it; stop that bridge first" in err, err
        assert _row(pg, slot_cli.slot) is not None
    finally:
        conn.close()
