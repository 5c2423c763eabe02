"""The dead-letter circuit breaker (`bridge.sink.breaker`): its bounds, its window, its error."""

from __future__ import annotations

import pytest

from bridge.errors import ExitCode
from bridge.sink.breaker import Breaker, BreakerConfig, DeadLetterLimit


class _Message:
    def __init__(self, offset: int, partition: int = 0) -> None:
        self._offset, self._partition = offset, partition

    def topic(self) -> str:
        return "t"

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset


def _batch(start: int, n: int) -> list[_Message]:
    return [_Message(o) for o in range(start, start + n)]


def _refused(*offsets: int) -> set[tuple[str, int, int]]:
    return {("t", 0, o) for o in offsets}


def test_consecutive_dead_letters_trip_across_batches_and_a_good_record_resets_the_run():
    breaker = Breaker(BreakerConfig(max_consecutive=3))
    breaker.check(_batch(0, 4), _refused(2, 3))  # a run of 2 at the end
    breaker.check(_batch(4, 3), _refused(4, 6))  # 3 in a row, then 5 resets, then 1
    assert breaker.run == 1
    breaker.check(_batch(7, 2), set())  # nothing refused: the run ends
    assert breaker.run == 0
    breaker.check(_batch(9, 3), _refused(9, 10, 11))
    with pytest.raises(DeadLetterLimit, match=r"more than bridge.sink.dlq.max.consecutive=3 .* t\[0\]@12") as tripped:
        breaker.check(_batch(12, 2), _refused(12))
    assert tripped.value.exit_code == ExitCode.DELIVERY


def test_the_ratio_is_judged_over_a_full_window_of_recent_batches():
    breaker = Breaker(BreakerConfig(max_ratio=0.1, window=100))
    breaker.check(_batch(0, 10), _refused(*range(10)))  # all refused, but 10 records are no window yet
    breaker.check(_batch(10, 100), set())  # the window slides past them: 0 of 100
    assert (breaker._processed, breaker._dead) == (100, 0)
    breaker.check(_batch(110, 50), _refused(*range(110, 120)))  # 10 of 150: within 0.1
    with pytest.raises(DeadLetterLimit, match=r"16 of the last 100 records refused, over bridge.sink.dlq.max.ratio=0.1"):
        breaker.check(_batch(160, 50), _refused(*range(160, 166)))  # 16 of the last 100 (the 100-record batch slid out)


def test_off_by_default():
    assert not BreakerConfig().enabled
    assert BreakerConfig(max_ratio=0.0).enabled and BreakerConfig(max_consecutive=1).enabled
