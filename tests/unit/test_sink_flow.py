"""`bridge sink`'s flow control: the bounded buffer (pause at the bound, resume at half of it),
lag, catch-up mode with its hysteresis, the progress line, and the writer thread."""

from __future__ import annotations

import io
import logging
import threading
import time

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from bridge.sink.applier import Applier
from bridge.sink.flow import Flow, FlowConfig
from bridge.sink.progress import Progress, eta, progress_line
from bridge.sink.stats import COUNTERS, SinkState, Stats
from bridge.status.http import respond


class _Message:
    def __init__(self, ts_ms: int) -> None:
        self.ts = ts_ms

    def timestamp(self) -> tuple[int, int]:
        return 1, self.ts


class _Consumer:
    """Positions and cached high watermarks per partition; records pause and resume calls. As
    librdkafka's, a seek leaves the position unknown until a record of the partition is read."""

    def __init__(self, positions: dict, highs: dict) -> None:
        self.positions, self.highs = positions, highs
        self.calls: list = []
        self.failing = False  # position() raises, as for a partition revoked meanwhile

    def pause(self, partitions) -> None:
        self.calls.append(("pause", sorted((p.topic, p.partition) for p in partitions)))

    def resume(self, partitions) -> None:
        self.calls.append(("resume", sorted((p.topic, p.partition) for p in partitions)))

    def seek(self, partition) -> None:
        self.calls.append(("seek", partition.topic, partition.partition, partition.offset))
        self.positions.pop((partition.topic, partition.partition), None)

    def position(self, partitions):
        if self.failing:
            raise KafkaException(KafkaError(KafkaError._UNKNOWN_PARTITION))
        for p in partitions:
            p.offset = self.positions.get((p.topic, p.partition), -1001)
        return partitions

    def get_watermark_offsets(self, partition, cached=False):
        assert cached, "no broker round trip per partition and second"
        return 0, self.highs.get((partition.topic, partition.partition), -1001)


ASSIGNED = {("t", 0), ("t", 1)}


def test_partitions_pause_at_the_bound_resume_at_half_and_new_ones_follow():
    flow = Flow(FlowConfig(buffer_max_records=100, pause_after_ms=0), batch_size=10, max_poll=30, worker=0)
    consumer = _Consumer({}, {})
    assert flow.room(0) == 30 and flow.room(80) == 20 and flow.room(100) == 0
    flow.regulate(consumer, 99, ASSIGNED)
    assert consumer.calls == [] and not flow.paused
    flow.regulate(consumer, 100, ASSIGNED)
    assert consumer.calls == [("pause", [("t", 0), ("t", 1)])] and flow.paused
    flow.regulate(consumer, 51, ASSIGNED)
    assert len(consumer.calls) == 1  # still paused above half the bound
    # a partition assigned while the buffer is full is paused too
    flow.assigned(consumer, [TopicPartition("t", 2)])
    assert consumer.calls[-1] == ("pause", [("t", 2)])
    consumer.positions = {("t", 0): 40, ("t", 2): 7}
    flow.regulate(consumer, 50, ASSIGNED | {("t", 2)})
    # resumed, and librdkafka's fetcher woken by a seek to the position of those read from
    assert consumer.calls[-3:] == [("resume", [("t", 0), ("t", 1), ("t", 2)]), ("seek", "t", 0, 40), ("seek", "t", 2, 7)]
    assert not flow.paused
    # and one assigned after is resumed (whatever it was when last revoked)
    flow.assigned(consumer, [TopicPartition("t", 3)])
    assert consumer.calls[-1] == ("resume", [("t", 3)])
    assert flow.buffered_max == 100


def test_a_full_buffer_pauses_only_once_it_has_stayed_full_for_pause_after_ms(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("bridge.sink.flow.time.monotonic", lambda: clock[0])
    flow = Flow(FlowConfig(buffer_max_records=100, pause_after_ms=500), batch_size=10, max_poll=30, worker=0)
    consumer = _Consumer({}, {})
    # GIVEN a buffer full of batches the writer has
    flow.regulate(consumer, 100, ASSIGNED)
    clock[0] += 0.4
    flow.regulate(consumer, 100, ASSIGNED)
    # THEN no pause while the writer empties it within the grace: librdkafka keeps its prefetch
    assert consumer.calls == [] and not flow.paused
    flow.regulate(consumer, 50, ASSIGNED)  # a batch written: the grace starts again
    flow.regulate(consumer, 100, ASSIGNED)
    clock[0] += 0.499
    flow.regulate(consumer, 100, ASSIGNED)
    assert consumer.calls == [] and not flow.paused
    # WHEN it stays full for the whole grace (a slow target) THEN the partitions are paused
    clock[0] += 0.001
    flow.regulate(consumer, 100, ASSIGNED)
    assert consumer.calls == [("pause", [("t", 0), ("t", 1)])] and flow.paused


def _measure(flow: Flow, consumer, buffered=0, oldest=None, assigned=ASSIGNED) -> None:
    flow.next_measure = 0.0
    flow.measure(consumer, assigned, buffered, oldest)


def test_lag_enters_catch_up_past_a_threshold_and_leaves_under_half(caplog):
    reports = []
    flow = Flow(FlowConfig(catchup_batch_size=400, lag_pause_messages=1000, lag_pause_ms=0), batch_size=50,
                max_poll=500, worker=3, report=reports.append)
    consumer = _Consumer({("t", 0): 100, ("t", 1): -1001}, {("t", 0): 1200, ("t", 1): 50})
    with caplog.at_level(logging.INFO, logger="bridge.sink.flow"):
        _measure(flow, consumer, buffered=0)
        assert flow.lag == {("t", 0): 1100} and flow.catchup and flow.batch_size == 400
        assert "catch-up mode: 1100 records behind" in caplog.text and "batches of 400 records" in caplog.text
        consumer.positions[("t", 0)] = 700  # 500 behind: over half of 1000, still catching up
        _measure(flow, consumer)
        assert flow.catchup
        consumer.positions[("t", 0)] = 800  # 400 behind + 50 buffered: under half
        _measure(flow, consumer, buffered=50)
        assert not flow.catchup and flow.batch_size == 50
        assert "normal mode: 450 records behind" in caplog.text
    assert reports[-1] == {"worker": 3, "lag": [("t", 0, 400)], "lag_ms": 0, "buffered": 50, "buffered_max": 0,
                           "behind": 450, "catchup": 0, "paused": 0}


def test_lag_in_time_is_the_oldest_unwritten_records_age_and_triggers_catch_up():
    flow = Flow(FlowConfig(lag_pause_messages=0, lag_pause_ms=60_000), batch_size=50, max_poll=500, worker=0)
    consumer = _Consumer({("t", 0): 10}, {("t", 0): 10})
    now = int(time.time() * 1000)
    _measure(flow, consumer, buffered=5, oldest=_Message(now - 90_000))
    assert 90_000 <= flow.lag_ms < 100_000 and flow.catchup
    # nothing buffered and nothing behind: no lag, whatever the last record's age
    flow.written([_Message(now - 90_000)])
    _measure(flow, consumer)
    assert flow.lag_ms == 0 and not flow.catchup
    # records behind but not read yet: the last written one's age
    consumer.highs[("t", 0)] = 20
    _measure(flow, consumer)
    assert flow.lag_ms >= 90_000


def test_catch_up_is_not_left_while_the_partitions_are_paused():
    flow = Flow(FlowConfig(buffer_max_records=10, lag_pause_messages=100, lag_pause_ms=0, pause_after_ms=0),
                batch_size=5, max_poll=5, worker=0)
    consumer = _Consumer({("t", 0): 0}, {("t", 0): 500})
    _measure(flow, consumer)
    flow.regulate(consumer, 10, ASSIGNED)
    consumer.positions[("t", 0)] = 500  # the cached watermark is stale while paused
    _measure(flow, consumer, buffered=10)
    assert flow.catchup and flow.paused


def _switches(caplog) -> list[str]:
    return [r.getMessage().split(":")[0] for r in caplog.records if r.name == "bridge.sink.flow"
            and r.getMessage().startswith(("catch-up mode", "normal mode"))]


def test_a_long_catch_up_switches_once_each_way_though_positions_are_unknown_after_each_resume(caplog):
    # GIVEN two partitions 10,000 records behind each, a buffer of 1,000, catch-up past 5,000 behind
    flow = Flow(FlowConfig(buffer_max_records=1000, lag_pause_messages=5000, lag_pause_ms=0, pause_after_ms=0),
                batch_size=100, max_poll=500, worker=0)
    end = 10_000
    consumer = _Consumer({("t", 0): 0, ("t", 1): 0}, {("t", 0): end, ("t", 1): end})
    with caplog.at_level(logging.INFO, logger="bridge.sink.flow"):
        _measure(flow, consumer)
        assert flow.catchup
        read = 0
        while read < end:
            # WHEN the buffer fills, is drained to half, and the partitions are resumed: the seek
            # that wakes the fetcher leaves both positions unknown until a record of each is read
            flow.regulate(consumer, 1000, ASSIGNED)
            flow.regulate(consumer, 500, ASSIGNED)
            assert consumer.positions == {} and not flow.paused
            _measure(flow, consumer, buffered=500)
            # THEN the partitions still count at their last known positions: catching up goes on
            # while the records behind are over half the threshold
            assert flow.lag == {("t", 0): end - read, ("t", 1): end - read}
            assert flow.catchup or 2 * (end - read) + 500 < 2500
            read += 500
            consumer.positions[("t", 0)] = read  # one partition read from, the other not yet
            _measure(flow, consumer, buffered=1000)
            assert flow.lag == {("t", 0): end - read, ("t", 1): end - read + 500}
            consumer.positions[("t", 1)] = read
        _measure(flow, consumer, buffered=200)
    # AND over the whole catch-up the mode switched once each way
    assert not flow.catchup
    assert _switches(caplog) == ["catch-up mode", "normal mode"]


def test_an_unknown_watermark_or_a_failed_measurement_keeps_the_last_known_lag():
    flow = Flow(FlowConfig(lag_pause_messages=1000, lag_pause_ms=0), batch_size=50, max_poll=500, worker=0)
    consumer = _Consumer({("t", 0): 100, ("t", 1): 100}, {("t", 0): 1100, ("t", 1): 1100})
    _measure(flow, consumer)
    assert flow.lag == {("t", 0): 1000, ("t", 1): 1000} and flow.catchup
    consumer.highs[("t", 1)] = -1001  # e.g. its leader changed: no fetch response yet
    consumer.positions[("t", 0)] = 600
    _measure(flow, consumer)
    assert flow.lag == {("t", 0): 500, ("t", 1): 1000} and flow.catchup
    consumer.failing = True
    _measure(flow, consumer)
    assert flow.lag == {("t", 0): 500, ("t", 1): 1000} and flow.catchup


def test_a_revoked_partitions_lag_goes_and_one_assigned_at_a_stored_offset_counts_from_it():
    flow = Flow(FlowConfig(lag_pause_messages=1000, lag_pause_ms=0), batch_size=50, max_poll=500, worker=0)
    consumer = _Consumer({("t", 0): 100, ("t", 1): 100}, {("t", 0): 1100, ("t", 1): 300, ("t", 2): 900})
    _measure(flow, consumer)
    assert flow.catchup
    # WHEN t1 is revoked and t2 assigned at the target's stored offset 500 (nothing of it read yet)
    flow.revoked([("t", 1)])
    flow.assigned(consumer, [TopicPartition("t", 2, 500)])
    _measure(flow, consumer, assigned={("t", 0), ("t", 2)})
    # THEN t1 is gone and t2 is 400 behind
    assert flow.lag == {("t", 0): 1000, ("t", 2): 400}
    # AND a partition revoked and assigned again without a stored offset is not counted from before
    flow.revoked([("t", 0)])
    consumer.positions.pop(("t", 0))
    _measure(flow, consumer, assigned={("t", 0), ("t", 2)})
    assert flow.lag == {("t", 2): 400}


def test_the_progress_line_says_records_behind_rate_and_eta():
    assert progress_line(12345, 4321.4) == "12,345 records behind, 4,321 records/s, ETA 0:03"
    assert progress_line(5_000_000, 1000) == "5,000,000 records behind, 1,000 records/s, ETA 1:23:20"
    assert progress_line(10, 0) == "10 records behind, 0 records/s, ETA --:--"
    assert progress_line(0, 99.6) == "caught up, 100 records/s"
    assert eta(59.6) == "1:00" and eta(None) == "--:--"


def test_progress_prints_plain_lines_while_behind_then_once_caught_up():
    out = io.StringIO()
    progress = Progress(out, tty=False)
    progress.update(0.0, 0, 0)  # nothing behind from the start: nothing printed
    progress.update(1.0, 2000, 1000)
    progress.update(2.0, 1000, 2000)
    progress.update(3.0, 0, 3000)
    progress.update(4.0, 0, 3000)
    assert out.getvalue().splitlines() == [
        "bridge sink: 2,000 records behind, 1,000 records/s, ETA 0:02",
        "bridge sink: 1,000 records behind, 1,000 records/s, ETA 0:01",
        "bridge sink: caught up, 1,000 records/s"]


def test_progress_on_a_terminal_rewrites_one_line():
    out = io.StringIO()
    progress = Progress(out, tty=True)
    progress.update(0.0, 10, 0)
    progress.update(1.0, 5, 5)
    progress.close()
    assert out.getvalue() == ("\rbridge sink: 10 records behind, 0 records/s, ETA --:--\x1b[K"
                              "\rbridge sink: 5 records behind, 5 records/s, ETA 0:01\x1b[K\n")


def test_flow_gauges_in_the_metrics():
    state = SinkState(Stats(2, [0] * (2 * len(COUNTERS))), [lambda: True] * 2, phase="streaming")
    state.reports[1] = {"worker": 1, "lag": [("srv.public.t", 2, 42)], "lag_ms": 1500, "buffered": 7,
                        "buffered_max": 900, "behind": 49, "catchup": 1, "paused": 0}
    text = respond(state, "GET", "/q/metrics")[2].decode()
    assert 'pgbridge_sink_lag_messages{topic="srv.public.t",partition="2"} 42' in text
    for line in ('pgbridge_sink_lag_ms{worker="1"} 1500', 'pgbridge_sink_buffered_records{worker="1"} 7',
                 'pgbridge_sink_buffered_records_max{worker="1"} 900', 'pgbridge_sink_catchup{worker="1"} 1',
                 'pgbridge_sink_paused{worker="1"} 0'):
        assert line in text
    assert state.behind() == 49


def test_the_writer_thread_writes_one_batch_at_a_time_and_hands_its_error_over():
    release, written = threading.Event(), []

    def write(batch):
        release.wait(5)
        if batch == ["bad"]:
            raise RuntimeError("refused")
        written.append(batch)
    applier = Applier(list, write, "test-writer")
    try:
        applier.submit(["a", "b"])
        assert not applier.idle and applier.in_flight == 2 and applier.oldest() == "a"
        assert not applier.wait_idle(0.05)
        release.set()
        assert applier.wait_idle(5) and applier.in_flight == 0 and written == [["a", "b"]]
        applier.check()
        applier.submit(["bad"])
        assert applier.wait_idle(5)
        with pytest.raises(RuntimeError, match="refused"):
            applier.check()
        applier.submit(["c"])  # after a failure nothing more is written
        assert applier.wait_idle(5) and written == [["a", "b"]]
    finally:
        applier.close()
