"""Type matrix against a real PostgreSQL: edge values go in through SQL, come back as the text
pgoutput would send, and must convert to the Debezium values hand-derived from Debezium 3.6.1's
rules (same sources as tests/unit/test_values*.py), updated to Debezium 3.7.0 (golden capture in
tests/data/debezium): Java float spelling (msgspec.Raw fragments), new infinities, circle converted.

pgoutput sends each type's output function text. `col::text` is *not* always that (bool::text is
'true' where boolout prints 't', bpchar::text drops the padding, inet::text adds '/32'), so the
values are read with a pass-through typecaster instead: libpq's text result format is the output
function's text too.

Also checks the conclusion about session settings documented in bridge/convert/values.py, with a
real walsender: its startup options decide the text pgoutput sends.

Converters return Connect values (`bytes` for BYTES): both sides are compared as the JSON writer
spells them (`json_bytes`), where BYTES are base64 as in Debezium's JSON.
"""

from __future__ import annotations

import struct
import uuid

import psycopg2
import psycopg2.extensions
import psycopg2.extras
import pytest
from msgspec import Raw

from bridge.convert.options import ConversionOptions
from bridge.convert.types import TypeRegistry
from bridge.convert.values import REPLICATION_SESSION_OPTIONS, converter_for
from bridge.format.json import json_bytes

PH = "__debezium_unavailable_value"

# (column type, SQL literal, expected Debezium JSON value, conversion options)
CASES: dict[str, list[tuple[str, str, object, dict[str, object]]]] = {
    "numbers": [
        ("smallint", "-32768", -32768, {}),
        ("bigint", "9223372036854775807", 9223372036854775807, {}),
        ("oid", "4000000000", 4000000000, {}),
        ("real", "3.3", Raw(b"3.3"), {}),
        ("real", "'NaN'", "NaN", {}),
        ("double precision", "'-Infinity'", "-Infinity", {}),
        ("double precision", "0.1", Raw(b"0.1"), {}),
        ("double precision", "1e10", Raw(b"1.0E10"), {}),
        ("boolean", "true", True, {}),
        ("numeric(12,2)", "1234.5", "AeI6", {}),  # 123450 = 01 e2 3a  # 123450
        ("numeric(12,2)", "-1234.5", "/h3G", {}),
        ("numeric(6,4)", "22.22", "22.2200", {"decimal_handling_mode": "string"}),
        ("numeric", "22.2200", {"scale": 2, "value": "CK4="}, {}),
        ("numeric", "1e3", {"scale": 0, "value": "A+g="}, {}),
        ("numeric", "'NaN'", "NAN", {"decimal_handling_mode": "string"}),
        ("numeric", "'Infinity'", "Infinity", {"decimal_handling_mode": "double"}),
        ("money", "1234.11", "AeIT", {}),
        ("money", "-1234.11", "/h3t", {}),
        ("money", "-1234.11", "-1234.11", {"decimal_handling_mode": "string"}),
    ],
    "strings": [
        ("text", "'žš ☃'", "žš ☃", {}),
        ("char(6)", "'ab'", "ab    ", {}),
        ('"char"', "'x'", "x", {}),
        ("varchar(10)", "''", "", {}),
        ("json", """'{"bar": "baz"}'""", '{"bar": "baz"}', {}),
        ("jsonb", """'{"b": 1, "a": [true, null]}'""", '{"a": [true, null], "b": 1}', {}),
        ("xml", "'<foo>bar</foo>'", "<foo>bar</foo>", {}),
        ("uuid", "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", {}),
        ("inet", "'192.168.2.0/12'", "192.168.2.0/12", {}),
        ("cidr", "'192.168.100.128/25'", "192.168.100.128/25", {}),
        ("macaddr", "'08-00-2b-01-02-03'", "08:00:2b:01:02:03", {}),
        ("macaddr8", "'08:00:2b:01:02:03:04:05'", "08:00:2b:01:02:03:04:05", {}),
        ("tsrange", "'[2019-03-31 15:30:00, infinity)'", '["2019-03-31 15:30:00",infinity)', {}),
        ("daterange", "'[2019-03-31, 2019-04-30)'", "[2019-03-31,2019-04-30)", {}),
        ("int4range", "'[1000,6000)'", "[1000,6000)", {}),
        ("numrange", "'[5.3,6.3)'", "[5.3,6.3)", {}),
        ("tsvector", "'b a a'", "'a' 'b'", {}),
    ],
    "binary": [
        ("bytea", "'\\x010203'::bytea", "AQID", {}),
        ("bytea", "'\\x010203'::bytea", "010203", {"binary_handling_mode": "hex"}),
        ("bytea", "'\\xfbff'::bytea", "-_8=", {"binary_handling_mode": "base64-url-safe"}),
        ("bit(1)", "B'1'", True, {}),
        ("bit(7)", "B'1'::bit(7)", "QA==", {}),  # '1000000' -> [64]
        ("bit(24)", "B'000000110000001000000001'", "AQID", {}),
        ("varbit", "B'101'", "BQ==", {}),
        ("varbit(1)", "B'0'", False, {}),
    ],
    "temporal": [
        ("date", "'2016-11-04'", 17109, {}),
        ("date", "'1969-12-31'", -1, {}),
        ("date", "'0044-03-15 BC'", -735160, {}),  # LocalDate.of(-43, 3, 15)
        ("date", "'infinity'", 2146033979, {}),
        ("date", "'-infinity'", -2147472691, {}),
        ("date", "'2016-11-04'", "2016-11-04Z", {"time_precision_mode": "isostring"}),
        ("time", "'13:51:30'", 49890000000, {}),
        ("time(3)", "'13:51:30.123'", 49890123, {}),
        ("time", "'24:00:00'", 86400000000, {}),
        ("timetz", "'13:51:30.123789+02'", "11:51:30.123789Z", {}),
        ("timetz(3)", "'13:51:30.123+02'", "11:51:30.123Z", {}),
        ("timestamp", "'2016-11-04T13:51:30.123456'", 1478267490123456, {}),
        ("timestamp(3)", "'2016-11-04T13:51:30.123456'", 1478267490123, {}),
        ("timestamp", "'1936-10-25T22:10:12.608'", -1047174587392000, {}),
        ("timestamp", "'21016-11-04T13:51:30.123457'", 601060312290123457, {}),
        ("timestamp", "'294247-01-01T23:59:59.999999'", 9223371331199999999, {}),
        ("timestamp", "'4713-12-31T23:59:59.999999 BC'", -210831897600000001, {}),
        ("timestamp", "'infinity'", 2**63 - 1, {}),
        ("timestamp", "'-infinity'", -(2**63), {}),
        ("timestamp(3)", "'infinity'", 9223372036825200000, {}),
        ("timestamp", "'2016-11-04T13:51:30.123456'", 1478267490123456000, {"time_precision_mode": "nanoseconds"}),
        ("timestamptz", "'2016-11-04T13:51:30.123456+02:00'", "2016-11-04T11:51:30.123456Z", {}),
        ("timestamptz", "'21016-11-04T13:51:30+07:00'", "+21016-11-04T06:51:30.000000Z", {}),
        ("timestamptz", "'294247-01-01T23:59:59.999999+00:00'", "+294247-01-01T23:59:59.999999Z", {}),
        ("timestamptz", "'4714-12-31T23:59:59.999999Z BC'", "-4713-12-31T23:59:59.999999Z", {}),
        ("timestamptz(0)", "'2016-11-04 13:51:30+00'", "2016-11-04T13:51:30Z", {}),
        ("timestamptz", "'infinity'", "infinity", {}),
        ("interval", "'P1Y2M3DT4H5M6.78S'", 37091106780000, {}),
        ("interval", "'P1Y2M3DT4H5M6.78S'", "P1Y2M3DT4H5M6.78S", {"interval_handling_mode": "string"}),
        ("interval", "'-1 day 2 hours 3 minutes'", -79020000000, {}),
    ],
    "arrays": [
        ("int[]", "'{1,2,NULL}'", [1, 2, None], {}),
        ("int[]", "'{{1,2},{3,4}}'", [None, None], {}),
        ("text[]", """'{"a b","c\\"d",NULL,"NULL",""}'""", ["a b", 'c"d', None, "NULL", ""], {}),
        ("char(5)[]", "'{ab,cd}'", ["ab   ", "cd   "], {}),
        ("numeric(10,2)[]", "'{1.2,3.4}'", ["eA==", "AVQ="], {}),
        ("date[]", "'{2016-11-04,2016-11-05}'", [17109, 17110], {}),
        ("timestamptz[]", """'{"2020-04-01 11:51:02+00"}'""", ["2020-04-01T11:51:02.000000Z"], {}),
        ("time[]", "'{00:01:02.123456}'", [62123000], {}),
        ("uuid[]", "'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'", ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"], {}),
        ("jsonb[]", """array['{"bar": "baz"}']::jsonb[]""", ['{"bar": "baz"}'], {}),
        ("bytea[]", "array['\\x000102'::bytea, '\\x030405'::bytea]", ["AAEC", "AwQF"], {}),
        ("int4range[]", """'{"[1,6)","[1,4)"}'""", ["[1,6)", "[1,4)"], {}),
        ("mood[]", "'{sad,happy}'", ["sad", "happy"], {}),
    ],
    "custom": [
        ("mood", "'ok'", "ok", {}),
        ("price", "3.3", "AUo=", {}),  # domain numeric(10,2): scale 2
        ("hstore", """'"key4"=>"val4", "key5"=>NULL'""", '{"key5":null,"key4":"val4"}', {}),
        ("hstore", """'"a"=>"1"'""", {"a": "1"}, {"hstore_handling_mode": "map"}),
        ("point", "'(1,1)'", {"x": Raw(b"1.0"), "y": Raw(b"1.0"), "wkb": "AQEAAAAAAAAAAADwPwAAAAAAAPA/", "srid": None}, {}),
        ("circle", "'((10,20),10)'", {"center": {"x": Raw(b"10.0"), "y": Raw(b"20.0"),
                                                 "wkb": "AQEAAAAAAAAAAAAkQAAAAAAAADRA", "srid": None},
                                      "radius": Raw(b"10.0")}, {}),
        ("tsquery", "'a & b'", "J2EnICYgJ2In", {"include_unknown_datatypes": True}),  # still unknown
    ],
}


@pytest.fixture(scope="module")
def sql(pg_dsn):
    conn = psycopg2.connect(pg_dsn, options=REPLICATION_SESSION_OPTIONS)
    conn.autocommit = True
    schema = f"tm_{uuid.uuid4().hex[:8]}"
    with conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {schema}; SET search_path = {schema}, public")
        cur.execute("CREATE EXTENSION IF NOT EXISTS hstore")
        cur.execute("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')")
        cur.execute("CREATE DOMAIN price AS numeric(10,2)")
    yield conn
    with conn.cursor() as cur:
        cur.execute(f"DROP SCHEMA {schema} CASCADE")
    conn.close()


def _output_texts(conn, query: str) -> tuple[str, ...]:
    """The row of `query` as the output functions' text (no psycopg2 parsing)."""
    with conn.cursor() as cur:
        cur.execute(query)
        oids = tuple({col.type_code for col in cur.description})
    psycopg2.extensions.register_type(psycopg2.extensions.new_type(oids, "PGOUTPUT_TEXT", lambda v, _: v), conn)
    with conn.cursor() as cur:
        cur.execute(query)
        return cur.fetchone()


def _pgoutput_text(conn, family: str) -> list[tuple[int, int, bytes]]:
    """Create the family's table, insert its literals, return (type oid, typmod, text) per column."""
    cases = CASES[family]
    family = f"tm_{family}"
    cols = ", ".join(f"c{i} {typ}" for i, (typ, *_) in enumerate(cases))
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {family} ({cols})")
        cur.execute(f"INSERT INTO {family} VALUES ({', '.join(lit for _, lit, *_ in cases)})")
        cur.execute(
            "SELECT atttypid::int, atttypmod FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
            "ORDER BY attnum",
            (family,),
        )
        attrs = cur.fetchall()
    texts = _output_texts(conn, f"SELECT * FROM {family}")
    return [(oid, typmod, text.encode()) for (oid, typmod), text in zip(attrs, texts)]


@pytest.mark.parametrize("family", list(CASES))
def test_type_matrix(sql, family):
    registry = TypeRegistry(sql)
    got, want = [], []
    for (typ, literal, expected, options), (oid, typmod, text) in zip(CASES[family], _pgoutput_text(sql, family)):
        converter = converter_for(registry.get(oid), typmod, ConversionOptions(**options))  # type: ignore[arg-type]
        assert converter is not None, typ
        got.append((typ, literal, json_bytes(converter.convert(text))))
        want.append((typ, literal, json_bytes(expected)))
    assert got == want


@pytest.mark.parametrize(
    ("settings", "typ", "literal", "expected"),
    [
        # the session time zone only moves the printed offset; the UTC result is the same
        ("TimeZone=Asia/Kathmandu", "timestamptz", "'2016-11-04T13:51:30.123456+02'", "2016-11-04T11:51:30.123456Z"),
        ("TimeZone=America/St_Johns", "timestamptz", "'2016-07-01 00:00:00+00'", "2016-07-01T00:00:00.000000Z"),
        ("TimeZone=Europe/Amsterdam", "timestamptz", "'1900-01-01 00:00:00+00'", "1900-01-01T00:00:00.000000Z"),
        ("TimeZone=Pacific/Kiritimati", "timestamptz", "'0044-03-15 12:00:00+00 BC'", "-0043-03-15T12:00:00.000000Z"),
        # bytea_output=escape is decoded too
        ("bytea_output=escape", "bytea", "'\\x00015c7fff'::bytea", "AAFcf/8="),
    ],
)
def test_other_session_settings(pg_dsn, settings, typ, literal, expected):
    conn = psycopg2.connect(pg_dsn, options=f"{REPLICATION_SESSION_OPTIONS} -c {settings}")
    try:
        (text,) = _output_texts(conn, f"SELECT ({literal})::{typ}")
        with conn.cursor() as cur:
            cur.execute("SELECT %s::regtype::oid::int", (typ,))
            (oid,) = cur.fetchone()
        converter = converter_for(TypeRegistry(conn).get(oid), -1, ConversionOptions())
        assert converter is not None and json_bytes(converter.convert(text.encode())) == json_bytes(expected)
    finally:
        conn.close()


def _insert_tuple_texts(payload: bytes) -> list[bytes | None]:
    """Column texts of a pgoutput Insert message ('I', relid, 'N', TupleData)."""
    (ncols,) = struct.unpack_from("!h", payload, 6)
    pos, texts = 8, []
    for _ in range(ncols):
        kind = payload[pos : pos + 1]
        pos += 1
        if kind == b"t":
            (length,) = struct.unpack_from("!i", payload, pos)
            texts.append(payload[pos + 4 : pos + 4 + length])
            pos += 4 + length
        else:
            texts.append(None)
    return texts


def _walsender_texts(pg_dsn: str, options: str, table: str, slot: str) -> list[bytes | None]:
    conn = psycopg2.connect(pg_dsn, connection_factory=psycopg2.extras.LogicalReplicationConnection, options=options)
    try:
        cur = conn.cursor()
        cur.start_replication(slot_name=slot, decode=False, options={"proto_version": "1", "publication_names": table})
        while True:
            msg = cur.read_message()
            if msg is None:
                continue
            if msg.payload[:1] == b"I":
                return _insert_tuple_texts(msg.payload)
    finally:
        conn.close()


def test_walsender_uses_its_startup_options(pg, pg_dsn):
    # GIVEN a row whose text depends on DateStyle, IntervalStyle, extra_float_digits, bytea_output
    table = f"guc_{uuid.uuid4().hex[:8]}"
    values = "'2016-11-04 13:51:30.5', '1 year 2 mons 04:05:06', 0.1::float8 + 0.2, '\\x01ff'::bytea"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (ts timestamp, iv interval, f float8, b bytea)")
        cur.execute(f"CREATE PUBLICATION {table} FOR TABLE {table}")
        slots = [f"{table}_{n}" for n in ("forced", "other")]
        for slot in slots:
            cur.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
        cur.execute(f"INSERT INTO {table} VALUES ({values})")
    try:
        # WHEN one walsender starts with the bridge's options and one with different ones
        forced = _walsender_texts(pg_dsn, REPLICATION_SESSION_OPTIONS, table, slots[0])
        other = _walsender_texts(
            pg_dsn,
            "-c DateStyle=SQL,DMY -c IntervalStyle=iso_8601 -c extra_float_digits=-3 -c bytea_output=escape",
            table,
            slots[1],
        )
    finally:
        with pg.cursor() as cur:
            for slot in slots:
                cur.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
            cur.execute(f"DROP PUBLICATION {table}; DROP TABLE {table}")
    # THEN the text follows the walsender's own session settings
    assert forced == [b"2016-11-04 13:51:30.5", b"1 year 2 mons 04:05:06", b"0.30000000000000004", b"\\x01ff"]
    assert other == [b"04/11/2016 13:51:30.5", b"P1Y2MT4H5M6S", b"0.3", b"\\001\\377"]
