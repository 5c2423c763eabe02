"""Debezium's ByLogicalTableRouter / ToLogicalTopicRouter (`bridge.transform.by_logical_table`)
and the schema name adjusters, on the records `EventBuilder` builds. No servers;
tests/integration/test_live_transforms_debezium.py compares with the running Debezium."""

from __future__ import annotations

import json

import pytest

from bridge.config import config_from_properties
from bridge.errors import ConfigError
from bridge.format.converter import converters_for
from bridge.pgoutput import messages as m
from bridge.pgoutput.protocol import PgOutputDecoder
from bridge.produce.events import TxnContext
from bridge.transform.chain import Captured, compile_chain
from bridge.transform.schema_names import adjuster
from tests.pgoutput_encoder import encode
from tests.unit.builders import MINIMAL, REL, chain_builder, events

T = "debezium.transforms"
TXN = TxnContext(xid=700, commit_ts_us=1_700_000_000_123_456, last_commit_lsn=1000)
LOGICAL = "io.debezium.transforms.ByLogicalTableRouter"
REL2 = m.Relation(16385, "shard2", "t", "d", (
    m.RelationColumn(True, "id", 23, -1), m.RelationColumn(False, "v", 25, -1)))
TABLES = ((REL, "srv.public.t"), (REL2, "srv.shard2.t"))


def logical(cls: str = LOGICAL, **options: str) -> dict[str, str]:
    options = {"topic.regex": r"srv\.(public|shard2)\.t", "topic.replacement": "srv.all.t", **options}
    return {T: "lt", f"{T}.lt.type": cls, **{f"{T}.lt.{k}": v for k, v in options.items()}}


def change(b, msg, lsn=4096) -> list[tuple]:
    return [tuple(r) for r in b.change(PgOutputDecoder(1).decode(encode(msg)), TXN, lsn)]


def doc(raw):
    return None if raw is None else json.loads(raw)


def test_two_tables_share_a_topic_with_the_physical_table_in_the_key():
    b = chain_builder(logical(), *TABLES)
    [(topic, key, value, _)] = change(b, m.Insert(16384, (b"1", b"a")))
    [(topic2, key2, _, _)] = change(b, m.Insert(16385, (b"1", b"a")))
    assert topic == topic2 == "srv.all.t"
    assert doc(key) == {"schema": {"type": "struct", "fields": [
        {"type": "int32", "optional": False, "field": "id"},
        {"type": "string", "optional": False, "field": "__dbz__physicalTableIdentifier"}],
        "optional": False, "name": "srv.all.t.Key"},
        "payload": {"id": 1, "__dbz__physicalTableIdentifier": "srv.public.t"}}
    assert doc(key2)["payload"]["__dbz__physicalTableIdentifier"] == "srv.shard2.t"
    envelope = doc(value)["schema"]
    assert envelope["name"] == "srv.all.t.Envelope" and envelope["version"] == 2
    before, after = envelope["fields"][:2]
    assert before["name"] == after["name"] == "srv.all.t.Value"
    assert (before["field"], after["field"], before["optional"]) == ("before", "after", True)
    assert doc(value)["payload"]["after"] == {"id": 1, "v": "a"}
    # the schema is built once per table schema
    [(_, again, _, _)] = change(b, m.Insert(16384, (b"2", b"b")))
    assert doc(again)["schema"] == doc(key)["schema"]


def test_tombstones_are_rerouted_and_rekeyed_value_kept():
    b = chain_builder(logical(), *TABLES)
    delete, tombstone = change(b, m.Delete(16385, "K", (b"1", None)))
    assert delete[0] == tombstone[0] == "srv.all.t"
    assert doc(tombstone[1])["payload"] == {"id": 1, "__dbz__physicalTableIdentifier": "srv.shard2.t"}
    assert tombstone[2] is None


def test_key_field_options_and_uniqueness_off():
    b = chain_builder(logical(**{"key.field.name": "shard", "key.field.regex": r"srv\.(.*)\.t",
                                 "key.field.replacement": "$1"}), *TABLES)
    [(_, key, _, _)] = change(b, m.Insert(16385, (b"1", b"a")))
    assert doc(key)["payload"] == {"id": 1, "shard": "shard2"}
    b = chain_builder(logical(**{"key.enforce.uniqueness": "false"}), *TABLES)
    [(_, key, _, _)] = change(b, m.Insert(16385, (b"1", b"a")))
    assert doc(key) == {"schema": {"type": "struct", "fields": [{"type": "int32", "optional": False, "field": "id"}],
                                   "optional": False, "name": "srv.all.t.Key"}, "payload": {"id": 1}}


def test_to_logical_topic_router_default_key_field_and_unmatched_topics():
    b = chain_builder(logical("io.debezium.transforms.ToLogicalTopicRouter"), *TABLES)
    [(_, key, _, _)] = change(b, m.Insert(16384, (b"1", b"a")))
    assert "__dbz__sourceIdentifier" in doc(key)["payload"]
    b = chain_builder(logical(**{"topic.regex": "nothing"}))
    [(topic, key, _, _)] = change(b, m.Insert(16384, (b"1", b"a")))
    assert topic == "srv.public.t" and doc(key)["schema"]["name"] == "srv.public.t.Key"


def test_schema_name_adjustment():
    b = chain_builder(logical(**{"topic.replacement": "srv.all-t", "schema.name.adjustment.mode": "avro"}), *TABLES)
    [(topic, key, value, _)] = change(b, m.Insert(16384, (b"1", b"a")))
    assert topic == "srv.all-t" and doc(key)["schema"]["name"] == "srv.all_t.Key"
    assert doc(value)["schema"]["name"] == "srv.all_t.Envelope"
    assert adjuster("avro", "")("1a-b.c_d") == "_1a_b.c_d"
    assert adjuster("avro_unicode", "")("1a-b.c_d\U0001F600") == "_u0031a_u002db.c_u005fd_ud83d_ude00"
    assert adjuster("NONE", "")("a-b") == "a-b"


def test_side_records_are_rekeyed():
    ev = events()
    chain = compile_chain(config_from_properties({**MINIMAL, **logical(**{"topic.regex": r"srv\.(transaction)",
                                                                          "topic.replacement": "out.$1"})}).chain,
                          converters_for(ev), ev.header_format)
    key_schema = {"type": "struct", "fields": [{"type": "string", "optional": False, "field": "id"}],
                  "optional": False, "name": "io.debezium.connector.common.TransactionMetadataKey"}
    value_schema = {"type": "struct", "fields": [{"type": "string", "optional": False, "field": "status"}],
                    "optional": False, "name": "io.debezium.connector.common.TransactionMetadataValue"}
    topic, out, value, _ = chain.side("srv.transaction", Captured(key_schema, {"id": "7"}),
                                      Captured(value_schema, {"status": "BEGIN"}), None)
    assert topic == "out.transaction" and doc(value)["payload"] == {"status": "BEGIN"}
    assert doc(out)["payload"] == {"id": "7", "__dbz__physicalTableIdentifier": "srv.transaction"}
    assert doc(out)["schema"]["name"] == "out.transaction.Key"


@pytest.mark.parametrize("options, message", [
    ({"topic.regex": ""}, "topic.regex is missing"),
    ({"key.field.regex": "x"}, "key.field.replacement must be non-empty"),
    ({"schema.name.adjustment.mode": "weird"}, "schema.name.adjustment.mode=weird is invalid"),
    ({"logical.table.cache.size": "many"}, "logical.table.cache.size"),
    ({"key.enforce.uniqueness": "perhaps"}, "key.enforce.uniqueness"),
    ({"unknown.option": "1"}, "unknown.option is not an option"),
])
def test_invalid_options_are_refused_naming_the_key(options, message):
    with pytest.raises(ConfigError, match=message):
        config_from_properties({**MINIMAL, **logical(**options)})
