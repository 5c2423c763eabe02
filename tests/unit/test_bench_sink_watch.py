"""The sink benchmark's watch: how often it counts the target's rows."""

from __future__ import annotations

from native_bench.sink_bench import _next_poll


def test_counts_no_more_often_than_five_times_their_cost_nor_than_every_tenth_of_a_second():
    assert _next_poll(0.001, None, 1_000_000) == 0.1
    assert _next_poll(0.06, None, 1_000_000) == 0.3  # a count of 60 ms: a sixth of a core at most


def test_counts_closer_together_as_the_end_nears():
    # 100,000 rows/s, a count of 60 ms: every 0.3 s while far from the end...
    assert _next_poll(0.06, 100_000, 500_000) == 0.3
    # ...then half the time the missing rows should take, down to 20 ms
    assert _next_poll(0.06, 100_000, 20_000) == 0.1
    assert _next_poll(0.06, 100_000, 1_000) == 0.02
