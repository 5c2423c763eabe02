"""native_bench's variant systems: what pgbridge-2-unwrap runs, what each system expects, and
how the report sets them beside Debezium."""

from types import SimpleNamespace

from bridge.config import config_from_properties
from bridge.pgoutput import messages as m
from native_bench import systems
from native_bench.report import ratios, scaling_series, summary_md
from native_bench.variants import UNWRAP, DebeziumAvro, DebeziumChain, PgBridgeChain
from native_bench.workloads import Counts
from tests.pgoutput_encoder import encode
from tests.unit.builders import MINIMAL, REL, pipeline, run_batch, txn


def test_the_variants_are_known_by_name_beside_the_defaults():
    made = systems.make(["pgbridge-2", "pgbridge-2-unwrap", "debezium-json", "debezium-json-unwrap",
                         "debezium-avro"])
    assert [s.name for s in made] == ["pgbridge-2", "pgbridge-2-unwrap", "debezium-json",
                                      "debezium-json-unwrap", "debezium-avro"]
    assert len({s.ident for s in made}) == 5  # slot and topic names stay apart
    # only envelopes with source.ts_ms take part in W2's latency phase
    assert [s.measures_latency for s in made] == [True, False, True, False, False]


def test_pgbridge_honours_every_key_of_the_unwrap_system():
    keys = config_from_properties({**MINIMAL, **PgBridgeChain(2, UNWRAP).properties("p")}, refuse=False).keys
    assert keys.refused == () and keys.ignored == ()
    assert {"debezium.transforms.route.regex", "debezium.transforms.unwrap.add.fields",
            "debezium.format.header"} <= {v.key for v in keys.honoured}


def test_the_unwrap_chain_flattens_renames_and_rewrites_deletes_without_tombstones():
    # GIVEN pgbridge configured as pgbridge-2-unwrap (prefix p), one producer
    router, worker, sink = pipeline(**PgBridgeChain(2, UNWRAP).properties("p"))
    router.handle(encode(REL), 10)
    # WHEN a row is inserted and deleted
    txn(router, 1000, [m.Insert(16384, (b"1", b"a")), m.Delete(16384, "K", (b"1", None))])
    run_batch(router, worker)
    # THEN both records are the flattened row, in the renamed topic, schemaless, and no tombstone follows
    ctx = SimpleNamespace(topics=lambda prefix: [f"{prefix}.public.t"])
    assert PgBridgeChain(2, UNWRAP).topics(ctx, "p") == ["p.public.t.events.v1"]
    assert [(t, k) for t, k, _ in sink.records] == [("p.public.t.events.v1", {"id": 1})] * 2
    inserted, deleted = (v for _, _, v in sink.records)
    assert inserted == {"id": 1, "v": "a", "__op": "c", "__table": "t", "__lsn": 910, "__deleted": "false"}
    assert deleted == {"id": 1, "v": None, "__op": "d", "__table": "t", "__lsn": 911, "__deleted": "true"}


def test_systems_without_tombstones_expect_one_record_per_row():
    counts = Counts(inserts=4, updates=2, deletes=3, txns=1)
    assert PgBridgeChain(2, UNWRAP).expected_records(counts) == DebeziumChain(UNWRAP).expected_records(counts) == 9
    assert DebeziumAvro().expected_records(counts) == systems.Debezium(False).expected_records(counts) == 12


def test_the_outbox_pair_runs_event_router_on_both_sides_with_the_prefix_in_its_topics():
    made = systems.make(["outbox"])
    assert [(s.name, s.ident) for s in made] == [("pgbridge-2-outbox", "pgbridge2outbox"),
                                                 ("debezium-json-outbox", "dbzoutbox")]
    ours, theirs = made
    assert ours.topics(None, "p") == theirs.topics(None, "p") == ["p.outbox.Customer", "p.outbox.Order"]
    counts = Counts(inserts=5, txns=1)
    assert ours.expected_records(counts) == theirs.expected_records(counts) == 5
    # the same keys on both sides; in pgbridge's Debezium Server file `$${` writes EventRouter's `${`
    ctx = SimpleNamespace(prefix=lambda system: "p")
    options = dict(o.split("=", 1) for o in theirs.options(ctx))
    assert options["transforms.outbox.route.topic.replacement"] == "p.outbox.${routedByValue}"
    props = ours.properties("p")
    assert props["debezium.transforms.outbox.route.topic.replacement"] == "p.outbox.$${routedByValue}"
    assert {f"debezium.{k}" for k in options} <= props.keys()
    keys = config_from_properties({**MINIMAL, **{k: v.replace("$${", "${") for k, v in props.items()}},
                                  refuse=False).keys
    assert keys.refused == () and keys.ignored == ()


def test_debezium_avro_runs_apicurios_converter_on_both_sides_in_confluent_mode(monkeypatch):
    monkeypatch.setenv("BRIDGE_REGISTRY_URL", "http://registry:1/apis/ccompat/v7")
    options = dict(o.split("=", 1) for o in DebeziumAvro().options(None))
    assert options["plugins"] == "avro"
    for side in ("key", "value"):
        assert options[f"worker.{side}.converter"] == "io.apicurio.registry.utils.converter.AvroConverter"
        assert options[f"worker.{side}.converter.apicurio.registry.url"] == "http://registry:1/apis/registry/v2"
        assert options[f"worker.{side}.converter.apicurio.registry.as-confluent"] == "true"


def _results(**figures) -> dict:
    host = {"cores": 2, "cpu": "x", "memory_gb": 1, "os": "linux", "load_average_at_start": [1, 1, 1]}
    return {
        "meta": {"date": "2026-01-01", "host": host, "postgresql": {"version": "15"}, "kafka": {"version": "4"},
                 "debezium": {"connector_version": "3", "connect_runtime_version": "4", "java": "17"},
                 "pgbridge": {"version": "0", "commit": "abc", "dirty": False}, "python": "3.11"},
        "config": {"command": "python -m native_bench", "size": "quick", "partitions_per_topic": 4},
        "wall_seconds": 1.0,
        "workloads": {"W1": {"systems": figures}},
    }


def test_the_report_sets_a_variant_beside_debezium_running_the_same_chain():
    results = _results(**{
        "pgbridge-2-unwrap": {"rows_per_s": 30_000, "key_value_bytes_per_row": 288.5},
        "debezium-json": {"rows_per_s": 20_000},
        "debezium-json-unwrap": {"rows_per_s": 10_000, "key_value_bytes_per_row": 288.5},
    })
    results["ratios"] = ratios(results)
    assert results["ratios"]["W1"]["pgbridge-2-unwrap"] == {"over_debezium-json": 1.5,
                                                             "over_debezium-json-unwrap": 3.0}
    summary = summary_md(results)
    assert "| W1 | pgbridge-2-unwrap | 30,000 | – | – | – | – | – | 288 |" in summary
    assert "| pgbridge-2-unwrap | – | 1.50 | – | 3.00 |" in summary
    assert "- debezium-json-unwrap: Debezium with the same transforms" in summary
    assert "- debezium-avro" not in summary  # described only when it ran


def test_the_scaling_plot_draws_only_plain_pgbridge_systems():
    figures = {"pgbridge-1": {"rows_per_s": 1}, "pgbridge-2": {"rows_per_s": 2},
               "pgbridge-2-unwrap": {"rows_per_s": 3}, "pgbridge-2-eos": {"rows_per_s": 4}}
    assert scaling_series({"W1": {"systems": figures}}) == {"W1": [(1, 1), (2, 2)]}
