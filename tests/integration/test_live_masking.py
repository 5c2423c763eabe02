"""Column masking, hashing and truncation against a live Debezium 3.7.0: the same rules, the
same tables, the same WAL, compared record by record with their schemas.

Both connectors start together (their own slot, publication and topic prefix) with
`snapshot.mode=initial` and these rules:
- `column.mask.with.3.chars` / `.0.chars`: text (nullable and NOT NULL), an enum, an int (schema
  parameter only), a TOASTed text, the key column of a table (keys keep the real value), a
  name written in upper case (matched case-insensitively) and one with the database name in
  front (Debezium's column names have none: not masked);
- `column.mask.hash.SHA-256.with.salt.CzQMA0cB5K` (strategy V1): varchar(10) (cut to 10), text
  of 70000 characters (Java's long-string serialization), uuid (parameter only), a domain over
  varchar(12);
- `column.mask.hash.v2.MD5.with.salt.pepper` and `column.mask.hash.v2.SHA-512.with.salt.x.y`
  (strategy V2, a salt with a dot): char(6), non-ASCII text;
- `column.truncate.to.4.chars`: text (a cut through an emoji included), varchar(3) (never cut),
  bytea, numeric(10,2) and jsonb, and a column also listed for masking (truncation comes first).
Rows exist before the start (snapshot, `op: "r"`), then inserts, updates (unchanged TOAST
under DEFAULT identity, the old row under FULL identity), deletes (NOT NULL columns' stand-ins
in the before image) and a primary-key change stream; then one `execute-snapshot` signal in the
signal table, read by both, snapshots two tables again (`source.snapshot: "incremental"`).

Every record of the three tables' topics is compared key by key, text for text
(tests/integration/parity.py): only the processing clock, `source.version`, the runId header and
the prefix are ignored, plus each connector's own snapshot position and time.
"""

from __future__ import annotations

import json
import uuid

import pytest

from tests.integration import parity
from tests.integration.live_pair import LivePair

_SNAPSHOT = r'value\.payload\.op = "r"'
SNAPSHOT_POSITION = (
    parity.Allowed(r"[^.]+\.[^.]+", r"value\.payload\.source\.(txId|lsn|sequence)",
                   "snapshot position: each connector snapshots in its own transaction at its own slot's "
                   "consistent point, and writes its own incremental snapshot windows", when=_SNAPSHOT),
    parity.Allowed(r"[^.]+\.[^.]+", r"value\.payload\.source\.ts_(ms|us|ns)",
                   "snapshot time: the clock when each connector read the rows", when=_SNAPSHOT),
)

SCHEMA_SQL = """
CREATE TYPE {s}.mood AS ENUM ('happy', 'sad');
CREATE DOMAIN {s}.dtext AS varchar(12);
CREATE TABLE {s}.m (
  id int PRIMARY KEY,
  email text, nn text NOT NULL, e text, mood {s}.mood, i int, big text, plain text, dbname text,
  h1 varchar(10), h1t text, hu uuid, dh {s}.dtext,
  h2 char(6), h2u text,
  tr text, trv varchar(3), trb bytea, trn numeric(10,2), trj jsonb, both_rules text
);
CREATE TABLE {s}.k (name text PRIMARY KEY, v text);
CREATE TABLE {s}.f (id int PRIMARY KEY, s text, t text, h text);
ALTER TABLE {s}.f REPLICA IDENTITY FULL;
CREATE TABLE {s}.sig (id varchar(64) PRIMARY KEY, type varchar(32) NOT NULL, data varchar(2048));
"""
# text that pglz cannot shrink below the TOAST threshold: stored out of line, so an update that
# leaves it alone sends it as unchanged TOAST
_RANDOM = "(SELECT string_agg(md5(g::text), '') FROM generate_series(1, {n}) g)"


def _m(s: str, id_: int, h1t: str, tr: str) -> str:
    """A full row of {s}.m: `h1t` and `tr` are SQL expressions."""
    return (f"INSERT INTO {s}.m VALUES ({id_}, 'user{id_}@example.com', 'nn{id_}', 'e', 'happy', {id_}, "
            f"{_RANDOM.format(n=300)}, 'plain', 'db', 'héllo {id_}', {h1t}, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd38{id_:04d}', "
            f"'dom{id_}', 'ab', 'ünïcödé 😀 {id_}', {tr}, 'xyz', '\\x0102030405', 12345.67, '{{\"a\": {id_}}}', "
            f"'both {id_}')")


def before(s: str) -> list[str]:
    return [
        _m(s, 1, _RANDOM.format(n=2200), "'truncate me'"),  # 70400 bytes: Java's long string form
        _m(s, 2, "'short'", "'a🎉🎉'"),
        f"INSERT INTO {s}.m (id, nn) VALUES (3, 'only')",
        f"INSERT INTO {s}.k VALUES ('alice', 'v1')",
        f"INSERT INTO {s}.f VALUES (1, 'secret', 'truncate', 'hash me')",
    ]


def stream(s: str) -> list[str]:
    return [
        _m(s, 10, "'streamed'", "'ab🎉cd'"),
        f"INSERT INTO {s}.m (id, nn) VALUES (11, 'nulls')",
        f"UPDATE {s}.m SET plain = 'changed' WHERE id = 1",  # big and h1t: unchanged TOAST
        f"UPDATE {s}.m SET h1 = '', tr = '🎉🎉🎉', email = NULL WHERE id = 10",
        f"DELETE FROM {s}.m WHERE id = 2",  # DEFAULT identity: the key only; nn takes its stand-in
        f"DELETE FROM {s}.m WHERE id = 11",
        f"INSERT INTO {s}.k VALUES ('bob', 'v2')",
        f"UPDATE {s}.k SET v = 'v3' WHERE name = 'bob'",
        f"UPDATE {s}.k SET name = 'carol' WHERE name = 'alice'",  # a key change: delete + create
        f"DELETE FROM {s}.k WHERE name = 'bob'",
        f"UPDATE {s}.f SET s = 'other', t = 'truncated too', h = 'hash me too' WHERE id = 1",
        f"DELETE FROM {s}.f WHERE id = 1",
        f"INSERT INTO {s}.k VALUES ('zz_end', 'the end')",  # the last streamed record both must write
    ]


def incremental_snapshot(s: str) -> str:
    """The signal both connectors read from the signal table: snapshot the tables again."""
    data = json.dumps({"data-collections": [f"{s}.m", f"{s}.k"], "type": "incremental"})
    return f"INSERT INTO {s}.sig VALUES ('masking-1', 'execute-snapshot', '{data}')"


def rules(s: str) -> dict[str, str]:
    return {
        "column.mask.with.3.chars": f"{s}.m.email, {s.upper()}.M.NN, {s}.m.mood, {s}.m.i, {s}.m.big, {s}.m.both_rules, "
                                    f"bridge.{s}.m.dbname, {s}.k.name, {s}.f.s",
        "column.mask.with.0.chars": f"{s}.m.e",
        "column.mask.hash.SHA-256.with.salt.CzQMA0cB5K": f"{s}.m.h1, {s}.m.h1t, {s}.m.hu, {s}.m.dh, {s}.f.h",
        "column.mask.hash.v2.MD5.with.salt.pepper": f"{s}.m.h2",
        "column.mask.hash.v2.SHA-512.with.salt.x.y": f"{s}.m.h2u",
        "column.truncate.to.4.chars": f"{s}.m.tr, {s}.m.trv, {s}.m.trb, {s}.m.trn, {s}.m.trj, {s}.m.both_rules, "
                                      f"{s}.f.t",
    }


def _incremental(r: parity.Record) -> bool:
    return r.value is not None and '"snapshot":"incremental"' in r.value


def _streamed(records: list[parity.Record]) -> bool:
    return any(r.topic.endswith(".k") and r.key is not None and '"zz_end"' in r.key for r in records)


def _snapshotted(rows: int):
    """Whether the incremental snapshot's `rows` records arrived."""
    return lambda records: sum(map(_incremental, records)) >= rows


@pytest.fixture(scope="module")
def live(pg_dsn, kafka_bootstrap, tmp_path_factory):
    """(debezium records, pgbridge records, debezium run, pgbridge run, dir) of the tables."""
    tag = f"mk_{uuid.uuid4().hex[:6]}"
    with LivePair(pg_dsn, kafka_bootstrap, tmp_path_factory.mktemp("masking"), tag) as pair:
        # GIVEN the tables, their first rows, and a publication for each connector
        pair.create(SCHEMA_SQL, ["m", "k", "f", "sig"])
        pair.run(before(tag))
        options = {"snapshot.mode": "initial", "publication.autocreate.mode": "disabled",
                   "table.include.list": f"{tag}.m,{tag}.k,{tag}.f", "signal.data.collection": f"{tag}.sig",
                   **rules(tag)}
        # AND both connectors with the same rules, pgbridge as a real process
        pair.start(options, {}, options)

        # WHEN the changes stream, and once both wrote them, an incremental snapshot runs
        pair.run(stream(tag))
        parity.consume_together(kafka_bootstrap, dict(prefix=pair.dbz, done=_streamed, quiet=1.0, timeout=120),
                                dict(prefix=pair.ours, done=_streamed, quiet=1.0, timeout=90, alive=pair.bridge.running))
        pair.run([incremental_snapshot(tag)])
        with pair.conn.cursor() as cur:
            cur.execute(f"SELECT (SELECT count(*) FROM {tag}.m) + (SELECT count(*) FROM {tag}.k)")
            (rows,) = cur.fetchone()

        # THEN both write every record (read back until the incremental snapshot's rows arrived)
        got_dbz, got_ours = pair.collect(_snapshotted(rows), quiet=3.0)
        pair.keep_records(got_dbz, got_ours)
        yield got_dbz, got_ours, *pair.runs, pair.tmp


def _tables(records: list[parity.Record]) -> list[parity.Record]:
    return [r for r in records if r.topic.rsplit(".", 1)[-1] in ("m", "k", "f")]


def _after(records: list[parity.Record], table: str, key: str) -> dict:
    for r in records:
        if r.topic.endswith(f".{table}") and r.value is not None and key in (r.key or ""):
            value = json.loads(r.value)["payload"]
            if value["after"] is not None:
                return value["after"]
    raise AssertionError(f"no row of {table} with key {key}")


def test_debezium_really_masked_hashed_and_truncated(live):
    # GIVEN Debezium's records: the rules were in force (else the comparison proves little)
    dbz, _, _, _, _ = live
    row = _after(dbz, "m", '"id":1')
    assert (row["email"], row["nn"], row["e"], row["plain"], row["dbname"]) == ("***", "***", "", "plain", "db")
    assert len(row["h1"]) == 10 and len(row["h1t"]) == 64 and len(row["h2"]) == 6 and len(row["h2u"]) == 128
    assert (row["tr"], row["trv"], row["both_rules"]) == ("trun", "xyz", "both")
    assert _after(dbz, "k", '"alice"')["name"] == "***"


def test_records_and_schemas_match_debezium(live):
    dbz, ours, dbz_run, our_run, tmp = live
    problems = parity.compare(_tables(dbz), dbz_run, _tables(ours), our_run, ignored=parity.LIVE_IGNORED,
                              allowed=SNAPSHOT_POSITION)
    assert not problems, parity.report(problems) + f"\n(records in {tmp})"
