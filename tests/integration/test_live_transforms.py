"""Transform chains against a live Debezium 3.7.0 on Kafka Connect 4.3.1: the same chain, the
same tables, the same WAL, compared record by record with schemas and headers.

Three pairs of connectors (each its own slot, publication and topic prefix), streaming only:
- `unwrap,route`: ExtractNewRecordState with its defaults on every table, then RegexRouter
  renaming only table `a`'s topic (`<prefix>.<schema>.a` -> `<prefix>.routed_a`), gated by a
  TopicNameMatches predicate; table `b` keeps its topic;
- `unwrap` with `delete.tombstone.handling.mode=rewrite`, `add.fields=op,table,lsn,source.ts_ms`
  and `add.headers=db`;
- `unwrap` with `rewrite-with-tombstone` and `add.headers=op,lsn` (prefix `h_`: a tombstone gets
  `h_op` "d"), then RegexRouter sending tombstones (RecordIsTombstone) to `<prefix>.tombstones`
  and the old key's records of a key change (HasHeaderKey `__debezium.newkey`) to
  `<prefix>.rekeyed`.
Inserts, updates, deletes (with their tombstones), a primary-key change, a NULL in a column
with a default and two logical decoding messages (not change events: unwrap passes them on, the
chain still runs over them) stream through both. Ignored, as in every live comparison
(`parity.LIVE_IGNORED`): the runId header, `source.version` and the processing clock
(`ts_ms`/`ts_us`/`ts_ns` of the envelope, which unwrap removes anyway); `source.ts_ms` (commit
time) and `lsn` added as fields must be equal.
"""

from __future__ import annotations

import json
import uuid

import pytest

from tests.integration import parity
from tests.integration.live_pair import LivePair

UNWRAP = "io.debezium.transforms.ExtractNewRecordState"

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
        f"UPDATE {s}.b SET v = 'b2!' WHERE id = 2",
        f"DELETE FROM {s}.b WHERE id = 1",
        f"SELECT pg_logical_emit_message(true, '{s}', 'in a transaction')",  # not change events:
        f"SELECT pg_logical_emit_message(false, '{s}', 'on its own')",  # unwrap passes them on
        f"INSERT INTO {s}.b VALUES (999, 'the end')",  # the last record both must write
    ]


def chains(s: str) -> dict[str, dict[str, str]]:
    return {
        "unwrap-route": {
            "transforms": "unwrap,route",
            "transforms.unwrap.type": UNWRAP,
            "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
            "transforms.route.regex": "([^.]+)[.]([^.]+)[.]a",
            "transforms.route.replacement": "$1.routed_a",
            "transforms.route.predicate": "only_a",
            "predicates": "only_a",
            "predicates.only_a.type": "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
            "predicates.only_a.pattern": f".*[.]{s}[.]a",
        },
        "rewrite-fields-headers": {
            "transforms": "unwrap",
            "transforms.unwrap.type": UNWRAP,
            "transforms.unwrap.delete.tombstone.handling.mode": "rewrite",
            "transforms.unwrap.add.fields": "op,table,lsn,source.ts_ms",
            "transforms.unwrap.add.headers": "db",
        },
        "tombstones-routed": {
            "transforms": "unwrap,tomb,keyed",
            "transforms.unwrap.type": UNWRAP,
            "transforms.unwrap.delete.tombstone.handling.mode": "rewrite-with-tombstone",
            "transforms.unwrap.add.headers": "op,lsn",
            "transforms.unwrap.add.headers.prefix": "h_",
            "transforms.tomb.type": "org.apache.kafka.connect.transforms.RegexRouter",
            "transforms.tomb.regex": "([^.]+)[.].*",
            "transforms.tomb.replacement": "$1.tombstones",
            "transforms.tomb.predicate": "is_tombstone",
            "transforms.keyed.type": "org.apache.kafka.connect.transforms.RegexRouter",
            "transforms.keyed.regex": "([^.]+)[.].*",
            "transforms.keyed.replacement": "$1.rekeyed",
            "transforms.keyed.predicate": "new_key",
            "transforms.keyed.negate": "false",
            "predicates": "is_tombstone,new_key",
            "predicates.is_tombstone.type": "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone",
            "predicates.new_key.type": "org.apache.kafka.connect.transforms.predicates.HasHeaderKey",
            "predicates.new_key.name": "__debezium.newkey",
        },
    }


def _ended(records: list[parity.Record]) -> bool:
    return any(r.topic.endswith(".b") and r.key is not None and '"id":999' in r.key for r in records)


@pytest.fixture(scope="module", params=["unwrap-route", "rewrite-fields-headers", "tombstones-routed"])
def live(request, pg_dsn, kafka_bootstrap, tmp_path_factory):
    """(chain name, debezium records, pgbridge records, debezium run, pgbridge run, dir)."""
    tag = f"tf_{uuid.uuid4().hex[:6]}"
    tmp = tmp_path_factory.mktemp("transforms")
    chain = chains(tag)[request.param]
    with LivePair(pg_dsn, kafka_bootstrap, tmp, tag) as pair:
        # GIVEN the tables and a publication for each connector
        pair.create(SCHEMA_SQL, ["a", "b"])
        options = {"snapshot.mode": "no_data", "publication.autocreate.mode": "disabled",
                   "table.include.list": f"{tag}.a,{tag}.b",
                   # only this test's messages (other tests emit theirs in the same database)
                   "message.prefix.include.list": tag}
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
    name, dbz, _, run, _, _ = live
    topics = {r.topic[len(run.prefix) + 1:] for r in dbz}
    assert sum(r.topic.endswith(".message") for r in dbz) == 2
    values = [json.loads(r.value) for r in dbz if r.value is not None and not r.topic.endswith(".message")]
    assert all("before" not in v["payload"] for v in values if v["payload"] is not None)
    if name == "unwrap-route":
        assert "routed_a" in topics and not any(t.endswith(".a") for t in topics)
        assert any(v["payload"] is None for v in values)  # a delete: null payload, schema kept
    elif name == "rewrite-fields-headers":
        assert {v["payload"]["__deleted"] for v in values} == {"true", "false"}
        assert all(any(h[0] == "__db" for h in r.headers or ()) == (not r.topic.endswith(".message")) for r in dbz)
    else:
        assert {"tombstones", "rekeyed"} <= topics
        assert all(r.value is None for r in dbz if r.topic.endswith(".tombstones"))
        assert all(("h_op", "d") in r.headers for r in dbz if r.topic.endswith(".tombstones"))


def test_records_schemas_and_headers_match_debezium(live):
    _, dbz, ours, dbz_run, our_run, tmp = live
    problems = parity.compare(dbz, dbz_run, ours, our_run, ignored=parity.LIVE_IGNORED)
    assert not problems, parity.report(problems) + f"\n(records in {tmp})"
    assert len(dbz) == len(ours)
