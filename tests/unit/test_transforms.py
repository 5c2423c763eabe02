"""The transform chain (`bridge.transform.chain`): its keys, ExtractNewRecordState, RegexRouter
and the predicates, on the records `EventBuilder` builds. No servers;
tests/integration/test_live_transforms.py compares with the running Debezium."""

from __future__ import annotations

import json

import pytest

from bridge.config import config_from_properties
from bridge.convert.options import ConversionOptions
from bridge.convert.types import TypeRegistry
from bridge.errors import ConfigError
from bridge.format.converter import converters_for
from bridge.pgoutput import messages as m
from bridge.pgoutput.protocol import PgOutputDecoder
from bridge.produce.events import EventBuilder, TxnContext
from bridge.produce.heartbeat import Heartbeat
from bridge.source.catalog import TableInfo
from bridge.transform.chain import compile_chain, side_capturing
from bridge.transform.router import python_replacement
from tests.fakes import FakeConnection
from tests.pgoutput_encoder import encode
from tests.unit.builders import MINIMAL, REL, events, pipeline, run_batch, txn

T = "debezium.transforms"
TXN = TxnContext(xid=700, commit_ts_us=1_700_000_000_123_456, last_commit_lsn=1000)
UNWRAP = "io.debezium.transforms.ExtractNewRecordState"
ROUTER = "org.apache.kafka.connect.transforms.RegexRouter"


def chain_of(**props: str):
    return config_from_properties({**MINIMAL, **props}).chain


def builder(chain_props: dict[str, str] | None, **event_overrides) -> EventBuilder:
    ev = events(**event_overrides)
    chain = compile_chain(chain_of(**chain_props), converters_for(ev), ev.header_format) if chain_props else None
    b = EventBuilder(ev, ConversionOptions(), TypeRegistry(FakeConnection({})), "db", run_id="run-1", chain=chain)
    b.relation(REL, TableInfo(("id",), frozenset({"id"})), "srv.public.t")
    return b


def change(b: EventBuilder, msg, lsn=4096) -> list[tuple]:
    return [tuple(r) for r in b.change(PgOutputDecoder(1).decode(encode(msg)), TXN, lsn)]


INSERT = m.Insert(16384, (b"1", b"a"))
DELETE = m.Delete(16384, "K", (b"1", None))
KEY_CHANGE = m.Update(16384, "K", (b"1", None), (b"2", b"b"))


def doc(raw):
    return None if raw is None else json.loads(raw)


def unwrap(**options: str) -> dict[str, str]:
    return {T: "unwrap", f"{T}.unwrap.type": UNWRAP, **{f"{T}.unwrap.{k}": v for k, v in options.items()}}


# --- ExtractNewRecordState ----------------------------------------------------------------------


def test_unwrap_by_default_gives_the_row_and_turns_a_delete_into_a_null_payload():
    plain, b = builder(None), builder(unwrap())
    # an insert: the `after` row, with the Value schema (optional) and the same key and headers
    [(topic, key, value, headers)] = change(b, INSERT)
    [(p_topic, p_key, p_value, p_headers)] = change(plain, INSERT)
    assert (topic, key, headers) == (p_topic, p_key, p_headers)
    envelope = doc(p_value)
    row_schema = {k: v for k, v in envelope["schema"]["fields"][1].items() if k != "field"}
    # the row's schema, rebuilt by add.fields (which Debezium runs with no fields too): required
    assert doc(value) == {"schema": {**row_schema, "optional": False}, "payload": {"id": 1, "v": "a"}}
    assert row_schema["optional"] is True and row_schema["name"] == "srv.public.t.Value"
    # a delete: a null payload with `after`'s schema, optional (`tombstone` mode); its tombstone dropped
    [(_, d_key, d_value, _)] = change(b, DELETE)
    assert d_key == p_key and doc(d_value) == {"schema": row_schema, "payload": None}


def test_unwrap_drops_truncates_keeps_snapshot_rows_and_writes_creates_on_its_fast_path():
    b = builder(unwrap(**{"add.fields": "op,snapshot"}))
    assert b.truncate(16384, TXN, 5000) is None
    payload = doc(b.snapshot_row(INSERT, TXN, 5000, "last").value)["payload"]
    assert payload == {"id": 1, "v": "a", "__op": "r", "__snapshot": "last"}
    raw = encode(INSERT)
    # a create: the unwrap fast path (`bridge.produce.unwrapped`), the general path's bytes
    fast = b.fast_change(b"\x00" + raw, 1, 1 + len(raw), TXN, 4096)
    assert fast is not None and [tuple(r) for r in fast] == change(b, INSERT)
    assert doc(fast[0][2])["payload"] == {"id": 1, "v": "a", "__op": "c", "__snapshot": "false"}
    plain = builder(None)
    assert plain.fast_change(b"\x00" + raw, 1, 1 + len(raw), TXN, 4096) is not None  # no chain: the fast path
    # a delete: the general path
    raw = encode(DELETE)
    assert b.fast_change(b"\x00" + raw, 1, 1 + len(raw), TXN, 4096) is None


def test_unwrap_rewrite_adds_deleted_fields_and_headers_as_debezium_does():
    b = builder(unwrap(**{"delete.tombstone.handling.mode": "rewrite", "add.fields": "op,table,lsn,source.ts_ms",
                          "add.headers": "db"}))
    [(_, _, value, headers)] = change(b, INSERT, lsn=4096)
    got = doc(value)
    assert got["payload"] == {"id": 1, "v": "a", "__deleted": "false", "__op": "c", "__table": "t",
                              "__lsn": 4096, "__source_ts_ms": 1_700_000_000_123}
    fields = got["schema"]["fields"]
    assert got["schema"]["optional"] is False and got["schema"]["name"] == "srv.public.t.Value"
    assert fields[2:] == [{"type": "string", "optional": True, "field": "__deleted"},
                          {"type": "string", "optional": True, "field": "__op"},
                          {"type": "string", "optional": True, "field": "__table"},
                          {"type": "int64", "optional": True, "field": "__lsn"},
                          {"type": "int64", "optional": True, "field": "__source_ts_ms"}]
    assert headers[-1] == ("__db", b"db") and headers[:-1] == b.headers
    # a delete: the `before` row with __deleted "true"; Debezium's tombstone dropped
    [(_, _, d_value, d_headers)] = change(b, DELETE)
    assert doc(d_value)["payload"] == {"id": 1, "v": None, "__deleted": "true", "__op": "d", "__table": "t",
                                       "__lsn": 4096, "__source_ts_ms": 1_700_000_000_123}
    assert d_headers[-1] == ("__db", b"db")


def test_unwrap_field_renames_prefixes_and_op_header_on_tombstones():
    b = builder(unwrap(**{"delete.tombstone.handling.mode": "rewrite-with-tombstone",
                          "add.fields": "source.db:DB,ts_ms", "add.fields.prefix": "m_",
                          "add.headers": "op", "add.headers.prefix": "h_"}))
    [(_, _, value, _)] = change(b, INSERT)
    payload = doc(value)["payload"]
    assert payload["m_DB"] == "db" and isinstance(payload["m_ts_ms"], int)
    delete, tombstone = change(b, DELETE)
    assert doc(delete[2])["payload"]["__deleted"] == "true" and delete[3][-1] == ("h_op", b"d")
    assert tombstone[2] is None and tombstone[3][-1] == ("h_op", b"d")  # kept; `op` is "d" on a tombstone


def test_unwrap_drop_and_delete_to_tombstone():
    assert change(builder(unwrap(**{"delete.tombstone.handling.mode": "drop"})), DELETE) == []
    [(_, key, value, _)] = change(builder(unwrap(**{"delete.tombstone.handling.mode": "delete-to-tombstone"})),
                                  DELETE)
    assert key is not None and value is None  # a true tombstone


def test_unwrap_on_a_key_change_keeps_the_key_headers():
    delete, create = change(builder(unwrap()), KEY_CHANGE)
    assert delete[3][0][0] == "__debezium.newkey" and doc(delete[2])["payload"] is None
    assert create[3][0][0] == "__debezium.oldkey" and doc(create[2])["payload"] == {"id": 2, "v": "b"}


# --- RegexRouter and the predicates -------------------------------------------------------------


def test_regex_router_gated_by_topic_name_matches():
    props = {**unwrap(), T: "unwrap,route", f"{T}.route.type": ROUTER,
             f"{T}.route.regex": r"([^.]+)\.([^.]+)\.([^.]+)", f"{T}.route.replacement": "$3.events.v1",
             f"{T}.route.predicate": "mine", "debezium.predicates": "mine",
             "debezium.predicates.mine.type": "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
             "debezium.predicates.mine.pattern": r"srv\.public\..*"}
    [(topic, _, _, _)] = change(builder(props), INSERT)
    assert topic == "t.events.v1"
    [(topic, _, _, _)] = change(builder({**props, f"{T}.route.negate": "true"}), INSERT)
    assert topic == "srv.public.t"


def test_record_is_tombstone_and_has_header_key_gate_steps():
    p = "org.apache.kafka.connect.transforms.predicates."
    props = {T: "route", f"{T}.route.type": ROUTER, f"{T}.route.regex": ".*", f"{T}.route.replacement": "dead",
             f"{T}.route.predicate": "tomb", "debezium.predicates": "tomb,key",
             "debezium.predicates.tomb.type": p + "RecordIsTombstone",
             "debezium.predicates.key.type": p + "HasHeaderKey", "debezium.predicates.key.name": "__debezium.newkey"}
    delete, tombstone = change(builder(props), DELETE)
    assert (delete[0], tombstone[0]) == ("srv.public.t", "dead")
    props[f"{T}.route.predicate"] = "key"
    assert [r[0] for r in change(builder(props), KEY_CHANGE)] == ["dead", "dead", "srv.public.t"]


@pytest.mark.parametrize("java, topic, regex, expected", [
    ("$1", "a.b", r"(\w)\.(\w)", "a"), ("${x}-$2", "a.b", r"(?P<x>\w)\.(\w)", "a-b"),
    (r"\$1", "a.b", r"(\w)\.(\w)", "$1"), (r"x\\y", "a", "a", "x\\y"),
])
def test_java_replacement_syntax(java, topic, regex, expected):
    import re
    assert re.fullmatch(regex, topic).expand(python_replacement(java)) == expected


def test_side_records_pass_unwrap_and_take_the_routers_topic():
    # GIVEN unwrap then a router of every topic, and a record that is not a change event (a
    # heartbeat, built as Connect values for the chain)
    ev = events()
    props = {**unwrap(**{"add.headers": "op"}), T: "unwrap,route", f"{T}.route.type": ROUTER,
             f"{T}.route.regex": "(.*)", f"{T}.route.replacement": "$1.x"}
    chain = compile_chain(chain_of(**props), converters_for(ev), ev.header_format)
    plain, captured = Heartbeat(ev).record(5), Heartbeat(ev, side_capturing(converters_for(ev))).record(5)
    # THEN unwrap passes it on unchanged (no headers added) and the router renames it
    assert chain.side(*captured) == ("__debezium-heartbeat.srv.x", plain.key, plain.value, None)


def test_a_producer_runs_the_chain_over_rows_and_transaction_metadata():
    # GIVEN a producer with transaction metadata and a chain renaming every topic, and one row
    router, worker, sink = pipeline(**{**unwrap(), T: "unwrap,route", f"{T}.route.type": ROUTER,
                                       f"{T}.route.regex": r"p[.](.*)", f"{T}.route.replacement": "q.$1",
                                       "debezium.source.provide.transaction.metadata": "true"})
    txn(router, 5000, [REL, INSERT])
    run_batch(router, worker)
    # THEN every record takes the new topic (BEGIN, the unwrapped row, END)
    assert [r[0] for r in sink.records] == ["q.transaction", "q.public.t", "q.transaction"]
    assert sink.records[1][2]["payload"] == {"id": 1, "v": "a"}
    assert sink.records[0][2]["payload"]["status"] == "BEGIN"


def test_a_delete_and_its_tombstone_share_the_headers_unwrap_adds():
    b = builder(unwrap(**{"delete.tombstone.handling.mode": "rewrite-with-tombstone", "add.headers": "op,lsn"}))
    delete, tombstone = change(b, DELETE, lsn=5000)
    assert delete[3][-2:] == [("__op", b"d"), ("__lsn", b"5000")]
    # Debezium's tombstone shares the delete's headers: theirs, then its own `op`
    assert tombstone[3][-3:] == [("__op", b"d"), ("__lsn", b"5000"), ("__op", b"d")]
    assert b.headers[-1][0] == "__debezium.context.runId"  # the run's headers are left alone
    [(_, _, _, headers)] = change(b, INSERT)
    assert headers[-2:] == [("__op", b"c"), ("__lsn", b"4096")]


# --- the keys -----------------------------------------------------------------------------------


@pytest.mark.parametrize("props, words", [
    ({T: "f", f"{T}.f.type": "com.example.MyTransform"},
     "transform 'f' (debezium.transforms.f.type=com.example.MyTransform) is not supported"),
    ({**unwrap(**{"drop.tombstones": "true"})}, "drop.tombstones is refused: removed in Debezium 3.0"),
    ({**unwrap(**{"delete.handling.mode": "rewrite"})}, "delete.handling.mode is refused: removed in Debezium 3.0"),
    ({**unwrap(**{"replace.null.with.default": "yes"})}, "replace.null.with.default='yes' is invalid"),
    ({**unwrap(**{"drop.fields.from.key": "1"})}, "drop.fields.from.key='1' is invalid"),
    ({**unwrap(**{"delete.tombstone.handling.mode": "none"})}, "delete.tombstone.handling.mode is invalid"),
    ({**unwrap(**{"add.fields": "before"})}, "is a struct: Debezium fails every record with it"),
    ({**unwrap(**{"add.fields": "row.x"})}, "names the struct 'row'"),
    ({**unwrap(), f"{T}.unwrap.predicate": "p"}, "no such predicate"),
    ({T: "r", f"{T}.r.type": ROUTER, f"{T}.r.regex": "x"}, "debezium.transforms.r.replacement is missing"),
    ({**unwrap(), "debezium.format.value": "cloudevents"}, "other than JsonConverter"),
    ({"debezium.predicates": "p", "debezium.predicates.p.type": "x.Y"}, "predicate 'p'"),
])
def test_what_pgbridge_does_not_run_is_refused_naming_it(props, words):
    with pytest.raises(ConfigError, match=None) as err:
        config_from_properties({**MINIMAL, **props})
    assert words in str(err.value)


def test_drop_tombstones_false_asks_for_what_debezium_3_does():
    cfg = config_from_properties({**MINIMAL, **unwrap(**{"drop.tombstones": "false"})})
    assert "debezium.transforms.unwrap.drop.tombstones" in [v.key for v in cfg.keys.honoured]


def test_chain_keys_are_honoured():
    config = config_from_properties({**MINIMAL, **unwrap(**{"add.fields": "op"})})
    honoured = {v.key for v in config.keys.honoured}
    assert {T, f"{T}.unwrap.type", f"{T}.unwrap.add.fields"} <= honoured
    assert [s.alias for s in config.chain.steps] == ["unwrap"]
