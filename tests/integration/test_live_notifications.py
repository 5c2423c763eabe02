"""Notifications, live: a real Debezium 3.7.0 and pgbridge with the same options write the same
notification records (sink channel) for an initial snapshot and for an incremental snapshot
asked for over Kafka (`signal.enabled.channels=source,kafka`).

Both connectors capture one schema: tables `a` (5 rows), `b` (3 rows), `empty`, and the signal
table `sig`, which both use (each ignores the other's watermarks). Each has its own topic prefix,
slot, publication, signal topic (`<prefix>-signal`, the default) and notification topic
(`<prefix>.notify`). Once both stream, the same execute-snapshot record (id `parity-1`, tables
b, empty, a, in chunks of 2 rows) goes to each signal topic; when both have reported the
incremental snapshot COMPLETED, their notification topics are compared in order, record by
record, text for text (tests/integration/parity.py), keys included.

What is left out, and why:
- `timestamp` of every notification: the clock when each connector sent it;
- the `id` (key and value) of the initial snapshot's notifications: a random UUID per
  notification in Debezium and in pgbridge (the incremental snapshot's are the signal's id, and
  compared);
- the order of `status` and `data_collections` inside `additional_data` of the initial
  snapshot's TABLE_SCAN_COMPLETED (compared as a map there): the two keys share a Java HashMap
  bucket, so Debezium writes them in the order of a `Map.of` whose iteration order is drawn at
  random when its JVM starts.
"""

from __future__ import annotations

import json
import re
import uuid

from confluent_kafka import Producer

from tests.integration import parity
from tests.integration.live_pair import LivePair

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
IGNORED = parity.Ignored(envelope=frozenset({"timestamp"}), source=frozenset(), transaction=frozenset(),
                         headers=frozenset())


def _pairs(text: str):
    return json.loads(text, object_pairs_hook=lambda pairs: pairs)


def _dump(node) -> str:
    if isinstance(node, list) and all(isinstance(p, tuple) and len(p) == 2 for p in node) and node:
        return "{" + ",".join(f"{json.dumps(k)}:{_dump(v)}" for k, v in node) + "}"
    if isinstance(node, list):
        return "[" + ",".join(_dump(v) for v in node) + "]"
    return json.dumps(node, ensure_ascii=False)


def _comparable(record: parity.Record) -> parity.Record:
    """The record with what legitimately differs put aside (the module's docstring says what)."""
    value = _pairs(record.value)
    payload = dict(value)["payload"]
    fields = dict(payload)
    initial = fields["aggregate_type"] == "Initial Snapshot"
    if initial:
        assert _UUID.fullmatch(fields["id"]), fields["id"]
    out = []
    for name, v in payload:
        if name == "id" and initial:
            v = "<uuid>"
        elif name == "additional_data" and initial and fields["type"] == "TABLE_SCAN_COMPLETED":
            v = sorted(v)
        out.append((name, v))
    value = [(k, out if k == "payload" else v) for k, v in value]
    key = _pairs(record.key)
    if initial:
        key = [(k, [("id", "<uuid>")] if k == "payload" else v) for k, v in key]
    return parity.Record(record.topic, _dump(key), _dump(value), record.headers)


def _completed(records: list[parity.Record], topic: str) -> bool:
    return any(r.topic == topic and '"aggregate_type":"Incremental Snapshot"' in r.value
               and '"type":"COMPLETED"' in r.value for r in records)


SCHEMA_SQL = """
CREATE TABLE {s}.a (id int PRIMARY KEY, v text);
INSERT INTO {s}.a SELECT g, 'x' FROM generate_series(1, 5) g;
CREATE TABLE {s}.b (id int PRIMARY KEY, k text);
INSERT INTO {s}.b SELECT g, 'y' FROM generate_series(1, 3) g;
CREATE TABLE {s}.empty (id int PRIMARY KEY);
CREATE TABLE {s}.sig (id varchar(64) PRIMARY KEY, type varchar(32) NOT NULL, data varchar(2048));
"""


def test_notifications_equal_debeziums_for_an_initial_and_an_incremental_snapshot(pg_dsn, kafka_bootstrap,
                                                                                   tmp_path):
    schema = f"ln_{uuid.uuid4().hex[:6]}"
    with LivePair(pg_dsn, kafka_bootstrap, tmp_path, schema) as pair:
        dbz, ours = pair.dbz, pair.ours
        # GIVEN three tables and a signal table, published to both connectors
        pair.create(SCHEMA_SQL, ["a", "b", "empty", "sig"])
        common = {
            "snapshot.mode": "initial",
            "publication.autocreate.mode": "disabled",
            "schema.include.list": schema,
            "signal.data.collection": f"{schema}.sig",
            "signal.enabled.channels": "source,kafka",
            "signal.kafka.bootstrap.servers": kafka_bootstrap,
            "signal.poll.interval.ms": "500",
            "incremental.snapshot.chunk.size": "2",
            "notification.enabled.channels": "sink,log",
        }
        # AND pgbridge and the real Debezium, each with its notification topic
        pair.start({**common, "notification.sink.topic.name": f"{ours}.notify"}, {},
                   {**common, "notification.sink.topic.name": f"{dbz}.notify"})

        # WHEN the same execute-snapshot signal goes to each one's signal topic, keyed by its topic prefix
        signal = {"id": "parity-1", "type": "execute-snapshot",
                  "data": {"data-collections": [f"{schema}.b", f"{schema}.empty", f"{schema}.a"],
                           "type": "INCREMENTAL"}}
        producer = Producer({"bootstrap.servers": kafka_bootstrap})
        for prefix in (dbz, ours):
            producer.produce(f"{prefix}-signal", json.dumps(signal).encode(), prefix.encode())
        assert producer.flush(30) == 0

        # THEN both report the initial snapshot and the incremental snapshot with the same records
        got_dbz, got_ours = pair.collect(
            lambda rs: _completed(rs, f"{dbz}.notify") or _completed(rs, f"{ours}.notify"), quiet=3.0)
        notes_dbz = [_comparable(r) for r in got_dbz if r.topic == f"{dbz}.notify"]
        notes_ours = [_comparable(r) for r in got_ours if r.topic == f"{ours}.notify"]
        (tmp_path / "debezium.jsonl").write_text("".join(json.dumps(r.__dict__) + "\n" for r in notes_dbz))
        (tmp_path / "pgbridge.jsonl").write_text("".join(json.dumps(r.__dict__) + "\n" for r in notes_ours))
        kinds = [(json.loads(r.value)["payload"]["aggregate_type"], json.loads(r.value)["payload"]["type"])
                 for r in notes_dbz]
        # (not vacuous: every kind of notification both snapshots send)
        assert {("Initial Snapshot", t) for t in ("STARTED", "DATA_COLLECTIONS_RESOLVED", "IN_PROGRESS",
                                                 "TABLE_SCAN_COMPLETED", "COMPLETED")} <= set(kinds)
        assert {("Incremental Snapshot", t) for t in ("STARTED", "DATA_COLLECTIONS_RESOLVED", "IN_PROGRESS",
                                                     "TABLE_SCAN_COMPLETED", "COMPLETED")} <= set(kinds)
        problems = parity.compare(notes_dbz, parity.Run(dbz, None), notes_ours, parity.Run(ours, None),
                                  ignored=IGNORED, ordered=frozenset({"notify"}))
        assert not problems, parity.report(problems) + f"\n(records in {tmp_path})"
