"""Converters, live: pgbridge and a real Debezium 3.7.0 (Kafka Connect 4.3.1) with the same
`key.converter` / `value.converter` settings, on the same tables at once, compared text for text.

Each case starts both connectors (own slots, publications, topic prefixes; streaming only), runs
one workload — inserts, updates under DEFAULT and FULL replica identity, deletes and their
tombstones, a primary-key change (its newkey/oldkey headers), a table without a key, a truncate,
a logical message outside any transaction, transaction metadata — and compares every record of
every topic (tests/integration/parity.py `compare_text`): headers, key and value, as the bytes
Kafka holds (decoded as UTF-8).

What is excluded, and why (each must really occur, or the test fails):
- the `__debezium.context.runId` header: one UUID per run of each connector;
- StringConverter: the source's `version` (pgbridge names its own), the envelope's and the
  message record's processing time (`ts_ms`, `ts_us`, `ts_ns`: each connector's clock), and
  `[B@<hex>`, what Java prints for a byte[] (the `value` of a VariableScaleDecimal, Bits): an
  identity hash that differs from run to run even within Debezium;
- JSON through a byte array converter's delegate: the source's `version` and the processing time;
- CloudEvents: `iodebeziumversion` (the source's version). CloudEvents carry no processing time:
  `time` is the commit time, and must be equal.
Everything else — LSNs, txIds, `sequence`, commit times, ids, field order, number spelling —
must be equal.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections import Counter

import pytest

from tests.integration import parity
from tests.integration.live_pair import LivePair

STRING = "org.apache.kafka.connect.storage.StringConverter"
JSON = "org.apache.kafka.connect.json.JsonConverter"
CLOUDEVENTS = "io.debezium.converters.CloudEventsConverter"

VERSION = parity.Mask(r"(?<=source=Struct\{version=)[^,]+", "source.version")
CLOCK = parity.Mask(r",ts_ms=\d+,ts_us=\d+,ts_ns=\d+\}$", "processing time")
MESSAGE_CLOCK = parity.Mask(r"^Struct\{op=m,ts_ms=\d+", "message processing time")
BYTE_ARRAY = parity.Mask(r"\[B@[0-9a-f]+", "byte[] identity hash")
JSON_VERSION = parity.Mask(r'(?<="source":\{"version":)"[^"]*"', "source.version")
JSON_CLOCK = parity.Mask(r'"ts_ms":\d+,"ts_us":\d+,"ts_ns":\d+\}$', "processing time")
JSON_MESSAGE_CLOCK = parity.Mask(r'^\{"op":"m","ts_ms":\d+', "message processing time")
CE_VERSION = parity.Mask(r'(?<="iodebeziumversion":)"[^"]*"', "source.version")

CASES = {
    "string": ({"key.converter": STRING, "value.converter": STRING}, (VERSION, CLOCK, MESSAGE_CLOCK, BYTE_ARRAY)),
    "cloudevents": ({"key.converter": JSON, "key.converter.schemas.enable": "false",
                     "value.converter": CLOUDEVENTS, "value.converter.serializer.type": "json",
                     "value.converter.data.serializer.type": "json"}, (CE_VERSION,)),
    # Debezium's byte array converters hand every Struct to their delegate, with its own options
    "byte_array_delegates": ({"key.converter": "io.debezium.converters.ByteArrayConverter",
                              "key.converter.delegate.converter.type": STRING,
                              "value.converter": "io.debezium.converters.BinaryDataConverter",
                              "value.converter.delegate.converter.type": JSON,
                              "value.converter.delegate.converter.type.schemas.enable": "false"},
                             (JSON_VERSION, JSON_CLOCK, JSON_MESSAGE_CLOCK)),
    "cloudevents_bare": ({"key.converter": STRING, "value.converter": CLOUDEVENTS,
                          "value.converter.json.schemas.enable": "false",
                          "value.converter.extension.attributes.enable": "false"}, ()),
}
# connector options of a case beside `common` (both sides): one case runs without the context headers
OPTIONS = {"string": {"extended.headers.enabled": "false"}}


def _schema_sql(schema: str) -> list[str]:
    return [
        f"CREATE SCHEMA {schema}",
        f"""CREATE TABLE {schema}.items (
            id int PRIMARY KEY, name text, price numeric(10,2), tiny numeric(12,9), free numeric,
            f8 float8, f4 float4, flag boolean, data bytea, born date, at timestamptz, ts timestamp,
            t time, tags text[], nums int[], doc jsonb, u uuid, iv interval, bits bit(4), note text)""",
        f"CREATE TABLE {schema}.full_rows (id int PRIMARY KEY, v text, amount numeric(8,3))",
        f"ALTER TABLE {schema}.full_rows REPLICA IDENTITY FULL",
        f"CREATE TABLE {schema}.keyless (v text, n int)",
        f"ALTER TABLE {schema}.keyless REPLICA IDENTITY FULL",
    ]


def _workload(schema: str, stream: str) -> list[str]:
    items = f"{schema}.items"
    return [
        f"""INSERT INTO {items} VALUES (1, 'plain', 12.5, 0.000000012, 3.14159, 1e10, 1.5, true, '\\x010203',
            '2024-02-29', '2024-03-01 12:34:56.789+02', '2024-03-01 12:34:56.123456', '23:59:59.5',
            ARRAY['a', NULL, 'c, d'], ARRAY[1, 2, 3], '{{"k": [1, "é"]}}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
            '1 day 02:03:04', B'1010', NULL)""",
        f"""INSERT INTO {items} (id, name, price, tiny, free, f8, f4, flag) VALUES
            (2, 'Ünïcødé 🎉 "quoted" a=b, {{c}}', -0.01, -123.000000001, 1e-10, -0.0, 3.4028235e38, false)""",
        f"INSERT INTO {items} (id, name, price) VALUES (3, '', 1000000.00)",
        f"UPDATE {items} SET name = 'renamed', price = price * 2, note = 'n' WHERE id = 1",
        f"UPDATE {items} SET id = 4 WHERE id = 3",  # a primary-key change
        f"DELETE FROM {items} WHERE id = 2",
        f"INSERT INTO {schema}.full_rows VALUES (1, 'one', 1.5), (2, NULL, NULL)",
        f"UPDATE {schema}.full_rows SET v = 'uno', amount = 0.001 WHERE id = 1",
        f"DELETE FROM {schema}.full_rows WHERE id = 2",
        f"INSERT INTO {schema}.keyless VALUES ('no key', 1)",
        f"UPDATE {schema}.keyless SET n = 2",
        f"SELECT pg_logical_emit_message(false, '{stream}-nontx', 'outside any transaction')",
        f"TRUNCATE {schema}.keyless",
        f"INSERT INTO {items} (id, name) VALUES (999, 'the end')",
    ]


def _counts(records: list[parity.Record], prefix: str) -> Counter:
    return Counter(r.topic[len(prefix) + 1:] for r in records)


def _run_case(case: str, pg_dsn: str, kafka_bootstrap: str, tmp) -> tuple:
    converters = CASES[case][0]
    schema = f"cv_{uuid.uuid4().hex[:6]}"
    with LivePair(pg_dsn, kafka_bootstrap, tmp, schema) as pair:
        dbz, ours = pair.dbz, pair.ours
        parity.run_sql(pair.conn, _schema_sql(schema))
        pair.publish(f"TABLES IN SCHEMA {schema}")
        common = {
            "snapshot.mode": "no_data",
            "publication.autocreate.mode": "disabled",
            "schema.include.list": schema,
            "skipped.operations": "none",
            "provide.transaction.metadata": "true",
            "message.prefix.include.list": f"{schema}-nontx",
            **OPTIONS.get(case, {}),
        }
        pair.start(common, {}, {**common, **converters}, converters=converters)

        parity.run_sql(pair.conn, _workload(schema, schema))

        def ended(records: list[parity.Record], prefix: str) -> bool:
            return any(r.topic == f"{prefix}.{schema}.items" and r.value and "the end" in r.value for r in records)

        bridge = pair.bridge
        got_dbz = parity.consume_prefix(kafka_bootstrap, dbz, lambda rs: ended(rs, dbz), quiet=3.0, timeout=120)
        want = _counts(got_dbz, dbz)
        got_ours = parity.consume_prefix(
            kafka_bootstrap, ours, lambda rs: all(_counts(rs, ours)[t] >= n for t, n in want.items()),
            quiet=2.0, timeout=90, alive=bridge.running)
        code = bridge.stop()
        assert code == 0, f"pgbridge exited with {code}:\n{bridge.log()}"
        for name, records in (("debezium", got_dbz), ("pgbridge", got_ours)):
            (tmp / f"{case}-{name}.jsonl").write_text(
                "".join(json.dumps(dataclasses.asdict(r), ensure_ascii=False) + "\n" for r in records))
        return got_dbz, dbz, got_ours, ours


@pytest.mark.parametrize("case", sorted(CASES))
def test_pgbridge_converts_as_debezium_does(case, pg_dsn, kafka_bootstrap, tmp_path):
    # GIVEN both connectors with the same converters, WHEN the workload runs
    got_dbz, dbz, got_ours, ours = _run_case(case, pg_dsn, kafka_bootstrap, tmp_path)
    masks = CASES[case][1]
    # THEN Debezium's output holds what the workload is meant to produce
    topics = set(_counts(got_dbz, dbz))
    assert {"message", "transaction"} <= {t.rsplit(".", 1)[-1] for t in topics}, topics
    headers = {name for r in got_dbz for name, _ in r.headers}
    assert {"__debezium.newkey", "__debezium.oldkey"} <= headers
    context = {name for name in headers if name.startswith("__debezium.context.")}
    assert bool(context) is (OPTIONS.get(case, {}).get("extended.headers.enabled") != "false"), context
    # AND pgbridge wrote the same records, text for text, but for the documented differences
    hits: dict = {}
    problems = parity.compare_text(got_dbz, dbz, got_ours, ours, masks=masks, hits=hits)
    assert not problems, parity.report(problems) + f"\n(records in {tmp_path})"
    # AND each documented difference was needed: it occurs on both sides
    for mask in masks:
        assert hits.get((mask, "debezium")) and hits.get((mask, "pgbridge")), f"mask {mask.why!r} hit {hits}"
