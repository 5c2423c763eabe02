"""Kafka Connect's built-in transforms against a live Debezium 3.7.0 on Kafka Connect 4.3.1: the
same chain, the same tables, the same WAL, compared topic by topic and key by key, schemas and
headers included (`parity.compare`).

Four pairs of connectors (each its own slot, publication and topic prefix), streaming only;
`tables` is a TopicNameMatches predicate on the topics of tables `a` and `b`, `messages` one on
the message topic:
- `headers-fields`: ExtractNewRecordState (rewrite), InsertHeader (a string and a number),
  ReplaceField$Value (exclude, renames), MaskField$Value (a replacement, and the type's null),
  Flatten$Value (delimiter `_`) on the tables' rows;
- `keys`: ExtractNewRecordState (rewrite), ValueToKey then ExtractField$Key on the tables,
  HeaderFrom$Value (copy), DropHeaders, and ExtractField$Value with a V2 nested path
  (`message.prefix`) on the messages;
- `cast-hoist`: with transaction metadata: ExtractNewRecordState (rewrite), Cast$Value
  (field:type pairs), ExtractField$Key + Cast$Key (whole key) on the tables, HoistField$Key on
  every record (transaction metadata and messages too), SetSchemaMetadata$Value on the tables,
  InsertField$Value (topic, static, and the partition and timestamp Debezium's records lack);
- `filter-timestamps`: Filter gated by RecordIsTombstone and by `messages`,
  ExtractNewRecordState (its defaults: a delete is a null payload with a schema), then
  TimestampConverter on table `c`'s MicroTimestamp (to a string and to a Connect Timestamp,
  negative microseconds truncated toward zero) and ZonedTimestamp (a string parsed to Unix ms).
Table `a` has REPLICA IDENTITY FULL, so its deletes carry `v` (`keys` keys rows by it: without
it, deletes of different rows would share the null key, whose order across rows only routing by
the transformed key keeps).
Inserts, updates, deletes (and their tombstones), a primary-key change, NULLs and two logical
decoding messages stream through both. Ignored: the runId header, `source.version` and the
processing clock (`parity.LIVE_IGNORED`).
"""

from __future__ import annotations

import json
import os
import uuid

import psycopg2
import pytest

from tests.integration import parity
from tests.integration.live_pair import LivePair
from tests.integration.support import (BridgeProcess, clean_up_pair, start_bridge_with,
                                       start_debezium_with)

UNWRAP = "io.debezium.transforms.ExtractNewRecordState"
K = "org.apache.kafka.connect.transforms."
P = K + "predicates."

SCHEMA_SQL = """
CREATE TABLE {s}.a (id int PRIMARY KEY, v text, n int DEFAULT 7);
ALTER TABLE {s}.a REPLICA IDENTITY FULL;
CREATE TABLE {s}.b (id int PRIMARY KEY, v text NOT NULL);
CREATE TABLE {s}.c (id int PRIMARY KEY, at timestamp(6), at2 timestamp(6), ts timestamptz);
"""


def stream(s: str) -> list[str]:
    return [
        f"INSERT INTO {s}.a VALUES (1, 'one', 1), (2, 'two', NULL), (3, 'three', 3)",
        f"INSERT INTO {s}.b VALUES (1, 'b1'), (2, 'b2')",
        f"INSERT INTO {s}.c VALUES (1, '2024-02-29 13:14:15.123456', '1969-12-31 23:59:59.999001', "
        "'2024-02-29 13:14:15.123456+00'), (2, NULL, NULL, NULL)",
        f"UPDATE {s}.a SET v = 'uno' WHERE id = 1",
        f"DELETE FROM {s}.a WHERE id = 2",  # a delete and its tombstone
        f"UPDATE {s}.a SET id = 30, v = 'thirty' WHERE id = 3",  # a key change: delete + tombstone + create
        f"UPDATE {s}.c SET at = '1999-01-02 03:04:05.000007' WHERE id = 2",
        f"DELETE FROM {s}.c WHERE id = 1",
        f"UPDATE {s}.b SET v = 'b2!' WHERE id = 2",
        f"DELETE FROM {s}.b WHERE id = 1",
        f"SELECT pg_logical_emit_message(true, '{s}', 'in a transaction')",
        f"SELECT pg_logical_emit_message(false, '{s}', 'on its own')",
        f"INSERT INTO {s}.b VALUES (999, 'the end')",  # the last record both must write
    ]


def _step(alias: str, cls: str, predicate: str | None = None, **options: str) -> dict[str, str]:
    out = {f"transforms.{alias}.type": cls, **{f"transforms.{alias}.{k}": v for k, v in options.items()}}
    if predicate is not None:
        out[f"transforms.{alias}.predicate"] = predicate
    return out


def _chain(*steps: tuple[str, dict[str, str]], predicates: dict[str, dict[str, str]]) -> dict[str, str]:
    out = {"transforms": ",".join(alias for alias, _ in steps), "predicates": ",".join(predicates)}
    for _, step in steps:
        out.update(step)
    for alias, options in predicates.items():
        out.update({f"predicates.{alias}.{k}": v for k, v in options.items()})
    return out


def chains(s: str) -> dict[str, dict[str, str]]:
    predicates = {
        "tables": {"type": P + "TopicNameMatches", "pattern": f".*[.]{s}[.](a|b)"},
        "messages": {"type": P + "TopicNameMatches", "pattern": ".*[.]message"},
        "tombstones": {"type": P + "RecordIsTombstone"},
        "rows": {"type": P + "TopicNameMatches", "pattern": f".*[.]{s}[.](a|b|c)"},
    }
    rewrite = ("unwrap", _step("unwrap", UNWRAP, **{"delete.tombstone.handling.mode": "rewrite"}))
    return {
        "headers-fields": _chain(
            rewrite,
            ("origin", _step("origin", K + "InsertHeader", header="origin", **{"value.literal": "pgbridge test"})),
            ("answer", _step("answer", K + "InsertHeader", header="answer", **{"value.literal": "42"})),
            ("replace", _step("replace", K + "ReplaceField$Value", exclude="n", renames="v:value,id:ident")),
            ("mask", _step("mask", K + "MaskField$Value", fields="value", replacement="***")),
            ("zero", _step("zero", K + "MaskField$Value", fields="ident")),
            ("flat", _step("flat", K + "Flatten$Value", "rows", delimiter="_")),
            predicates=predicates),
        "keys": _chain(
            rewrite,
            ("tokey", _step("tokey", K + "ValueToKey", "tables", fields="v,id")),
            ("pick", _step("pick", K + "ExtractField$Key", "tables", field="v")),
            ("copy", _step("copy", K + "HeaderFrom$Value", "tables", fields="id,v", headers="hid,hv",
                           operation="copy")),
            ("drop", _step("drop", K + "DropHeaders", headers="__debezium.context.taskId,hid")),
            ("prefix", _step("prefix", K + "ExtractField$Value", "messages", field="message.prefix",
                             **{"field.syntax.version": "V2"})),
            predicates=predicates),
        "cast-hoist": {**_chain(
            rewrite,
            ("cast", _step("cast", K + "Cast$Value", spec="id:string,n:float64,v:string")),
            ("pick", _step("pick", K + "ExtractField$Key", "tables", field="id")),
            ("keycast", _step("keycast", K + "Cast$Key", "tables", spec="string")),
            ("hoist", _step("hoist", K + "HoistField$Key", field="k")),
            ("meta", _step("meta", K + "SetSchemaMetadata$Value", "tables", **{"schema.name": "pgb.Row",
                                                                              "schema.version": "4"})),
            ("insert", _step("insert", K + "InsertField$Value", **{
                "topic.field": "topic", "static.field": "origin!", "static.value": "pg",
                "partition.field": "part", "timestamp.field": "kafka_ts?"})),
            predicates=predicates), "provide.transaction.metadata": "true"},
        "filter-timestamps": _chain(
            ("notomb", _step("notomb", K + "Filter", "tombstones")),
            ("nomsg", _step("nomsg", K + "Filter", "messages")),
            ("unwrap", _step("unwrap", UNWRAP)),
            ("text", _step("text", K + "TimestampConverter$Value", field="at", **{
                "target.type": "string", "format": "yyyy-MM-dd HH:mm:ss.SSS", "unix.precision": "microseconds"})),
            ("logical", _step("logical", K + "TimestampConverter$Value", field="at2", **{
                "target.type": "Timestamp", "unix.precision": "microseconds"})),
            ("unix", _step("unix", K + "TimestampConverter$Value", field="ts", **{
                "target.type": "unix", "format": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSX"})),
            predicates=predicates),
    }


def _ended(records: list[parity.Record]) -> bool:
    """The last row arrived (its key is 999, or "the end" where the chain keys rows by `v`)."""
    return any(r.topic.endswith(".b") and ("999" in (r.key or "") or "the end" in (r.key or "")) for r in records)


@pytest.fixture(scope="module", params=["headers-fields", "keys", "cast-hoist", "filter-timestamps"])
def live(request, pg_dsn, kafka_bootstrap, tmp_path_factory):
    """(chain name, debezium records, pgbridge records, debezium run, pgbridge run, dir)."""
    tag = f"tk_{uuid.uuid4().hex[:6]}"
    tmp = tmp_path_factory.mktemp("kafka_transforms")
    chain = chains(tag)[request.param]
    connector = {k: v for k, v in chain.items() if k.startswith(("transforms", "predicates"))}
    extra = {k: v for k, v in chain.items() if k not in connector}
    with LivePair(pg_dsn, kafka_bootstrap, tmp, tag) as pair:
        # GIVEN the tables and a publication for each connector
        pair.create(SCHEMA_SQL, ["a", "b", "c"])
        options = {"snapshot.mode": "no_data", "publication.autocreate.mode": "disabled",
                   "table.include.list": f"{tag}.a,{tag}.b,{tag}.c", "message.prefix.include.list": tag, **extra}
        # AND both connectors with the same chain, pgbridge as a real process
        pair.start(options, connector, {**options, **connector})

        # WHEN the changes stream
        pair.run(stream(tag))

        # THEN both write every record
        got_dbz, got_ours = pair.collect(_ended, quiet=3.0)
        pair.keep_records(got_dbz, got_ours)
        yield request.param, got_dbz, got_ours, *pair.runs, tmp


def _payloads(records: list[parity.Record], suffix: str) -> list:
    return [json.loads(r.value)["payload"] for r in records if r.topic.endswith(suffix) and r.value is not None]


def test_debezium_really_applied_the_chain(live):
    # GIVEN Debezium's records: the chain was in force (else the comparison proves little)
    name, dbz, _, _, _, _ = live
    headers = [dict(r.headers) for r in dbz]
    if name == "headers-fields":
        assert all(h.get("origin") == "pgbridge test" and h.get("answer") == "42" for h in headers)
        rows = _payloads(dbz, ".a")
        assert rows and all(row["value"] in ("***", None) and row["ident"] == 0 and "n" not in row for row in rows)
    elif name == "keys":
        keys = [json.loads(r.key)["payload"] for r in dbz if r.topic.endswith(".a")]
        assert "uno" in keys and all(isinstance(k, str) for k in keys)
        assert all("__debezium.context.taskId" not in h and "hid" not in h for h in headers)
        assert _payloads(dbz, ".message") and all(isinstance(p, str) for p in _payloads(dbz, ".message"))
    elif name == "cast-hoist":
        keys = [json.loads(r.key)["payload"] for r in dbz if r.topic.endswith(".b")]
        assert {"k": "999"} in keys
        rows = _payloads(dbz, ".a")
        assert all(isinstance(row["id"], str) and row["part"] is None and row["kafka_ts"] is None for row in rows)
        assert any(r.topic.endswith(".transaction") for r in dbz)
    else:
        assert not any(r.value is None for r in dbz) and not any(r.topic.endswith(".message") for r in dbz)
        rows = [p for p in _payloads(dbz, ".c") if p is not None]
        assert {"id": 1, "at": "2024-02-29 13:14:15.123", "at2": 0, "ts": 1709212578456} in rows


def test_records_schemas_and_headers_match_debezium(live):
    _, dbz, ours, dbz_run, our_run, tmp = live
    problems = parity.compare(dbz, dbz_run, ours, our_run, ignored=parity.LIVE_IGNORED,
                              ordered=frozenset({"transaction"}))
    assert not problems, parity.report(problems) + f"\n(records in {tmp})"
    assert len(dbz) == len(ours)


def test_heartbeats_go_through_the_chain_as_debeziums_do(pg_dsn, kafka_bootstrap, tmp_path):
    """A heartbeat's schema and value changed by Kafka's transforms, as Connect changes
    Debezium's: one heartbeat of each connector, compared with the clock (`ts_ms`) masked."""
    tag = f"tkh_{uuid.uuid4().hex[:6]}"
    dbz, ours = f"{tag}_dbz", f"{tag}_pgb"
    env = {**os.environ, "BRIDGE_PG_DSN": pg_dsn, "BRIDGE_KAFKA_BOOTSTRAP": kafka_bootstrap}
    conn = psycopg2.connect(pg_dsn)
    conn.autocommit = True
    bridge: BridgeProcess | None = None
    dbz_started = False
    slots = {dbz: f"{dbz}_pub", f"{ours}_slot": f"{ours}_pub"}
    chain = _chain(("origin", _step("origin", K + "InsertField$Value", **{"static.field": "origin",
                                                                            "static.value": "pg"})),
                   ("wrap", _step("wrap", K + "HoistField$Key", field="hb")),
                   ("mark", _step("mark", K + "InsertHeader", header="kind", **{"value.literal": "heartbeat"})),
                   predicates={})
    del chain["predicates"]
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE SCHEMA {tag}")
            cur.execute(f"CREATE TABLE {tag}.a (id int PRIMARY KEY)")
            for publication in slots.values():
                cur.execute(f'CREATE PUBLICATION "{publication}" FOR TABLE {tag}.a')
        options = {"snapshot.mode": "no_data", "publication.autocreate.mode": "disabled",
                   "table.include.list": f"{tag}.a", "heartbeat.interval.ms": "1000"}
        # GIVEN both connectors with heartbeats and the chain
        bridge = start_bridge_with(tmp_path, pg_dsn, kafka_bootstrap, ours, options, transforms=chain)
        dbz_started = True
        start_debezium_with(tmp_path, dbz, {**options, **chain}, env)
        # WHEN each writes a heartbeat
        topics = {f"__debezium-heartbeat.{name}": 1 for name in (dbz, ours)}
        got = parity.consume_records(kafka_bootstrap, topics, timeout=90, alive=bridge.running)
        # THEN the first of each is the same but for the clock
        firsts = {}
        for r in got:
            firsts.setdefault(r.topic.rsplit(".", 1)[1], r)
        assert set(firsts) == {dbz, ours}, f"heartbeats: {got}\n{bridge.log()}"

        def shape(r: parity.Record) -> tuple:
            value = json.loads(r.value)
            value["payload"]["ts_ms"] = "<clock>"
            key = json.loads(r.key)
            key["payload"]["hb"]["serverName"] = "<prefix>"
            headers = list(r.headers)
            return key, value, headers

        assert shape(firsts[ours]) == shape(firsts[dbz])
        assert json.loads(firsts[dbz].value)["payload"]["origin"] == "pg"
    finally:
        clean_up_pair(conn, env, bridge, dbz, dbz_started, slots, (tag,), kafka_bootstrap,
                      (f"{dbz}.", f"{ours}.", f"__debezium-heartbeat.{dbz}", f"__debezium-heartbeat.{ours}"))
