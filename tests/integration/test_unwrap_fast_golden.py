"""The unwrap fast path over the golden type tables: real pgoutput, both paths, the same records.

The golden tables (tests/data/debezium/schema.sql, schema renamed to one of this run) get the
type-matrix workload; its pgoutput, read from a slot of this run, goes through the decoder's
Router into one producer's ring batch, which a ProducerWorker writes twice for each chain —
with the unwrap fast path (`bridge.produce.unwrapped`) and with every change forced onto the
general path (decode + event building + the chain) — and the records, keys, headers and
partitions must be the same, byte for byte. Each delete mode, with fields and headers added
and a RegexRouter, schemas on and off; and in Avro (`bridge.produce.avro_unwrapped`), with the
session's schema registry. Needs PostgreSQL (and the registry); Debezium's own output for these
chains is compared in test_live_transforms.py, in Avro in test_avro_parity.py.
"""

from __future__ import annotations

import uuid

import psycopg2
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from bridge.config import config_from_properties
from bridge.convert.types import TypeRegistry
from bridge.produce.worker import ProducerWorker
from bridge.route.router import Router
from bridge.source.catalog import describe_table
from tests.fakes import RecordingSink
from tests.integration import avro_reference, parity

pytestmark = pytest.mark.integration

MODES = ["tombstone", "drop", "rewrite", "rewrite-with-tombstone", "delete-to-tombstone"]


@pytest.fixture(scope="module")
def stream(pg_dsn):
    """(dbname, the workload's pgoutput messages as (lsn, bytes)) from a slot of this run."""
    tag = uuid.uuid4().hex[:6]
    schema, slot, publication = f"uf_{tag}", f"uf_slot_{tag}", f"uf_pub_{tag}"
    conn = psycopg2.connect(pg_dsn)
    conn.autocommit = True
    cur = conn.cursor()
    try:
        parity.run_sql(conn, parity.golden_sql("schema.sql", schema))
        cur.execute(f"CREATE PUBLICATION {publication} FOR TABLES IN SCHEMA {schema}")
        cur.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
        parity.run_sql(conn, parity.golden_sql("workload.sql", schema))
        cur.execute("SELECT lsn::text, data FROM pg_logical_slot_get_binary_changes(%s, NULL, NULL, "
                    "'proto_version', '1', 'publication_names', %s)", (slot, publication))
        messages = [(_lsn(lsn), bytes(data)) for lsn, data in cur.fetchall()]
        yield conn, messages
    finally:
        cur.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                    (slot,))
        cur.execute(f"DROP PUBLICATION IF EXISTS {publication}")
        cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.close()


def _lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def chain(mode: str) -> dict[str, str]:
    return {"debezium.transforms": "unwrap,route",
            "debezium.transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
            "debezium.transforms.unwrap.delete.tombstone.handling.mode": mode,
            "debezium.transforms.unwrap.add.fields": "op,table,lsn,source.ts_ms,sequence",
            "debezium.transforms.unwrap.add.headers": "db,op,lsn",
            "debezium.transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
            "debezium.transforms.route.regex": "([^.]+)[.]([^.]+)[.]([^.]+)",
            "debezium.transforms.route.replacement": "$1.$2.$3.events.v1"}


def both_paths(conn, messages: list[tuple[int, bytes]], formats: dict[str, str],
               prefix: str = "uf") -> tuple[list[tuple], int]:
    """(the records one ProducerWorker writes from `messages` with the fast paths, which it
    writes again with the general path only; how many changes took the fast path), `formats`
    being the converters' keys (and the chain's)."""
    config = config_from_properties({
        "debezium.sink.type": "kafka", "debezium.sink.kafka.producer.bootstrap.servers": "127.0.0.1:1",
        "debezium.source.database.hostname": "db.example", "debezium.source.database.user": "u",
        "debezium.source.database.password": "p", "debezium.source.database.dbname": "bridge",
        "debezium.source.topic.prefix": prefix, "bridge.producers": "1", **formats})
    router = Router(config.routing, lambda relation: describe_table(conn, relation))
    for lsn, data in messages:
        router.handle(data, lsn)
    batch = bytes(router.builders[0].buffer)
    taken = []

    def produced(fast: bool) -> list[tuple]:
        sink = RecordingSink()
        worker = ProducerWorker(config.producer_spec, sink, TypeRegistry(conn), run_id="run")
        fast_change = worker._fast_change
        worker._fast_change = lambda *args: taken.append(fast_change(*args)) or taken[-1] if fast else None
        worker.handle_batch(memoryview(batch))
        assert not worker.tracker.failed
        return sink.records

    records = produced(True)
    assert records == produced(False)
    return records, sum(out is not None for out in taken)


@pytest.mark.parametrize("schemas", ["true", "false"], ids=["schemas", "no-schemas"])
@pytest.mark.parametrize("mode", MODES)
def test_fast_and_general_paths_write_the_same_records(stream, mode, schemas):
    conn, messages = stream
    records, fast = both_paths(conn, messages, {"debezium.format.key.schemas.enable": schemas,
                                                "debezium.format.value.schemas.enable": schemas, **chain(mode)})
    # the workload's creates and updates on the fast path (47 of its 64 changes: not deletes, nor
    # values the reader leaves to the general path, as without a chain: NaN numerics, TOAST...)
    assert fast >= 40, fast
    assert all(r[0].endswith(".events.v1") for r in records)


@pytest.mark.parametrize("mode", ["rewrite", "tombstone"])
def test_in_avro_fast_and_general_paths_write_the_same_records(stream, schema_registry, mode):
    conn, messages = stream
    prefix = f"ufa{uuid.uuid4().hex[:6]}"  # the subjects of this run
    try:
        # GIVEN the chains in Avro, the records' schemas registered by the general path's first records
        records, fast = both_paths(conn, messages, {"debezium.format.key": "avro", "debezium.format.value": "avro",
                                                    "debezium.format.schema.registry.url": schema_registry,
                                                    **chain(mode)}, prefix)
        # THEN the same records either way, and the creates and updates on the fast path (24 of
        # the 64 changes) but each table's first, which registers its schemas, and those the Avro
        # fast path leaves without a chain too (arrays, geometry, NaN numerics, TOAST...)
        assert fast >= 20, fast
        # AND they read back with confluent-kafka's deserializer, under the routed topics' subjects
        with SchemaRegistryClient({"url": schema_registry}) as registry:
            read = AvroDeserializer(registry)
            for topic, key, value, *_ in records:
                assert topic.endswith(".events.v1")
                assert key is None or read(key, SerializationContext(topic, MessageField.KEY))
                assert value is None or read(value, SerializationContext(topic, MessageField.VALUE))["__op"] in "cud"
            subjects = {s for s in registry.get_subjects() if s.startswith(prefix)}
        assert subjects == {f"{r[0]}-value" for r in records if r[2] is not None} | \
            {f"{r[0]}-key" for r in records if r[1] is not None}
    finally:
        avro_reference.delete_subjects(schema_registry, (prefix,))
