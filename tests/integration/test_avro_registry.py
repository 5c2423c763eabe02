"""Avro through a real schema registry (Apicurio's Confluent API, `schema_registry`), real
PostgreSQL and Kafka: `bridge run` writes Confluent-framed Avro that confluent-kafka's own
`AvroDeserializer` and `SchemaRegistryClient` read back as the JSON converter's values;
`auto.register.schemas=false` stops at a missing schema; BACKWARD_TRANSITIVE lets a nullable
column in and stops the bridge, nothing produced or confirmed past it, at an incompatible one,
or, with `bridge.registry.incompatible.topic`, quarantines the table's events and goes on."""

from __future__ import annotations

import base64
import decimal
import json
import math
import os
import time

import pytest
from confluent_kafka import Consumer, KafkaError
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from bridge.lsn import parse_lsn
from tests.integration.support import confirmed_flush, slot_active, wait_until

COLUMNS = """
    id int PRIMARY KEY, si smallint, big bigint, r real, d double precision, n numeric(12,2), vn numeric,
    m money, b boolean, t text, vc varchar(10), ch char(3), j json, jb jsonb, u uuid, by bytea, dt date,
    tm time, ts timestamp, tstz timestamptz, iv interval, ia int[], ta text[], e {enum}, p point,
    i inet, dflt int DEFAULT 7, req int NOT NULL DEFAULT 3"""
ROWS = [
    "(1, -32768, 9223372036854775807, 3.3, 1e10, 1234.5, 22.2200, 1234.11, true, 'žš ☃', 'abc', 'x', "
    "'{\"a\": 1}', '{\"b\": [true, null]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\x010203', '2024-02-29', "
    "'13:14:15.123456', '2024-02-29 13:14:15.5', '2024-02-29 13:14:15.5+02', '1 day 2 hours', '{1,NULL,3}', "
    "'{a,b}', 'sad', '(1.5,2.5)', '10.0.0.1', 5, 4)",
    "(2, NULL, NULL, 'NaN', '-Infinity', -0.01, 1e3, -1.5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, DEFAULT)",
]


def _consume(bootstrap: str, topic: str, count: int, timeout: float = 90.0) -> list[tuple[bytes | None, bytes | None]]:
    """(key, value) bytes of the first `count` records of `topic`."""
    return [(msg.key(), msg.value()) for msg in _messages(bootstrap, topic, count, timeout)]


def _messages(bootstrap: str, topic: str, count: int, timeout: float = 90.0) -> list:
    """The first `count` messages of `topic`."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"avro-{os.getpid()}-{time.monotonic_ns()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    out: list = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            for msg in consumer.consume(100, 0.5):
                if msg.error():
                    if msg.error().code() in (KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART):
                        continue
                    raise AssertionError(f"consumer error: {msg.error()}")
                out.append(msg)
    finally:
        consumer.close()
    assert len(out) >= count, f"{topic}: {len(out)} of {count} records after {timeout}s"
    return out[:count]


def _as_json(value):
    """A value AvroDeserializer gives, spelled as the JSON converter's payload (bytes and
    decimals as base64 of the unscaled bytes, NaN/infinities as strings)."""
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    if isinstance(value, decimal.Decimal):
        sign, digits, _ = value.as_tuple()
        unscaled = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
        length = (~unscaled if unscaled < 0 else unscaled).bit_length() // 8 + 1  # BigInteger.toByteArray
        return base64.b64encode(unscaled.to_bytes(length, "big", signed=True)).decode()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
    return value


def _comparable(event: dict) -> dict:
    """The parts two bridges reading the same changes agree on (not their names or clocks)."""
    source = {k: v for k, v in event["source"].items() if k != "name"}
    return {"before": event["before"], "after": event["after"], "op": event["op"], "source": source}


def _same(a, b) -> bool:
    """Equal, floats to float32's precision (a `real` is an Avro float, 4 bytes)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-6)
    return a == b


@pytest.fixture
def registry(schema_registry):
    client = SchemaRegistryClient({"url": schema_registry})
    yield client
    client.close()


def _avro_format(url: str, **options: str) -> dict[str, str]:
    return {"debezium.format.key": "avro", "debezium.format.value": "avro",
            "debezium.format.schema.registry.url": url, **{f"debezium.format.{k}": v for k, v in options.items()}}


def test_avro_records_decode_with_confluents_deserializer_to_the_json_converters_values(
        pg, kafka_bootstrap, bridge_factory, unique_name, schema_registry, registry):
    # GIVEN a table of many types and two bridges on it: JSON without schemas, and Avro
    table, enum = f"avro_{unique_name}", f"mood_{unique_name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TYPE {enum} AS ENUM ('sad', 'ok')")
        cur.execute(f"CREATE TABLE {table} ({COLUMNS.format(enum=enum)})")
    json_bridge = bridge_factory(f"j{unique_name}", {"debezium.format.key.schemas.enable": "false",
                                                      "debezium.format.value.schemas.enable": "false"}, tables=[table])
    avro_bridge = bridge_factory(f"a{unique_name}", _avro_format(schema_registry), tables=[table])
    try:
        json_bridge.start()
        avro_bridge.start()
        wait_until(lambda: slot_active(pg, f"j{unique_name}_slot") and slot_active(pg, f"a{unique_name}_slot"),
                   timeout=60, what="both slots streaming")
        # WHEN rows are inserted, updated and one deleted
        with pg.cursor() as cur:
            for row in ROWS:
                cur.execute(f"INSERT INTO {table} VALUES {row}")
            cur.execute(f"UPDATE {table} SET t = 'changed', r = 1.5 WHERE id = 1")
            cur.execute(f"DELETE FROM {table} WHERE id = 2")
        json_records = _consume(kafka_bootstrap, f"j{unique_name}.public.{table}", 5)
        avro_records = _consume(kafka_bootstrap, f"a{unique_name}.public.{table}", 5)
    finally:
        for bridge in (json_bridge, avro_bridge):
            if bridge.running():
                bridge.stop()
    # THEN every Avro record is Confluent-framed, decodes with confluent-kafka's deserializer,
    # and carries the JSON converter's values; the tombstone stays null
    topic = f"a{unique_name}.public.{table}"
    _assert_same_values(json_records, avro_records, topic, registry)
    # and the subjects are TopicNameStrategy's, the value's record Debezium's envelope
    subjects = set(registry.get_subjects())
    assert {f"{topic}-key", f"{topic}-value"} <= subjects
    latest = registry.get_latest_version(f"{topic}-value")
    assert json.loads(latest.schema.schema_str)["name"] == "Envelope"


def _assert_same_values(json_records: list, avro_records: list, topic: str, registry) -> None:
    """Each Avro record is Confluent-framed and decodes with confluent-kafka's deserializer to
    the JSON converter's values of the same change; a tombstone stays null."""
    deserialize = AvroDeserializer(registry)
    for (jkey, jvalue), (akey, avalue) in zip(json_records, avro_records, strict=True):
        assert akey[:1] == b"\x00"
        key = deserialize(akey, SerializationContext(topic, MessageField.KEY))
        assert key == json.loads(jkey)
        if jvalue is None:
            assert avalue is None
            continue
        assert avalue[:1] == b"\x00"
        value = _as_json(deserialize(avalue, SerializationContext(topic, MessageField.VALUE)))
        expected = _comparable(json.loads(jvalue))
        assert _same(_comparable(value), expected), (value, expected)


SCALARS = """
    id int PRIMARY KEY, big bigint NOT NULL, r real, d double precision, n numeric(12,2), vn numeric, b boolean,
    t text, j jsonb, u uuid, by bytea, dt date, tstz timestamptz, iv interval, e {enum}, p point,
    dflt int DEFAULT 7, req int NOT NULL DEFAULT 3"""
SCALAR_ROWS = """
    SELECT g, g * 1000000007::bigint, g / 3.0, -g * 1e10, g * 1.25, g / 7.0, g % 2 = 0, 'row ' || g || ' žš ☃',
           jsonb_build_object('g', g), md5(g::text)::uuid, int4send(g), DATE '2024-02-29' + g,
           TIMESTAMPTZ '2024-02-29 13:14:15.5+02' + g * INTERVAL '1 second', g * INTERVAL '1 minute',
           (ARRAY['sad', 'ok'])[g % 2 + 1]::{enum}, point(g, -g),
           CASE WHEN g % 3 = 0 THEN NULL ELSE g END, g
    FROM generate_series(1, 40) g"""


def test_the_fast_path_of_scalar_columns_writes_what_confluents_deserializer_reads(
        pg, kafka_bootstrap, bridge_factory, unique_name, schema_registry, registry):
    # GIVEN a table whose columns all take the Avro fast path (scalars, NULLs, defaults), and two
    # bridges on it: JSON without schemas, and Avro
    table, enum = f"fast_{unique_name}", f"mood_{unique_name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TYPE {enum} AS ENUM ('sad', 'ok')")
        cur.execute(f"CREATE TABLE {table} ({SCALARS.format(enum=enum)})")
    json_bridge = bridge_factory(f"j{unique_name}", {"debezium.format.key.schemas.enable": "false",
                                                      "debezium.format.value.schemas.enable": "false"}, tables=[table])
    avro_bridge = bridge_factory(f"a{unique_name}", _avro_format(schema_registry), tables=[table])
    try:
        json_bridge.start()
        avro_bridge.start()
        wait_until(lambda: slot_active(pg, f"j{unique_name}_slot") and slot_active(pg, f"a{unique_name}_slot"),
                   timeout=60, what="both slots streaming")
        # WHEN 40 rows go in (the first through the general path, which registers the schemas;
        # the rest through the fast path), 10 are updated and 5 deleted, in small transactions
        with pg.cursor() as cur:
            cur.execute(f"INSERT INTO {table} {SCALAR_ROWS.format(enum=enum)}")
            for g in range(1, 11):
                cur.execute(f"UPDATE {table} SET t = NULL, big = -big, r = 'NaN' WHERE id = %s", (g,))
            cur.execute(f"DELETE FROM {table} WHERE id > 35")
        count = 40 + 10 + 5 * 2  # deletes and their tombstones
        json_records = _consume(kafka_bootstrap, f"j{unique_name}.public.{table}", count)
        avro_records = _consume(kafka_bootstrap, f"a{unique_name}.public.{table}", count)
    finally:
        for bridge in (json_bridge, avro_bridge):
            if bridge.running():
                bridge.stop()
    # THEN every record decodes with confluent-kafka's deserializer to the JSON converter's values
    _assert_same_values(json_records, avro_records, f"a{unique_name}.public.{table}", registry)


def test_without_auto_registration_a_missing_schema_stops_the_bridge_before_the_table_is_produced(
        pg, kafka_bootstrap, bridge_factory, unique_name, schema_registry):
    # GIVEN auto.register.schemas=false and a registry without the table's subjects
    table = f"avro_{unique_name}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
    bridge = bridge_factory(unique_name, _avro_format(schema_registry, **{"auto.register.schemas": "false"}),
                            tables=[table])
    bridge.start()
    wait_until(lambda: slot_active(pg, f"{unique_name}_slot"), timeout=60, what="slot streaming")
    start = confirmed_flush(pg, f"{unique_name}_slot")
    # WHEN a row changes
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {table} VALUES (1, 'a')")
    # THEN the bridge exits 10 with one error naming the subject and the schema's fingerprint
    assert bridge.wait(90) == 10, bridge.log()
    log = bridge.log()
    assert f"under subject '{unique_name}.public.{table}-key'" in log and "fingerprint" in log, log
    # and nothing was produced for the table nor confirmed past the change
    assert confirmed_flush(pg, f"{unique_name}_slot") == start


def test_backward_transitive_takes_a_nullable_column_and_stops_at_an_incompatible_one(
        pg, kafka_bootstrap, bridge_factory, unique_name, schema_registry, registry):
    # GIVEN bridge.registry.compatibility=BACKWARD_TRANSITIVE
    table = f"avro_{unique_name}"
    topic = f"{unique_name}.public.{table}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
    bridge = bridge_factory(unique_name, {**_avro_format(schema_registry),
                                          "bridge.registry.compatibility": "BACKWARD_TRANSITIVE"}, tables=[table])
    bridge.start()
    wait_until(lambda: slot_active(pg, f"{unique_name}_slot"), timeout=60, what="slot streaming")
    # WHEN a row goes in, then a nullable column is added and another row goes in
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {table} VALUES (1, 'a')")
        cur.execute(f"ALTER TABLE {table} ADD COLUMN extra int")
        cur.execute(f"INSERT INTO {table} VALUES (2, 'b', 5)")
        cur.execute(f"DELETE FROM {table}")
    records = _consume(kafka_bootstrap, topic, 6)
    # THEN the value subject has two versions under BACKWARD_TRANSITIVE, the events decode
    assert registry.get_versions(f"{topic}-value") == [1, 2]
    assert registry.get_compatibility(f"{topic}-value") == "BACKWARD_TRANSITIVE"
    deserialize = AvroDeserializer(registry)
    second = deserialize(records[1][1], SerializationContext(topic, MessageField.VALUE))
    assert second["after"] == {"id": 2, "v": "b", "extra": 5}
    wait_until(lambda: confirmed_flush(pg, f"{unique_name}_slot") > 0, what="slot confirmed")
    # WHEN a NOT NULL column without a default is added (an incompatible schema) and a row goes in
    with pg.cursor() as cur:
        cur.execute(f"ALTER TABLE {table} ADD COLUMN must int NOT NULL")
        cur.execute("SELECT pg_current_wal_lsn()")
        cur.execute(f"INSERT INTO {table} VALUES (3, 'c', NULL, 9)")
        cur.execute("SELECT pg_current_wal_lsn()")
        after_insert = cur.fetchone()[0]
    # THEN the bridge stops with one error naming the subject, version and the registry's reason
    assert bridge.wait(90) == 10, bridge.log()
    log = bridge.log()
    assert f"under subject '{topic}-value' as version 3" in log and "409" in log, log
    # and nothing was produced or confirmed past it
    assert len(_consume(kafka_bootstrap, topic, 6)) == 6
    assert confirmed_flush(pg, f"{unique_name}_slot") < parse_lsn(after_insert)
    assert registry.get_versions(f"{topic}-value") == [1, 2]


def test_an_incompatible_schema_with_a_quarantine_topic_sends_the_events_there_as_json_and_goes_on(
        pg, kafka_bootstrap, bridge_factory, unique_name, schema_registry, registry):
    # GIVEN BACKWARD_TRANSITIVE and bridge.registry.incompatible.topic, two tables streaming
    table, other = f"avro_{unique_name}", f"avro_{unique_name}_other"
    topic, quarantine = f"{unique_name}.public.{table}", f"{unique_name}.incompatible"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
        cur.execute(f"CREATE TABLE {other} (id int PRIMARY KEY)")
    bridge = bridge_factory(unique_name, {**_avro_format(schema_registry),
                                          "bridge.registry.compatibility": "BACKWARD_TRANSITIVE",
                                          "bridge.registry.incompatible.topic": quarantine}, tables=[table, other])
    bridge.start()
    wait_until(lambda: slot_active(pg, f"{unique_name}_slot"), timeout=60, what="slot streaming")
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {table} VALUES (1, 'a')")
    assert len(_consume(kafka_bootstrap, topic, 1)) == 1
    # WHEN a NOT NULL column without a default is added (an incompatible schema), a row goes in
    # and is deleted, then a row of the other table
    with pg.cursor() as cur:
        cur.execute(f"ALTER TABLE {table} ADD COLUMN must int NOT NULL DEFAULT 0")
        cur.execute(f"ALTER TABLE {table} ALTER COLUMN must DROP DEFAULT")
        cur.execute(f"INSERT INTO {table} VALUES (2, 'b', 9)")
        cur.execute(f"DELETE FROM {table} WHERE id = 2")
        cur.execute(f"INSERT INTO {other} VALUES (1)")
        cur.execute("SELECT pg_current_wal_lsn()")
        after = parse_lsn(cur.fetchone()[0])
    # THEN the table's events are in the quarantine topic as the JSON converter writes them, with
    # the registry's answer in headers
    created, deleted, tombstone = _messages(kafka_bootstrap, quarantine, 3)
    value = json.loads(created.value())
    assert value["schema"]["name"] == f"{topic}.Envelope" and value["payload"]["after"] == {"id": 2, "v": "b", "must": 9}
    assert json.loads(created.key()) == {"schema": {"type": "struct", "fields": [
        {"type": "int32", "optional": False, "field": "id"}], "optional": False, "name": f"{topic}.Key"},
        "payload": {"id": 2}}
    assert json.loads(deleted.value())["payload"]["op"] == "d" and tombstone.value() is None
    headers = dict(created.headers())
    assert headers["pgbridge.registry.subject"] == f"{topic}-value".encode()
    assert headers["pgbridge.registry.version"] == b"2" and b"409" in headers["pgbridge.registry.reason"]
    assert headers["pgbridge.registry.topic"] == topic.encode()
    assert "__debezium.context.connectorLogicalName" in headers
    # AND the pipeline goes on: the other table's row is produced, the slot confirmed past it
    deserialize = AvroDeserializer(registry)
    [(_, row)] = _consume(kafka_bootstrap, f"{unique_name}.public.{other}", 1)
    assert deserialize(row, SerializationContext(topic, MessageField.VALUE))["after"] == {"id": 1}
    wait_until(lambda: confirmed_flush(pg, f"{unique_name}_slot") >= after, what="slot confirmed past the changes")
    assert bridge.running(), bridge.log()
    assert registry.get_versions(f"{topic}-value") == [1]
