"""EventBuilder: envelope, headers and before/after images (Debezium 3.7, checked against the
golden capture in tests/data/debezium), with hand-made pgoutput messages and no servers."""

from __future__ import annotations

import json
import logging
import uuid

import pytest

from bridge.pgoutput.messages import (
    UNCHANGED_TOAST,
    Delete,
    Insert,
    Relation,
    RelationColumn,
    Update,
)
from bridge.convert.options import ConversionOptions
from bridge.convert.types import TypeRegistry
from bridge.format.jackson import jackson_json
from bridge.produce.events import EventBuilder, TxnContext
from bridge.route.records import NEW_KEY_HALF, OLD_KEY_HALF
from bridge.route.topics import TopicNames
from bridge.source.catalog import TableInfo
from tests.unit.builders import events

INT4, TEXT, FLOAT8, NUMERIC = 23, 25, 701, 1700
TXN = TxnContext(xid=700, commit_ts_us=1_700_000_000_123_456, last_commit_lsn=1000)


def builder(columns, key=("id",), not_null=("id",), run_id="run-1", **overrides) -> EventBuilder:
    """A builder that knows one table `public.t` (relation id 1) with `columns` = [(name, oid)]."""
    ev = events(**overrides)
    b = EventBuilder(ev, ConversionOptions(), TypeRegistry(), "db", run_id=run_id)
    rel = Relation(1, "public", "t", "d", tuple(RelationColumn(n in key, n, oid, -1) for n, oid in columns))
    b.relation(rel, TableInfo(tuple(key), frozenset(not_null)), TopicNames.of(ev).table("public", "t"))
    return b


def payload(value: bytes | None):
    doc = json.loads(value)
    return doc["payload"] if "schema" in doc else doc


CONTEXT = [
    ("__debezium.context.connectorLogicalName", b"srv"),
    ("__debezium.context.taskId", b"0"),
    ("__debezium.context.connectorName", b"postgresql"),
    ("__debezium.context.runId", b"run-1"),
]


# --- headers -------------------------------------------------------------------------------------


def test_every_change_and_tombstone_carries_the_context_headers():
    # GIVEN a table and an insert, update and delete
    b = builder([("id", INT4), ("v", TEXT)])
    # WHEN they are built
    records = (b.change(Insert(1, (b"1", b"a")), TXN, 2000)
               + b.change(Update(1, None, None, (b"1", b"b")), TXN, 2001)
               + b.change(Delete(1, "K", (b"1", None)), TXN, 2002))
    # THEN c, u, d and the tombstone all carry the four context headers in Debezium's order
    assert [r.value is None for r in records] == [False, False, False, True]
    assert all(r.headers == CONTEXT for r in records)


def test_run_id_defaults_to_one_uuid_per_builder():
    a, b = builder([("id", INT4)], run_id=None), builder([("id", INT4)], run_id=None)
    assert a.run_id != b.run_id and uuid.UUID(a.run_id)
    assert dict(a.headers)["__debezium.context.runId"] == a.run_id.encode()


def test_primary_key_change_headers_hold_the_other_key_without_schema():
    # GIVEN an UPDATE that changes the key 1 -> 100 (REPLICA IDENTITY DEFAULT: old key only)
    b = builder([("id", INT4), ("v", TEXT)])
    msg = Update(1, "K", (b"1", None), (b"100", b"a"))
    # WHEN it is built
    d, tomb, c = b.change(msg, TXN, 3000)
    # THEN (golden pk_change) delete + tombstone under the old key point at the new key, the
    # create under the new key at the old one; the key header comes first
    assert d.headers == [("__debezium.newkey", b'{"id":100}'), *CONTEXT] == tomb.headers
    assert c.headers == [("__debezium.oldkey", b'{"id":1}'), *CONTEXT]
    assert payload(d.key) == {"id": 1} and payload(c.key) == {"id": 100} and tomb.value is None
    assert payload(d.value)["before"] == {"id": 1, "v": None} and payload(d.value)["op"] == "d"
    assert payload(c.value)["after"] == {"id": 100, "v": "a"} and payload(c.value)["op"] == "c"
    # AND each half can be built on its own (by the producer owning that key)
    assert [r.value is None for r in b.change(msg, TXN, 3000, OLD_KEY_HALF)] == [False, True]
    assert [payload(r.value)["op"] for r in b.change(msg, TXN, 3000, NEW_KEY_HALF)] == ["c"]



def test_extended_headers_disabled_drops_only_the_context_headers():
    # GIVEN extended.headers.enabled=false (Debezium 3.2.1+: EventDispatcher adds no context headers)
    b = builder([("id", INT4), ("v", TEXT)], extended_headers=False)
    # WHEN a row, its delete (with tombstone) and a primary-key change are built
    records = (b.change(Insert(1, (b"1", b"a")), TXN, 2000) + b.change(Delete(1, "K", (b"1", None)), TXN, 2001)
               + b.change(Update(1, "K", (b"1", None), (b"100", b"a")), TXN, 2002))
    # THEN none carries a __debezium.context.* header; the key change keeps its own
    assert [r.headers for r in records] == [[], [], [], [("__debezium.newkey", b'{"id":100}')],
                                            [("__debezium.newkey", b'{"id":100}')],
                                            [("__debezium.oldkey", b'{"id":1}')]]

# --- envelope ----------------------------------------------------------------------------------


def test_envelope_and_source_field_order():
    b = builder([("id", INT4)])
    (r,) = b.change(Insert(1, (b"7",)), TXN, 2048)
    value = payload(r.value)
    assert list(value) == ["before", "after", "source", "transaction", "op", "ts_ms", "ts_us", "ts_ns"]
    assert list(value["source"]) == ["version", "connector", "name", "ts_ms", "snapshot", "db", "sequence",
                                     "ts_us", "ts_ns", "schema", "table", "txId", "lsn", "xmin", "origin",
                                     "origin_lsn"]
    source = value["source"]
    assert (source["origin"], source["origin_lsn"], source["xmin"]) == (None, None, None)
    assert source["sequence"] == '["1000","2048"]' and source["ts_us"] == TXN.commit_ts_us
    # the Connect schema lists origin and origin_lsn too
    schema = json.loads(r.value)["schema"]["fields"][2]["fields"]
    assert [f["field"] for f in schema][-2:] == ["origin", "origin_lsn"]


def test_schemas_off_gives_bare_payloads():
    b = builder([("id", INT4)], key_schemas_enable=False, value_schemas_enable=False)
    (r,) = b.change(Insert(1, (b"7",)), TXN, 1)
    assert json.loads(r.key) == {"id": 7} and json.loads(r.value)["after"] == {"id": 7}


def test_key_field_order_is_the_key_order_not_the_column_order():
    # golden pk_multi: PRIMARY KEY (a, b) on columns (b, a, v)
    b = builder([("b", TEXT), ("a", INT4), ("v", TEXT)], key=("a", "b"), not_null=("a", "b"))
    (r,) = b.change(Insert(1, (b"x", b"1", b"v1")), TXN, 1)
    assert r.key.endswith(b'"payload":{"a":1,"b":"x"}}')
    assert list(payload(r.value)["after"]) == ["b", "a", "v"]


# --- before images -----------------------------------------------------------------------------


def test_delete_before_under_default_identity_fills_required_columns_with_their_fallback():
    # GIVEN (golden ri_index) a table keyed by an identity index on `code`; `id` is NOT NULL but
    # not part of the identity, so the delete's old tuple has NULL for it
    b = builder([("id", INT4), ("code", TEXT), ("v", TEXT)], key=("code",), not_null=("id", "code"))
    # WHEN the delete is built
    d, _ = b.change(Delete(1, "K", (None, b"c1", None)), TXN, 1)
    # THEN Debezium's converter fallback (0) stands in for the required column, null for the rest
    assert payload(d.value)["before"] == {"id": 0, "code": "c1", "v": None}


def test_update_under_full_identity_takes_unchanged_toast_from_the_old_row():
    # GIVEN (golden full_ri) REPLICA IDENTITY FULL: the old row carries the TOASTed value
    b = builder([("id", INT4), ("a", TEXT), ("big", TEXT)])
    msg = Update(1, "O", (b"1", b"one", b"x" * 3000), (b"1", b"uno", UNCHANGED_TOAST))
    (u,) = b.change(msg, TXN, 1)
    value = payload(u.value)
    assert value["before"]["big"] == value["after"]["big"] == "x" * 3000
    assert value["after"]["a"] == "uno"


def test_update_without_old_row_keeps_the_placeholder():
    b = builder([("id", INT4), ("big", TEXT)])
    (u,) = b.change(Update(1, None, None, (b"1", UNCHANGED_TOAST)), TXN, 1)
    assert payload(u.value)["before"] is None
    assert payload(u.value)["after"]["big"] == "__debezium_unavailable_value"


def test_unrepresentable_values_are_null_with_a_warning(caplog):
    # GIVEN (golden num id 4) numeric NaN with decimal.handling.mode=precise
    b = builder([("id", INT4), ("n", NUMERIC)])
    # WHEN it is built
    with caplog.at_level(logging.WARNING, logger="bridge.produce.events"):
        (r,) = b.change(Insert(1, (b"4", b"NaN")), TXN, 1)
    # THEN the column is null and the bridge goes on, saying why
    assert payload(r.value)["after"] == {"id": 4, "n": None}
    assert "public.t.n" in caplog.text and "NaN" in caplog.text


# --- Jackson's spelling ----------------------------------------------------------------------------


def test_floats_and_astral_characters_are_spelled_like_jackson():
    b = builder([("id", INT4), ("f", FLOAT8), ("t", TEXT)], key_schemas_enable=False, value_schemas_enable=False)
    (r,) = b.change(Insert(1, (b"1", b"1e+10", "é 🎉\x1f".encode())), TXN, 1)
    assert b'"f":1.0E10,' in r.value
    assert '"t":"é \\uD83C\\uDF89\\u001F"'.encode() in r.value


@pytest.mark.parametrize(
    ("encoded", "jackson"),
    [
        (b'"plain"', b'"plain"'),
        ('"é日"'.encode(), '"é日"'.encode()),  # BMP non-ASCII stays raw UTF-8
        ('"🎉x😀"'.encode(), b'"\\uD83C\\uDF89x\\uD83D\\uDE00"'),
        (b'"\\u001f\\u000b"', b'"\\u001F\\u000B"'),
        (b'"\\\\u001f"', b'"\\\\u001f"'),  # an escaped backslash followed by text, not an escape
    ],
)
def test_jackson_json(encoded, jackson):
    assert jackson_json(encoded) == jackson
    assert json.loads(jackson) == json.loads(encoded)


# --- snapshot records ----------------------------------------------------------------------------

DATE, NAME = 1082, 19


def test_snapshot_rows_have_no_transaction_block_even_with_transaction_metadata():
    b = builder([("id", INT4), ("v", TEXT)])
    txn = TxnContext(xid=0, commit_ts_us=1_700_000_000_000_000, last_commit_lsn=None, metadata=True)
    p = payload(b.snapshot_row(Insert(1, (b"1", b"a")), txn, 500, "last").value)
    assert (p["op"], p["source"]["snapshot"], p["transaction"]) == ("r", "last", None)


def test_snapshot_values_follow_debeziums_jdbc_reads_for_name_and_date():
    # GIVEN a name and a date column (a real Debezium 3.7.0: its snapshot reads through JDBC)
    b = builder([("id", INT4), ("nm", NAME), ("d", DATE)])
    rows = [(b"1", b"a_name", b"2024-02-29"), (b"2", None, b"0044-03-15 BC"), (b"3", None, b"infinity"),
            (b"4", None, b"-infinity")]
    snap = [payload(b.snapshot_row(Insert(1, r), TXN, 500, "true").value)["after"] for r in rows]
    streamed = [payload(b.change(Insert(1, r), TXN, 600)[0].value)["after"] for r in rows]
    # THEN the snapshot has the name's text (streamed: always null) and BC dates lose their era,
    # and the infinities are pgjdbc's sentinels seen through java.sql.Date
    assert [s["nm"] for s in snap] == ["a_name", None, None, None]
    assert [s["nm"] for s in streamed] == [None] * 4
    assert [s["d"] for s in snap] == [19782, -703383, -622191234, -625821272]
    assert [s["d"] for s in streamed] == [19782, -735160, 2146033979, -2147472691]


@pytest.mark.parametrize(
    ("mode", "snapshot", "streamed"),
    [
        ("connect", [19782, -703383, -622191234, -625821272], [19782, -735160, 2146033979, -2147472691]),
        ("isostring", ["2024-02-29Z", "0044-03-15Z", "+292278994-08-16Z", "+292269055-12-02Z"],
         ["2024-02-29Z", "-0043-03-15Z", "+5877611-06-21Z", "-5877611-06-22Z"]),
    ],
)
def test_snapshot_dates_in_the_other_time_precision_modes(mode, snapshot, streamed):
    # GIVEN (a real Debezium 3.7.0, test_live_defaults) dates read by the snapshot and streamed
    ev = events()
    b = EventBuilder(ev, ConversionOptions(time_precision_mode=mode), TypeRegistry(), "db", run_id="run-1")
    rel = Relation(1, "public", "t", "d", (RelationColumn(True, "id", INT4, -1), RelationColumn(False, "d", DATE, -1)))
    b.relation(rel, TableInfo(("id",), frozenset({"id"})), TopicNames.of(ev).table("public", "t"))
    rows = [(b"1", b"2024-02-29"), (b"2", b"0044-03-15 BC"), (b"3", b"infinity"), (b"4", b"-infinity")]
    # THEN the snapshot's are java.sql.Date's, in this mode's spelling
    assert [payload(b.snapshot_row(Insert(1, r), TXN, 500, "true").value)["after"]["d"] for r in rows] == snapshot
    assert [payload(b.change(Insert(1, r), TXN, 600)[0].value)["after"]["d"] for r in rows] == streamed
