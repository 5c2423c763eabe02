"""A table-less outbox (`bridge.transform.outbox.messages`, `bridge.outbox.message.prefix`):
messages become the outbox rows their JSON spells, routed by event key. The equality with an
outbox table's records runs against the real services (test_live_transforms_more.py)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from bridge.config import config_from_properties
from bridge.errors import ConfigError
from bridge.pgoutput import messages as m
from bridge.transform.kafka.structs import TransformFailed
from bridge.transform.outbox.messages import OutboxMessages, jsonb_text
from tests.unit.builders import MINIMAL, make_router, transform_props, txn

ROUTER = "io.debezium.transforms.outbox.EventRouter"
PREFIX = {"bridge.outbox.message.prefix": "public.outbox"}


@pytest.mark.parametrize("text, jsonb", [
    ('{"zeta": 1, "b": [1, 2.50, 1e2, -0.0], "aa": {"y": null, "x": true}, "b": "last"}',
     '{"b": "last", "aa": {"x": true, "y": null}, "zeta": 1}'),
    ('[1.5E-1, "é\\n\\u0001", {}]', '[0.15, "é\\n\\u0001", {}]'),
    ('{"b": [1, 2.50, 1e2, -0.0]}', '{"b": [1, 2.50, 100, 0.0]}'),
])
def test_payloads_are_written_as_postgresql_writes_jsonb(text, jsonb):
    assert jsonb_text(json.loads(text, parse_float=Decimal)) == jsonb


def test_a_message_is_the_create_event_of_the_outbox_row_it_spells():
    builder = OutboxMessages("public.outbox", "p.public.outbox", "p", "db", "id", "payload", [("h", b"1")])
    content = json.dumps({"id": "6F1C1E0A-0000-4000-8000-000000000001", "aggregatetype": "Order",
                          "aggregateid": "o-1", "type": "Created", "n": 3, "big": 2**40, "ok": True,
                          "payload": {"b": 1, "a": [1]}}).encode()
    topic, (key_schema, key), (envelope, value), headers = builder.event(content, 7, 1_000_000, 40, 48)
    assert topic == "p.public.outbox" and headers == [("h", b"1")]
    assert envelope["name"] == "p.public.outbox.Envelope" and value["op"] == "c" and value["before"] is None
    row = next(f for f in envelope["fields"] if f["field"] == "after")
    assert row["name"] == "p.public.outbox.Value"
    assert {f["field"]: (f["type"], f["optional"], f.get("name")) for f in row["fields"]} == {
        "id": ("string", False, "io.debezium.data.Uuid"), "aggregatetype": ("string", False, None),
        "aggregateid": ("string", False, None), "type": ("string", False, None), "n": ("int32", False, None),
        "big": ("int64", False, None), "ok": ("boolean", False, None),
        "payload": ("string", True, "io.debezium.data.Json")}
    assert value["after"]["id"] == "6f1c1e0a-0000-4000-8000-000000000001"
    assert value["after"]["payload"] == '{"a": [1], "b": 1}'
    assert key_schema["name"] == "p.public.outbox.Key" and key == {"id": "6f1c1e0a-0000-4000-8000-000000000001"}
    assert (value["source"]["schema"], value["source"]["table"], value["source"]["txId"]) == ("public", "outbox", 7)
    # the same members give the same schemas (built once)
    assert builder.event(content, 8, 2_000_000, 48, 56)[2][0] is envelope


@pytest.mark.parametrize("content", [b"not json", b"[1, 2]"])
def test_content_that_is_not_a_json_object_fails_the_event(content):
    builder = OutboxMessages("o", "p.o", "p", "db", "id", "payload", [])
    with pytest.raises(TransformFailed, match="outbox message"):
        builder.event(content, 7, 0, None, 1)


@pytest.mark.parametrize("props, words", [
    (PREFIX, "needs a message prefix and one io.debezium.transforms.outbox.EventRouter"),
    ({**PREFIX, **transform_props(("a", ROUTER, {}), ("b", ROUTER, {}))}, "(it has 2)"),
    ({"bridge.outbox.message.prefix": "", **transform_props(("a", ROUTER, {}))}, "needs a message prefix"),
    ({**PREFIX, **transform_props(("a", ROUTER, {})), "debezium.source.message.prefix.include.list": "audit"},
     "leave these messages out"),
])
def test_a_prefix_without_its_event_router_or_its_messages_is_refused(props, words):
    with pytest.raises(ConfigError, match="bridge.outbox.message.prefix") as err:
        config_from_properties({**MINIMAL, **props})
    assert words in str(err.value)


def test_outbox_messages_go_to_producers_by_event_key_other_messages_by_prefix():
    props = {**PREFIX, **transform_props(("a", ROUTER, {"table.field.event.key": "agg"}))}
    assert config_from_properties({**MINIMAL, **props}).routing.outbox == ("public.outbox", "agg")
    router = make_router(producers=4, **props)
    items = [m.LogicalMessage(True, 100 + i, "public.outbox", json.dumps({"agg": f"a{i % 8}"}).encode())
             for i in range(16)]
    items += [m.LogicalMessage(True, 200 + i, "audit", json.dumps({"agg": f"z{i}"}).encode()) for i in range(4)]
    txn(router, 1000, items)
    owners: dict[str, set[int]] = {}
    for producer, builder in enumerate(router.builders):
        buffer = bytes(builder.buffer)
        for i in range(8):
            if f'"a{i}"'.encode() in buffer and b"public.outbox" in buffer:
                owners.setdefault(f"a{i}", set()).add(producer)
    assert len(owners) == 8 and all(len(p) == 1 for p in owners.values())  # one producer per aggregate
    assert len(set().union(*owners.values())) > 1  # spread over the producers
    audit = [p for p, b in enumerate(router.builders) if b"audit" in bytes(b.buffer)]
    assert len(audit) == 1  # by prefix, as before
