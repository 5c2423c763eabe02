"""Avro parity with a real Debezium (issue 13, items 7 and 8).

Debezium 3.4.1 with Apicurio's AvroConverter (tests/integration/avro_reference.py says why this
pair) writes to the session's schema registry (Apicurio Registry 3.0.9, deploy/local/registry);
its records are decoded with confluent-kafka's own AvroDeserializer on the Confluent API.

- `test_debezium_avro_reference`: per case of envelopes (no transforms), what Debezium
  registers (key and value schemas of every subject) and the decoded records, against
  tests/data/avro/debezium/<case>.json, apart from the clock, positions and transaction ids.
  `PGBRIDGE_REGEN_AVRO=1` rewrites the files from this run instead.
- `test_pgbridge_avro_matches_debezium`: per case, pgbridge with Avro (`debezium.format.key|value=avro`,
  `...schema.registry.url`) and Debezium on the same tables with the same connector options
  (and transforms: the `unwrap` case, mostly written by pgbridge's unwrap fast path), at once:
  decoded records key by key and registered schemas subject by subject, apart from the clock,
  the prefix and VERSION_DIFFERENCES (what Debezium 3.7, which pgbridge follows, does
  differently from 3.4.1).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from collections import defaultdict

import psycopg2
import pytest

from tests.integration import avro_reference as ref
from tests.integration.support import (DEBEZIUM_STOP, clean_up_pair, slot_active, start_bridge_with,
                                       start_debezium_with, wait_until)

REGEN = os.environ.get("PGBRIDGE_REGEN_AVRO") == "1"


def _common(schema: str) -> dict[str, str]:
    return {"snapshot.mode": "no_data", "publication.autocreate.mode": "disabled", "schema.include.list": schema}


def _env(pg_dsn: str, kafka_bootstrap: str) -> dict[str, str]:
    return {**os.environ, "BRIDGE_PG_DSN": pg_dsn, "BRIDGE_KAFKA_BOOTSTRAP": kafka_bootstrap}


def _prepare(conn, case: ref.Case, schema: str, publications: list[str]) -> None:
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS hstore")  # the types case has an hstore column
        cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        cur.execute(f"CREATE SCHEMA {schema}")
        for statement in case.sql(case.setup, schema):
            cur.execute(statement)
        tables = ", ".join(f"{schema}.{t}" for t in case.tables)
        for publication in publications:
            cur.execute(f'DROP PUBLICATION IF EXISTS "{publication}"')
            cur.execute(f'CREATE PUBLICATION "{publication}" FOR TABLE {tables}')


def _workload(conn, case: ref.Case, schema: str) -> None:
    with conn.cursor() as cur:
        for statement in case.sql(case.workload, schema):
            cur.execute(statement)


def _forget_stale(env: dict[str, str], name: str, conn, registry: str, kafka_bootstrap: str, schema: str) -> None:
    """What an interrupted earlier run of this fixed-name case left behind."""
    subprocess.run([str(DEBEZIUM_STOP), name, "--purge"], env=env, capture_output=True, timeout=120, check=False)
    clean_up_pair(conn, env, None, name, False, {name: f"{name}_pub"}, (schema,), kafka_bootstrap,
                  (f"{name}.", f"__debezium-heartbeat.{name}"))
    ref.delete_subjects(registry, (f"{name}.", f"__debezium-heartbeat.{name}"))


# --- Debezium against its reference ------------------------------------------------------------


def _masked_topics(topics: dict[str, dict]) -> dict[str, dict]:
    return {t: {**body, "records": [{"key": ref.masked_key(t, r["key"]), "value": ref.masked(r["value"]),
                                     "headers": ref.masked_headers(r["headers"])} for r in body["records"]]}
            for t, body in topics.items()}


@pytest.mark.parametrize("name", sorted(name for name, case in ref.CASES.items() if not case.transforms))
def test_debezium_avro_reference(name, pg_dsn, kafka_bootstrap, schema_registry, tmp_path):
    case = ref.CASES[name]
    schema = dbz = f"{ref.REFERENCE_SCHEMA}_{name}"  # fixed: the names are in the reference
    env = _env(pg_dsn, kafka_bootstrap)
    _forget_stale(env, dbz, psycopg2.connect(pg_dsn), schema_registry, kafka_bootstrap, schema)
    conn = psycopg2.connect(pg_dsn)
    conn.autocommit = True
    options = {**_common(schema), **case.options_in(schema)}
    try:
        # GIVEN the case's tables and Debezium 3.4.1 with Apicurio's AvroConverter, streaming
        _prepare(conn, case, schema, [f"{dbz}_pub"])
        start_debezium_with(tmp_path, dbz, {**options, "plugins": "avro", **ref.converter_options(schema_registry)},
                            env)
        # WHEN the workload runs
        _workload(conn, case, schema)
        # THEN the records decode with confluent-kafka on the Confluent API (contentId framing)
        records = ref.consume_avro(kafka_bootstrap, schema_registry, case.topic_names(dbz, schema))
        got = ref.snapshot_of(schema_registry, records)
    finally:
        clean_up_pair(conn, env, None, dbz, True, {dbz: f"{dbz}_pub"}, (schema,), kafka_bootstrap,
                      (f"{dbz}.", f"__debezium-heartbeat.{dbz}"))
        ref.delete_subjects(schema_registry, (f"{dbz}.", f"__debezium-heartbeat.{dbz}"))
    path = ref.REFERENCE_DIR / f"{name}.json"
    if REGEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({
            "case": name,
            "debezium": ref.DEBEZIUM_VERSION,
            "converter": f"{ref.CONVERTER} {ref.CONVERTER_VERSION} (Confluent-compatible mode)",
            "registry": "Apicurio Registry 3.0.9; records decoded by confluent-kafka's AvroDeserializer",
            "topic.prefix": dbz,
            "schema": schema,
            "connector_options": options,
            "converter_options": {k.removeprefix("worker."): v.replace(ref.v2_url(schema_registry),
                                                                         "<registry>/apis/registry/v2")
                                  for k, v in ref.converter_options(schema_registry).items()},
            "sql": {"setup": case.sql(case.setup, schema), "workload": case.sql(case.workload, schema)},
            "topics": got,
        }, indent=2, ensure_ascii=False) + "\n")
        return
    assert path.exists(), f"no reference {path}: run with PGBRIDGE_REGEN_AVRO=1"
    saved = json.loads(path.read_text())
    assert saved["connector_options"] == options
    diff = ref.differences(_masked_topics(saved["topics"]), _masked_topics(got))
    assert not diff, "\n".join(f"{path}: saved {json.dumps(a)[:200]}, now {json.dumps(b)[:200]}" for path, a, b in diff)


def test_reference_files_cover_the_type_families():
    # GIVEN the saved reference of the type matrix
    doc = json.loads((ref.REFERENCE_DIR / "types.json").read_text())
    [value_schema] = doc["topics"]["avroref_types.avroref_types.types"]["value_schemas"]
    text = json.dumps(value_schema)
    # THEN it holds Debezium's Avro spellings of the families the issue names
    for wanted in ('"logicalType": "decimal"', '"io.debezium.data.VariableScaleDecimal"', '"connect.type": "int16"',
                   '"io.debezium.time.MicroTimestamp"', '"io.debezium.time.ZonedTimestamp"',
                   '"io.debezium.time.MicroDuration"', '"io.debezium.data.Uuid"', '"io.debezium.data.Json"',
                   '"io.debezium.data.Enum"', '"io.debezium.data.geometry.Point"', '"type": "array"',
                   '"io.debezium.data.Bits"', '"io.debezium.data.Xml"'):
        assert wanted in text, wanted
    defaults = json.loads((ref.REFERENCE_DIR / "defaults.json").read_text())
    assert '"connect.default"' in json.dumps(defaults["topics"])
    side = json.loads((ref.REFERENCE_DIR / "side_topics.json").read_text())
    assert {t.split(".")[-1] for t in side["topics"]} >= {"transaction", "message", "avroref_side_topics", "tx"}


# --- pgbridge against Debezium, live -----------------------------------------------------------

# What Debezium 3.7 (pgbridge's reference everywhere else) writes differently from 3.4.1, the
# newest Debezium whose Avro converter runs here: (case or "*", where, Debezium 3.4.1's, pgbridge's,
# why); ANY matches any value; "*": every case of envelopes (not a transform's output). Each must
# occur in its case: one that no longer does fails too.
ANY = object()
_ORIGIN = "Debezium 3.5+ ends the source block with the optional origin and origin_lsn (null without a replication origin)"
_ENUM = r"value_schema\.Envelope\.fields\.before\.type\.1\.fields\.m\."  # the Value record's field m
_ENUM_DEFAULT = ("an enum column's default ('ok'::mood): 3.4.1 drops it (schema optional, no default), 3.7 keeps "
                 "it, and Connect's Struct then gives the default for a null value, as for every column default")
VERSION_DIFFERENCES: tuple[tuple[str, str, object, object, str], ...] = (
    ("*", r"value\.source\.version", "3.4.1.Final", ANY, "the connector's version"),
    ("*", r"value_schema\.(Envelope|MessageValue)\.fields\.source\.type\.fields\.origin(_lsn)?", "<absent>", ANY,
     _ORIGIN),
    ("*", r"value\.source\.origin(_lsn)?", "<absent>", None, _ORIGIN),
    ("types", r"value\.after\.c_date", -2147472692, 2146033979,
     "date +infinity: 3.4/3.6 gave LocalDate -5877611-06-21 (the year's sign wrong), 3.7 +5877611-06-21"),
    ("types", r"value\.after\.c_ts", 9223372036825200000, 2**63 - 1,
     "timestamp +infinity: 3.4/3.6 read the millisecond sentinel as microseconds, 3.7 gives Long.MAX_VALUE"),
    ("defaults", _ENUM + "type.0", "null", ANY, _ENUM_DEFAULT),
    ("defaults", _ENUM + "type.1", ANY, "null", _ENUM_DEFAULT),
    ("defaults", _ENUM + "default", None, "ok", _ENUM_DEFAULT),
    ("defaults", r"value\.after\.m", None, "ok", _ENUM_DEFAULT),
)


def _listed(name: str) -> list[tuple]:
    """The VERSION_DIFFERENCES of a case: its own, and the "*" ones if its records are envelopes
    (no transforms)."""
    return [d for d in VERSION_DIFFERENCES if d[0] == name or d[0] == "*" and not ref.CASES[name].transforms]


def _by_key(records: list[ref.AvroRecord], prefix: str, as_prefix: str) -> dict[str, list[ref.AvroRecord]]:
    """The records by key (in offset order), keys spelled with `as_prefix` for `prefix`."""
    out: dict[str, list[ref.AvroRecord]] = defaultdict(list)
    for r in records:
        out[json.dumps(ref.renamed(r.key, prefix, as_prefix), sort_keys=True)].append(r)
    return out


@pytest.mark.parametrize("name", sorted(ref.CASES))
def test_pgbridge_avro_matches_debezium(name, pg_dsn, kafka_bootstrap, schema_registry, tmp_path):
    case = ref.CASES[name]
    tag = uuid.uuid4().hex[:6]
    schema, dbz, ours = f"avropar_{tag}_{name}", f"apd_{tag}", f"apb_{tag}"
    env = _env(pg_dsn, kafka_bootstrap)
    conn = psycopg2.connect(pg_dsn)
    conn.autocommit = True
    slots = {dbz: f"{dbz}_pub", f"{ours}_slot": f"{ours}_pub"}
    bridge = None
    options = {**_common(schema), **case.options_in(schema)}
    try:
        # GIVEN the case's tables, pgbridge with Avro and Debezium with Avro, both streaming
        _prepare(conn, case, schema, list(slots.values()))
        registry = {"schema.registry.url": schema_registry}
        converters = {f"{side}.converter{k and '.' + k}": v for side in ("key", "value")
                      for k, v in {"": "avro", **registry}.items()}
        bridge = start_bridge_with(tmp_path, pg_dsn, kafka_bootstrap, ours, options, converters=converters,
                                   transforms=case.transforms)
        start_debezium_with(tmp_path, dbz, {**options, **case.transforms, "plugins": "avro",
                                            **ref.converter_options(schema_registry)}, env)
        wait_until(lambda: slot_active(conn, f"{ours}_slot") or not bridge.running(), timeout=60,
                   what="pgbridge to stream")
        assert bridge.running(), f"pgbridge stopped:\n{bridge.log()}"
        # AND a commit both slots see before the workload: pgbridge's slot, made first, may have
        # seen other commits (other tests' logical messages), and the first transaction's
        # `sequence` names the previous commit each saw. Its message is captured by neither
        # (side_topics filters prefixes), or lands on a `.message` topic left uncompared.
        with conn.cursor() as cur:
            cur.execute("SELECT pg_logical_emit_message(true, 'avropar-warmup', '')")
        # WHEN the workload runs
        _workload(conn, case, schema)
        # THEN both write records that decode to the same values, key by key
        theirs = ref.consume_avro(kafka_bootstrap, schema_registry, case.topic_names(dbz, schema))
        mine = ref.consume_avro(kafka_bootstrap, schema_registry, case.topic_names(ours, schema), alive=bridge.running)
        got_dbz = ref.snapshot_of(schema_registry, theirs)
        got_ours = ref.renamed(ref.snapshot_of(schema_registry, mine), ours, dbz)
        problems = _compare(name, got_dbz, got_ours, theirs, mine, dbz, ours)
    finally:
        clean_up_pair(conn, env, bridge, dbz, True, slots, (schema,), kafka_bootstrap,
                      (f"{dbz}.", f"{ours}.", f"__debezium-heartbeat.{dbz}", f"__debezium-heartbeat.{ours}"))
        ref.delete_subjects(schema_registry, (f"{dbz}.", f"{ours}.", f"__debezium-heartbeat.{dbz}",
                                              f"__debezium-heartbeat.{ours}"))
    seen = problems.pop("seen")
    unseen = [d for d in _listed(name) if d not in seen]
    assert not problems, "\n".join(f"{where}: {what}" for where, what in problems.items()) + f"\n(in {tmp_path})"
    assert not unseen, f"listed version differences that no longer occur (drop them): {unseen}"


def _compare(name: str, dbz: dict[str, dict], ours: dict[str, dict], dbz_records, our_records,
             dbz_prefix: str, our_prefix: str) -> dict:
    """Differences by where they are ('<topic> value.after.c_date'), less the listed ones,
    which go under 'seen'. pgbridge's side is renamed to Debezium's prefix before comparing."""
    listed = _listed(name)
    problems: dict = {"seen": []}

    def note(topic: str, root: str, theirs, mine) -> None:
        for path, a, b in ref.differences(theirs, mine, root):
            known = [d for d in listed if re.fullmatch(d[1], path) and d[2] in (ANY, a) and d[3] in (ANY, b)]
            if known:
                problems["seen"].extend(known)
            else:
                problems[f"{topic} {path}"] = f"debezium {json.dumps(a)[:300]} / pgbridge {json.dumps(b)[:300]}"

    def comparable(r: ref.AvroRecord, prefix: str) -> tuple[object, dict]:
        value = ref.masked(r.value, source=frozenset(), txn=frozenset())
        return ref.renamed(value, prefix, dbz_prefix), ref.renamed(ref.masked_headers(r.headers), prefix, dbz_prefix)

    for topic in dbz:
        if topic not in ours:
            problems[topic] = "pgbridge wrote no such topic"
            continue
        note(topic, "key_schema", dbz[topic]["key_schemas"], ours[topic]["key_schemas"])
        note(topic, "value_schema", dbz[topic]["value_schemas"], ours[topic]["value_schemas"])
        mine = _by_key(our_records[topic.replace(dbz_prefix, our_prefix)], our_prefix, dbz_prefix)
        for key, records in _by_key(dbz_records[topic], dbz_prefix, dbz_prefix).items():
            theirs = [comparable(r, dbz_prefix) for r in records]
            same_key = [comparable(r, our_prefix) for r in mine.get(key, [])]
            if len(theirs) != len(same_key):
                problems[f"{topic} key {key}"] = f"{len(theirs)} records from debezium, {len(same_key)} from pgbridge"
            for (a, a_headers), (b, b_headers) in zip(theirs, same_key):
                note(topic, "value", a, b)
                note(topic, "headers", a_headers, b_headers)
    return problems
