"""Round trip of every value family: PostgreSQL -> pgbridge's own event building -> JSON -> the
sink's decoders (bridge.sink.values) -> `%s::type` into a table of the same types, and through
COPY's text format into two others (`copy_rows` of the decoded values; the line generated for the
row's decoders, `rowtext.copy_line`, the sink's staged path), and every target's `::text` must be
byte-equal to the source's, column by column.

The source side is the producers' code in-process: the columns' pgoutput text (the output
functions' text under the walsender's session options) goes as an Insert through
`EventBuilder.change`, whose record value is the JsonConverter bytes, read with json.loads.
Records with schemas are decoded with `field_decoder` (the target column's type given, as the
sink knows it), schemaless ones with `text_decoder`. Each mode runs both.

Values Debezium itself encodes with a loss are left out on purpose, since no decoder can bring
them back: timetz offsets other than +00 (ZonedTime is at UTC), interval months and days in
interval.handling.mode=numeric (a month is 30.4375 days), trailing zeros of an unconstrained
numeric (VariableScaleDecimal strips them), leading zeros of a varbit (Bits keeps no length),
sub-millisecond digits of time[] and of time.precision.mode=connect, multi-dimensional arrays
(one null per sub-array), numeric NaN in precise mode (null), and doubles in
decimal.handling.mode=double beyond a double's precision.
"""

from __future__ import annotations

import io
import json
import uuid

import psycopg2
import psycopg2.extensions
import pytest

from bridge.convert.options import ConversionOptions
from bridge.convert.types import TypeRegistry
from bridge.convert.values import REPLICATION_SESSION_OPTIONS
from bridge.pgoutput.messages import Insert, Relation, RelationColumn
from bridge.produce.events import EventBuilder, TxnContext
from bridge.route.settings import EventConfig
from bridge.sink.apply import copy_rows
from bridge.sink.rowtext import copy_line
from bridge.sink.values import DecodeOptions, field_decoder, text_decoder
from bridge.source.catalog import describe_table
from tests.integration.type_families import (BINARY, DATES, DECIMALS, DECIMALS_EXACT, DECIMALS_SPECIAL, DEFAULT,
                                              FAMILY_EXTENSIONS, FAMILY_TYPES, INTERVALS, INTERVALS_ISO, MICROS,
                                              STRUCTURED)

pytestmark = pytest.mark.integration

MODES = {
    "default": ({}, DEFAULT),
    "decimal-string": ({"decimal_handling_mode": "string"}, DECIMALS_EXACT + DECIMALS + DECIMALS_SPECIAL),
    "decimal-double": ({"decimal_handling_mode": "double"}, DECIMALS),
    "time-connect": ({"time_precision_mode": "connect"}, DATES),
    "time-adaptive-micros": ({"time_precision_mode": "adaptive_time_microseconds"}, DATES + MICROS),
    "time-microseconds": ({"time_precision_mode": "microseconds"}, DATES + MICROS),
    "binary-hex": ({"binary_handling_mode": "hex"}, BINARY),
    "binary-base64": ({"binary_handling_mode": "base64"}, BINARY),
    "binary-base64-url-safe": ({"binary_handling_mode": "base64-url-safe"}, BINARY),
    "interval-string": ({"interval_handling_mode": "string"}, INTERVALS + INTERVALS_ISO),
    "hstore-map": ({"hstore_handling_mode": "map"}, STRUCTURED),
}


@pytest.fixture(scope="module")
def db(pg_dsn):
    """A connection in a schema of its own with the types the families use; the walsender's
    session options, so that libpq's text results are what pgoutput sends."""
    conn = psycopg2.connect(pg_dsn, options=REPLICATION_SESSION_OPTIONS)
    conn.autocommit = True
    schema = f"sink_rt_{uuid.uuid4().hex[:8]}"
    with conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {schema}")
        for extension in FAMILY_EXTENSIONS:
            cur.execute(f"CREATE EXTENSION IF NOT EXISTS {extension} SCHEMA public")
        cur.execute(f"SET search_path = {schema}, public")
        for ddl in FAMILY_TYPES:
            cur.execute(ddl)
    yield conn
    with conn.cursor() as cur:
        cur.execute(f"DROP SCHEMA {schema} CASCADE")
    conn.close()


def _texts(conn, query: str) -> list[tuple]:
    """Rows of `query` as the output functions' text (no psycopg2 parsing)."""
    with conn.cursor() as cur:
        cur.execute(query + " LIMIT 0")
        oids = tuple({col.type_code for col in cur.description})
        psycopg2.extensions.register_type(psycopg2.extensions.new_type(oids, "SINK_RT_TEXT", lambda v, _: v), cur)
        cur.execute(query)
        return cur.fetchall()


def _source(conn, table: str, columns: list[tuple[str, list[str]]]) -> list[tuple[str, str, int, int]]:
    """Create and fill `table`; (name, pg type as the sink reads it, type oid, typmod) per column."""
    rows = max(len(values) for _, values in columns)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, "
                    + ", ".join(f"c{i} {typ}" for i, (typ, _) in enumerate(columns)) + ")")
        for r in range(rows):
            literals = [values[r] if r < len(values) else "NULL" for _, values in columns]
            cur.execute(f"INSERT INTO {table} VALUES ({r}, {', '.join(literals)})")
        cur.execute(f"INSERT INTO {table} (id) VALUES ({rows})")  # every column NULL
        # a domain's values are its base type's: the sink is given the base type
        cur.execute("""
            SELECT a.attname, format_type(CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END,
                                          CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END),
                   a.atttypid::int, a.atttypmod
            FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
            WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum""", (table,))
        return cur.fetchall()


def _events(conn, table: str, attrs, options: dict, schemas: bool) -> list[dict]:
    """Each source row through EventBuilder: the `after` image as json.loads reads the record,
    with the row's field schemas (schemas on) by column name."""
    with conn.cursor() as cur:
        cur.execute("SELECT %s::regclass::oid::int", (table,))
        (relid,) = cur.fetchone()
    relation = Relation(relid, _schema_of(conn, table), table, "d",
                        tuple(RelationColumn(name == "id", name, oid, typmod) for name, _, oid, typmod in attrs))
    config = EventConfig(topic_prefix="rt", tombstones_on_delete=False, skipped_operations=frozenset(),
                         key_schemas_enable=schemas, value_schemas_enable=schemas)
    builder = EventBuilder(config, ConversionOptions(**options), TypeRegistry(conn), "bridge", run_id="rt")
    builder.relation(relation, describe_table(conn, relation), f"rt.{table}")
    out = []
    for xid, row in enumerate(_texts(conn, f"SELECT * FROM {table} ORDER BY id"), start=1):
        insert = Insert(relid, tuple(None if v is None else v.encode() for v in row))
        (record,) = builder.change(insert, TxnContext(xid, 1_700_000_000_000_000, None), 0x1000 + xid)
        value = json.loads(record.value)
        if schemas:
            after = next(f for f in value["schema"]["fields"] if f["field"] == "after")
            out.append((value["payload"]["after"], {f["field"]: f for f in after["fields"]}))
        else:
            out.append((value["after"], None))
    return out


def _schema_of(conn, table: str) -> str:
    with conn.cursor() as cur:
        cur.execute("SELECT relnamespace::regnamespace::text FROM pg_class WHERE oid = %s::regclass", (table,))
        return cur.fetchone()[0]


def _column_texts(conn, table: str, attrs) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT {', '.join(f'{name}::text' for name, *_ in attrs)} FROM {table} ORDER BY id")
        return cur.fetchall()


@pytest.mark.parametrize("schemas", [True, False], ids=["schemas", "schemaless"])
@pytest.mark.parametrize("mode", list(MODES))
def test_round_trip_is_byte_equal(db, mode, schemas):
    # GIVEN a source table of the mode's families, filled with edge values, and its events
    options, columns = MODES[mode]
    table = f"rt_{mode.replace('-', '_')}_{'s' if schemas else 'n'}"
    attrs = _source(db, table, columns)
    events = _events(db, table, attrs, options, schemas)
    decode_options = DecodeOptions(**options)
    # WHEN each event's values are decoded and written with %s::type into a table of the same types,
    # into another through COPY's text format (`copy_rows`), and into a third through the lines the
    # sink's staged path writes (`rowtext.copy_line`, generated for the row's decoders)
    copied, lines = [], []
    with db.cursor() as cur:
        cur.execute(f"CREATE TABLE {table}_target (LIKE {table})")
        cur.execute(f"CREATE TABLE {table}_copied (LIKE {table})")
        cur.execute(f"CREATE TABLE {table}_lined (LIKE {table})")
        for after, fields in events:
            names = list(after)
            decoders = [field_decoder(fields[n], decode_options, pg_type) if schemas
                        else text_decoder(pg_type, decode_options)
                        for n in names for name, pg_type, *_ in attrs if name == n]
            types = [pg_type for n in names for name, pg_type, *_ in attrs if name == n]
            cur.execute(f"INSERT INTO {table}_target ({', '.join(names)}) VALUES "
                        f"({', '.join(f'%s::{t}' for t in types)})",
                        [decode(after[n]) for decode, n in zip(decoders, names)])
            copied.append(tuple(decode(after[n]) for decode, n in zip(decoders, names)))
            lines.append(copy_line((), tuple(decoders), False)((), tuple(after[n] for n in names), None))
        cur.copy_expert(f"COPY {table}_copied ({', '.join(names)}) FROM STDIN", io.StringIO(copy_rows(copied)))
        cur.copy_expert(f"COPY {table}_lined ({', '.join(names)}) FROM STDIN", io.StringIO("".join(lines)))
    # THEN every column's text is the source's, byte for byte, every way
    source = _column_texts(db, table, attrs)
    types = [pg_type for _, pg_type, *_ in attrs]
    for written in (f"{table}_target", f"{table}_copied", f"{table}_lined"):
        for s_row, t_row in zip(source, _column_texts(db, written, attrs), strict=True):
            assert list(zip(types, t_row)) == list(zip(types, s_row)), written
