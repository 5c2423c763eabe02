"""Topic names as Debezium 3.x's SchemaTopicNamingStrategy (and the PostgreSQL connector's
message topic) makes them: `bridge.route.topics`, and every producer of records using it."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from bridge.config import EventConfig, config_from_properties
from bridge.convert.options import ConversionOptions
from bridge.pgoutput import messages as m
from bridge.produce.heartbeat import Heartbeat
from bridge.produce.side_events import MessageEvents, TransactionEvents
from bridge.ring.records import iter_records
from bridge.route import records as rec
from bridge.route import topics
from bridge.route.partitioner import key_hash
from bridge.route.router import Router
from bridge.route.topics import MAX_NAME_LENGTH, TopicNames, sanitize
from bridge.source.catalog import TableInfo
from tests.pgoutput_encoder import encode
from tests.unit.builders import COMMIT_TS, MINIMAL, pipeline, txn
from tests.unit.builders import run_batch as run

GOLDEN = Path(__file__).parent.parent / "data" / "debezium"


def events(**overrides) -> EventConfig:
    settings = {"topic_prefix": "srv", "tombstones_on_delete": True, "skipped_operations": frozenset("t"),
                "key_schemas_enable": True, "value_schemas_enable": True, **overrides}
    return EventConfig(**settings)


def relation(schema: str, table: str, relid: int = 16384) -> m.Relation:
    return m.Relation(relid, schema, table, "d", (m.RelationColumn(True, "id", 23, -1),
                                                  m.RelationColumn(False, "v", 25, -1)))


KEY = b"t" + (1).to_bytes(4, "big") + b"1"  # the key bytes of id=1 (an int4 sent as text "1")


def row_hash(router: Router, rel: m.Relation) -> int:
    """The partitioning hash the router gives a row of `rel` with key id=1."""
    router.handle(encode(rel), 10)
    router.handle(encode(m.Begin(992, COMMIT_TS, 7)), 992)
    router.handle(encode(m.Insert(rel.relation_id, (b"1", b"a"))), 993)
    records = [bytes(r) for r in iter_records(memoryview(bytes(router.builders[0].buffer)))]
    (row,) = [r for r in records if r[0] == rec.ROW]
    return rec.HEADER.unpack_from(row)[2]


# --- defaults ------------------------------------------------------------------------------------


def test_default_names():
    names = TopicNames.of(events())
    assert names.table("public", "t") == "srv.public.t"
    assert names.message() == "srv.message"
    assert names.transaction() == "srv.transaction"
    assert names.heartbeat() == "__debezium-heartbeat.srv"


def test_default_names_match_the_real_debezium_capture():
    # GIVEN the topics a real Debezium 3.7.0 wrote in each golden pass (tests/data/debezium)
    manifest = json.loads((GOLDEN / "manifest.json").read_text())["passes"]
    checked = tombstone_records = 0
    for name, p in manifest.items():
        names = TopicNames.of(events(topic_prefix=p["topic.prefix"]))
        side = {names.message(), names.transaction(), names.heartbeat()}
        tables, tombstones = set(), set()
        for line in (GOLDEN / p["file"]).read_text().splitlines():
            record = json.loads(line)
            topic, value = record["topic"], record["value"]
            if value is None:  # a tombstone: checked below
                tombstones.add(topic)
                tombstone_records += 1
                continue
            source = value.get("payload", value).get("source") or {}
            if source.get("table"):  # a table's change: its topic follows from schema and table
                assert topic == names.table(source["schema"], source["table"]), name
                tables.add(topic)
            else:  # message, transaction or heartbeat
                assert topic in side, (name, topic)
            checked += 1
        assert tombstones <= tables, (name, tombstones - tables)  # every tombstone's topic is a table's
    # THEN every record was looked at, and there were changes, tombstones and side records
    assert checked + tombstone_records == sum(p["records"] for p in manifest.values())
    assert checked > tombstone_records > 0


def test_the_producers_use_the_default_names():
    e = events(heartbeat_interval_ms=1000)
    assert MessageEvents(e, ConversionOptions(), "db").topic == "srv.message"
    assert TransactionEvents(e).topic == "srv.transaction"
    assert Heartbeat(e).topic == "__debezium-heartbeat.srv"


# --- topic.delimiter -----------------------------------------------------------------------------


def test_delimiter_joins_table_transaction_and_heartbeat_but_not_message():
    names = TopicNames.of(events(topic_delimiter="_", heartbeat_topic_prefix="hb"))
    assert names.table("public", "t") == "srv_public_t"
    assert names.transaction() == "srv_transaction"
    assert names.heartbeat() == "hb_srv"
    # Debezium appends a fixed ".message" (LogicalDecodingMessageMonitor)
    assert names.message() == "srv.message"


def test_delimiter_of_several_characters():
    names = TopicNames.of(events(topic_delimiter="--"))
    assert names.table("public", "t") == "srv--public--t"
    assert names.transaction() == "srv--transaction"
    assert names.heartbeat() == "__debezium-heartbeat--srv"


def test_delimiter_from_the_properties_reaches_every_record():
    # GIVEN topic.delimiter=_ with transaction metadata on, through the router and a producer
    router, worker, sink = pipeline(**{"debezium.source.topic.delimiter": "_",
                                       "debezium.source.provide.transaction.metadata": "true"})
    router.handle(encode(relation("public", "t")), 10)
    txn(router, 1000, [m.Insert(16384, (b"1", b"a")), m.LogicalMessage(True, 950, "audit", b"x")])
    # WHEN the producer builds the records
    run(router, worker)
    # THEN the table and transaction topics use "_", the message topic keeps "."
    assert [t for t, _, _ in sink.records] == ["p_transaction", "p_public_t", "p.message", "p_transaction"]
    # and the Connect schema names follow the table's topic name
    _, key, value = sink.records[1]
    assert key["schema"]["name"] == "p_public_t.Key"
    assert value["schema"]["name"] == "p_public_t.Envelope"
    assert value["schema"]["fields"][0]["name"] == "p_public_t.Value"


def test_delimiter_reaches_the_heartbeat():
    config = config_from_properties({**MINIMAL, "debezium.source.topic.prefix": "p",
                                     "debezium.source.topic.delimiter": "-",
                                     "debezium.source.heartbeat.interval.ms": "1000"})
    assert Heartbeat(config.events).topic == "__debezium-heartbeat-p"


def test_per_topic_salt_is_looked_up_by_the_delimited_name():
    # GIVEN a salt for the table's topic as named with delimiter "_"
    router = Router(config_from_properties({
        **MINIMAL, "bridge.producers": "1", "bridge.partition.salt": "salt", "debezium.source.topic.prefix": "p",
        "debezium.source.topic.delimiter": "_", "bridge.partition.salt.p_public_t": "blue"}).routing,
        lambda rel: TableInfo(("id",), frozenset({"id"})))
    # WHEN a row of that table is routed
    assert row_hash(router, relation("public", "t")) == key_hash(b"blue", KEY) != key_hash(b"salt", KEY)


# --- sanitization --------------------------------------------------------------------------------

@pytest.mark.parametrize(("schema", "table", "topic"), [
    ("my schema", "t", "srv.my_schema.t"),
    ("public", "café", "srv.public.caf_"),
    ("public", "price$", "srv.public.price_"),
    ("public", "a/b", "srv.public.a_b"),
    ("Sales-EU", "Orders_2024.v2", "srv.Sales-EU.Orders_2024.v2"),  # all valid: unchanged
    ("public", "t\u00a0x", "srv.public.t_x"),  # no-break space: one UTF-16 unit
    ("public", "日本", "srv.public.__"),
    # beyond U+FFFF Java sees two chars (a surrogate pair), each replaced
    ("public", "party\U0001F389", "srv.public.party__"),
])
def test_invalid_characters_become_underscores(schema, table, topic):
    assert TopicNames.of(events()).table(schema, table) == topic


def test_blank_parts_are_left_out_with_their_delimiter():
    # Debezium joins only the non-blank parts (blank: nothing but characters up to U+0020)
    names = TopicNames.of(events())
    assert names.table("public", " ") == "srv.public"
    assert names.table("\t", "t") == "srv.t"
    assert names.table("public", " x") == "srv.public._x"
    # Java's trim(), not Unicode whitespace: a control character is blank, a no-break space is not
    assert names.table("public", "\x01 ") == "srv.public"
    assert names.table("public", "\u00a0") == "srv.public._"


def test_names_of_one_or_two_dots():
    assert sanitize(".") == "_"
    assert sanitize("..") == "__"
    assert sanitize("...") == "..."
    assert TopicNames.of(events(topic_prefix=".")).table("", " ") == "_"


def test_length_is_cut_to_249_after_replacement():
    prefix = "p" * 200
    names = TopicNames.of(events(topic_prefix=prefix))
    # exactly the limit: kept
    fits = "t" * (MAX_NAME_LENGTH - len(prefix) - len(".public."))
    assert names.table("public", fits) == f"{prefix}.public.{fits}"
    # one more: the first 249 characters
    assert names.table("public", fits + "u") == f"{prefix}.public.{fits}"
    # replacements count as what they become: "é" is one "_", an emoji two
    long = names.table("public", "é" * 60)
    assert len(long) == MAX_NAME_LENGTH and long == f"{prefix}.public.{'_' * 41}"
    assert names.table("public", "\U0001F389" * 30) == f"{prefix}.public.{'_' * 41}"


def test_sanitized_name_is_the_records_topic_and_schema_prefix():
    # GIVEN a table whose name Kafka would refuse
    router, worker, sink = pipeline()
    router.handle(encode(relation("my schema", "café$/x")), 10)
    txn(router, 1000, [m.Insert(16384, (b"1", b"a"))])
    run(router, worker)
    # THEN the record goes to the sanitized topic, its schemas are named after it, and the
    # source block keeps the real names
    ((topic, key, value),) = sink.records
    assert topic == "p.my_schema.caf___x"
    assert key["schema"]["name"] == "p.my_schema.caf___x.Key"
    assert value["schema"]["name"] == "p.my_schema.caf___x.Envelope"
    assert value["payload"]["source"]["schema"] == "my schema"
    assert value["payload"]["source"]["table"] == "café$/x"


def test_per_topic_salt_is_looked_up_by_the_sanitized_name():
    router = Router(config_from_properties({
        **MINIMAL, "bridge.producers": "1", "bridge.partition.salt": "salt", "debezium.source.topic.prefix": "p",
        "bridge.partition.salt.p.my_schema.t": "blue"}).routing, lambda rel: TableInfo(("id",), frozenset({"id"})))
    assert row_hash(router, relation("my schema", "t")) == key_hash(b"blue", KEY)


def test_a_sanitized_name_is_logged_once(caplog, monkeypatch):
    monkeypatch.setattr(topics, "_warned", set())
    names = TopicNames.of(events())
    with caplog.at_level(logging.WARNING, logger="bridge.route.topics"):
        names.table("public", "a b")
        names.table("public", "a b")
        names.table("public", "ab")
    assert [r.getMessage() for r in caplog.records] == [
        "'srv.public.a b' is not a valid Kafka topic name: using 'srv.public.a_b', as Debezium does"]


# --- topic.transaction / topic.heartbeat.name (when EventConfig has them) ------------------------


def test_topic_transaction_and_heartbeat_name():
    from bridge.config import config_from_properties
    ev = config_from_properties({**MINIMAL, "debezium.source.topic.prefix": "srv", "debezium.source.topic.delimiter": "_",
                                 "debezium.source.topic.transaction": "tx",
                                 "debezium.source.topic.heartbeat.name": "shared-heartbeats"}).events
    names = TopicNames.of(ev)
    assert names.transaction() == "srv_tx"
    assert names.heartbeat() == "shared-heartbeats"
    unset = TopicNames.of(config_from_properties({**MINIMAL, "debezium.source.topic.prefix": "srv"}).events)
    assert unset.transaction() == "srv.transaction"
    assert unset.heartbeat() == "__debezium-heartbeat.srv"


@pytest.mark.parametrize("key", ["topic.prefix", "topic.delimiter", "topic.transaction", "topic.heartbeat.prefix",
                                 "topic.heartbeat.name"])
def test_topic_parts_with_invalid_characters_are_refused_as_debezium_refuses_them(key):
    from bridge.config import config_from_properties
    from bridge.errors import ConfigError
    with pytest.raises(ConfigError, match=rf"{key}='my prefix!' is invalid: only the underscore, hyphen, dot and "
                                          "alphanumeric characters are allowed"):
        config_from_properties({**MINIMAL, f"debezium.source.{key}": "my prefix!"})
