"""Column defaults, NOT NULL fallbacks and time edge values, live against a real Debezium 3.7.0.

pgbridge and the real Debezium (deploy/local/debezium/run) run side by side on the same tables
with the same connector options, in six sets of conversion modes (every time.precision.mode;
with nanoseconds only the time edges, as Debezium 3.7.0 fails on a NOT NULL timestamp column
there). The tables hold:
- `defs` (REPLICA IDENTITY DEFAULT): NOT NULL columns with literal defaults of every type
  family Debezium parses (and of some it does not), `now()`, CURRENT_*, serial, identity and
  function defaults, nullable columns with defaults, NOT NULL columns without a default of
  every family, and a NOT NULL domain;
- `full_t`: the same columns under REPLICA IDENTITY FULL;
- `serial_pk`: a serial primary key (the key schema's field has a default too);
- `edges`: TIME/TIMETZ '24:00:00' and the +-infinity boundaries of date, timestamp and
  timestamptz, read by the snapshot and streamed, and nullable columns defaulting to such values.
Rows go through the snapshot, inserts (explicit NULLs in defaulted columns), updates, deletes
(the DEFAULT identity's before-image: defaults and fallbacks), primary-key changes (delete +
tombstone + create), and, once both connectors are past them, ALTER TABLE ... SET DEFAULT and
ADD COLUMN ... DEFAULT followed by more changes (both re-read the catalog on the Relation
message that follows). Every topic is then compared key by key, schemas included
(tests/integration/parity.py); only the processing clock, `source.version`, the runId header
and the snapshot's own position and time may differ.
"""

from __future__ import annotations

import dataclasses
import json
import uuid

import pytest

from tests.integration import parity
from tests.integration.live_pair import LivePair

SCHEMA_SQL = """
CREATE SCHEMA {s};
CREATE TYPE {s}.mood AS ENUM ('sad', 'ok', 'it''s');
CREATE DOMAIN {s}.price AS numeric(10,2) CHECK (VALUE >= 0);
CREATE DOMAIN {s}.nnint AS int NOT NULL;
CREATE SEQUENCE {s}.myseq;
CREATE TABLE {s}.defs (
  id int PRIMARY KEY,
  i2 smallint NOT NULL DEFAULT 7, i2n smallint NOT NULL DEFAULT -7, i2cast smallint NOT NULL DEFAULT -1::smallint,
  i4 int NOT NULL DEFAULT 42, i4n int NOT NULL DEFAULT (-1), i4e int NOT NULL DEFAULT 1 + 1,
  i8 bigint NOT NULL DEFAULT 9223372036854775807, i8min bigint NOT NULL DEFAULT -9223372036854775808,
  f4 real NOT NULL DEFAULT 1.5, f4nan real NOT NULL DEFAULT 'NaN', f4r real NOT NULL DEFAULT 0.1,
  f8 double precision NOT NULL DEFAULT 2.25, f8big double precision NOT NULL DEFAULT 1e20,
  f8neg double precision NOT NULL DEFAULT -0.5, f8i double precision NOT NULL DEFAULT 3,
  f8inf double precision NOT NULL DEFAULT 'Infinity',
  n102 numeric(10,2) NOT NULL DEFAULT 5, n102f numeric(10,2) NOT NULL DEFAULT 5.500,
  npi numeric(10,2) NOT NULL DEFAULT 3.14159, nneg numeric(6,3) NOT NULL DEFAULT -2.5,
  nbig numeric(38,0) NOT NULL DEFAULT 12345678901234567890123456789, nvar numeric NOT NULL DEFAULT 1.50,
  nnan numeric(10,2) DEFAULT 'NaN', m money NOT NULL DEFAULT 12.34,
  b bool NOT NULL DEFAULT true, bf bool NOT NULL DEFAULT false,
  t text NOT NULL DEFAULT 'it''s', te text NOT NULL DEFAULT '', vc varchar(20) NOT NULL DEFAULT 'abc',
  c char(5) NOT NULL DEFAULT 'ab', tcat text NOT NULL DEFAULT ('a' || 'b'), tfn text NOT NULL DEFAULT upper('x'),
  tnl text NOT NULL DEFAULT E'line\\nnext', tuni text NOT NULL DEFAULT 'é日🎉', tq text NOT NULL DEFAULT '"q" \\ b',
  tnull text DEFAULT NULL::varchar,
  u uuid NOT NULL DEFAULT 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', ug uuid NOT NULL DEFAULT gen_random_uuid(),
  j json NOT NULL DEFAULT '{{"a": 1}}', jb jsonb NOT NULL DEFAULT '{{}}',
  jb2 jsonb NOT NULL DEFAULT '{{"k": [1, 2], "s": "it''s", "é": null}}', x xml NOT NULL DEFAULT '<a>1</a>',
  byt bytea NOT NULL DEFAULT '\\x0102',
  d date NOT NULL DEFAULT '2020-02-03', dnow date NOT NULL DEFAULT CURRENT_DATE,
  dinf date NOT NULL DEFAULT 'infinity', dninf date NOT NULL DEFAULT '-infinity',
  dbc date NOT NULL DEFAULT '0044-03-15 BC', dbig date NOT NULL DEFAULT '10000-01-01',
  tm time NOT NULL DEFAULT '12:34:56.789', tm0 time(0) NOT NULL DEFAULT '01:02:03',
  tm0r time(0) NOT NULL DEFAULT '12:00:00.5', tm6 time(6) NOT NULL DEFAULT '01:02:03.456789',
  tmnow time NOT NULL DEFAULT LOCALTIME, tm24 time NOT NULL DEFAULT '24:00:00', tm24_3 time(3) NOT NULL DEFAULT '24:00:00',
  ttz timetz NOT NULL DEFAULT '12:00:00+02',
  ts timestamp NOT NULL DEFAULT '2020-01-02 03:04:05.123456', ts3 timestamp(3) NOT NULL DEFAULT '2020-01-02 03:04:05.123',
  tsnow timestamp NOT NULL DEFAULT now(), tsinf timestamp NOT NULL DEFAULT 'infinity',
  tsninf timestamp NOT NULL DEFAULT '-infinity', ts3inf timestamp(3) NOT NULL DEFAULT 'infinity',
  tsbc timestamp NOT NULL DEFAULT '0044-03-15 10:00:00 BC',
  tstz timestamptz NOT NULL DEFAULT '2020-01-02 03:04:05+02', tstz3 timestamptz(3) NOT NULL DEFAULT '2020-01-02 03:04:05.5+02',
  tstz0 timestamptz(0) NOT NULL DEFAULT '2020-01-02 03:04:05+05:30',
  tstznow timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP, tstznow3 timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  tstzinf timestamptz NOT NULL DEFAULT 'infinity', tstzbc timestamptz NOT NULL DEFAULT '0044-03-15 10:00:00+00 BC',
  iv interval NOT NULL DEFAULT '1 day 02:00:00', ivm interval NOT NULL DEFAULT '1 year 2 mons -3 days',
  ivneg interval NOT NULL DEFAULT '-1 days +02:03:00.5', ivfn interval NOT NULL DEFAULT make_interval(days => 1),
  mood {s}.mood NOT NULL DEFAULT 'ok', mq {s}.mood NOT NULL DEFAULT 'it''s',
  mfn {s}.mood NOT NULL DEFAULT ('s' || 'ad')::{s}.mood,
  price {s}.price NOT NULL DEFAULT 3.5, nni {s}.nnint DEFAULT 4,
  b1 bit(1) NOT NULL DEFAULT B'1', b0 bit(1) NOT NULL DEFAULT B'0', b8 bit(8) NOT NULL DEFAULT B'10100000',
  vb varbit(16) NOT NULL DEFAULT B'101', vbfn varbit NOT NULL DEFAULT B'1' || B'0',
  ai int[] NOT NULL DEFAULT '{{1,2}}', ip inet NOT NULL DEFAULT '127.0.0.1', chr "char" NOT NULL DEFAULT 'q',
  opt_text text DEFAULT 'x', opt_int int DEFAULT 3, opt_n numeric(5,1) DEFAULT 2.5,
  s serial, bs bigserial, sq int NOT NULL DEFAULT nextval('{s}.myseq'),
  ident int GENERATED ALWAYS AS IDENTITY,
  nn_text text NOT NULL, nn_vc varchar(3) NOT NULL, nn_c char(3) NOT NULL, nn_name name NOT NULL,
  nn_tstz timestamptz NOT NULL, nn_tstz3 timestamptz(3) NOT NULL, nn_ts timestamp NOT NULL,
  nn_ts3 timestamp(3) NOT NULL, nn_d date NOT NULL, nn_tm time NOT NULL, nn_tm3 time(3) NOT NULL,
  nn_ttz timetz NOT NULL, nn_iv interval NOT NULL,
  nn_n102 numeric(10,2) NOT NULL, nn_nvar numeric NOT NULL, nn_m money NOT NULL, nn_price {s}.price NOT NULL,
  nn_f4 real NOT NULL, nn_f8 float8 NOT NULL, nn_i2 smallint NOT NULL, nn_i8 bigint NOT NULL, nn_oid oid NOT NULL,
  nn_bool bool NOT NULL, nn_b1 bit(1) NOT NULL, nn_b8 bit(8) NOT NULL, nn_vb varbit NOT NULL,
  nn_uuid uuid NOT NULL, nn_jb jsonb NOT NULL, nn_j json NOT NULL, nn_x xml NOT NULL, nn_mood {s}.mood NOT NULL,
  nn_byt bytea NOT NULL, nn_ip inet NOT NULL, nn_cidr cidr NOT NULL, nn_mac macaddr NOT NULL,
  nn_m8 macaddr8 NOT NULL, nn_chr "char" NOT NULL, nn_tsv tsvector NOT NULL, nn_r4 int4range NOT NULL,
  nn_ai int[] NOT NULL, nn_at text[] NOT NULL, nn_ad date[] NOT NULL,
  nn_pt point NOT NULL, nn_ln line NOT NULL, nn_ls lseg NOT NULL, nn_bx box NOT NULL, nn_pa path NOT NULL,
  nn_pg polygon NOT NULL, nn_ci circle NOT NULL
);
CREATE TABLE {s}.full_t (LIKE {s}.defs INCLUDING DEFAULTS INCLUDING IDENTITY);
ALTER TABLE {s}.full_t ADD PRIMARY KEY (id);
ALTER TABLE {s}.full_t REPLICA IDENTITY FULL;
CREATE TABLE {s}.serial_pk (id serial PRIMARY KEY, v text NOT NULL DEFAULT 'v', w int);
CREATE TABLE {s}.edges (id int PRIMARY KEY, t time, t0 time(0), t3 time(3), ttz timetz, ttz3 timetz(3), d date,
  ts timestamp, ts3 timestamp(3), tstz timestamptz, tstz3 timestamptz(3),
  tsd timestamp DEFAULT '2020-01-02 03:04:05.123456', tmd time DEFAULT '24:00:00', tsi timestamp DEFAULT 'infinity');
CREATE TABLE {s}.zend (id int PRIMARY KEY);
"""
TABLES = ("defs", "full_t", "serial_pk", "edges", "zend")

# the NOT NULL columns without a default, and a row's worth of their values
_REQUIRED = ("nn_text, nn_vc, nn_c, nn_name, nn_tstz, nn_tstz3, nn_ts, nn_ts3, nn_d, nn_tm, nn_tm3, nn_ttz, nn_iv, "
             "nn_n102, nn_nvar, nn_m, nn_price, nn_f4, nn_f8, nn_i2, nn_i8, nn_oid, nn_bool, nn_b1, nn_b8, nn_vb, "
             "nn_uuid, nn_jb, nn_j, nn_x, nn_mood, nn_byt, nn_ip, nn_cidr, nn_mac, nn_m8, nn_chr, nn_tsv, nn_r4, "
             "nn_ai, nn_at, nn_ad, nn_pt, nn_ln, nn_ls, nn_bx, nn_pa, nn_pg, nn_ci")
_REQUIRED_VALUES = ("'a', 'b', 'abc', 'n', '2020-01-01 00:00:00+00', '2020-01-01 00:00:00.5+00', '2020-01-01', "
                    "'2020-01-01', '2020-01-01', '01:00', '01:00', '01:00+00', '1 day', 1, 1.5, 1, 1, 1, 1, 1, 1, "
                    "1, true, B'1', B'10101010', B'1', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{{}}', '{{}}', "
                    "'<a/>', 'sad', '\\x01', '1.2.3.4', '10.0.0.0/8', '08:00:2b:01:02:03', "
                    "'08:00:2b:01:02:03:04:05', 'a', 'a b', '[1,2)', '{{1}}', '{{a}}', '{{2020-01-01}}', '(1,2)', "
                    "'{{1,2,3}}', '[(0,0),(1,1)]', '((1,1),(0,0))', '[(0,0),(1,1),(2,0)]', '((0,0),(1,1),(2,0))', "
                    "'<(1,2),3>'")


def _row(table: str, id_: int, extra: str = "", extra_values: str = "") -> str:
    return (f"INSERT INTO {{s}}.{table} (id, nni, {_REQUIRED}{extra}) "
            f"VALUES ({id_}, 5, {_REQUIRED_VALUES}{extra_values});")


_EDGE = "INSERT INTO {s}.edges (id, t, t0, t3, ttz, ttz3, d, ts, ts3, tstz, tstz3) VALUES "
EDGES = (_EDGE + "({base}1, '24:00:00', '24:00:00', '24:00:00', '24:00:00+00', '24:00:00+00', "
         "'infinity', 'infinity', 'infinity', 'infinity', 'infinity');",
         _EDGE + "({base}2, '00:00:00', '00:00:00', '00:00:00', '24:00:00-03', '24:00:00+05:30', "
         "'-infinity', '-infinity', '-infinity', '-infinity', '-infinity');",
         _EDGE + "({base}3, '23:59:59.999999', '23:59:59', '23:59:59.999', '00:00:00+14', '23:00:00-01', "
         "'1970-01-01', '1970-01-01', '1970-01-01', '1970-01-01', '1970-01-01');")

# before the connectors start: rows for the snapshot
SNAPSHOT_SQL = (_row("defs", 100), _row("full_t", 100), "INSERT INTO {s}.serial_pk (w) VALUES (NULL);",
                *(e.replace("{base}", "") for e in EDGES))

# once both stream: every operation, under both identities, and a primary-key change of each
STREAM_SQL = (
    *(e.replace("{base}", "1") for e in EDGES),
    _row("defs", 1), _row("full_t", 1),
    _row("defs", 2, ", opt_text, opt_int, opt_n, tnull, nnan", ", NULL, NULL, NULL, NULL, NULL"),
    "INSERT INTO {s}.serial_pk (v, w) VALUES ('w', 1);",
    "UPDATE {s}.defs SET nn_text = 'b', opt_int = NULL WHERE id = 1;",
    "UPDATE {s}.full_t SET nn_text = 'b', opt_text = NULL WHERE id = 1;",
    "UPDATE {s}.defs SET id = 3 WHERE id = 2;",
    "UPDATE {s}.full_t SET id = 4 WHERE id = 1;",
    "DELETE FROM {s}.defs WHERE id = 1;",
    "DELETE FROM {s}.full_t WHERE id = 100;",
    "UPDATE {s}.serial_pk SET id = 10 WHERE id = 1;",
    "DELETE FROM {s}.serial_pk WHERE id = 2;",
    "DELETE FROM {s}.edges WHERE id = 13;",
    "INSERT INTO {s}.zend VALUES (1);",
)

# once both are past STREAM_SQL: defaults change; the next changes bring a new Relation message
ALTER_SQL = (
    "ALTER TABLE {s}.defs ALTER COLUMN i4 SET DEFAULT 99, ALTER COLUMN nn_text SET DEFAULT 'later', "
    "ALTER COLUMN opt_text DROP DEFAULT;",
    "ALTER TABLE {s}.defs ADD COLUMN added int NOT NULL DEFAULT 5;",
    "ALTER TABLE {s}.full_t ALTER COLUMN tstz SET DEFAULT '2021-06-07 08:09:10.5+00';",
    "UPDATE {s}.defs SET nn_vc = 'c' WHERE id = 3;",
    "DELETE FROM {s}.defs WHERE id = 3;",
    "DELETE FROM {s}.defs WHERE id = 100;",
    "UPDATE {s}.full_t SET nn_vc = 'c' WHERE id = 4;",
    "DELETE FROM {s}.full_t WHERE id = 4;",
    "INSERT INTO {s}.zend VALUES (2);",
)

MODES = {
    "adaptive": {},
    "connect": {"time.precision.mode": "connect", "decimal.handling.mode": "double",
                "interval.handling.mode": "string", "binary.handling.mode": "hex"},
    "isostring": {"time.precision.mode": "isostring", "decimal.handling.mode": "string",
                  "binary.handling.mode": "base64"},
    "micros": {"time.precision.mode": "adaptive_time_microseconds", "decimal.handling.mode": "string"},
    "microseconds": {"time.precision.mode": "microseconds"},
    "nanoseconds": {"time.precision.mode": "nanoseconds"},
}
# Debezium 3.7.0 fails on a NOT NULL timestamp column in nanoseconds mode: only the time edges
EDGES_ONLY = frozenset({"nanoseconds"})

_SNAPSHOT = r'value\.payload\.op = "r"'
DOCUMENTED = (
    parity.Allowed(r"[^.]+\.[^.]+", r"value\.payload\.source\.(txId|lsn|sequence)",
                   "snapshot position: each connector snapshots in its own transaction at its own slot's "
                   "consistent point", when=_SNAPSHOT),
    parity.Allowed(r"[^.]+\.[^.]+", r"value\.payload\.source\.ts_(ms|us|ns)",
                   "snapshot time: the clock when each connector took its snapshot", when=_SNAPSHOT),
    parity.Allowed(r"[^.]+\.[^.]+", r"value\.payload\.source\.sequence",
                   "the previous commit in `sequence`: the two slots start at different points of a shared "
                   "database's WAL, where other sessions' logical messages anchor it (test_live_parity "
                   "compares it on a quiet stream)"),
)


def _run(conn, statements, schema: str) -> None:
    parity.run_sql(conn, [s.replace("{s}", schema).replace("{{", "{").replace("}}", "}") for s in statements])


def _ended(marker: int, prefix: str, schema: str):
    key = json.dumps({"id": marker}, separators=(",", ":"))
    return lambda records: any(r.topic == f"{prefix}.{schema}.zend" and r.key is not None and r.value is not None
                               and json.loads(r.key)["payload"] == json.loads(key) for r in records)


@pytest.fixture(scope="module", params=list(MODES))
def live(request, pg_dsn, kafka_bootstrap, tmp_path_factory):
    """Both connectors over the tables in one set of modes: (debezium, bridge records, runs, dir)."""
    tag = f"ld_{uuid.uuid4().hex[:6]}"
    schema = f"{tag}_s"
    tmp = tmp_path_factory.mktemp(f"live_defaults_{request.param}")
    with LivePair(pg_dsn, kafka_bootstrap, tmp, tag, (schema,)) as pair:
        conn, dbz, ours = pair.conn, pair.dbz, pair.ours
        # GIVEN the tables, with rows for the snapshot
        with conn.cursor() as cur:
            for statement in SCHEMA_SQL.split(";\n"):
                if statement.strip():
                    cur.execute(statement.replace("{s}", schema).replace("{{", "{").replace("}}", "}"))
        pair.publish("TABLE " + ", ".join(f"{schema}.{t}" for t in TABLES))
        _run(conn, SNAPSHOT_SQL, schema)
        # (logical messages of other sessions reach every slot: none of them is captured)
        options = {"snapshot.mode": "initial", "publication.autocreate.mode": "disabled",
                   "schema.include.list": schema, "message.prefix.include.list": tag, **MODES[request.param]}
        if request.param in EDGES_ONLY:
            options["table.include.list"] = f"{schema}.edges,{schema}.zend"
        # AND pgbridge and the real Debezium with the same options, both streaming
        pair.start(options, {}, options)
        bridge = pair.bridge

        # WHEN the rows change, then (both past those changes) the defaults change
        _run(conn, STREAM_SQL, schema)
        parity.consume_together(kafka_bootstrap, *(dict(prefix=prefix, done=_ended(1, prefix, schema), quiet=0.5,
                                                        timeout=90, alive=alive)
                                                   for prefix, alive in ((dbz, lambda: True), (ours, bridge.running))))
        _run(conn, ALTER_SQL, schema)

        # THEN both write everything
        got_dbz, got_ours = parity.consume_together(
            kafka_bootstrap, dict(prefix=dbz, done=_ended(2, dbz, schema), quiet=3.0, timeout=90),
            dict(prefix=ours, done=_ended(2, ours, schema), quiet=2.0, timeout=60, alive=bridge.running))
        code = bridge.stop()
        assert code == 0, f"pgbridge exited with {code}:\n{bridge.log()}"
        for name, records in (("debezium", got_dbz), ("pgbridge", got_ours)):
            (tmp / f"{name}.jsonl").write_text("".join(json.dumps(dataclasses.asdict(r)) + "\n" for r in records))
        yield got_dbz, parity.Run(dbz, None), got_ours, parity.Run(ours, None), tmp


def _fields(records: list[parity.Record], topic_suffix: str) -> dict[str, dict]:
    """The value schema's fields of the newest record on `<prefix>.<schema>.<topic_suffix>`."""
    for r in reversed(records):
        if r.topic.endswith("." + topic_suffix) and r.value is not None:
            fields = json.loads(r.value)["schema"]["fields"][0]["fields"]
            return {f["field"]: f for f in fields}
    raise AssertionError(f"no record on {topic_suffix}")


def test_defaults_fallbacks_and_time_edges_match_debezium(live):
    dbz_records, dbz_run, our_records, our_run, tmp = live
    # GIVEN Debezium's output holds what the workload is meant to show: snapshot and streamed
    # rows, deletes, key changes, and defaults in the schemas
    ops = {json.loads(r.value)["payload"]["op"] for r in dbz_records if r.value is not None}
    assert {"r", "c", "d"} <= ops
    assert "default" in _fields(dbz_records, "edges")["tmd"]
    if any(r.topic.endswith(".defs") for r in dbz_records):
        assert "u" in ops
        headers = {h for r in dbz_records for h, _ in r.headers}
        assert {"__debezium.newkey", "__debezium.oldkey"} <= headers
        fields = _fields(dbz_records, "defs")
        assert fields["i4"]["default"] == 99 and fields["added"]["default"] == 5  # after the ALTERs
        assert "default" not in fields["ttz"] and fields["s"]["default"] == 0
    # THEN pgbridge's records equal them, key by key, schemas included
    seen: dict = {}
    problems = parity.compare(dbz_records, dbz_run, our_records, our_run, ignored=parity.LIVE_IGNORED,
                              allowed=DOCUMENTED, seen=seen)
    assert not problems, parity.report(problems) + f"\n(records in {tmp})"
