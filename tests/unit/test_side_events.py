"""Logical messages and transaction metadata, decoder to records, as a real Debezium 3.7.0 writes
them (tests/integration/test_live_parity.py compares against one, live): the router's ring
records fed to a producer's worker with a fake Kafka sink, no servers."""

from __future__ import annotations

import json

from bridge.config import config_from_properties
from bridge.convert.options import ConversionOptions
from bridge.pgoutput import messages as m
from bridge.produce.side_events import MessageEvents, TransactionEvents
from bridge.route.router import MESSAGE_COLLECTION
from bridge.snapshot import wire
from tests.pgoutput_encoder import encode
from tests.unit.builders import COMMIT_TS, MINIMAL, REL, pipeline, txn
from tests.unit.builders import run_batch as run


def payloads(sink, topic):
    return [v["payload"] for t, _, v in sink.records if t == topic and v is not None]


def test_a_transactional_message_is_an_event_of_its_transaction():
    # GIVEN transaction metadata on, and a transaction with a row and two messages
    router, worker, sink = pipeline(**{"debezium.source.provide.transaction.metadata": "true"})
    router.handle(encode(REL), 10)
    txn(router, 1000, [m.Insert(16384, (b"1", b"a")), m.LogicalMessage(True, 950, "audit", b"x"),
                       m.LogicalMessage(True, 960, "audit", b"y")])
    # WHEN the producer builds the records
    run(router, worker)
    # THEN each message carries its transaction block, numbered after the row, in a collection of its own
    messages = payloads(sink, "p.message")
    assert [msg["transaction"] for msg in messages] == [
        {"id": "7:950", "total_order": 2, "data_collection_order": 1},
        {"id": "7:960", "total_order": 3, "data_collection_order": 1},
    ]
    # AND the END record counts them, each under Debezium's LogicalDecodingMessageId name
    end = next(p for p in payloads(sink, "p.transaction") if p["status"] == "END")
    assert end["event_count"] == 3
    names = [c["data_collection"] for c in end["data_collections"]]
    messages = [n for n in names if n.startswith(MESSAGE_COLLECTION + "@")]
    assert sorted(set(names) - set(messages)) == ["public.t"] and len(set(messages)) == 2
    assert all(c["event_count"] == 1 for c in end["data_collections"])


def test_a_transaction_of_only_a_message_has_begin_and_end():
    router, worker, sink = pipeline(**{"debezium.source.provide.transaction.metadata": "true"})
    txn(router, 1000, [m.LogicalMessage(True, 950, "audit", b"x")])
    run(router, worker)
    assert [p["status"] for p in payloads(sink, "p.transaction")] == ["BEGIN", "END"]


def test_without_transaction_metadata_messages_have_no_transaction_block():
    router, worker, sink = pipeline()
    txn(router, 1000, [m.LogicalMessage(True, 950, "audit", b"x")])
    run(router, worker)
    assert payloads(sink, "p.message")[0]["transaction"] is None
    assert payloads(sink, "p.transaction") == []


def test_a_non_transactional_message_anchors_the_sequence_and_takes_the_last_commit_time():
    # GIVEN a transaction, then a non-transactional message, then another transaction
    router, worker, sink = pipeline()
    router.handle(encode(REL), 10)
    txn(router, 1000, [m.Insert(16384, (b"1", b"a"))], ts=COMMIT_TS)
    router.handle(encode(m.LogicalMessage(False, 1500, "audit", b"x")), 1500)
    txn(router, 2000, [m.Insert(16384, (b"2", b"b"))], xid=8, ts=COMMIT_TS + 5)
    run(router, worker)
    # THEN the message's sequence is [its LSN, its LSN], its time the previous commit's
    msg = payloads(sink, "p.message")[0]
    assert msg["source"]["sequence"] == '["1500","1500"]' and msg["source"]["txId"] is None
    assert msg["source"]["ts_us"] == COMMIT_TS and msg["transaction"] is None
    # AND the next transaction's events count from the message, as Debezium commits it
    rows = payloads(sink, "p.public.t")
    assert json.loads(rows[0]["source"]["sequence"])[0] is None  # the first since start
    assert json.loads(rows[1]["source"]["sequence"])[0] == "1500"


def test_a_filtered_out_non_transactional_message_still_anchors_the_sequence():
    router, worker, sink = pipeline(**{"debezium.source.message.prefix.exclude.list": "audit"})
    router.handle(encode(REL), 10)
    router.handle(encode(m.LogicalMessage(False, 1500, "audit", b"x")), 1500)
    txn(router, 2000, [m.Insert(16384, (b"2", b"b"))])
    run(router, worker)
    assert payloads(sink, "p.message") == []
    assert json.loads(payloads(sink, "p.public.t")[0]["source"]["sequence"])[0] == "1500"


def test_the_first_transaction_after_a_snapshot_has_no_previous_commit():
    # GIVEN a snapshot's transaction through the router, then a streamed one
    router, worker, sink = pipeline(**{"debezium.source.provide.transaction.metadata": "true"})
    router.handle(wire.begin(500, COMMIT_TS, 0), 500)
    router.handle(wire.relation(REL), 500)
    router.snapshot_row(wire.insert(16384, (b"1", b"a")), 500, 4)
    router.handle(wire.commit(500, COMMIT_TS), 500)
    router.snapshot_done()
    txn(router, 2000, [m.Insert(16384, (b"2", b"b"))])
    run(router, worker)
    snapshot, streamed = payloads(sink, "p.public.t")
    # THEN the snapshot record has no transaction block, and the streamed one's sequence starts null
    assert snapshot["op"] == "r" and snapshot["source"]["snapshot"] == "last" and snapshot["transaction"] is None
    assert json.loads(streamed["source"]["sequence"]) == [None, "1910"]
    assert streamed["transaction"] == {"id": "7:1910", "total_order": 1, "data_collection_order": 1}


def test_record_shapes():
    config = config_from_properties({**MINIMAL, "debezium.source.topic.prefix": "p"})
    msg = MessageEvents(config.events, ConversionOptions(), "db").record(
        m.LogicalMessage(True, 950, "audit", b"x"), 7, COMMIT_TS, 900, {"id": "7:950", "total_order": 1,
                                                                       "data_collection_order": 1})
    value = json.loads(msg.value)
    assert list(value["payload"]) == ["op", "ts_ms", "source", "transaction", "message"]
    assert value["payload"]["transaction"]["id"] == "7:950" and msg.headers is None
    end = TransactionEvents(config.events).end(7, 1000, COMMIT_TS, 2, [("public.t", 1), (MESSAGE_COLLECTION + "@1", 1)])
    payload = json.loads(end.value)["payload"]
    assert payload["ts_ms"] == COMMIT_TS // 1000 and payload["event_count"] == 2
    assert {c["data_collection"] for c in payload["data_collections"]} == {"public.t", MESSAGE_COLLECTION + "@1"}
