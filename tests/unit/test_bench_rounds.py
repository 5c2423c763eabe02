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
