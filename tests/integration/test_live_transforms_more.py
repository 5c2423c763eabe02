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
from tests.integration.support import (clean_up_pair, BridgeProcess, slot_active, start_bridge_with,
                                       start_debezium_with, wait_until)

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


def _schema(tag: str, conn) -> None:
    with conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {tag}")
        cur.execute(SCHEMA_SQL.format(s=tag))


@pytest.fixture(scope="module", params=list(CHAINS))
def live(request, pg_dsn, kafka_bootstrap, tmp_path_factory):
    """(chain name, debezium records, pgbridge records, debezium run, pgbridge run, dir)."""
    tag = f"hv_{uuid.uuid4().hex[:6]}"
    dbz, ours = f"{tag}_dbz", f"{tag}_pgb"
    tmp = tmp_path_factory.mktemp("transforms_more")
    env = {**os.environ, "BRIDGE_PG_DSN": pg_dsn, "BRIDGE_KAFKA_BOOTSTRAP": kafka_bootstrap}
    conn = psycopg2.connect(pg_dsn)
    conn.autocommit = True
    bridge: BridgeProcess | None = None
    dbz_started = False
    slots = {dbz: f"{dbz}_pub", f"{ours}_slot": f"{ours}_pub"}
    chain = CHAINS[request.param]
    try:
        # GIVEN the tables and a publication for each connector
        _schema(tag, conn)
        with conn.cursor() as cur:
            for publication in slots.values():
                cur.execute(f'CREATE PUBLICATION "{publication}" FOR TABLE {tag}.a, {tag}.b')
        options = {"snapshot.mode": "no_data", "publication.autocreate.mode": "disabled",
                   "table.include.list": f"{tag}.a,{tag}.b", "message.prefix.include.list": tag}
        # AND both connectors with the same chain, pgbridge as a real process
        bridge = start_bridge_with(tmp, pg_dsn, kafka_bootstrap, ours, options, transforms=chain)
        dbz_started = True
        start_debezium_with(tmp, dbz, {**options, **chain}, env)
        wait_until(lambda: slot_active(conn, f"{ours}_slot") or not bridge.running(), timeout=90,
                   what="pgbridge to stream")
        assert bridge.running(), f"pgbridge stopped:\n{bridge.log()}"

        # WHEN the changes stream
        with conn.cursor() as cur:
            for statement in stream(tag):
                cur.execute(statement)

        # THEN both write every record
        got_dbz = parity.consume_prefix(kafka_bootstrap, dbz, _ended, quiet=2.0, timeout=120)
        got_ours = parity.consume_prefix(kafka_bootstrap, ours, _ended, quiet=2.0, timeout=90, alive=bridge.running)
        code = bridge.stop()
        assert code == 0, f"pgbridge exited with {code}:\n{bridge.log()}"
        for name, records in (("debezium", got_dbz), ("pgbridge", got_ours)):
            (tmp / f"{name}.jsonl").write_text("".join(json.dumps(r.__dict__) + "\n" for r in records))
        yield request.param, got_dbz, got_ours, parity.Run(dbz, None), parity.Run(ours, None), tmp
    finally:
        clean_up_pair(conn, env, bridge, dbz, dbz_started, slots, (tag,), kafka_bootstrap, (f"{dbz}.", f"{ours}."))


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
