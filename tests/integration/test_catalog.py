"""describe_table against a real PostgreSQL: nullability and default expressions as Debezium
reads them (pgjdbc's getColumns in pgjdbc's session settings), whatever the connection's own."""

from __future__ import annotations

import uuid

import psycopg2.extensions
import pytest

from bridge.snapshot.plan import catalog_relation
from bridge.source.catalog import describe_table


@pytest.fixture
def table(pg):
    schema = f"cat_{uuid.uuid4().hex[:6]}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {schema}")
        cur.execute(f"CREATE DOMAIN {schema}.nnint AS int NOT NULL")
        cur.execute(f"""CREATE TABLE {schema}.t (
            id serial PRIMARY KEY, d date NOT NULL DEFAULT '2020-02-03', iv interval DEFAULT '1 day 02:00:00',
            tz timestamptz DEFAULT '2020-01-02 03:04:05+02', nn {schema}.nnint, plain text, gone int DEFAULT 1)""")
        cur.execute(f"ALTER TABLE {schema}.t DROP COLUMN gone")
        cur.execute(f"SELECT '{schema}.t'::regclass::oid")
        (oid,) = cur.fetchone()
        relation, _ = catalog_relation(cur, oid, schema, "t", "d", None)
    yield relation
    with pg.cursor() as cur:
        cur.execute(f"DROP SCHEMA {schema} CASCADE")


def test_defaults_are_spelled_as_pgjdbc_sees_them_whatever_the_session(pg, table):
    # GIVEN a connection whose own settings spell dates, intervals and offsets differently
    with pg.cursor() as cur:
        cur.execute("SET DateStyle = 'SQL, DMY'; SET IntervalStyle = 'iso_8601'; SET TimeZone = 'Asia/Kolkata'")
    # WHEN the table is described
    info = describe_table(pg, table)
    # THEN the expressions are ISO, postgres-style and at UTC, as Debezium's session reads them
    assert dict(info.defaults) == {
        "id": f"nextval('{table.namespace}.t_id_seq'::regclass)",
        "d": "'2020-02-03'::date",
        "iv": "'1 day 02:00:00'::interval",
        "tz": "'2020-01-02 01:04:05+00'::timestamp with time zone",
    }
    # AND a NOT NULL domain makes its column NOT NULL, as in pgjdbc's getColumns
    assert info.not_null == {"id", "d", "nn"} and info.key_columns == ("id",)
    # AND the connection is left as it was: its own settings, no transaction open
    with pg.cursor() as cur:
        cur.execute("SHOW DateStyle")
        assert cur.fetchone() == ("SQL, DMY",)
    assert pg.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE
