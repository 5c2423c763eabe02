"""`bridge sink` reading Avro through a real schema registry (Apicurio's Confluent API,
`schema_registry`): source → `bridge run` with Confluent's AvroConverter → Kafka → `bridge sink`
with the AvroConverter → a second database, over every type family the in-process round trip
covers (tests/integration/type_families.py), plus an update that leaves a TOASTed column alone.
The target's `::text` must equal the source's, column by column, and the placeholder must never
reach it."""

from __future__ import annotations

import uuid

import psycopg2
import pytest

from tests.integration.support import (BridgeProcess, create_database, drop_database, drop_slot_and_publication,
                                       rows_as_text, slot_active, start_bridge_with, wait_until, write_sink_config)
from tests.integration.type_families import DEFAULT, FAMILY_EXTENSIONS, FAMILY_TYPES

pytestmark = pytest.mark.integration
AVRO = "io.confluent.connect.avro.AvroConverter"
# ~6 kB of barely compressible text: stored out of line (TOAST)
BIG = "(SELECT string_agg(md5(i::text), '') FROM generate_series(1, 200) i)"


def _ddl(schema: str) -> list[str]:
    """The schema, its types and the table of every family (c<i>), keyed by id."""
    columns = ", ".join(f"c{i} {typ}" for i, (typ, _) in enumerate(DEFAULT))
    return [f"CREATE SCHEMA {schema}", f"SET search_path = {schema}, public", *FAMILY_TYPES,
            f"CREATE TABLE {schema}.families (id int PRIMARY KEY, {columns}, big text)"]


def _rows(schema: str) -> list[str]:
    rows = max(len(values) for _, values in DEFAULT)
    out = [f"SET search_path = {schema}, public"]
    for r in range(rows):
        literals = [values[r] if r < len(values) else "NULL" for _, values in DEFAULT]
        out.append(f"INSERT INTO families VALUES ({r}, {', '.join(literals)}, {BIG if r == 0 else 'NULL'})")
    out.append(f"INSERT INTO families (id) VALUES ({rows})")  # every column NULL
    out.append("UPDATE families SET c0 = 1 WHERE id = 0")  # big left alone: its event holds the placeholder
    return out


@pytest.mark.timeout(300)
def test_avro_topics_reach_the_target_byte_equal(tmp_path, pg, pg_dsn, kafka_bootstrap, schema_registry):
    uid = uuid.uuid4().hex[:8]
    schema, prefix, target_db = f"sa{uid}", f"sa{uid}", f"satarget_{uid}"
    bridge = sink = None
    target = create_database(pg, pg_dsn, target_db)
    try:
        # GIVEN the families' table at the source and in the target, and a bridge writing Avro
        with pg.cursor() as cur:
            for sql in _ddl(schema):
                cur.execute(sql)
            cur.execute(f'CREATE PUBLICATION "{prefix}_pub" FOR TABLE {schema}.families')
            cur.execute("RESET search_path")
        conn = psycopg2.connect(target)
        conn.autocommit = True
        with conn.cursor() as cur:
            for extension in FAMILY_EXTENSIONS:
                cur.execute(f"CREATE EXTENSION IF NOT EXISTS {extension} SCHEMA public")
            for sql in _ddl(schema):
                cur.execute(sql)
        conn.close()
        avro = {"key.converter": AVRO, "value.converter": AVRO}
        bridge = start_bridge_with(tmp_path, pg_dsn, kafka_bootstrap, prefix, {"publication.autocreate.mode": "disabled"},
                                   converters={**avro, "key.converter.schema.registry.url": schema_registry,
                                               "value.converter.schema.registry.url": schema_registry})
        wait_until(lambda: slot_active(pg, f"{prefix}_slot"), timeout=60, what="the bridge's slot")
        # WHEN the rows are written and `bridge sink` reads the Avro topic
        with pg.cursor() as cur:
            for sql in _rows(schema):
                cur.execute(sql)
            cur.execute("RESET search_path")
        config = write_sink_config(tmp_path / "sink.json", f"{prefix}-sink", target, kafka_bootstrap, {
            "topics": f"{prefix}.{schema}.families", "insert.mode": "upsert", "delete.enabled": "true",
            "primary.key.mode": "record_key", "table.name.format": "${source.schema}.${source.table}",
            **avro, "key.converter.schema.registry.url": schema_registry,
            "value.converter.schema.registry.url": schema_registry})
        sink = BridgeProcess(config, tmp_path / "sink.log", command="sink", args=("--workers", "1"))
        sink.start()
        # THEN the target holds the source's rows, every column's text byte-equal, the TOASTed value kept
        query = (f"SELECT id, {', '.join(f'c{i}::text' for i in range(len(DEFAULT)))}, md5(big) "
                 f"FROM {schema}.families ORDER BY id")
        source = rows_as_text(pg_dsn, query)

        def caught_up() -> bool:
            assert sink.running(), f"bridge sink exited with {sink.proc.returncode}:\n{sink.log()}"
            return rows_as_text(target, query) == source
        try:
            wait_until(caught_up, timeout=90, interval=0.5, what="the target to equal the source")
        except AssertionError:
            got = rows_as_text(target, query)
            types = ["id"] + [typ for typ, _ in DEFAULT] + ["md5(big)"]
            diffs = [(types[i], s_row[i], t_row[i]) for s_row, t_row in zip(source, got) for i in range(len(types))
                     if s_row[i] != t_row[i]]
            raise AssertionError(f"{len(source)} vs {len(got)} rows; differing (type, source, target): {diffs[:8]}\n"
                                 f"{sink.log()[-4000:]}") from None
        assert sink.stop() == 0, sink.log()
    finally:
        for process in (sink, bridge):
            if process is not None and process.running():
                process.kill()
        drop_slot_and_publication(pg, f"{prefix}_slot", f"{prefix}_pub")
        with pg.cursor() as cur:
            cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        drop_database(pg, target_db)
