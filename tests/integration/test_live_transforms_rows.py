"""ExtractNewRecordState's row-wise options and HeaderToValue's dotted names against a live
Debezium 3.7.0 on Kafka Connect 4.3.1: the same chain, the same tables, the same WAL, compared
topic by topic and key by key, schemas and headers included (`parity.compare`).

One pair of connectors; each table has its own steps, gated by a TopicNameMatches predicate on
its topic:
- `r`: unwrap with `route.by.field=dest` (a create's row; a delete's `before`, REPLICA IDENTITY
  FULL), then RegexRouter giving the routed topics (bare words) each connector's prefix;
  a null or empty `dest` keeps the topic;
- ExtractChangedRecordState on every table (`header.unchanged.name=Unchanged`), then on `d`
  unwrap dropping the unchanged fields named by that header from the value and the key
  (`drop.fields.from.key`, `drop.fields.keep.schema.compatible=false`: the key of an update
  becomes an empty struct) and on `k` the same kept schema-compatible (the optional fields only);
- `y` / `z`: unwrap with `rewrite`, `replace.null.with.default` true / false, NULLs in a
  column with a DEFAULT, and `add.fields` of `after` and `before` columns;
- `h`: no unwrap; two InsertHeaders then HeaderToValue moving them into `source.h1` (a struct
  of the envelope) and `meta.h2` (a new struct).
"""

from __future__ import annotations

import json
import uuid

import pytest

from tests.integration import parity
from tests.integration.live_pair import LivePair

UNWRAP = "io.debezium.transforms.ExtractNewRecordState"
K = "org.apache.kafka.connect.transforms."
TABLES = ["r", "d", "k", "y", "z", "h"]

SCHEMA_SQL = """
CREATE TABLE {s}.r (id int PRIMARY KEY, dest text, v text);
ALTER TABLE {s}.r REPLICA IDENTITY FULL;
CREATE TABLE {s}.d (id int PRIMARY KEY, v text, w text, n int);
ALTER TABLE {s}.d REPLICA IDENTITY FULL;
CREATE TABLE {s}.k (id int PRIMARY KEY, v text, w text NOT NULL, n int);
ALTER TABLE {s}.k REPLICA IDENTITY FULL;
CREATE TABLE {s}.y (id int PRIMARY KEY, v text, n int DEFAULT 7);
ALTER TABLE {s}.y REPLICA IDENTITY FULL;
CREATE TABLE {s}.z (id int PRIMARY KEY, v text, n int DEFAULT 7);
ALTER TABLE {s}.z REPLICA IDENTITY FULL;
CREATE TABLE {s}.h (id int PRIMARY KEY, v text);
"""


def stream(s: str) -> list[str]:
    return [
        f"INSERT INTO {s}.r VALUES (1, 'east', 'a'), (2, 'west', 'b'), (3, NULL, 'c'), (4, '', 'd')",
        f"UPDATE {s}.r SET v = 'a2' WHERE id = 1",
        f"DELETE FROM {s}.r WHERE id = 2",  # routed by its `before`; its tombstone dropped
        f"INSERT INTO {s}.d VALUES (1, 'a', 'x', 1), (2, 'b', 'y', NULL)",
        f"UPDATE {s}.d SET w = 'x2' WHERE id = 1",  # id, v, n unchanged: dropped, key too
        f"UPDATE {s}.d SET v = 'b2', n = 2 WHERE id = 2",
        f"DELETE FROM {s}.d WHERE id = 1",
        f"INSERT INTO {s}.k VALUES (1, 'a', 'x', 1)",
        f"UPDATE {s}.k SET v = 'a2' WHERE id = 1",  # id, w, n unchanged: n dropped, id and w (required) kept
        *(f"INSERT INTO {s}.{t} VALUES (1, 'a', NULL), (2, NULL, 2)" for t in ("y", "z")),
        *(f"UPDATE {s}.{t} SET v = 'a2', n = NULL WHERE id = 2" for t in ("y", "z")),
        *(f"DELETE FROM {s}.{t} WHERE id = 1" for t in ("y", "z")),
        f"INSERT INTO {s}.h VALUES (1, 'a'), (2, 'b')",
        f"UPDATE {s}.h SET v = 'b2' WHERE id = 2",
        f"DELETE FROM {s}.h WHERE id = 1",
        f"INSERT INTO {s}.h VALUES (999, 'the end')",  # the last record both must write
    ]


def _on(alias: str, cls: str, table: str, **options: str) -> dict[str, str]:
    return {f"transforms.{alias}.type": cls, f"transforms.{alias}.predicate": f"on_{table}",
            **{f"transforms.{alias}.{k}": v for k, v in options.items()}}


def chain(tag: str, prefix: str) -> dict[str, str]:
    rewrite = {"delete.tombstone.handling.mode": "rewrite", "add.fields": "after.v,before.v:old_v"}
    steps = {
        **_on("route_r", UNWRAP, "r", **{"route.by.field": "dest"}),
        **_on("prefix", K + "RegexRouter", "routed", regex="([a-z]+)", replacement=f"{prefix}.routed.$1"),
        "transforms.changes.type": "io.debezium.transforms.ExtractChangedRecordState",
        "transforms.changes.header.unchanged.name": "Unchanged",
        **_on("drop_d", UNWRAP, "d", **{"drop.fields.header.name": "Unchanged", "drop.fields.from.key": "true",
                                        "drop.fields.keep.schema.compatible": "false"}),
        **_on("drop_k", UNWRAP, "k", **{"drop.fields.header.name": "Unchanged", "drop.fields.from.key": "true"}),
        **_on("rewrite_y", UNWRAP, "y", **rewrite, **{"replace.null.with.default": "true"}),
        **_on("rewrite_z", UNWRAP, "z", **rewrite, **{"replace.null.with.default": "false"}),
        **_on("h1", K + "InsertHeader", "h", header="h1", **{"value.literal": "one"}),
        **_on("h2", K + "InsertHeader", "h", header="h2", **{"value.literal": "two"}),
        **_on("nest", "io.debezium.transforms.HeaderToValue", "h", headers="h1,h2", fields="source.h1,meta.h2",
              operation="move"),
    }
    predicates = {**{f"predicates.on_{t}.pattern": f".*[.]{tag}[.]{t}" for t in TABLES},
                  "predicates.on_routed.pattern": "[a-z]+"}
    names = [p.split(".")[1] for p in predicates]
    return {"transforms": "route_r,prefix,changes,drop_d,drop_k,rewrite_y,rewrite_z,h1,h2,nest", **steps,
            "predicates": ",".join(names), **predicates,
            **{f"predicates.{n}.type": K + "predicates.TopicNameMatches" for n in names}}


def _ended(records: list[parity.Record]) -> bool:
    return any(r.topic.endswith(".h") and '"id":999' in (r.key or "") for r in records)


@pytest.fixture(scope="module")
def live(pg_dsn, kafka_bootstrap, tmp_path_factory):
    """(debezium records, pgbridge records, debezium run, pgbridge run, dir)."""
    tag = f"tr_{uuid.uuid4().hex[:6]}"
    tmp = tmp_path_factory.mktemp("row_transforms")
    with LivePair(pg_dsn, kafka_bootstrap, tmp, tag) as pair:
        # GIVEN the tables and a publication for each connector
        pair.create(SCHEMA_SQL, TABLES)
        options = {"snapshot.mode": "no_data", "publication.autocreate.mode": "disabled",
                   "table.include.list": ",".join(f"{tag}.{t}" for t in TABLES)}
        # AND both connectors with the same chain (the routed topics under each one's prefix)
        pair.start(options, chain(tag, pair.ours), {**options, **chain(tag, pair.dbz)})

        # WHEN the changes stream
        pair.run(stream(tag))

        # THEN both write every record
        got_dbz, got_ours = pair.collect(_ended)
        pair.keep_records(got_dbz, got_ours)
        yield got_dbz, got_ours, *pair.runs, tmp


def _payloads(records: list[parity.Record], suffix: str) -> list:
    return [json.loads(r.value)["payload"] for r in records if r.topic.endswith(suffix) and r.value is not None]


def test_debezium_really_applied_the_chain(live):
    # GIVEN Debezium's records: each option was in force (else the comparison proves little)
    dbz, _, run, _, _ = live
    topics = {r.topic[len(run.prefix) + 1:] for r in dbz}
    assert {"routed.east", "routed.west"} <= topics
    assert _payloads(dbz, ".routed.west") == [{"id": 2, "dest": "west", "v": "b"}, None]
    # `d`: an update keeps only what changed, its key emptied; `k`: the required columns stay
    assert {"w": "x2"} in _payloads(dbz, ".d") and {"v": "b2", "n": 2} in _payloads(dbz, ".d")
    assert '"payload":{}' in "".join(r.key for r in dbz if r.topic.endswith(".d"))
    assert _payloads(dbz, ".k") == [{"id": 1, "v": "a", "w": "x", "n": 1}, {"id": 1, "v": "a2", "w": "x"}]
    assert all('"payload":{"id":1}' in r.key for r in dbz if r.topic.endswith(".k"))
    # `y` / `z`: the NULL written as the default 7 by the converter either way; after/before columns added
    for t in (".y", ".z"):
        assert {"id": 1, "v": "a", "n": 7, "__deleted": "false", "__after_v": "a", "__old_v": None} in _payloads(dbz, t)
    # `h`: the headers moved into `source` and a new `meta` struct
    created = _payloads(dbz, ".h")[0]
    assert created["source"]["h1"] == "one" and created["meta"] == {"h2": "two"}


def test_records_schemas_and_headers_match_debezium(live):
    dbz, ours, dbz_run, our_run, tmp = live
    problems = parity.compare(dbz, dbz_run, ours, our_run, ignored=parity.LIVE_IGNORED)
    assert not problems, parity.report(problems) + f"\n(records in {tmp})"
    assert len(dbz) == len(ours)
