"""Record headers follow the configuration's form: a Debezium Server file writes them with its
default header format, json (JsonConverter and its `schemas.enable`), byte for byte as a real
Debezium Server 3.6.1 wrote them (tests/data/debezium-server/headers.json); a Kafka Connect
file keeps the Connect worker's SimpleHeaderConverter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.config import config_from_properties, load_config
from bridge.convert.options import ConversionOptions
from bridge.convert.types import TypeRegistry
from bridge.format.settings import HeaderFormat
from bridge.pgoutput import messages as m
from bridge.produce.events import EventBuilder, TxnContext
from bridge.route.topics import TopicNames
from bridge.source.catalog import TableInfo
from tests.pgoutput_encoder import encode
from tests.unit.builders import MINIMAL

GOLDEN = json.loads((Path(__file__).resolve().parents[1] / "data" / "debezium-server" / "headers.json").read_text())
SIMPLE = "org.apache.kafka.connect.storage.SimpleHeaderConverter"
JSON_CLASS = "org.apache.kafka.connect.json.JsonConverter"
INT4, TEXT, NUMERIC = 23, 25, 1700
NUMERIC_10_2 = (10 << 16 | 2) + 4
TXN = TxnContext(xid=700, commit_ts_us=1_700_000_000_123_456, last_commit_lsn=1000)


def header_format(**props: str) -> HeaderFormat:
    return config_from_properties({**MINIMAL, **props}).events.header_format


# --- which format the configuration names -------------------------------------------------------

@pytest.mark.parametrize("props, expected", [
    ({}, HeaderFormat(json=True, schemas_enable=True)),  # Debezium Server's default: json
    ({"debezium.format.header": "json"}, HeaderFormat(json=True)),
    ({"debezium.format.header": "jsonbytearray"}, HeaderFormat(json=True)),  # the same bytes
    ({"debezium.format.header": JSON_CLASS}, HeaderFormat(json=True)),
    ({"debezium.format.header.schemas.enable": "false"}, HeaderFormat(json=True, schemas_enable=False)),
    # Debezium Server hands the shared format options to the header converter too; its own key wins
    ({"debezium.format.schemas.enable": "false"}, HeaderFormat(json=True, schemas_enable=False)),
    ({"debezium.format.schemas.enable": "false", "debezium.format.header.schemas.enable": "true"},
     HeaderFormat(json=True, schemas_enable=True)),
    ({"debezium.format.header": SIMPLE}, HeaderFormat()),
    ({"debezium.format.header": SIMPLE, "debezium.format.header.schemas.enable": "false"}, HeaderFormat()),
])
def test_a_debezium_server_file_writes_json_headers_unless_it_names_another_converter(props, expected):
    assert header_format(**props) == expected


def test_the_header_options_are_honoured():
    config = config_from_properties({**MINIMAL, "debezium.format.header": "json",
                                     "debezium.format.header.schemas.enable": "false"})
    assert {"debezium.format.header", "debezium.format.header.schemas.enable"} <= {
        v.key for v in config.keys.honoured}


CONNECT = {"connector.class": "io.debezium.connector.postgresql.PostgresConnector", "database.hostname": "h",
           "database.user": "u", "database.password": "p", "database.dbname": "d", "topic.prefix": "shop"}


@pytest.mark.parametrize("extra, expected", [
    ({}, HeaderFormat()),  # the Connect worker's default: SimpleHeaderConverter
    ({"header.converter": JSON_CLASS}, HeaderFormat(json=True)),
    ({"header.converter": JSON_CLASS, "header.converter.schemas.enable": "false"},
     HeaderFormat(json=True, schemas_enable=False)),
])
def test_a_kafka_connect_json_keeps_connects_header_converter(tmp_path, extra, expected):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"name": "c", "config": {**CONNECT, **extra}}))
    assert load_config(path, "k:9092").events.header_format == expected


def test_a_kafka_connect_standalone_file_keeps_connects_header_converter(tmp_path):
    path = tmp_path / "c.properties"
    path.write_text("".join(f"{k}={v}\n" for k, v in {"name": "c", **CONNECT}.items()))
    assert load_config(path, "k:9092").events.header_format == HeaderFormat()


def test_a_debezium_server_properties_file_writes_json_headers(tmp_path):
    path = tmp_path / "application.properties"
    path.write_text("".join(f"{k}={v}\n" for k, v in MINIMAL.items()))
    assert load_config(path).events.header_format == HeaderFormat(json=True)


# --- the bytes, against the real Debezium Server's --------------------------------------------

def server_builder(prefix: str, tables: dict[int, tuple[str, list[tuple[str, int, int]], tuple[str, ...]]],
                   run_id: str, **props: str) -> EventBuilder:
    """An EventBuilder from a Debezium Server file's settings (prefix `prefix`), knowing
    `tables`: relation id -> (table in schema `prefix`, [(column, oid, typmod)], key columns),
    every column NOT NULL."""
    config = config_from_properties({**MINIMAL, "debezium.source.topic.prefix": prefix, **props})
    b = EventBuilder(config.events, ConversionOptions(), TypeRegistry(), "bridge", run_id=run_id)
    for rel_id, (table, columns, key) in tables.items():
        rel = m.Relation(rel_id, prefix, table, "d", tuple(m.RelationColumn(n in key, n, oid, mod)
                                                            for n, oid, mod in columns))
        info = TableInfo(key, frozenset(n for n, _, _ in columns))
        b.relation(rel, info, TopicNames.of(config.events).table(prefix, table))
    return b


def texts(records) -> list[list[list[str]]]:
    return [[[name, value.decode()] for name, value in r.headers] for r in records]


def golden(part: str, topic: str) -> list[list[list[str]]]:
    return [r["headers"] for r in GOLDEN[part] if r["topic"] == topic]


def test_json_headers_with_schemas_are_debezium_servers_bytes():
    # GIVEN a Debezium Server file's defaults and the captured run's tables and runId
    run_id = GOLDEN["schemas_on"][0]["headers"][3][1].split('"payload":"')[1][:-2]
    b = server_builder("hdrsrv", {1: ("items", [("id", INT4, -1), ("name", TEXT, -1)], ("id",)),
                                  2: ("pair", [("a", INT4, -1), ("b", TEXT, -1), ("v", TEXT, -1)], ("a", "b"))},
                       run_id)
    # WHEN the captured changes go through it: insert, update, key change, delete; insert, key change
    items = [*b.change(m.Insert(1, (b"1", b"one")), TXN, 10),
             *b.change(m.Update(1, None, None, (b"1", b"uno")), TXN, 20),
             *b.change(m.Update(1, "K", (b"1", None), (b"2", b"uno")), TXN, 30),
             *b.change(m.Delete(1, "K", (b"2", None)), TXN, 40)]
    pair = [*b.change(m.Insert(2, (b"1", b"x", b"v")), TXN, 50),
            *b.change(m.Update(2, "K", (b"1", b"x", None), (b"1", b"y", b"v")), TXN, 60)]
    # THEN every record carries the headers Debezium Server wrote, byte for byte and in order
    assert texts(items) == golden("schemas_on", "hdrsrv.hdrsrv.items")
    assert texts(pair) == golden("schemas_on", "hdrsrv.hdrsrv.pair")


def test_json_headers_without_schemas_are_debezium_servers_bytes():
    # GIVEN debezium.format.header.schemas.enable=false and a numeric key (a Decimal in the key Struct)
    run_id = json.loads(GOLDEN["schemas_off"][0]["headers"][3][1])
    b = server_builder("hdrsrv2", {1: ("items", [("id", NUMERIC, NUMERIC_10_2), ("name", TEXT, -1)], ("id",))},
                       run_id, **{"debezium.format.header.schemas.enable": "false",
                                  "debezium.source.skipped.operations": "none"})
    # WHEN a snapshot row, an insert, a key change and a truncate go through it
    records = [b.snapshot_row(m.Insert(1, (b"7.50", b"snap")), TXN, 5, "last"),
               *b.change(m.Insert(1, (b"1.25", b"one")), TXN, 10),
               *b.change(m.Update(1, "K", (b"1.25", None), (b"2.00", b"one")), TXN, 20),
               b.truncate(1, TXN, 30)]
    # THEN the headers are the bare JSON values Debezium Server wrote
    assert texts(records) == golden("schemas_off", "hdrsrv2.hdrsrv2.items")
    # (its transaction and heartbeat records carry none, as pgbridge's side events)
    assert all(r["headers"] == [] for r in GOLDEN["schemas_off"] if not r["topic"].startswith("hdrsrv2.hdrsrv2"))


def test_the_fast_path_writes_the_same_headers():
    # GIVEN a Debezium Server file's defaults (json converters: inserts take the fast path)
    run_id = GOLDEN["schemas_on"][0]["headers"][3][1].split('"payload":"')[1][:-2]
    b = server_builder("hdrsrv", {1: ("items", [("id", INT4, -1), ("name", TEXT, -1)], ("id",))}, run_id)
    # WHEN the captured insert is read from its pgoutput bytes
    buf = encode(m.Insert(1, (b"1", b"one")))
    [(_, _, _, headers)] = b.fast_change(buf, 0, len(buf), TXN, 10)
    # THEN its headers are the ones Debezium Server wrote
    assert [[name, value.decode()] for name, value in headers] == golden("schemas_on", "hdrsrv.hdrsrv.items")[0]
