"""pgbridge against the golden output of a real Debezium 3.7.0 (tests/data/debezium).

For each replayable golden pass, pgbridge runs as a real process with the pass's connector
options, against freshly created copies of the golden tables (schema `golden` renamed to a
schema of this run), the pass's workload SQL is replayed statement by statement, and every
record pgbridge writes must equal Debezium's, text for text, apart from what changes from run to
run (see tests/integration/parity.py). The type-matrix passes share one copy of the tables and
one replay: their bridges read the same WAL with different options.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field

import psycopg2
import pytest

from tests.integration import parity
from tests.integration.support import BridgeProcess, slot_active, wait_until, write_properties

# pass -> the group of passes that share one copy of the tables and one replay of the workload
PASSES = {"default": "matrix", "alt_modes": "matrix", "double": "matrix", "pk_change": "pk"}


@dataclass
class Streamed:
    golden: parity.GoldenPass
    golden_run: parity.Run
    records: list[parity.Record]
    run: parity.Run
    extra_topics: set[str] = field(default_factory=set)
    failure: str | None = None


@pytest.fixture(scope="module")
def streamed(pg_dsn, kafka_bootstrap, tmp_path_factory):
    """Run every pass once: {pass: Streamed}."""
    tag = uuid.uuid4().hex[:6]
    tmp = tmp_path_factory.mktemp("golden_parity")
    conn = psycopg2.connect(pg_dsn)
    conn.autocommit = True
    passes = {name: parity.golden_pass(name) for name in PASSES}
    schemas = {group: f"gp_{tag}_{group}" for group in set(PASSES.values())}
    workloads: dict[str, list[str]] = {}
    bridges: dict[str, tuple[BridgeProcess, str, str]] = {}
    try:
        # GIVEN the golden tables, created afresh in a schema of this run
        for name, group in PASSES.items():
            schema_file, workload_file = passes[name].sql
            assert schema_file == "schema.sql", passes[name].sql
            if group not in workloads:
                parity.run_sql(conn, parity.golden_sql(schema_file, schemas[group]))
                workloads[group] = parity.golden_sql(workload_file, schemas[group])
            else:
                assert parity.golden_sql(workload_file, schemas[group]) == workloads[group]
        # AND one bridge per pass with the pass's options, publishing the group's tables
        for name, group in PASSES.items():
            prefix = f"gp_{tag}_{name}"
            slot, publication = f"{prefix}_slot", f"{prefix}_pub"
            with conn.cursor() as cur:
                cur.execute(f'CREATE PUBLICATION "{publication}" FOR TABLE '
                            + ", ".join(parity.golden_tables(schemas[group])))
            extra = {"debezium.source.publication.autocreate.mode": "disabled",
                     **passes[name].bridge_properties(schemas[group])}
            cfg = write_properties(tmp / f"{prefix}.properties", pg_dsn, kafka_bootstrap, prefix=prefix,
                                   slot=slot, publication=publication, extra=extra)
            bridge = BridgeProcess(cfg, tmp / f"{prefix}.log")
            bridges[name] = (bridge, slot, publication)
            bridge.start()
        for name, (bridge, slot, _) in bridges.items():
            wait_until(lambda b=bridge, s=slot: slot_active(conn, s) or not b.running(), timeout=60,
                       what=f"the {name} bridge to stream")
            assert bridge.running(), f"the {name} bridge stopped:\n{bridge.log()}"

        # WHEN the workloads run
        for group, statements in workloads.items():
            parity.run_sql(conn, statements)

        # THEN each bridge writes as many records per topic as Debezium did (read back here)
        out = {}
        for name, group in PASSES.items():
            golden = passes[name]
            prefix = f"gp_{tag}_{name}"
            golden_run = parity.Run(golden.prefix, parity.GOLDEN_SCHEMA)
            our_run = parity.Run(prefix, schemas[group])
            counts = Counter(f"{prefix}.{schemas[group]}.{golden_run.topic_suffix(r.topic)}"
                             for r in golden.records())
            bridge = bridges[name][0]
            records = parity.consume_records(kafka_bootstrap, dict(counts), timeout=60, alive=bridge.running)
            out[name] = Streamed(golden, golden_run, records, our_run,
                                 extra_topics=parity.topics_with_prefix(kafka_bootstrap, prefix) - set(counts))
        for name, (bridge, _, _) in bridges.items():
            # AND each stops cleanly (a bridge that failed on the data has exited already)
            code = bridge.stop() if bridge.running() else bridge.proc.returncode
            if code != 0:
                out[name].failure = f"the bridge exited with code {code}; its log:\n{bridge.log()}"
        yield out
    finally:
        for bridge, slot, publication in bridges.values():
            if bridge.running():
                bridge.kill()
            with conn.cursor() as cur:
                cur.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                            "WHERE slot_name = %s AND NOT active", (slot,))
                cur.execute(f'DROP PUBLICATION IF EXISTS "{publication}"')
        with conn.cursor() as cur:
            for schema in schemas.values():
                cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.close()


@pytest.mark.parametrize("name", list(PASSES))
def test_records_equal_debeziums(streamed, name):
    s = streamed[name]
    problems = parity.compare(s.golden.records(), s.golden_run, s.records, s.run)
    problems += [f"topic {t}: not in the golden output" for t in sorted(s.extra_topics)]
    if s.failure:
        problems.insert(0, s.failure)
    assert not problems, parity.report(problems)


def test_the_comparison_sees_spelling_order_and_headers():
    # GIVEN the golden records compared with themselves under another prefix and schema
    golden = parity.golden_pass("default")
    records = golden.records()
    run = parity.Run(golden.prefix, parity.GOLDEN_SCHEMA)
    other = parity.Run("p2", "s2")

    def moved(r: parity.Record, value=None, headers=None) -> parity.Record:
        def rename(text):
            return None if text is None else text.replace(f'"{golden.prefix}.golden.', '"p2.s2.') \
                .replace(f'"name":"{golden.prefix}"', '"name":"p2"').replace('"schema":"golden"', '"schema":"s2"')
        hs = tuple((h, "p2" if v == golden.prefix else v) for h, v in (headers or r.headers))
        return parity.Record(r.topic.replace(f"{golden.prefix}.golden.", "p2.s2."), rename(r.key),
                             rename(value if value is not None else r.value), hs)

    assert parity.compare(records, run, [moved(r) for r in records], other) == []
    # WHEN one float is spelled the Python way, two fields swap places, a header goes missing
    i = next(i for i, r in enumerate(records) if r.value and "3.4028235E38" in r.value)
    j = next(k for k, r in enumerate(records) if k not in (0, i) and r.value and '"op":"c"' in r.value)
    changed = [moved(r) for r in records]
    changed[i] = moved(records[i], records[i].value.replace("3.4028235E38", "3.4028235e+38"))
    changed[j] = moved(records[j], records[j].value.replace('"transaction":null,"op":"c"', '"op":"c","transaction":null'))
    changed[0] = moved(records[0], headers=records[0].headers[1:])
    # THEN each shows up as a difference
    problems = "\n".join(parity.compare(records, run, changed, other))
    assert "+value.payload.after.f4 = 3.4028235e+38" in problems
    assert "+value.payload.op" in problems or "-value.payload.transaction = null" in problems
    assert "-header __debezium.context.connectorLogicalName" in problems
