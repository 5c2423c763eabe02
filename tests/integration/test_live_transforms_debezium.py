"""Debezium's own transforms against a live Debezium 3.7.0 on Kafka Connect 4.3.1: the same
chain, the same tables, the same WAL, compared topic by topic and key by key, with schemas,
headers and partitions.

Three pairs of connectors (each its own slot, publication and topic prefix), streaming only,
pgbridge with 2 producers:
- `logical`: ByLogicalTableRouter merging tables t1 to t4 into `<prefix>.<schema>.all`
  (physical table identifier cut to `t1`... by key.field.regex), and a second one merging the
  transaction metadata topic into `<prefix>.tx_merged` and a third the heartbeats into
  `<prefix>.hb` (records beside the change events, rekeyed: their keys get the identifier too),
  with `provide.transaction.metadata` and `heartbeat.interval.ms`; the first heartbeat of each
  is compared with its clock masked (how many each writes depends on timing);
- `outbox`: EventRouter on the outbox table only (TopicNameMatches), expanded JSON payloads,
  `type` as a header (aliased) and in the envelope (aliased), `aggregateid` in the envelope,
  topics `<prefix>.outbox.<aggregatetype>`, a tombstone for a null payload; the outbox's
  update and delete are dropped; t1 passes through;
- `partition`: PartitionRouting of t1 only (TopicNameMatches) over 3 partitions by
  `change.id,source.table` (murmur), its topic made with 3 partitions for both connectors;
  then ExtractChangedRecordState on every table (t3 has REPLICA IDENTITY FULL: its update
  names the changed and unchanged columns), and TimezoneConverter to Europe/Berlin on every
  table (t4's timestamps around its DST changes).
Inserts, updates, deletes and their tombstones, a primary-key change and a logical decoding
message stream through all. Ignored, as in every live comparison (`parity.LIVE_IGNORED`): the
runId header, `source.version` and the processing clock.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import defaultdict

import psycopg2
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from tests.integration import parity
from tests.integration.live_pair import LivePair
from tests.integration.support import (check_numbered_per_key, clean_up_pair, concurrently, slot_active,
                                       start_bridge_with, wait_until)

SCHEMA_SQL = """
CREATE TABLE {s}.t1 (id int PRIMARY KEY, v text);
CREATE TABLE {s}.t2 (id int PRIMARY KEY, v text NOT NULL);
CREATE TABLE {s}.t3 (id int PRIMARY KEY, v text, n int DEFAULT 7);
ALTER TABLE {s}.t3 REPLICA IDENTITY FULL;
CREATE TABLE {s}.t4 (id int PRIMARY KEY, ts timestamp, ts3 timestamp(3), tz timestamptz, tm timetz);
CREATE TABLE {s}.outbox (id uuid PRIMARY KEY, aggregatetype varchar(255) NOT NULL,
                         aggregateid varchar(255) NOT NULL, type varchar(255) NOT NULL, payload jsonb);
"""
TABLES = ("t1", "t2", "t3", "t4", "outbox")
U = ["6f1c1e0a-0000-4000-8000-00000000000" + str(i) for i in range(1, 6)]
PREDICATE = "org.apache.kafka.connect.transforms.predicates.TopicNameMatches"


def stream(s: str) -> list[str]:
    return [
        f"INSERT INTO {s}.t1 VALUES (1, 'one'), (2, 'two'), (3, 'three')",
        f"INSERT INTO {s}.t2 VALUES (1, 'x'), (2, 'y')",
        f"INSERT INTO {s}.t3 VALUES (1, 'p', 1), (2, NULL, NULL)",
        f"UPDATE {s}.t1 SET v = 'uno' WHERE id = 1",
        f"DELETE FROM {s}.t2 WHERE id = 1",  # a delete and its tombstone
        f"UPDATE {s}.t3 SET id = 30 WHERE id = 1",  # a key change: delete + tombstone + create
        f"INSERT INTO {s}.outbox VALUES ('{U[0]}', 'Order', 'o-1', 'Created', "
        """'{"id": 1, "lines": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 1}], "note": null, "big": 5000000000}'), """
        f"('{U[1]}', 'Order', 'o-1', 'Paid', '{{\"id\": 1, \"paid\": 12.5, \"tags\": [\"x\", \"y\"]}}')",
        f"INSERT INTO {s}.outbox VALUES ('{U[2]}', 'Customer', 'c-9', 'Registered', '{{\"name\": \"Zoë\"}}'), "
        f"('{U[3]}', 'Order', 'o-2', 'Cancelled', NULL)",  # a null payload: a tombstone
        f"UPDATE {s}.outbox SET type = 'changed' WHERE id = '{U[0]}'",  # dropped (a warning)
        f"DELETE FROM {s}.outbox",  # dropped
        f"INSERT INTO {s}.outbox VALUES ('{U[4]}', 'Order', 'o-1', 'Shipped', '{{\"id\": 1, \"at\": \"dock 4\"}}')",
        f"UPDATE {s}.t2 SET v = 'y!' WHERE id = 2",
        f"UPDATE {s}.t3 SET v = 'q' WHERE id = 2",  # before and after: ExtractChangedRecordState compares
        # around Berlin's DST changes (a gap, an overlap), fractions, a time with its zone, NULLs
        f"INSERT INTO {s}.t4 VALUES (1, '2024-03-31 02:30:00', '2024-10-27 02:30:00.123', "
        "'2024-03-31 01:30:00+00', '10:15:30.25+01'), (2, '2024-07-01 12:00:00.5', NULL, "
        "'2024-10-27 00:30:00.000001+00', '23:59:59Z'), (3, '1969-12-31 23:59:59.999999', '1900-01-01 00:00:00', "
        "'1970-01-01 00:00:00+00', NULL)",
        f"SELECT pg_logical_emit_message(true, '{s}', 'in a transaction')",
        f"INSERT INTO {s}.t1 VALUES (999, 'the end')",  # the last record both must write
    ]


def chains(s: str, prefix: str) -> dict[str, dict[str, str]]:
    return {
        "logical": {
            "provide.transaction.metadata": "true",
            "heartbeat.interval.ms": "5000",  # gaps longer than the consumers' quiet time
            "transforms": "tables,tx,hb",
            "transforms.hb.type": "io.debezium.transforms.ByLogicalTableRouter",
            "transforms.hb.topic.regex": r"__debezium-heartbeat\.(.*)",
            "transforms.hb.topic.replacement": "$1.hb",
            "transforms.tables.type": "io.debezium.transforms.ByLogicalTableRouter",
            "transforms.tables.topic.regex": r"([^.]+)\.([^.]+)\.t[0-9]",
            "transforms.tables.topic.replacement": "$1.$2.all",
            "transforms.tables.key.field.regex": r"[^.]+\.[^.]+\.(t[0-9])",
            "transforms.tables.key.field.replacement": "$1",
            "transforms.tables.logical.table.cache.size": "4",
            "transforms.tx.type": "io.debezium.transforms.ByLogicalTableRouter",
            "transforms.tx.topic.regex": r"([^.]+)\.transaction",
            "transforms.tx.topic.replacement": "$1.tx_merged",
        },
        "outbox": {
            "transforms": "outbox",
            "transforms.outbox.type": "io.debezium.transforms.outbox.EventRouter",
            "transforms.outbox.predicate": "is_outbox",
            "transforms.outbox.table.expand.json.payload": "true",
            "transforms.outbox.table.fields.additional.placement":
                "type:header:eventType,type:envelope:eventKind,aggregateid:envelope",
            "transforms.outbox.route.topic.replacement": prefix + ".outbox.${routedByValue}",
            "transforms.outbox.route.tombstone.on.empty.payload": "true",
            "predicates": "is_outbox",
            "predicates.is_outbox.type": PREDICATE,
            "predicates.is_outbox.pattern": rf"[^.]+\.{s}\.outbox",
        },
        "partition": {
            "transforms": "parts,changed,tz",
            "transforms.tz.type": "io.debezium.transforms.TimezoneConverter",
            "transforms.tz.converted.timezone": "Europe/Berlin",
            "transforms.changed.type": "io.debezium.transforms.ExtractChangedRecordState",
            "transforms.changed.header.changed.name": "Changed",
            "transforms.changed.header.unchanged.name": "Unchanged",
            "transforms.parts.type": "io.debezium.transforms.partitions.PartitionRouting",
            "transforms.parts.partition.payload.fields": "change.id,source.table",
            "transforms.parts.partition.topic.num": "3",
            "transforms.parts.partition.hash.function": "murmur",
            "transforms.parts.predicate": "is_t1",
            "predicates": "is_t1",
            "predicates.is_t1.type": PREDICATE,
            "predicates.is_t1.pattern": rf"[^.]+\.{s}\.t1",
        },
    }


def _ended(records: list[parity.Record]) -> bool:
    return any(r.key is not None and '"id":999' in r.key for r in records)


def _txid(r: parity.Record) -> int | None:
    """The transaction of a record: `source.txId` of an event (a logical message too), the
    `<txid>:<lsn>` id in a transaction record's key; None for the outbox's (no source) and
    tombstones, which belong to the stream's transactions."""
    if r.value is not None:
        payload = json.loads(r.value)["payload"]
        if isinstance(payload, dict) and isinstance(payload.get("source"), dict):
            return payload["source"]["txId"]
    key = json.loads(r.key)["payload"] if r.key is not None else None
    if isinstance(key, dict) and isinstance(key.get("id"), str) and ":" in key["id"]:
        return int(key["id"].split(":")[0])
    return None


def _create_topics(bootstrap: str, topics: list[str], partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(t, partitions, 1) for t in topics]).values():
        future.result(30)


@pytest.fixture(scope="module", params=["logical", "outbox", "partition"])
def live(request, pg_dsn, kafka_bootstrap, tmp_path_factory):
    """(scenario, debezium records, pgbridge records, debezium run, pgbridge run, dir,
    {"debezium"|"pgbridge": heartbeats})."""
    tag = f"dt_{uuid.uuid4().hex[:6]}"
    tmp = tmp_path_factory.mktemp("dbz_transforms")
    with LivePair(pg_dsn, kafka_bootstrap, tmp, tag) as pair:
        dbz, ours = pair.dbz, pair.ours
        # GIVEN the tables and a publication for each connector
        pair.create(SCHEMA_SQL, list(TABLES))
        if request.param == "partition":  # the topic PartitionRouting spreads, with its 3 partitions
            _create_topics(kafka_bootstrap, [f"{p}.{tag}.t1" for p in (dbz, ours)], 3)
        options = {"snapshot.mode": "no_data", "publication.autocreate.mode": "disabled",
                   "table.include.list": ",".join(f"{tag}.{t}" for t in TABLES),
                   "message.prefix.include.list": tag}
        # AND both connectors with the same chain (topic names carry each one's prefix), pgbridge
        # as a real process with 2 producers
        mine, theirs = chains(tag, ours)[request.param], chains(tag, dbz)[request.param]
        options.update({k: v for k, v in mine.items() if not k.startswith(("transforms", "predicates"))})
        # (a Debezium Server file expands `${...}`: `$${` writes the `${` EventRouter reads)
        pair.start(options, {k: v.replace("${", "$${") for k, v in mine.items() if k not in options},
                   {**options, **theirs})

        # AND a first change both have written: both have seen the same commits since (the
        # previous commit is in every event's `sequence`)
        pair.run([f"INSERT INTO {tag}.t2 VALUES (100, 'warm')"])
        parity.consume_prefix(kafka_bootstrap, dbz, lambda rs: any('"id":100' in (r.key or "") for r in rs),
                              quiet=0.5, timeout=120)

        # WHEN the changes stream, each statement a transaction
        txids = set()
        with pair.conn.cursor() as cur:
            for statement in stream(tag):
                cur.execute("BEGIN")
                cur.execute(statement)
                cur.execute("SELECT txid_current() & 4294967295")
                txids.add(cur.fetchone()[0])
                cur.execute("COMMIT")

        # THEN both write every record (those of other transactions, other tests' included, left out)
        got_dbz, got_ours = pair.collect(_ended, keep=lambda r: _txid(r) in txids or _txid(r) is None)
        heartbeats = {side: [r for r in got if r.topic.endswith(".hb")] for side, got in (("debezium", got_dbz),
                                                                                          ("pgbridge", got_ours))}
        got_dbz, got_ours = ([r for r in got if not r.topic.endswith(".hb")] for got in (got_dbz, got_ours))
        pair.keep_records(got_dbz, got_ours)
        yield request.param, got_dbz, got_ours, *pair.runs, tmp, heartbeats


def _suffixes(records: list[parity.Record], run: parity.Run) -> set[str]:
    return {run.topic_suffix(r.topic) for r in records}


def test_debezium_really_applied_the_chain(live):
    # GIVEN Debezium's records: the chain was in force (else the comparison proves little)
    name, dbz, _, run, _, _, _ = live
    topics = _suffixes(dbz, run)
    if name == "logical":
        assert any(t.endswith(".all") for t in topics) and "tx_merged" in topics
        assert not any(t.endswith((".t1", ".t2", ".t3", ".t4")) or t == "transaction" for t in topics)
        keys = [json.loads(r.key)["payload"] for r in dbz if r.topic.endswith(".all")]
        assert {k["__dbz__physicalTableIdentifier"] for k in keys} == {"t1", "t2", "t3", "t4"}
    elif name == "outbox":
        assert {"outbox.Order", "outbox.Customer"} <= topics and not any(t.endswith(".outbox") for t in topics)
        order = [r for r in dbz if r.topic.endswith("outbox.Order")]
        assert any(r.value is None for r in order)  # the null payload's tombstone
        assert all(("eventType", "Created") in r.headers or r.value is None or "Created" not in r.value
                   for r in order)
        values = [json.loads(r.value) for r in order if r.value is not None]
        assert all(v["schema"]["fields"][0]["type"] == "struct" for v in values)  # expanded
    else:
        partitions = {r.partition for r in dbz if r.topic.endswith(".t1")}
        assert len(partitions) > 1
        assert any(("Changed", '["v"]') in r.headers and ("Unchanged", '["id","n"]') in r.headers for r in dbz)
        # the offset Berlin has at the value's UTC wall-clock time (01:30: +01:00), as Debezium picks it
        assert any('"tz":"2024-03-31T02:30:00+01:00"' in (r.value or "") for r in dbz)


def test_records_schemas_headers_and_partitions_match_debezium(live):
    name, dbz, ours, dbz_run, our_run, tmp, _ = live
    problems = parity.compare(dbz, dbz_run, ours, our_run, ignored=parity.LIVE_IGNORED)
    assert not problems, parity.report(problems) + f"\n(records in {tmp})"
    assert len(dbz) == len(ours)

    # AND every record of a topic whose partition a transform picks (or that has one partition)
    # is in Debezium's partition, key by key in order
    def partitions(records, run):
        out = defaultdict(list)
        for r in records:
            suffix = run.topic_suffix(r.topic)
            if name != "partition" or suffix.endswith(".t1"):
                out[(suffix, parity.key_id(r, run))].append(r.partition)
        return out

    assert partitions(ours, our_run) == partitions(dbz, dbz_run), f"(records in {tmp})"


def test_outbox_events_of_one_aggregate_keep_commit_order_over_4_producers(pg_dsn, kafka_bootstrap, tmp_path):
    """EventRouter keys each event by its aggregate, not the outbox row's key: the decoder routes
    the outbox table by table, so one aggregate's events, written by concurrent transactions
    (a row lock per aggregate orders their commits: `n` counts them), arrive in commit order."""
    tag = f"oo_{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "BRIDGE_PG_DSN": pg_dsn, "BRIDGE_KAFKA_BOOTSTRAP": kafka_bootstrap}
    conn = psycopg2.connect(pg_dsn)
    conn.autocommit = True
    bridge = None
    slots = {f"{tag}_slot": f"{tag}_pub"}
    aggregates, per_thread, threads = 5, 40, 6
    try:
        # GIVEN an outbox table, a counter per aggregate (not published), pgbridge with 4 producers
        with conn.cursor() as cur:
            cur.execute(f"CREATE SCHEMA {tag}")
            cur.execute(SCHEMA_SQL.format(s=tag))
            cur.execute(f"CREATE TABLE {tag}.agg (id text PRIMARY KEY, n int NOT NULL)")
            cur.execute(f"INSERT INTO {tag}.agg SELECT 'a' || i, 0 FROM generate_series(1, {aggregates}) i")
            cur.execute(f'CREATE PUBLICATION "{tag}_pub" FOR TABLE {tag}.outbox')
        chain = {"transforms": "outbox", "transforms.outbox.type": "io.debezium.transforms.outbox.EventRouter",
                 "transforms.outbox.route.topic.replacement": tag + ".events",
                 "transforms.outbox.table.expand.json.payload": "true"}
        bridge = start_bridge_with(tmp_path, pg_dsn, kafka_bootstrap, tag, {"snapshot.mode": "no_data",
                                   "publication.autocreate.mode": "disabled"}, producers=4, transforms=chain)
        wait_until(lambda: slot_active(conn, f"{tag}_slot") or not bridge.running(), timeout=90,
                   what="pgbridge to stream")
        assert bridge.running(), bridge.log()

        # WHEN concurrent transactions each take an aggregate's next number and write its event
        def write(seed: int) -> None:
            with psycopg2.connect(pg_dsn) as work, work.cursor() as cur:
                for i in range(per_thread):
                    agg = f"a{(seed + i) % aggregates + 1}"
                    cur.execute(f"UPDATE {tag}.agg SET n = n + 1 WHERE id = %s RETURNING n", (agg,))
                    (n,) = cur.fetchone()
                    cur.execute(f"INSERT INTO {tag}.outbox VALUES (gen_random_uuid(), 'A', %s, 'E', %s)",
                                (agg, json.dumps({"n": n})))
                    work.commit()

        concurrently(write, threads)

        # THEN per aggregate the events arrive numbered 1, 2, 3 ... in order
        total = per_thread * threads
        got = parity.consume_prefix(kafka_bootstrap, tag, lambda rs: len(rs) >= total, quiet=2.0, timeout=120,
                                    alive=bridge.running)
        assert check_numbered_per_key(got, lambda r: json.loads(r.value)["payload"]["n"]) == total
        assert bridge.stop() == 0, bridge.log()
    finally:
        clean_up_pair(conn, env, bridge, "", False, slots, (tag,), kafka_bootstrap, (f"{tag}.",))


@pytest.mark.parametrize("live", ["logical"], indirect=True)  # heartbeats go through the logical router only
def test_heartbeats_are_renamed_and_rekeyed_as_debeziums(live):
    _, _, _, dbz_run, our_run, tmp, heartbeats = live
    assert heartbeats["debezium"] and heartbeats["pgbridge"], f"heartbeats: {heartbeats}"

    def shape(r: parity.Record, run: parity.Run) -> tuple:
        value = json.loads(r.value)
        value["payload"]["ts_ms"] = "<clock>"
        return (run.topic_suffix(r.topic), r.key.replace(run.prefix, "<prefix>"), value,
                [h for h in r.headers if h[0] != "__debezium.context.runId"])

    assert shape(heartbeats["pgbridge"][0], our_run) == shape(heartbeats["debezium"][0], dbz_run), f"({tmp})"
    key = json.loads(heartbeats["debezium"][0].key)
    assert key["schema"]["name"].endswith(".hb.Key") and "__dbz__physicalTableIdentifier" in key["payload"]
