"""The unwrap fast path (`bridge.produce.unwrapped`, `EventBuilder.fast_unwrapped`) against the
general path with the chain (`PgOutputDecoder.decode` + `EventBuilder.change` + `Chain.run`):
the same records, keys and headers byte for byte for creates and updates of a table whose chain
only unwraps it (and renames its topic), in every delete mode; None — the general path's turn —
for deletes, key changes and the chains it does not cover. No servers."""

from __future__ import annotations

import json

import pytest

from bridge.config import config_from_properties
from bridge.pgoutput import messages as m
from bridge.pgoutput.messages import Delete, Insert, Relation, RelationColumn, Update
from bridge.pgoutput.protocol import PgOutputDecoder
from bridge.produce import events as events_module
from bridge.produce.events import EventBuilder, TxnContext
from bridge.produce.worker import ProducerWorker
from bridge.route.router import Router
from bridge.source.catalog import TableInfo
from bridge.convert.types import TypeRegistry
from tests.fakes import RecordingSink
from tests.pgoutput_encoder import encode
from tests.unit.builders import MINIMAL, chain_builder, transform_props

UNWRAP = "io.debezium.transforms.ExtractNewRecordState"
INT4, INT8, TEXT, FLOAT8, NUMERIC, TSTZ, BOOL, JSONB = 23, 20, 25, 701, 1700, 1184, 16, 3802
NUMERIC_12_2 = ((12 << 16) | 2) + 4
UNSUPPORTED = 791  # money[]: left out of the events
WIDE = [("id", INT8, -1), ("qty", INT4, -1), ("email", TEXT, -1), ("price", NUMERIC, NUMERIC_12_2),
        ("created_at", TSTZ, -1), ("note", TEXT, -1), ("active", BOOL, -1), ("attrs", JSONB, -1),
        ("ratio", FLOAT8, -1), ("skipped", UNSUPPORTED, -1)]
REL = Relation(16384, "public", "t", "d", tuple(RelationColumn(n == "id", n, oid, mod) for n, oid, mod in WIDE))
ROW = (b"1000001", b"7", b"user1@example.com", b"12.50", b"2024-05-01 12:34:56.789012+00",
       b"a note", b"t", b'{"tier": "gold"}', b"1.5e-7", b"{$1.00}")
ODD = (b"2", None, "é \U0001f389 \x01 %s %(r)s".encode(), b"-0.00", None, None, b"f", None, b"-0", None)
TOASTED = ODD[:5] + (m.UNCHANGED_TOAST,) + ODD[6:]  # an update leaving `note` out
TXN = TxnContext(xid=700, commit_ts_us=1_700_000_000_123_456, last_commit_lsn=1000)
FIRST_TXN = TxnContext(xid=701, commit_ts_us=1_700_000_000_123_456, last_commit_lsn=None)
META_TXN = TxnContext(xid=702, commit_ts_us=1_700_000_000_123_456, last_commit_lsn=1000, metadata=True)

CREATES_AND_UPDATES = [Insert(16384, ROW), Insert(16384, ODD), Update(16384, None, None, ROW),
                       Update(16384, None, None, TOASTED), Update(16384, "K", (ROW[0],) + (None,) * 9, ROW),
                       Update(16384, "O", ROW, ROW[:5] + (b"changed",) + ROW[6:])]
GENERAL = [Delete(16384, "K", (ROW[0],) + (None,) * 9), Delete(16384, "O", ROW),
           Insert(16384, TOASTED), Insert(16384, ODD[:3] + (b"NaN",) + ODD[4:]),  # not representable: warned
           Update(16384, "K", (b"9",) + (None,) * 9, ROW),  # a key change
           Update(16384, "O", ROW, ROW[:5] + (m.UNCHANGED_TOAST,) + ROW[6:])]  # FULL fills TOAST in

MODES = ["tombstone", "drop", "rewrite", "rewrite-with-tombstone", "delete-to-tombstone"]


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    """Both paths stamp the envelope's ts_ms/ts_us/ts_ns with the processing time: freeze it."""
    monkeypatch.setattr(events_module, "_time_ns", lambda: 1_750_000_000_987_654_321)


def unwrap(**options: str) -> tuple[str, str, dict[str, str]]:
    return "unwrap", UNWRAP, options


def builder(*steps, predicates: dict | None = None, **event_overrides) -> EventBuilder:
    return chain_builder(transform_props(*steps, **(predicates or {})), (REL, "srv.public.t"), **event_overrides)


def general(b: EventBuilder, msg, txn=TXN, lsn=4096) -> list[tuple]:
    return [tuple(r) for r in b.change(PgOutputDecoder(1).decode(encode(msg)), txn, lsn)]


def fast(b: EventBuilder, msg, txn=TXN, lsn=4096):
    raw = encode(msg)
    out = b.fast_change(b"\x00garbage" + raw + b"Wnext", 8, 8 + len(raw), txn, lsn)
    return None if out is None else [tuple(r) for r in out]


def all_same(b: EventBuilder, txn=TXN) -> list[list[tuple]]:
    """Every create and update takes the fast path with the general path's records; the rest
    is left to the general path."""
    out = []
    for lsn, msg in enumerate(CREATES_AND_UPDATES, 4096):
        got = fast(b, msg, txn, lsn)
        assert got is not None, f"{msg} left to the general path"
        assert got == general(b, msg, txn, lsn), msg
        out.append(got)
    for msg in GENERAL:
        assert fast(b, msg, txn) is None, msg
    return out


SCHEMAS = pytest.mark.parametrize("schemas", [True, False], ids=["schemas", "no-schemas"])


@SCHEMAS
@pytest.mark.parametrize("mode", MODES)
def test_every_delete_mode_with_fields_and_headers(mode, schemas):
    b = builder(unwrap(**{"delete.tombstone.handling.mode": mode, "add.fields": "op,table,lsn,source.ts_ms",
                          "add.headers": "db,op"}), key_schemas_enable=schemas, value_schemas_enable=schemas)
    records = all_same(b)
    all_same(b, FIRST_TXN)  # sequence [null, lsn]
    value = json.loads(records[0][0][2])
    payload = value["payload"] if schemas else value
    assert payload["__op"] == "c" and payload["__lsn"] == 4096 and payload["__table"] == "t"
    assert ("__deleted" in payload) == mode.startswith("rewrite")
    assert records[0][0][3][-2:] == [("__db", b"db"), ("__op", b"c")]


@SCHEMAS
@pytest.mark.parametrize("fields", ["", "op", "ts_ms,ts_us,ts_ns,op", "source.sequence,lsn,txId,snapshot,version",
                                    "db:DB,source.schema,name,connector,xmin,origin_lsn,source.ts_ns",
                                    "transaction.id,total_order,data_collection_order"])
def test_added_fields_of_every_kind(fields, schemas):
    b = builder(unwrap(**{"add.fields": fields, "add.fields.prefix": "m%_"}),
                key_schemas_enable=schemas, value_schemas_enable=schemas)
    all_same(b)


@pytest.mark.parametrize("headers", ["lsn", "op,ts_ms,source.sequence", "transaction.id,table"])
def test_headers_from_the_event_and_from_the_transaction(headers):
    b = builder(unwrap(**{"add.headers": headers, "add.headers.prefix": "h_", "add.fields": "op"}))
    all_same(b)
    all_same(b, META_TXN)  # transaction metadata on: the header carries the event's block


def test_transaction_fields_with_metadata_on_take_the_general_path():
    b = builder(unwrap(**{"add.fields": "op,transaction.id"}), provide_transaction_metadata=True)
    assert fast(b, Insert(16384, ROW), META_TXN) is None
    assert fast(b, Insert(16384, ROW), TXN) is not None  # a transaction without metadata
    # without transaction fields, metadata changes nothing unwrap writes
    all_same(builder(unwrap(**{"add.fields": "op,lsn"}), provide_transaction_metadata=True), META_TXN)


def test_regex_router_and_table_decided_predicates():
    # the live test's chains: RegexRouter gated by TopicNameMatches, and routers of tombstones
    # (RecordIsTombstone) and of a key change's old key (HasHeaderKey), which never apply here
    routed = builder(unwrap(), ("route", "RegexRouter", {"regex": "([^.]+)[.]([^.]+)[.]t", "replacement": "$1.t_v1",
                                                         "predicate": "only_t"}),
                     predicates={"only_t": {"type": "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
                                            "pattern": ".*[.]t"}})
    assert all_same(routed)[0][0][0] == "srv.t_v1"
    gated = builder(unwrap(**{"delete.tombstone.handling.mode": "rewrite-with-tombstone", "add.headers": "op,lsn"}),
                    ("tomb", "RegexRouter", {"regex": ".*", "replacement": "srv.tombstones", "predicate": "tombs"}),
                    ("keyed", "RegexRouter", {"regex": ".*", "replacement": "srv.rekeyed", "predicate": "rekeyed"}),
                    predicates={"tombs": {"type": "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone"},
                                "rekeyed": {"type": "org.apache.kafka.connect.transforms.predicates.HasHeaderKey",
                                            "name": "__debezium.newkey"}})
    assert all_same(gated)[0][0][0] == "srv.public.t"
    # a router before the unwrap, and one whose predicate is negated
    before = builder(("route", "RegexRouter", {"regex": "srv[.](.*)", "replacement": "x.$1"}), unwrap(),
                     ("back", "RegexRouter", {"regex": "x[.](.*)", "replacement": "y.$1", "predicate": "h",
                                              "negate": "true"}),
                     predicates={"h": {"type": "org.apache.kafka.connect.transforms.predicates.HasHeaderKey",
                                       "name": "absent"}})
    assert all_same(before)[0][0][0] == "y.public.t"


def test_a_step_that_applies_to_the_table_sends_it_the_general_way():
    insert = Insert(16384, ROW)
    header = ("hdr", "InsertHeader", {"header": "h", "value.literal": "v"})
    assert fast(builder(unwrap(), header), insert) is None
    assert fast(builder(("route", "RegexRouter", {"regex": ".*", "replacement": "r"})), insert) is None  # no unwrap
    assert fast(builder(unwrap(), unwrap()), insert) is None
    # gated off for this table: the fast path
    gated = builder(unwrap(), ("hdr", "InsertHeader", {"header": "h", "value.literal": "v", "predicate": "other"}),
                    predicates={"other": {"type": "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
                                          "pattern": "other"}})
    all_same(gated)
    # a step that makes the partition, even gated off: the chain's partitioner
    keyed = builder(unwrap(), ("part", "io.debezium.transforms.partitions.PartitionRouting",
                               {"partition.payload.fields": "id", "partition.topic.num": "2", "predicate": "other"}),
                    predicates={"other": {"type": "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
                                          "pattern": "other"}})
    assert fast(keyed, insert) is None


def test_an_added_field_named_as_a_column_or_deleted_takes_the_general_path():
    clash = builder(unwrap(**{"add.fields": "op:note", "add.fields.prefix": ""}))
    assert fast(clash, Insert(16384, ROW)) is None
    assert json.loads(general(clash, Insert(16384, ROW))[0][2])["payload"]["note"] == "c"  # replaced in place
    # named as `__deleted` in a rewrite mode: the template would write the name twice
    deleted = builder(unwrap(**{"delete.tombstone.handling.mode": "rewrite", "add.fields": "op:deleted"}))
    assert fast(deleted, Insert(16384, ROW)) is None
    assert json.loads(general(deleted, Insert(16384, ROW))[0][2])["payload"]["__deleted"] == "c"


def test_a_new_transaction_or_shape_renews_the_templates():
    b = builder(unwrap(**{"add.fields": "source.ts_ms,sequence,txId"}))
    all_same(b, TXN)
    all_same(b, FIRST_TXN)
    b.relation(Relation(16384, "public", "t", "d", REL.columns[:3]), TableInfo(("id",), frozenset({"id"})),
               "srv.public.t")
    insert = Insert(16384, ROW[:3])
    assert fast(b, insert) == general(b, insert)


# --- the worker: the same records reach Kafka ---------------------------------------------------


@pytest.mark.parametrize("props", [{}, {"bridge.partitioner": "murmur2"},
                                   {"debezium.source.provide.transaction.metadata": "true"}],
                         ids=["hash", "murmur2", "metadata"])
def test_worker_produces_the_same_records_either_way(props):
    chain = transform_props(unwrap(**{"delete.tombstone.handling.mode": "rewrite", "add.fields": "op,table,lsn"}),
                            ("route", "RegexRouter", {"regex": "(.*)", "replacement": "$1.events.v1"}))
    config = config_from_properties({**MINIMAL, "bridge.producers": "1", "debezium.source.topic.prefix": "p",
                                     "debezium.format.value.schemas.enable": "false", **chain, **props})
    router = Router(config.routing, lambda rel: TableInfo(("id",), frozenset({"id"})))
    router.handle(encode(REL), 10)
    router.handle(encode(m.Begin(4992, 1_700_000_000_000_000, 7)), 100)
    for i, change in enumerate([*CREATES_AND_UPDATES, *GENERAL]):
        router.handle(encode(change), 200 + i)
    router.handle(encode(m.Commit(0, 4992, 5000, 1_700_000_000_000_000)), 5000)
    batch = bytes(router.builders[0].buffer)

    fast_ones = []

    def produced(use_fast: bool) -> list[tuple]:
        sink = RecordingSink()
        worker = ProducerWorker(config.producer_spec, sink, TypeRegistry(), run_id="run")
        fast_change = worker._fast_change
        worker._fast_change = lambda *args: fast_ones.append(fast_change(*args)) or fast_ones[-1] if use_fast else None
        worker.handle_batch(memoryview(batch))
        assert worker.tracker.safe_lsn() == 5000
        return sink.records

    records = produced(True)
    assert records == produced(False)
    assert sum(out is not None for out in fast_ones) == len(CREATES_AND_UPDATES)
    # creates and updates, then deletes with __deleted (their tombstones dropped), a key change's two
    assert len([r for r in records if r[0] == "p.public.t.events.v1"]) == 13
