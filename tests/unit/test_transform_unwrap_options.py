"""ExtractNewRecordState's row-wise options (`bridge.transform.unwrap`): route.by.field, the
drop.fields.* family, add.fields of `before`/`after` columns, replace.null.with.default; on the
records `EventBuilder` builds. tests/integration/test_live_transforms.py (`row-options`)
compares them with the running Debezium."""

from __future__ import annotations

import json

import pytest

from bridge.config import config_from_properties
from bridge.pgoutput import messages as m
from bridge.pgoutput.protocol import PgOutputDecoder
from bridge.produce.events import TxnContext
from bridge.transform.chain import changes_routing
from bridge.transform.kafka.structs import TransformFailed
from tests.pgoutput_encoder import encode
from tests.unit.builders import MINIMAL, chain_builder

T = "debezium.transforms"
TXN = TxnContext(xid=700, commit_ts_us=1_700_000_000_123_456, last_commit_lsn=1000)
UNWRAP = "io.debezium.transforms.ExtractNewRecordState"
CHANGED = "io.debezium.transforms.ExtractChangedRecordState"
# id int (the key), v text, tag text, k int
REL = m.Relation(16384, "public", "t", "d", (m.RelationColumn(True, "id", 23, -1), m.RelationColumn(False, "v", 25, -1),
                                           m.RelationColumn(False, "tag", 25, -1), m.RelationColumn(False, "k", 23, -1)))


def unwrap(**options: str) -> dict[str, str]:
    return {T: "unwrap", f"{T}.unwrap.type": UNWRAP, **{f"{T}.unwrap.{k}": v for k, v in options.items()}}


def drop_unchanged(**options: str) -> dict[str, str]:
    """ExtractChangedRecordState naming the unchanged columns in `Same`, then unwrap dropping them."""
    return {T: "ch,unwrap", f"{T}.ch.type": CHANGED, f"{T}.ch.header.unchanged.name": "Same",
            f"{T}.unwrap.type": UNWRAP, f"{T}.unwrap.drop.fields.header.name": "Same",
            **{f"{T}.unwrap.{k}": v for k, v in options.items()}}


def chain_of(props: dict[str, str]):
    return config_from_properties({**MINIMAL, **props}).chain


def builder(props: dict[str, str]):
    return chain_builder(props, (REL, "srv.public.t"))


def change(b, msg) -> list:
    return b.change(PgOutputDecoder(1).decode(encode(msg)), TXN, 4096)


def doc(raw: bytes | None):
    return None if raw is None else json.loads(raw)


def test_route_by_field_takes_the_topic_from_the_row_or_a_deletes_before():
    b = builder(unwrap(**{"route.by.field": "tag"}))
    [r] = change(b, m.Insert(16384, (b"1", b"a", b"orders.v1", b"5")))
    assert r.topic == "orders.v1" and doc(r.value)["payload"]["tag"] == "orders.v1"
    # a null or blank value keeps the topic
    [r] = change(b, m.Insert(16384, (b"2", b"a", None, b"5")))
    assert r.topic == "srv.public.t"
    [r] = change(b, m.Insert(16384, (b"3", b"a", b"  ", b"5")))
    assert r.topic == "srv.public.t"
    # a delete: by its `before` (the whole old row here), its null payload routed too
    [r] = change(b, m.Delete(16384, "O", (b"1", b"a", b"gone.v1", b"5")))
    assert (r.topic, doc(r.value)["payload"]) == ("gone.v1", None)
    # with only the key in `before`, the field is null: the topic stays
    [r] = change(b, m.Delete(16384, "K", (b"1", None, None, None)))
    assert r.topic == "srv.public.t"
    assert b._tables[16384].unwrapped is None  # a topic per row: no fast path


@pytest.mark.parametrize("field, words", [("nope", "nope is not a valid field name"),
                                          ("k", "field 'k' is not of type STRING")])
def test_route_by_field_fails_the_record_on_a_missing_or_non_string_field(field, words):
    b = builder(unwrap(**{"route.by.field": field}))
    with pytest.raises(TransformFailed, match=words):
        change(b, m.Insert(16384, (b"1", b"a", b"x", b"5")))


def test_route_by_field_with_rewrite_reads_the_row_before_add_fields():
    b = builder(unwrap(**{"route.by.field": "__deleted", "delete.tombstone.handling.mode": "rewrite",
                          "add.fields": "op"}))
    [r] = change(b, m.Insert(16384, (b"1", b"a", b"x", b"5")))
    assert r.topic == "false"  # `__deleted` is there, a string
    b = builder(unwrap(**{"route.by.field": "__op", "add.fields": "op"}))
    with pytest.raises(TransformFailed, match="__op is not a valid field name"):  # added after routing
        change(b, m.Insert(16384, (b"1", b"a", b"x", b"5")))


def test_drop_fields_removes_the_optional_listed_fields_by_default():
    b = builder(drop_unchanged())
    # an update with its old row: v changed; id, tag and k did not (id is required: kept)
    [r] = change(b, m.Update(16384, "O", (b"1", b"a", b"t", b"5"), (b"1", b"b", b"t", b"5")))
    value = doc(r.value)
    assert value["payload"] == {"id": 1, "v": "b"}
    assert [f["field"] for f in value["schema"]["fields"]] == ["id", "v"]
    assert value["schema"]["optional"] is False and value["schema"]["name"] == "srv.public.t.Value"
    assert doc(r.key)["payload"] == {"id": 1}  # the key only with drop.fields.from.key
    # a create: the list is empty, nothing dropped
    [r] = change(b, m.Insert(16384, (b"2", b"a", b"t", b"5")))
    assert doc(r.value)["payload"] == {"id": 2, "v": "a", "tag": "t", "k": 5}
    assert b._tables[16384].unwrapped is None  # fields per row: no fast path


def test_drop_fields_from_the_key_and_without_schema_compatibility():
    b = builder(drop_unchanged(**{"drop.fields.from.key": "true", "drop.fields.keep.schema.compatible": "false"}))
    [r] = change(b, m.Update(16384, "O", (b"1", b"a", b"t", b"5"), (b"1", b"b", b"t", b"5")))
    assert doc(r.value)["payload"] == {"v": "b"}
    key = doc(r.key)
    assert key["payload"] == {} and key["schema"] == {"type": "struct", "fields": [], "optional": False,
                                                      "name": "srv.public.t.Key"}
    # the chain makes the key: the table's changes go to one producer; without from.key they need not
    assert changes_routing(chain_of(drop_unchanged(**{"drop.fields.from.key": "true"})))
    assert not changes_routing(chain_of(drop_unchanged()))
    # kept schema-compatible, the required key column stays in the key
    b = builder(drop_unchanged(**{"drop.fields.from.key": "true"}))
    [r] = change(b, m.Update(16384, "O", (b"1", b"a", b"t", b"5"), (b"1", b"b", b"t", b"5")))
    assert doc(r.key)["payload"] == {"id": 1}


def test_a_drop_header_that_is_not_a_list_fails_the_record():
    props = {T: "ins,unwrap", f"{T}.ins.type": "org.apache.kafka.connect.transforms.InsertHeader",
             f"{T}.ins.header": "Same", f"{T}.ins.value.literal": "v",
             f"{T}.unwrap.type": UNWRAP, f"{T}.unwrap.drop.fields.header.name": "Same"}
    with pytest.raises(TransformFailed, match="not a list of field names"):
        change(builder(props), m.Insert(16384, (b"1", b"a", b"t", b"5")))


def test_add_fields_of_after_and_before_columns():
    b = builder(unwrap(**{"add.fields": "after.v,before.v:old_v", "delete.tombstone.handling.mode": "rewrite"}))
    [r] = change(b, m.Update(16384, "O", (b"1", b"a", b"t", b"5"), (b"1", b"b", b"t", b"5")))
    value = doc(r.value)
    assert value["payload"] == {"id": 1, "v": "b", "tag": "t", "k": 5, "__deleted": "false", "__after_v": "b",
                                "__old_v": "a"}
    assert value["schema"]["fields"][-1] == {"type": "string", "optional": True, "field": "__old_v"}
    [r] = change(b, m.Delete(16384, "O", (b"1", b"a", b"t", b"5")))
    assert doc(r.value)["payload"] == {"id": 1, "v": "a", "tag": "t", "k": 5, "__deleted": "true",
                                       "__after_v": None, "__old_v": "a"}
    assert b._tables[16384].unwrapped is None  # a column of the row: the general path


@pytest.mark.parametrize("replace", ["true", "false"])
def test_replace_null_with_default_gives_the_same_records(replace):
    # the rows already carry a NULL column's default where JsonConverter writes it
    plain = builder(unwrap(**{"delete.tombstone.handling.mode": "rewrite"}))
    b = builder(unwrap(**{"delete.tombstone.handling.mode": "rewrite", "replace.null.with.default": replace}))
    msg = m.Insert(16384, (b"1", None, None, None))
    assert [tuple(r) for r in change(b, msg)] == [tuple(r) for r in change(plain, msg)]
    assert b._tables[16384].unwrapped is not None  # the plain case keeps its fast path
