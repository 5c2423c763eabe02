"""native_bench --repeat: which round's figures a system reports."""

from native_bench.suite import median_round


def test_the_median_round_is_reported_with_every_rounds_rate():
    figs = [{"rows_per_s": 300, "cpu": "a"}, {"rows_per_s": 100, "cpu": "b"}, {"error": "boom"},
            {"rows_per_s": 200, "cpu": "c"}]
    chosen = median_round(figs)
    # the lower middle of the successful rounds (100, 200, 300): 200, with its own figures
    assert chosen["rows_per_s"] == 200 and chosen["cpu"] == "c"
    assert chosen["rows_per_s_rounds"] == [300, 100, None, 200]


def test_one_round_is_reported_as_is_and_all_failed_rounds_are_an_error():
    assert median_round([{"rows_per_s": 5}]) == {"rows_per_s": 5}
    assert "error" in median_round([{"error": "a"}, {"error": "b"}])


def test_ratios_are_medians_of_the_ratios_within_each_round():
    from native_bench.report import over
    # GIVEN a machine twice as fast in round 2: within each round the system reaches 0.9 of the best reader
    fig = {"rows_per_s": 90, "rows_per_s_rounds": [90, 180, 99]}
    readers = [{"rows_per_s": 100, "rows_per_s_rounds": [100, 200, 110]},
               {"rows_per_s": 50, "rows_per_s_rounds": [50, 150, None]}]
    assert over(fig, readers) == 0.9
    # without rounds: the figures themselves
    assert over({"rows_per_s": 45}, [{"rows_per_s": 50}, {"rows_per_s": 30}]) == 0.9


def test_the_producer_stage_reports_its_best_round_and_the_median():
    from native_bench.report import _micro_rows
    rows = dict(_micro_rows({"producer": {"rows_per_cpu_s": 61_000, "rounds": 5, "rows_per_cpu_s_median": 52_000}}))
    assert rows["one producer, ring batch → Kafka acked (goal ≥ 60,000)"] == \
        "61,000 rows per CPU-second (best of 5; median 52,000)"
    # results of a run before rounds existed still read
    rows = dict(_micro_rows({"producer": {"rows_per_cpu_s": 45_000}}))
    assert rows["one producer, ring batch → Kafka acked (goal ≥ 60,000)"] == "45,000 rows per CPU-second"


def test_the_formats_group_runs_json_with_and_without_schemas_and_avro(monkeypatch):
    monkeypatch.setenv("BRIDGE_REGISTRY_URL", "http://registry:8081")
    from native_bench.systems import make
    chosen = make(["formats"])
    assert [s.name for s in chosen] == ["pgbridge-2", "pgbridge-2-noschemas", "pgbridge-2-avro", "debezium-avro"]
    assert len({s.ident for s in chosen}) == 4  # each its own slots and topics
    assert [s.measures_latency for s in chosen] == [True, True, False, False]  # the latency consumer reads JSON
    assert chosen[2].properties("p")["debezium.format.value"] == "avro"
