"""Delete markers end to end (`bridge.sink.markers`): `bridge sink` reading Debezium-format records
from real Kafka into PostgreSQL. A row inserted at LSN 10 and deleted at LSN 20 stays deleted when
the insert at LSN 10 arrives again, from a second topic feeding the table (the default, offsets in
the target) or again on its own topic (offsets in Kafka, as a redelivery); an insert at LSN 30
re-creates it."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.integration.support import (BridgeProcess, jdbc_url, sink_delete, sink_record, wait_until,
                                       write_sink_config)

pytestmark = pytest.mark.integration


@pytest.fixture
def target(pg, pg_dsn):
    schema = f"sink_marks_{uuid.uuid4().hex[:8]}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {schema}")
        cur.execute(f"CREATE TABLE {schema}.t (id bigint PRIMARY KEY, v text)")
    yield schema
    with pg.cursor() as cur:
        cur.execute(f"DROP SCHEMA {schema} CASCADE")


def _values(pg, schema: str) -> dict[int, str]:
    with pg.cursor() as cur:
        cur.execute(f"SELECT id, v FROM {schema}.t")
        return dict(cur.fetchall())


@pytest.mark.parametrize("offsets", ["target", "kafka"])
def test_an_older_insert_arriving_after_the_delete_does_not_resurrect_the_row(target, pg, pg_dsn, kafka_bootstrap,
                                                                               tmp_path, offsets):
    schema, tag = target, uuid.uuid4().hex[:8]
    main, other = f"marks-{tag}-a", f"marks-{tag}-b"
    topics = [main, other] if offsets == "target" else [main]  # the default: two topics turn markers on
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in admin.create_topics([NewTopic(t, 1, 1) for t in topics]).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})

    def send(topic: str, *records) -> None:
        for key, value in records:
            producer.produce(topic, value, key)
        producer.flush(30)

    # connection.url's currentSchema puts the sink's own tables (offsets, markers) in the test's schema
    url = jdbc_url(pg_dsn) + f"?currentSchema={schema}"
    options = {"topics": ",".join(topics), "insert.mode": "upsert", "delete.enabled": "true",
               "primary.key.mode": "record_key", "table.name.format": "t", "connection.url": url,
               "batch.size": "10", "bridge.sink.linger.ms": "20"}
    if offsets == "kafka":  # without the dedup window (in memory, gone at a restart), which would skip the copy too
        options.update({"bridge.sink.offsets": "kafka", "bridge.sink.dedup.size": "0"})
    config = write_sink_config(tmp_path / "sink.json", f"marks-{tag}", pg_dsn, kafka_bootstrap, options)
    sink = BridgeProcess(config, tmp_path / "sink.log", command="sink", args=("--workers", "1"))
    try:
        # GIVEN a row inserted at LSN 10 and deleted at LSN 20, applied
        send(main, sink_record(1, "a", 10), sink_delete(1, 20), sink_record(2, "first", 21))
        sink.start()
        wait_until(lambda: _values(pg, schema) == {2: "first"}, timeout=60, what=f"the delete; log:\n{sink.log()}")
        # WHEN the insert at LSN 10 arrives again: from the second topic, or again on its own
        send(other if offsets == "target" else main, sink_record(1, "a", 10), sink_record(3, "after", 22))
        wait_until(lambda: 3 in _values(pg, schema), timeout=30, what="the second copy's batch")
        # THEN the row stays deleted; an insert at LSN 30 re-creates it
        assert _values(pg, schema) == {2: "first", 3: "after"}
        send(main, sink_record(1, "c", 30))
        wait_until(lambda: _values(pg, schema).get(1) == "c", timeout=30, what="the newer insert")
        assert sink.stop() == 0, sink.log()
        with pg.cursor() as cur:
            cur.execute(f"SELECT table_name, key, lsn FROM {schema}.__pgbridge_sink_deletes")
            assert cur.fetchall() == [("t", "(1)", 20)]
    finally:
        if sink.running():
            sink.kill()
        admin.delete_topics(topics)
