"""`bridge sink` reading Avro through a real schema registry (Apicurio's Confluent API,
`schema_registry`) into a second database, over every type family the in-process round trip
covers (tests/integration/type_families.py), plus an update that leaves a TOASTed column alone.
The target's `::text` must equal the source's, column by column, and the placeholder must never
reach it.

- pgbridge's Avro: `bridge run` with Confluent's AvroConverter → `bridge sink` with the same.
- Debezium's Avro: Debezium 3.4.1 with Apicurio's AvroConverter in its Confluent-compatible mode
  (tests/integration/avro_reference.py) → `bridge sink` with Apicurio's converter configured as
  Debezium users configure it (`apicurio.registry.url` on the registry's own API).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable

import psycopg2
import pytest

from tests.integration import avro_reference as ref
from tests.integration.support import (DEBEZIUM_STOP, BridgeProcess, create_database, drop_database,
                                       drop_slot_and_publication, rows_as_text, slot_active, start_bridge_with,
                                       start_debezium_with, wait_until, write_sink_config)
from tests.integration.type_families import DEFAULT, FAMILY_EXTENSIONS, FAMILY_TYPES

pytestmark = pytest.mark.integration
CONFLUENT = "io.confluent.connect.avro.AvroConverter"
# ~6 kB of barely compressible text: stored out of line (TOAST)
BIG = "(SELECT string_agg(md5(i::text), '') FROM generate_series(1, 200) i)"


# What Debezium 3.4.1 writes otherwise than 3.7, which pgbridge and the sink follow (seen in its
# records): date and timestamp ±infinity (test_avro_parity.py VERSION_DIFFERENCES), a BC element
# of a date[] (written as the AD date), timetz '24:00:00+00' (written "00:00:00Z"), and line,
# lseg, box, path, polygon and circle columns (not in its events).
_NOT_AS_3_7 = {"date": ("'infinity'", "'-infinity'"), "timestamp": ("'infinity'", "'-infinity'"),
               "timestamp(3)": ("'infinity'", "'-infinity'"), "date[]": ("'{2016-11-04,0044-03-15 BC,infinity}'",),
               "timetz": ("'24:00:00+00'",)}
_NOT_IN_3_4 = ("line", "lseg", "box", "path", "polygon", "circle")
DEBEZIUM_3_4 = [(typ, [v for v in values if v not in _NOT_AS_3_7.get(typ, ())]) for typ, values in DEFAULT
                if typ not in _NOT_IN_3_4]


def _ddl(schema: str, families: list) -> list[str]:
    """The schema, its types and the table of every family (c<i>), keyed by id."""
    columns = ", ".join(f"c{i} {typ}" for i, (typ, _) in enumerate(families))
    return [f"CREATE SCHEMA {schema}", f"SET search_path = {schema}, public", *FAMILY_TYPES,
            f"CREATE TABLE {schema}.families (id int PRIMARY KEY, {columns}, big text)", "RESET search_path"]


def _rows(schema: str, families: list) -> list[str]:
    rows = max(len(values) for _, values in families)
    out = [f"SET search_path = {schema}, public"]
    for r in range(rows):
        literals = [values[r] if r < len(values) else "NULL" for _, values in families]
        out.append(f"INSERT INTO families VALUES ({r}, {', '.join(literals)}, {BIG if r == 0 else 'NULL'})")
    out.append(f"INSERT INTO families (id) VALUES ({rows})")  # every column NULL
    out.append("UPDATE families SET c0 = 1 WHERE id = 0")  # big left alone: its event holds the placeholder
    return out + ["RESET search_path"]


def _run(dsn_or_conn, statements: list[str]) -> None:
    conn = psycopg2.connect(dsn_or_conn) if isinstance(dsn_or_conn, str) else dsn_or_conn
    conn.autocommit = True
    with conn.cursor() as cur:
        for sql in statements:
            cur.execute(sql)
    if isinstance(dsn_or_conn, str):
        conn.close()


@pytest.fixture
def families(tmp_path, pg, pg_dsn, kafka_bootstrap):
    """A source schema and a target database; `run(families, producer, converters)` makes the
    families' table in both and publishes it, starts the producer (it streams the publication),
    writes the rows, runs `bridge sink` with the converter keys, and waits for the target to
    equal the source."""
    uid = uuid.uuid4().hex[:8]
    schema, name = f"sa{uid}", f"sa{uid}"
    target_db = f"satarget_{uid}"
    target = create_database(pg, pg_dsn, target_db)
    processes: list[BridgeProcess] = []

    def run(families: list, start_producer: Callable[[str, str], None], converters: dict[str, str]) -> None:
        extensions = [f"CREATE EXTENSION IF NOT EXISTS {e} SCHEMA public" for e in FAMILY_EXTENSIONS]
        # Both ends: in a fresh cluster no earlier test has made them in the source.
        _run(pg, [*extensions, *_ddl(schema, families),
                  f'CREATE PUBLICATION "{name}_pub" FOR TABLE {schema}.families'])
        _run(target, [*extensions, *_ddl(schema, families)])
        start_producer(name, schema)
        _run(pg, _rows(schema, families))
        config = write_sink_config(tmp_path / "sink.json", f"{name}-sink", target, kafka_bootstrap, {
            "topics": f"{name}.{schema}.families", "insert.mode": "upsert", "delete.enabled": "true",
            "primary.key.mode": "record_key", "table.name.format": "${source.schema}.${source.table}", **converters})
        sink = BridgeProcess(config, tmp_path / "sink.log", command="sink", args=("--workers", "1"))
        processes.append(sink)
        sink.start()
        query = (f"SELECT id, {', '.join(f'c{i}::text' for i in range(len(families)))}, md5(big) "
                 f"FROM {schema}.families ORDER BY id")
        source = rows_as_text(pg_dsn, query)

        def caught_up() -> bool:
            assert sink.running(), f"bridge sink exited with {sink.proc.returncode}:\n{sink.log()[-4000:]}"
            return rows_as_text(target, query) == source
        try:
            wait_until(caught_up, timeout=90, interval=0.5, what="the target to equal the source")
        except AssertionError as exc:
            got = rows_as_text(target, query)
            types = ["id"] + [typ for typ, _ in families] + ["md5(big)"]
            diffs = [(types[i], s_row[i], t_row[i]) for s_row, t_row in zip(source, got) for i in range(len(types))
                     if s_row[i] != t_row[i]]
            raise AssertionError(f"{exc}\n{len(source)} vs {len(got)} rows; differing (type, source, target): "
                                 f"{diffs[:8]}") from None
        assert sink.stop() == 0, sink.log()

    yield {"run": run, "processes": processes}
    for process in processes:
        if process.running():
            process.kill()
    drop_slot_and_publication(pg, f"{name}_slot", f"{name}_pub")
    _run(pg, [f"DROP SCHEMA IF EXISTS {schema} CASCADE"])
    drop_database(pg, target_db)


@pytest.mark.timeout(300)
def test_pgbridges_avro_reaches_the_target_byte_equal(families, tmp_path, pg, pg_dsn, kafka_bootstrap,
                                                       schema_registry):
    avro = {"key.converter": CONFLUENT, "value.converter": CONFLUENT,
            "key.converter.schema.registry.url": schema_registry,
            "value.converter.schema.registry.url": schema_registry}

    def bridge(name: str, schema: str) -> None:
        families["processes"].append(start_bridge_with(tmp_path, pg_dsn, kafka_bootstrap, name,
                                                       {"publication.autocreate.mode": "disabled"}, converters=avro))
        wait_until(lambda: slot_active(pg, f"{name}_slot"), timeout=60, what="the bridge's slot")

    families["run"](DEFAULT, bridge, avro)


@pytest.mark.timeout(600)
def test_debeziums_avro_reaches_the_target_byte_equal(families, tmp_path, pg, pg_dsn, kafka_bootstrap,
                                                       schema_registry):
    env = {**os.environ, "BRIDGE_PG_DSN": pg_dsn, "BRIDGE_KAFKA_BOOTSTRAP": kafka_bootstrap}
    started: list[str] = []

    def debezium(name: str, schema: str) -> None:
        started.append(name)
        start_debezium_with(tmp_path, name, {"snapshot.mode": "no_data", "publication.autocreate.mode": "disabled",
                                             "schema.include.list": schema, "slot.name": f"{name}_slot",
                                             "plugins": "avro", **ref.converter_options(schema_registry)}, env)

    # the sink given Debezium's own converter settings, as a Connect worker's sink would have them
    sink_side = {k.removeprefix("worker."): v for k, v in ref.converter_options(schema_registry).items()}
    try:
        families["run"](DEBEZIUM_3_4, debezium, sink_side)
    finally:
        for name in started:
            subprocess.run([str(DEBEZIUM_STOP), name, "--purge"], env=env, capture_output=True, timeout=120,
                           check=False)
            wait_until(lambda: not slot_active(pg, f"{name}_slot"), timeout=30, what="Debezium's slot released")
        ref.delete_subjects(schema_registry, tuple(f"{name}." for name in started))
