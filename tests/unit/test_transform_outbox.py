"""Debezium's outbox EventRouter (`bridge.transform.outbox`) on the records `EventBuilder`
builds, and the routing by table its chain asks for. No servers;
tests/integration/test_live_transforms_debezium.py compares with the running Debezium."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest

from bridge.config import config_from_properties
from bridge.errors import ConfigError
from bridge.pgoutput import messages as m
from bridge.pgoutput.protocol import PgOutputDecoder
from bridge.produce.events import TxnContext
from bridge.route import spec
from bridge.transform.outbox.json_payload import JsonPayloads, PayloadError
from tests.pgoutput_encoder import encode
from tests.unit.builders import MINIMAL, chain_builder, make_router, txn

T = "debezium.transforms"
TXN = TxnContext(xid=700, commit_ts_us=1_700_000_000_123_456, last_commit_lsn=1000)
ROUTER = "io.debezium.transforms.outbox.EventRouter"
# public.outbox: id (key), aggregatetype, aggregateid, type, payload jsonb, part int4
OUTBOX = m.Relation(16400, "public", "outbox", "d", (
    m.RelationColumn(True, "id", 23, -1), m.RelationColumn(False, "aggregatetype", 25, -1),
    m.RelationColumn(False, "aggregateid", 25, -1), m.RelationColumn(False, "type", 25, -1),
    m.RelationColumn(False, "payload", 3802, -1), m.RelationColumn(False, "part", 23, -1)))
TABLE = ((OUTBOX, "srv.public.outbox"),)


def outbox(**options: str) -> dict[str, str]:
    return {T: "outbox", f"{T}.outbox.type": ROUTER, **{f"{T}.outbox.{k}": v for k, v in options.items()}}


def row(id_=1, kind=b"Order", key=b"o-1", payload=b'{"a": 1}', part=b"2"):
    return m.Insert(16400, (str(id_).encode(), kind, key, b"Created", payload, part))


def change(b, msg, lsn=4096) -> list:
    return b.change(PgOutputDecoder(1).decode(encode(msg)), TXN, lsn)


def doc(raw):
    return None if raw is None else json.loads(raw)


def test_defaults_route_by_aggregatetype_key_by_aggregateid_and_value_the_payload():
    b = chain_builder(outbox(), *TABLE)
    [r] = change(b, row())
    assert r.topic == "outbox.event.Order"
    assert doc(r.key) == {"schema": {"type": "string", "optional": True}, "payload": "o-1"}
    assert doc(r.value) == {"schema": {"type": "string", "optional": True, "name": "io.debezium.data.Json",
                                       "version": 1}, "payload": '{"a": 1}'}
    assert r.headers[:-1] == b.headers and r.headers[-1] == ("id", b"1")
    assert r.partition is None


def test_deletes_tombstones_and_updates_are_dropped_fatal_fails():
    b = chain_builder(outbox(), *TABLE)
    assert change(b, m.Delete(16400, "K", (b"1", None, None, None, None, None))) == []
    update = m.Update(16400, None, None, (b"1", b"Order", b"o-1", b"Created", b"{}", b"2"))
    assert change(b, update) == []
    with pytest.raises(Exception, match="unexpected update"):
        change(chain_builder(outbox(**{"table.op.invalid.behavior": "fatal"}), *TABLE), update)


def test_additional_placement_header_envelope_partition_with_aliases():
    b = chain_builder(outbox(**{"table.fields.additional.placement": "type:header:eventType,type:envelope:kind,"
                                                                     "part:partition,aggregateid:envelope"}), *TABLE)
    [r] = change(b, row())
    assert r.headers[-2:] == [("id", b"1"), ("eventType", b"Created")]
    assert r.partition == 2
    value = doc(r.value)
    assert value["payload"] == {"payload": '{"a": 1}', "kind": "Created", "aggregateid": "o-1"}
    assert value["schema"]["name"] == "srv.public.outbox.Order.Value" and value["schema"]["optional"] is False
    assert [f["field"] for f in value["schema"]["fields"]] == ["payload", "kind", "aggregateid"]
    # Debezium caches the value schema by the payload's schema: another aggregate type keeps the first name
    [r2] = change(b, row(2, kind=b"Customer"))
    assert r2.topic == "outbox.event.Customer"
    assert doc(r2.value)["schema"]["name"] == "srv.public.outbox.Order.Value"


def test_missing_additional_column_fails_or_is_ignored():
    with pytest.raises(Exception, match="unable to find field nope"):
        change(chain_builder(outbox(**{"table.fields.additional.placement": "nope:header"}), *TABLE), row())
    b = chain_builder(outbox(**{"table.fields.additional.placement": "nope:header,type:envelope",
                                "table.field.additional.missing": "ignore"}), *TABLE)
    [r] = change(b, row())
    assert r.headers[-1] == ("id", b"1") and doc(r.value)["payload"] == {"payload": '{"a": 1}', "type": "Created"}


def test_expanded_json_payload():
    b = chain_builder(outbox(**{"table.expand.json.payload": "true"}), *TABLE)
    [r] = change(b, row(payload=b'{"n": 1, "big": 3000000000, "f": 1.5, "s": "x", "z": null, "e": [], '
                                b'"o": {"t": true}, "l": [{"a": 1}, {"a": 2, "b": "y"}], "p": [1, 2]}'))
    value = doc(r.value)
    opt = {"optional": True}
    assert value["schema"] == {"type": "struct", "fields": [
        {"type": "int32", **opt, "field": "n"}, {"type": "int64", **opt, "field": "big"},
        {"type": "double", **opt, "field": "f"}, {"type": "string", **opt, "field": "s"},
        {"type": "struct", "fields": [{"type": "boolean", **opt, "field": "t"}], **opt, "name": "payload.o",
         "field": "o"},
        {"type": "array", "items": {"type": "struct", "fields": [{"type": "int32", **opt, "field": "a"},
                                                                 {"type": "string", **opt, "field": "b"}],
                                    "optional": False, "name": "payload.l"}, **opt, "field": "l"},
        {"type": "array", "items": {"type": "int32", **opt}, **opt, "field": "p"}],
        **opt, "name": "payload"}
    assert value["payload"] == {"n": 1, "big": 3000000000, "f": 1.5, "s": "x", "o": {"t": True},
                                "l": [{"a": 1, "b": None}, {"a": 2, "b": "y"}], "p": [1, 2]}


def test_json_expansion_edge_cases():
    plain, wide = JsonPayloads(False, False), JsonPayloads(True, True)
    assert plain.expand("payload", ' {"a": 1}') is None  # not starting with { or [: kept as a string
    assert plain.expand("payload", '{"a": [1, "x"]}') is None  # not a homogenous array
    assert plain.expand("payload", '{"a": [1, 3000000000]}') is None  # int32 and int64 mixed
    assert plain.expand("payload", '{"a": NaN}') is None
    schema, value = wide.expand("payload", '{"z": null, "e": []} trailing')
    assert schema["fields"] == [{"type": "bytes", "optional": True, "field": "z"},
                                {"type": "array", "items": {"type": "string", "optional": True}, "optional": True,
                                 "field": "e"}]
    assert value == {"z": None, "e": []}
    with pytest.raises(PayloadError):
        plain.expand("payload", "[1, 2]")  # Debezium infers an array, then fails to fill a struct
    with pytest.raises(PayloadError):
        plain.expand("payload", '{"a": 100000000000000000000}')
    # an integer beyond int64 fails only once the whole payload is inferred (else it stays a string)
    assert plain.expand("payload", '{"a": [100000000000000000000], "b": [1, "x"]}') is None


def test_expanded_payloads_of_one_shape_share_one_schema_object():
    payloads = JsonPayloads(False, False)
    first, one = payloads.expand("payload", '{"id": 1, "lines": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}]}')
    second, other = payloads.expand("payload", '{"id": 2, "lines": [{"sku": "c", "qty": 3}]}')
    # the same shape: the very same schema (what later steps and the writers cache by)
    assert second is first and one["lines"][1] == {"sku": "b", "qty": 2} and other["id"] == 2
    third, _ = payloads.expand("payload", '{"id": 2.5, "lines": []}')  # another shape, another schema
    assert third is not first and third["fields"] == [{"type": "double", "optional": True, "field": "id"}]
    # elements of two shapes: merged, each value filled to the merged struct
    merged, value = payloads.expand("payload", '{"l": [{"a": 1}, {"b": "x"}, null]}')
    assert [f["field"] for f in merged["fields"][0]["items"]["fields"]] == ["a", "b"]
    assert value == {"l": [{"a": 1, "b": None}, {"a": None, "b": "x"}, None]}


def test_route_options_version_and_tombstone_on_empty_payload():
    b = chain_builder(outbox(**{"route.by.field": "type", "route.topic.regex": "(?<kind>Cr.*)",
                                "route.topic.replacement": "events.${kind}.v1", "table.field.event.key": "part",
                                "table.field.event.schema.version": "part",
                                "table.fields.additional.placement": "type:envelope",
                                "route.tombstone.on.empty.payload": "true"}), *TABLE)
    [r] = change(b, row())
    assert r.topic == "events.Created.v1" and doc(r.key)["payload"] == 2
    assert doc(r.value)["schema"]["version"] == 2
    [tomb] = change(b, row(2, payload=None))
    assert tomb.value is None and tomb.topic == "events.Created.v1"
    [blank] = change(chain_builder(outbox(**{"route.tombstone.on.empty.payload": "true"}), *TABLE),
                     row(3, payload=b'"  "'))
    assert doc(blank.value)["payload"] == '"  "'  # a JSON string is not blank text


@pytest.mark.parametrize("options, message", [
    ({"table.op.invalid.behavior": "explode"}, "table.op.invalid.behavior=explode is invalid"),
    ({"table.fields.additional.placement": "a:b:c:d"}, "table.fields.additional.placement"),
    ({"table.fields.additional.placement": "a:somewhere"}, "table.fields.additional.placement"),
    ({"table.expand.json.payload": "maybe"}, "table.expand.json.payload"),
    ({"route.topic.regex": "("}, "route.topic.regex"),
])
def test_invalid_options_are_refused(options, message):
    from bridge.format.converter import converters_for
    from bridge.transform.chain import compile_chain
    from tests.unit.builders import events
    with pytest.raises(ConfigError, match=message):
        ev = events()
        compile_chain(config_from_properties({**MINIMAL, **outbox(**options)}).chain, converters_for(ev),
                      ev.header_format)


def test_a_chain_with_event_router_routes_every_row_of_a_table_to_one_producer():
    # GIVEN routers over 4 producers without and with the outbox step, and 40 outbox rows
    keyed, by_table = make_router(4), make_router(4, **outbox())
    for router in (keyed, by_table):
        txn(router, 5000, [OUTBOX, *(row(i) for i in range(1, 41))])

    # THEN by key the rows spread over the producers; by table they all go to one
    def holders(router) -> set[int]:
        return {i for i, b in enumerate(router.builders) if b"Order" in bytes(b.buffer)}

    assert len(holders(keyed)) > 1
    assert len(holders(by_table)) == 1
    assert config_from_properties({**MINIMAL, **outbox()}).routing.by_table
    assert not config_from_properties(MINIMAL).routing.by_table


def test_one_aggregates_events_share_the_partition_of_their_key():
    # GIVEN a producer (3 partitions a topic) with the outbox step, and events of two aggregates
    from bridge.convert.types import TypeRegistry
    from bridge.produce.worker import ProducerWorker
    from bridge.route.partitioner import java_default_partition
    from bridge.route.router import Router
    from bridge.source.catalog import TableInfo
    from tests.fakes import RecordingSink

    config = config_from_properties({**MINIMAL, "bridge.producers": "1", **outbox()})
    router = Router(config.routing, lambda rel: TableInfo(("id",), frozenset({"id"})))
    sink = RecordingSink()
    worker = ProducerWorker(config.producer_spec, sink, TypeRegistry(), run_id="run")
    txn(router, 5000, [OUTBOX, *(row(i, key=b"o-%d" % (i % 2)) for i in range(10))])
    worker.handle_batch(memoryview(bytes(router.builders[0].buffer)))
    # THEN each record's partition is Kafka's default partitioner's for its key (not the row's key)
    assert len(sink.records) == 10
    assert all(r[3] == java_default_partition(r[1], 3) for r in sink.records)
    assert len({r[3] for r in sink.records if b"o-0" in r[1]}) == 1


def test_the_event_timestamp_column_is_refused_naming_the_key():
    with pytest.raises(ConfigError, match=r"debezium\.transforms\.outbox\.table\.field\.event\.timestamp"):
        config_from_properties({**MINIMAL, **outbox(**{"table.field.event.timestamp": "ts"})})


def test_routing_by_table_covers_key_changes_and_snapshot_rows():
    # GIVEN a router over 4 producers with the outbox step
    router = make_router(4, **outbox())
    txn(router, 5000, [OUTBOX])
    for b in router.builders:
        b.buffer.clear()
    # WHEN keys change and snapshot rows arrive, for many keys
    changes = [m.Update(16400, "K", (str(i).encode(), None, None, None, None, None),
                        (str(i + 100).encode(), b"Order", b"o", b"Moved", None, b"1")) for i in range(20)]
    txn(router, 6000, changes)
    router.handle(encode(m.Begin(6992, 0, 9)), 6900)
    for i in range(20):
        router.snapshot_row(encode(row(200 + i)), 6950, 0)
    # THEN every record (both halves of each key change, the snapshot rows) went to one producer
    assert len([i for i, b in enumerate(router.builders) if b"Moved" in bytes(b.buffer)
                or b"Created" in bytes(b.buffer)]) == 1


def test_routing_by_table_changes_the_fingerprint_only_when_set():
    plain, outboxed = config_from_properties(MINIMAL).routing, config_from_properties({**MINIMAL, **outbox()}).routing
    assert plain.fingerprint() != outboxed.fingerprint()
    # the fingerprint of a spec without routing by table (nor a table-less outbox) is the one
    # earlier versions computed
    fields = tuple((f.name, spec._canonical(getattr(plain, f.name))) for f in dataclasses.fields(plain)
                   if f.name not in ("by_table", "outbox"))
    assert plain.fingerprint() == hashlib.sha1(repr(("RoutingSpec", fields)).encode()).hexdigest()[:16]


@pytest.mark.parametrize("steps, by_table", [
    ((("k", "ValueToKey", {"fields": "v"}),), True),
    ((("k", "ExtractField$Key", {"field": "id"}),), True),
    ((("k", "ExtractField$Value", {"field": "after"}),), False),
    ((("r", "RegexRouter", {"regex": "x", "replacement": "y"}),), False),
    ((("p", "io.debezium.transforms.partitions.PartitionRouting",
       {"partition.payload.fields": "after.v", "partition.topic.num": "2"}),), True),
    ((("l", "io.debezium.transforms.ByLogicalTableRouter", {"topic.regex": "x", "topic.replacement": "y"}),), False),
])
def test_which_chains_route_by_table(steps, by_table):
    from tests.unit.builders import transform_props
    assert config_from_properties({**MINIMAL, **transform_props(*steps)}).routing.by_table is by_table


def test_errors_tolerance_all_skips_an_event_the_router_fails_on():
    # GIVEN a chain failing on updates (fatal), compiled as with errors.tolerance=all
    from bridge.format.converter import converters_for
    from bridge.transform.chain import compile_chain
    from bridge.transform.record import ConnectRecord
    from tests.unit.builders import events
    ev = events()
    spec = config_from_properties({**MINIMAL, **outbox(**{"table.op.invalid.behavior": "fatal"})}).chain
    envelope = {"name": "srv.public.outbox.Envelope", "type": "struct", "fields": [], "optional": False}
    update = ConnectRecord("srv.public.outbox", None, None, envelope, {"op": "u", "after": {}}, [])
    # THEN the record is skipped; without tolerance the failure stops the producer
    assert compile_chain(spec, converters_for(ev), ev.header_format, tolerate=True).run(update) is None
    with pytest.raises(Exception, match="unexpected update"):
        compile_chain(spec, converters_for(ev), ev.header_format).run(update)
