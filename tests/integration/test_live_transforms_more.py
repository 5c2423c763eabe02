"""Debezium's remaining transforms, end to end.

Against a live Debezium 3.7.0 on Kafka Connect 4.3.1 (the same chain, the same tables, the same
WAL, compared record by record with schemas and headers), two pairs of connectors:
- `move`: ExtractNewRecordState with `add.headers=op,table`, then HeaderToValue moving `__op`
  and `__table` into the value as `op` and `tbl`;
- `copy`: ExtractNewRecordState with `rewrite`, `add.headers=op,lsn`, then HeaderToValue copying
  `__op`, `__lsn` and the context header `__debezium.context.connectorName` (a header Debezium
  itself adds) into `operation`, `lsn` and `connector`.
Inserts, updates, deletes (with their tombstones), a primary-key change and a logical decoding
message stream through both. Ignored as in every live comparison (`parity.LIVE_IGNORED`).

pgbridge alone (Debezium runs these with a JVM language only): ContentBasedRouter and Filter
with `language=python`, routing by `value['after']['region']` and dropping deletes by `op`.
"""

from __future__ import annotations

import json
import os
import uuid

import psycopg2
import pytest

from tests.integration import parity
from tests.integration.live_pair import LivePair
from tests.integration.support import (BridgeProcess, check_numbered_per_key, clean_up_pair, concurrently,
                                       slot_active, start_bridge_with, wait_until)

UNWRAP = "io.debezium.transforms.ExtractNewRecordState"
HEADER_TO_VALUE = "io.debezium.transforms.HeaderToValue"

SCHEMA_SQL = """
CREATE TABLE {s}.a (id int PRIMARY KEY, v text, n int DEFAULT 7);
CREATE TABLE {s}.b (id int PRIMARY KEY, v text NOT NULL);
"""


def stream(s: str) -> list[str]:
    return [
        f"INSERT INTO {s}.a VALUES (1, 'one', 1), (2, 'two', NULL), (3, 'three', 3)",
        f"INSERT INTO {s}.b VALUES (1, 'b1'), (2, 'b2')",
        f"UPDATE {s}.a SET v = 'uno' WHERE id = 1",
        f"DELETE FROM {s}.a WHERE id = 2",  # a delete and its tombstone
        f"UPDATE {s}.a SET id = 30 WHERE id = 3",  # a key change: delete + tombstone + create
        f"DELETE FROM {s}.b WHERE id = 1",
        f"SELECT pg_logical_emit_message(true, '{s}', 'in a transaction')",  # not a change event
        f"INSERT INTO {s}.b VALUES (999, 'the end')",  # the last record both must write
    ]


CHAINS = {
    "move": {
        "transforms": "unwrap,h2v",
        "transforms.unwrap.type": UNWRAP,
        "transforms.unwrap.add.headers": "op,table",
        "transforms.h2v.type": HEADER_TO_VALUE,
        "transforms.h2v.headers": "__op,__table",
        "transforms.h2v.fields": "op,tbl",
        "transforms.h2v.operation": "move",
    },
    "copy": {
        "transforms": "unwrap,h2v",
        "transforms.unwrap.type": UNWRAP,
        "transforms.unwrap.delete.tombstone.handling.mode": "rewrite",
        "transforms.unwrap.add.headers": "op,lsn",
        "transforms.h2v.type": HEADER_TO_VALUE,
        "transforms.h2v.headers": "__op,__lsn,__debezium.context.connectorName",
        "transforms.h2v.fields": "operation,lsn,connector",
        "transforms.h2v.operation": "copy",
    },
}


def _ended(records: list[parity.Record]) -> bool:
    return any(r.topic.endswith(".b") and r.key is not None and '"id":999' in r.key for r in records)


@pytest.fixture(scope="module", params=list(CHAINS))
def live(request, pg_dsn, kafka_bootstrap, tmp_path_factory):
    """(chain name, debezium records, pgbridge records, debezium run, pgbridge run, dir)."""
    tag = f"hv_{uuid.uuid4().hex[:6]}"
    tmp = tmp_path_factory.mktemp("transforms_more")
    chain = CHAINS[request.param]
    with LivePair(pg_dsn, kafka_bootstrap, tmp, tag) as pair:
        # GIVEN the tables and a publication for each connector
        pair.create(SCHEMA_SQL, ["a", "b"])
        options = {"snapshot.mode": "no_data", "publication.autocreate.mode": "disabled",
                   "table.include.list": f"{tag}.a,{tag}.b", "message.prefix.include.list": tag}
        # AND both connectors with the same chain, pgbridge as a real process
        pair.start(options, chain, {**options, **chain})

        # WHEN the changes stream
        pair.run(stream(tag))

        # THEN both write every record
        got_dbz, got_ours = pair.collect(_ended)
        pair.keep_records(got_dbz, got_ours)
        yield request.param, got_dbz, got_ours, *pair.runs, tmp


def test_debezium_really_applied_the_chain(live):
    # GIVEN Debezium's records: the chain was in force (else the comparison proves little)
    name, dbz, _, _, _, _ = live
    rows = [(r, json.loads(r.value)["payload"]) for r in dbz if r.value is not None
            and not r.topic.endswith(".message")]
    rows = [(r, p) for r, p in rows if p is not None]
    assert rows
    names = {h[0] for r, _ in rows for h in r.headers}
    if name == "move":
        assert {p["op"] for _, p in rows} == {"c", "u"} and {p["tbl"] for _, p in rows} == {"a", "b"}
        assert not names & {"__op", "__table"}
    else:
        assert {p["operation"] for _, p in rows} == {"c", "u", "d"}
        assert {p["connector"] for _, p in rows} == {"postgresql"} and all(p["lsn"] for _, p in rows)
        assert {"__op", "__lsn"} <= names


def test_records_schemas_and_headers_match_debezium(live):
    _, dbz, ours, dbz_run, our_run, tmp = live
    problems = parity.compare(dbz, dbz_run, ours, our_run, ignored=parity.LIVE_IGNORED)
    assert not problems, parity.report(problems) + f"\n(records in {tmp})"
    assert len(dbz) == len(ours)


def test_python_scripting_routes_by_region_and_filters_by_op(pg_dsn, kafka_bootstrap, tmp_path):
    tag = f"py_{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "BRIDGE_PG_DSN": pg_dsn, "BRIDGE_KAFKA_BOOTSTRAP": kafka_bootstrap}
    conn = psycopg2.connect(pg_dsn)
    conn.autocommit = True
    bridge = None
    slots = {f"{tag}_slot": f"{tag}_pub"}
    try:
        # GIVEN a table with a region, and pgbridge routing by it and keeping creates and updates
        with conn.cursor() as cur:
            cur.execute(f"CREATE SCHEMA {tag}")
            cur.execute(f"CREATE TABLE {tag}.orders (id int PRIMARY KEY, region text)")
            cur.execute(f'CREATE PUBLICATION "{tag}_pub" FOR TABLE {tag}.orders')
        chain = {"transforms": "keep,route",
                 "transforms.keep.type": "io.debezium.transforms.Filter",
                 "transforms.keep.language": "python",
                 "transforms.keep.condition": "value['op'] in ('c', 'u')",
                 "transforms.keep.null.handling.mode": "drop",
                 "transforms.route.type": "io.debezium.transforms.ContentBasedRouter",
                 "transforms.route.language": "python",
                 "transforms.route.topic.expression": f"'{tag}.orders.' + value['after']['region']"}
        bridge = start_bridge_with(tmp_path, pg_dsn, kafka_bootstrap, tag, {"snapshot.mode": "no_data",
                                   "publication.autocreate.mode": "disabled"}, transforms=chain)
        wait_until(lambda: slot_active(conn, f"{tag}_slot") or not bridge.running(), timeout=90,
                   what="pgbridge to stream")
        assert bridge.running(), bridge.log()

        # WHEN orders are made, moved, deleted
        with conn.cursor() as cur:
            cur.execute(f"INSERT INTO {tag}.orders VALUES (1, 'eu'), (2, 'us'), (3, 'eu')")
            cur.execute(f"UPDATE {tag}.orders SET region = 'us' WHERE id = 3")
            cur.execute(f"DELETE FROM {tag}.orders WHERE id = 1")
            cur.execute(f"INSERT INTO {tag}.orders VALUES (999, 'eu')")

        # THEN each record is on its region's topic, deletes and their tombstones dropped
        got = parity.consume_prefix(kafka_bootstrap, tag, lambda rs: any('"id":999' in (r.key or "") for r in rs),
                                    quiet=2.0, timeout=90, alive=bridge.running)
        seen = sorted((r.topic, json.loads(r.key)["payload"]["id"], json.loads(r.value)["payload"]["op"]) for r in got)
        assert seen == [(f"{tag}.orders.eu", 1, "c"), (f"{tag}.orders.eu", 3, "c"), (f"{tag}.orders.eu", 999, "c"),
                        (f"{tag}.orders.us", 2, "c"), (f"{tag}.orders.us", 3, "u")]
        assert bridge.stop() == 0, bridge.log()
    finally:
        clean_up_pair(conn, env, bridge, "", False, slots, (tag,), kafka_bootstrap, (f"{tag}.",))


OUTBOX_SQL = """
CREATE TABLE {s}.outbox (id uuid PRIMARY KEY, aggregatetype varchar(255) NOT NULL,
                         aggregateid varchar(255) NOT NULL, type varchar(255) NOT NULL, payload jsonb);
CREATE TABLE {s}.agg (id text PRIMARY KEY, n int NOT NULL);
"""


def _outbox_chain(topic: str) -> dict[str, str]:
    return {"transforms": "outbox", "transforms.outbox.type": "io.debezium.transforms.outbox.EventRouter",
            "transforms.outbox.route.topic.replacement": topic,
            "transforms.outbox.table.expand.json.payload": "true",
            "transforms.outbox.table.fields.additional.placement": "type:header:eventType,aggregateid:envelope"}


def test_outbox_messages_equal_outbox_rows_and_keep_aggregate_order_over_2_producers(pg_dsn, kafka_bootstrap,
                                                                                      tmp_path):
    """The same events written as outbox rows (one pgbridge) and as logical decoding messages
    (another, `bridge.outbox.message.prefix=<schema>.outbox`, no table) give the same records;
    concurrent transactions (a row lock per aggregate orders their commits: `n` counts them)
    arrive per aggregate in commit order."""
    tag = f"om_{uuid.uuid4().hex[:6]}"
    rows_side, msgs_side = f"{tag}_r", f"{tag}_m"
    env = {**os.environ, "BRIDGE_PG_DSN": pg_dsn, "BRIDGE_KAFKA_BOOTSTRAP": kafka_bootstrap}
    conn = psycopg2.connect(pg_dsn)
    conn.autocommit = True
    bridges: list[BridgeProcess] = []
    slots = {f"{rows_side}_slot": f"{rows_side}_pub", f"{msgs_side}_slot": f"{msgs_side}_pub"}
    aggregates, per_thread, threads = 4, 25, 4
    try:
        # GIVEN an outbox table captured by one pgbridge, and a second capturing only messages
        # (its publication holds a table nobody writes), both with 2 producers
        with conn.cursor() as cur:
            cur.execute(f"CREATE SCHEMA {tag}")
            cur.execute(OUTBOX_SQL.format(s=tag))
            cur.execute(f"INSERT INTO {tag}.agg SELECT 'a' || i, 0 FROM generate_series(1, {aggregates}) i")
            cur.execute(f'CREATE PUBLICATION "{rows_side}_pub" FOR TABLE {tag}.outbox')
            cur.execute(f'CREATE PUBLICATION "{msgs_side}_pub" FOR TABLE {tag}.agg')
        options = {"snapshot.mode": "no_data", "publication.autocreate.mode": "disabled"}
        bridges.append(start_bridge_with(tmp_path, pg_dsn, kafka_bootstrap, rows_side, options,
                                         transforms=_outbox_chain(rows_side + ".events.all")))
        props = tmp_path / "messages"
        props.mkdir()
        bridges.append(start_bridge_with(props, pg_dsn, kafka_bootstrap, msgs_side,
                                         {**options, "table.include.list": f"{tag}.outbox"},
                                         transforms=_outbox_chain(msgs_side + ".events.all"),
                                         own={"bridge.outbox.message.prefix": f"{tag}.outbox"}))
        for side in (rows_side, msgs_side):
            wait_until(lambda: slot_active(conn, f"{side}_slot") or not all(b.running() for b in bridges),
                       timeout=90, what="pgbridge to stream")
        assert all(b.running() for b in bridges), [b.log() for b in bridges]

        # WHEN concurrent transactions each take an aggregate's next number and write its event
        # twice: as an outbox row, and as a message (the outbox row's id, the same members)
        def write(seed: int) -> None:
            with psycopg2.connect(pg_dsn) as work, work.cursor() as cur:
                for i in range(per_thread):
                    agg = f"a{(seed + i) % aggregates + 1}"
                    cur.execute(f"UPDATE {tag}.agg SET n = n + 1 WHERE id = %s RETURNING n", (agg,))
                    (n,) = cur.fetchone()
                    event_id = str(uuid.uuid4())
                    payload = {"n": n, "zeta": {"b": True, "a": None}, "at": "dock", "x": 2.50}
                    cur.execute(f"INSERT INTO {tag}.outbox VALUES (%s, 'Order', %s, 'Numbered', %s)",
                                (event_id, agg, json.dumps(payload)))
                    message = {"id": event_id.upper(), "aggregatetype": "Order", "aggregateid": agg,
                               "type": "Numbered", "payload": payload}
                    cur.execute("SELECT pg_logical_emit_message(true, %s, %s)", (f"{tag}.outbox", json.dumps(message)))
                    work.commit()

        concurrently(write, threads)

        # THEN both write every event, record for record equal (but for the topic), and per
        # aggregate numbered 1, 2, 3 ... in order
        total = per_thread * threads
        sides = (rows_side, msgs_side)
        got = dict(zip(sides, parity.consume_together(
            kafka_bootstrap, *(dict(prefix=side + ".events", done=lambda rs: len(rs) >= total, quiet=2.0, timeout=120,
                                    alive=lambda: all(b.running() for b in bridges)) for side in sides))))

        def shape(r: parity.Record, side: str) -> tuple:  # each its own topic prefix
            return (r.key, r.value.replace(side, "<prefix>"),
                    [(h, v.replace(side, "<prefix>")) for h, v in r.headers if h != "__debezium.context.runId"])

        ours, theirs = (sorted(shape(r, side) for r in got[side]) for side in (msgs_side, rows_side))
        assert ours[0] == theirs[0]
        assert ours == theirs
        assert len(got[msgs_side]) == total
        for side in (rows_side, msgs_side):
            check_numbered_per_key(got[side], lambda r: json.loads(r.value)["payload"]["payload"]["n"])
        assert {r.partition for r in got[msgs_side]} == {r.partition for r in got[rows_side]}
        assert all(b.stop() == 0 for b in bridges), [b.log() for b in bridges]
    finally:
        for b in bridges:
            if b.running():
                b.kill()
        clean_up_pair(conn, env, None, "", False, slots, (tag,), kafka_bootstrap, (f"{tag}_",))
