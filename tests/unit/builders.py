"""Builders shared by the unit tests: the smallest valid configuration, one table's relation,
routers and a producer pipeline over a fake sink, and transactions fed to a router. Loaded as a
pytest plugin by tests/conftest.py."""

from __future__ import annotations

from bridge.config import config_from_properties
from bridge.convert.types import TypeRegistry
from bridge.pgoutput import messages as m
from bridge.produce.worker import ProducerWorker
from bridge.route.router import Router
from bridge.route.settings import EventConfig
from bridge.source.catalog import TableInfo
from tests.fakes import FakeSink
from tests.pgoutput_encoder import encode

MINIMAL = {
    "debezium.sink.type": "kafka",
    "debezium.sink.kafka.producer.bootstrap.servers": "127.0.0.1:9092",
    "debezium.source.database.hostname": "db.example",
    "debezium.source.database.user": "u",
    "debezium.source.database.password": "p",
    "debezium.source.database.dbname": "inventory",
    "debezium.source.topic.prefix": "shop",
}

# public.t (relation 16384): id int4 (the key), v text
REL = m.Relation(16384, "public", "t", "d", (
    m.RelationColumn(True, "id", 23, -1), m.RelationColumn(False, "v", 25, -1)))
COMMIT_TS = 1_700_000_000_123_456

NUMERIC_12_2 = ((12 << 16) | 2) + 4

# The Avro fast paths' tests (`bridge.produce.avrorows`, `avro_unwrapped`): (type oid, typmod,
# values as pgoutput's text) of every family pgbridge converts, the conversion modes, and the
# types those paths leave to the general one
AVRO_MATRIX = [
    (16, -1, [b"t", b"f"]), (21, -1, [b"-32768", b"7"]), (23, -1, [b"-2147483648", b"63", b"64", b"8191"]),
    (20, -1, [b"9223372036854775807", b"-9223372036854775808", b"0", b"268435455", b"268435456"]),
    (700, -1, [b"3.3", b"NaN", b"-Infinity", b"1e+30"]), (701, -1, [b"0.1", b"Infinity", b"-1.5e-300"]),
    (1700, NUMERIC_12_2, [b"1234.50", b"-0.01", b"0.00", b"NaN"]), (1700, -1, [b"22.2200", b"-1e3"]),
    (790, -1, [b"$1,234.11", b"-$0.25"]), (25, -1, [b"", b"x" * 63, b"y" * 64, "žš ☃ 𝄞".encode(), b"a\"\\\n"]),
    (1043, -1, [b"abc"]), (1042, -1, [b"x  "]), (114, -1, [b'{"a": 1}']), (3802, -1, [b'{"b": [true, null]}']),
    (142, -1, [b"<a/>"]), (2950, -1, [b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]), (17, -1, [b"\\x010203", b"\\x"]),
    (1082, -1, [b"2024-02-29", b"infinity"]), (1083, -1, [b"13:14:15.123456"]), (1266, -1, [b"13:14:15+02"]),
    (1114, -1, [b"2024-02-29 13:14:15.5", b"-infinity"]), (1184, -1, [b"2024-02-29 13:14:15.5+02"]),
    (1186, -1, [b"1 day 02:00:00", b"-00:00:01"]), (869, -1, [b"10.0.0.1"]), (650, -1, [b"10.0.0.0/8"]),
    (829, -1, [b"08:00:2b:01:02:03"]), (1560, 1, [b"1"]), (1560, 3, [b"101"]), (1562, -1, [b"10110"]),
    (600, -1, [b"(1.5,2.5)"]), (3904, -1, [b"[1,5)"]), (3220, -1, [b"16/B374D848"]), (26, -1, [b"4294967295"]),
    (1007, -1, [b"{1,NULL,3}"]), (1009, -1, [b"{a,b}"]),
]
AVRO_MODES = [{}, {"debezium.source.decimal.handling.mode": "string"},
              {"debezium.source.decimal.handling.mode": "double"},
              {"debezium.source.time.precision.mode": "connect"},
              {"debezium.source.time.precision.mode": "adaptive_time_microseconds"},
              {"debezium.source.binary.handling.mode": "hex"},
              {"debezium.source.interval.handling.mode": "string"}]
# arrays: not compiled into binary encoders
AVRO_NOT_COMPILED = {1007, 1009}


def events(**overrides) -> EventConfig:
    """The event settings of topic prefix `srv`, schemas on, tombstones on, truncates skipped."""
    settings = {"topic_prefix": "srv", "tombstones_on_delete": True, "skipped_operations": frozenset("t"),
                "key_schemas_enable": True, "value_schemas_enable": True, **overrides}
    return EventConfig(**settings)


def make_router(producers=4, **props) -> Router:
    """A router over `producers` producers, salt `salt`, prefix `p`; every table keyed by `id`."""
    config = config_from_properties({**MINIMAL, "bridge.producers": str(producers), "bridge.partition.salt": "salt",
                                     "debezium.source.topic.prefix": "p", **props})
    return Router(config.routing, lambda rel: TableInfo(("id",), frozenset({"id"})))


def pipeline(**props) -> tuple[Router, ProducerWorker, FakeSink]:
    """A router and one producer's worker, prefix `p`, producing into a `FakeSink`."""
    config = config_from_properties({**MINIMAL, "bridge.producers": "1", "debezium.source.topic.prefix": "p",
                                     **props})
    router = Router(config.routing, lambda rel: TableInfo(("id",), frozenset({"id"})))
    sink = FakeSink()
    worker = ProducerWorker(config.producer_spec, sink, TypeRegistry(), run_id="run")
    return router, worker, sink


def run_batch(router: Router, worker: ProducerWorker) -> None:
    """Hand what the router built for producer 0 to the worker, as one ring batch."""
    worker.handle_batch(memoryview(bytes(router.builders[0].buffer)))
    router.builders[0].buffer.clear()


def txn(router: Router, end_lsn: int, items, xid=7, ts=COMMIT_TS) -> None:
    """Feed the router one transaction of `items` (pgoutput messages) committed at `end_lsn`."""
    router.handle(encode(m.Begin(end_lsn - 8, ts, xid)), end_lsn - 100)
    for i, item in enumerate(items):
        router.handle(encode(item), end_lsn - 90 + i)
    router.handle(encode(m.Commit(0, end_lsn - 8, end_lsn, ts)), end_lsn)


def transform_chain(props: dict[str, str], **event_overrides):
    """The transform chain of `props` (`debezium.transforms*` / `debezium.predicates*` keys) as
    the producers compile it, over the JSON converters of `events(**event_overrides)`."""
    from bridge.config import config_from_properties
    from bridge.format.converter import converters_for
    from bridge.transform.chain import compile_chain
    ev = events(**event_overrides)
    return compile_chain(config_from_properties({**MINIMAL, **props}).chain, converters_for(ev), ev.header_format)


KAFKA_TRANSFORMS = "org.apache.kafka.connect.transforms."


def transform_props(*steps: tuple[str, str, dict[str, str]], **predicates: dict[str, str]) -> dict[str, str]:
    """The `debezium.transforms*` / `debezium.predicates*` keys of `steps`, each (alias, class,
    options); a class without a dot is one of Kafka's (`Cast$Value`)."""
    props = {"debezium.transforms": ",".join(alias for alias, _, _ in steps)}
    for alias, cls, options in steps:
        props[f"debezium.transforms.{alias}.type"] = cls if "." in cls else KAFKA_TRANSFORMS + cls
        props.update({f"debezium.transforms.{alias}.{k}": v for k, v in options.items()})
    if predicates:
        props["debezium.predicates"] = ",".join(predicates)
        for alias, options in predicates.items():
            props.update({f"debezium.predicates.{alias}.{k}": v for k, v in options.items()})
    return props


def transformed(props: dict[str, str], record, **event_overrides):
    """(topic, key, value, headers) of `record` (a ConnectRecord) through the chain of `props`,
    key and value as parsed JSON; None when the chain drops it."""
    import json
    chain = transform_chain(props, **event_overrides)
    out = chain.run(record._replace(headers=list(record.headers)))
    if out is None:
        return None
    topic, key, value, headers = chain.write(out)
    return topic, None if key is None else json.loads(key), None if value is None else json.loads(value), headers


def chain_builder(props: dict[str, str], *tables: tuple[m.Relation, str], **event_overrides):
    """An EventBuilder (prefix `srv`, run id `run-1`, database `db`) running the transform
    chain of `props` (`debezium.transforms*` / `debezium.predicates*`), with each
    (relation, topic) of `tables` known (default: REL as `srv.public.t`), keyed by `id`."""
    from bridge.convert.options import ConversionOptions
    from bridge.format.converter import converters_for
    from bridge.produce.events import EventBuilder
    from bridge.transform.chain import compile_chain
    from tests.fakes import FakeConnection

    ev = events(**event_overrides)
    chain = compile_chain(config_from_properties({**MINIMAL, **props}).chain, converters_for(ev), ev.header_format)
    b = EventBuilder(ev, ConversionOptions(), TypeRegistry(FakeConnection({})), "db", run_id="run-1", chain=chain)
    for rel, topic in tables or ((REL, "srv.public.t"),):
        b.relation(rel, TableInfo(("id",), frozenset({"id"})), topic)
    return b


SINK_BASE = {"connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector", "topics": "srv.public.t",
             "connection.url": "jdbc:postgresql://db.example:5433/target", "bridge.kafka.bootstrap.servers": "k:9092"}


def sink_file_config(tmp_path, extra: dict | None = None):
    """The `SinkConfig` of a Connect JSON file (`SINK_BASE` + `extra`), one worker."""
    import json

    from bridge.sink.files import read_sink_file, sink_config

    path = tmp_path / "sink.json"
    path.write_text(json.dumps({"name": "orders-sink", "config": {**SINK_BASE, **(extra or {})}}))
    return sink_config(read_sink_file(path), 1, refuse=True)[0]
