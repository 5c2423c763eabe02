"""`bridge doctor` against the real PostgreSQL and Kafka: a table without a primary key and a
role without REPLICATION are found with their fixes; an error finding exits 2."""

from __future__ import annotations

import subprocess
import sys

import psycopg2.extensions

from tests.integration.support import REPO, write_properties


def _doctor(cfg) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "doctor", "-c", str(cfg)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def test_doctor_finds_a_keyless_table_and_a_role_without_replication(tmp_path, pg, pg_dsn, kafka_bootstrap,
                                                                       unique_name):
    role, table, publication = f"r_{unique_name}", f"nopk_{unique_name}", f"{unique_name}_pub"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (v text)")
        cur.execute(f"CREATE PUBLICATION {publication} FOR TABLE {table}")
        cur.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'doctor' NOREPLICATION")
    try:
        # GIVEN a configuration connecting as that role, its publication kept as it is
        dsn = psycopg2.extensions.make_dsn(pg_dsn, user=role, password="doctor")
        options = {"debezium.source.publication.autocreate.mode": "disabled"}
        cfg = write_properties(tmp_path / "doctor.properties", dsn, kafka_bootstrap, prefix=unique_name,
                               slot=f"{unique_name}_slot", publication=publication, extra=options)
        # WHEN the doctor runs THEN it warns, with the SQL that fixes each, and exits 0 (no error)
        code, out, err = _doctor(cfg)
        assert code == 0, out + err
        assert (f"WARNING role: role '{role}' has neither the REPLICATION attribute nor superuser" in out
                and f"ALTER ROLE {role} REPLICATION" in out), out
        assert "WARNING replica identity: 1 captured table(s) have no replica identity" in out
        assert f"public.{table}; give each a primary key, or ALTER TABLE ... REPLICA IDENTITY FULL" in out
        assert f"snapshots of them fail: GRANT SELECT ON public.{table} TO {role}" in out
        assert f"1 topic(s) of captured tables do not exist yet: {unique_name}.public.{table}" in out
        assert out.rstrip().splitlines()[-1].startswith("doctor: 0 error(s), ")

        # GIVEN a publication that does not exist and may not be created THEN an error, exit 2
        cfg = write_properties(tmp_path / "missing.properties", dsn, kafka_bootstrap, prefix=unique_name,
                               slot=f"{unique_name}_slot", publication=f"{unique_name}_nopub", extra=options)
        code, out, err = _doctor(cfg)
        assert code == 2, out + err
        assert f"ERROR   publication: publication '{unique_name}_nopub' does not exist" in out
    finally:
        with pg.cursor() as cur:
            cur.execute(f"DROP PUBLICATION IF EXISTS {publication}")
            cur.execute(f"DROP TABLE IF EXISTS {table}")
            cur.execute(f"DROP ROLE IF EXISTS {role}")


def test_doctor_reports_an_unreachable_broker(tmp_path, pg_dsn, unique_name):
    cfg = write_properties(tmp_path / "nokafka.properties", pg_dsn, "127.0.0.1:1", prefix=unique_name,
                           slot=f"{unique_name}_slot", publication=f"{unique_name}_pub")
    code, out, err = _doctor(cfg)
    assert code == 2, out + err
    assert "ERROR   kafka: cannot reach Kafka at 127.0.0.1:1: " in out
