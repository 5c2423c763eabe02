"""Poison-event quarantine against the real servers (`bridge.produce.poison`): with
`bridge.poison.topic`, a row Kafka refuses for good (larger than its topic's max.message.bytes)
and a row the converter refuses (numeric 'NaN' in a NOT NULL numeric(10,2) column, which
Debezium cannot represent with decimal.handling.mode=precise) land in the poison topic with
their headers; the rows after them still arrive, the slot moves past them and the metric counts
them."""

from __future__ import annotations

from confluent_kafka.admin import AdminClient, NewTopic

from tests.integration.drills import http_port, metric_total, read_raw
from tests.integration.support import confirmed_flush, consume_until, slot_active, wait_until


def test_an_oversize_row_and_a_row_that_cannot_be_converted_are_quarantined(pg, bridge_factory, kafka_bootstrap,
                                                                             unique_name):
    table, poison = f"poison_{unique_name}", f"{unique_name}_poison"
    topic, slot = f"{unique_name}.public.{table}", f"{unique_name}_slot"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, n numeric(10,2) NOT NULL, body text)")
        cur.execute(f"SELECT '{table}'::regclass::oid")
        relid = cur.fetchone()[0]
    # GIVEN a topic whose broker-side limit refuses big records, and a poison topic
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for f in admin.create_topics([NewTopic(topic, 1, 1, config={"max.message.bytes": "4096"})]).values():
        f.result(30)
    bridge = bridge_factory(unique_name, {"bridge.producers": "2", "bridge.poison.topic": poison}, tables=[table])
    bridge.start()
    port = http_port(bridge)
    wait_until(lambda: slot_active(pg, slot), what="the bridge to start streaming")

    # WHEN a good row, one the converter refuses, one too large for the topic, and a good row
    # are committed, one transaction each
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {table} VALUES (1, 1, 'small')")
        cur.execute(f"INSERT INTO {table} VALUES (2, 'NaN', 'not a number')")
        cur.execute(f"INSERT INTO {table} SELECT 3, 3, string_agg(md5(random()::text), '') "
                    "FROM generate_series(1, 400)")  # random text does not compress below the limit
        cur.execute(f"INSERT INTO {table} VALUES (4, 4, 'after')")
        cur.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
        after_all = int(cur.fetchone()[0])

    # THEN the good rows arrive, the other two are in the poison topic with their headers
    events = consume_until(kafka_bootstrap, topic, lambda ev: {e.key["payload"]["id"] for e in ev} >= {1, 4},
                           timeout=60, what="rows 1 and 4")
    assert sorted(e.key["payload"]["id"] for e in events) == [1, 4]
    quarantined = {r.headers["pgbridge.poison.stage"]: r for r in read_raw(kafka_bootstrap, poison, 2)}
    assert set(quarantined) == {b"convert", b"delivery"}
    for r in quarantined.values():
        assert r.headers["pgbridge.poison.relation"] == f"public.{table}".encode()
        assert r.headers["pgbridge.poison.topic"] == topic.encode()
        assert b"/" in r.headers["pgbridge.poison.lsn"]

    converted = quarantined[b"convert"]  # the pgoutput Insert as the server sent it
    assert converted.value[:5] == b"I" + relid.to_bytes(4, "big") and b"NaN" in converted.value
    assert converted.headers["pgbridge.poison.error.class"] == b"ValueNotConverted"
    assert b"NaN" in converted.headers["pgbridge.poison.error.message"]

    refused = quarantined[b"delivery"]  # the record Kafka would not take, as it was built
    assert refused.json()["payload"]["after"]["id"] == 3 and len(refused.value) > 4096
    assert refused.headers["pgbridge.poison.error.class"] == b"MSG_SIZE_TOO_LARGE"

    # and the pipeline goes on: the slot moves past them, the metric counts them
    wait_until(lambda: confirmed_flush(pg, slot) >= after_all, timeout=30, what="the slot to move past the rows")
    assert wait_until(lambda: metric_total(port, "pgbridge_poison_events_total") == 2, what="the metric")
    assert bridge.running()
    assert bridge.stop() == 0, bridge.log()
    assert "quarantined" in bridge.log()
