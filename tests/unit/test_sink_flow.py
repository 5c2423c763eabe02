"""`bridge sink`'s flow control: the bounded buffer (pause at the bound, resume at half of it),
lag, catch-up mode with its hysteresis, the progress line, and the writer thread."""

from __future__ import annotations

import io
import logging
import threading
import time

import pytest
from confluent_kafka import TopicPartition

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
    """Positions and cached high watermarks per partition; records pause and resume calls."""

    def __init__(self, positions: dict, highs: dict) -> None:
        self.positions, self.highs = positions, highs
        self.calls: list = []

    def pause(self, partitions) -> None:
        self.calls.append(("pause", sorted((p.topic, p.partition) for p in partitions)))

    def resume(self, partitions) -> None:
        self.calls.append(("resume", sorted((p.topic, p.partition) for p in partitions)))

    def seek(self, partition) -> None:
        self.calls.append(("seek", partition.topic, partition.partition, partition.offset))

    def position(self, partitions):
        for p in partitions:
            p.offset = self.positions.get((p.topic, p.partition), -1001)
        return partitions

    def get_watermark_offsets(self, partition, cached=False):
        assert cached, "no broker round trip per partition and second"
        return 0, self.highs.get((partition.topic, partition.partition), -1001)


ASSIGNED = {("t", 0), ("t", 1)}


def test_partitions_pause_at_the_bound_resume_at_half_and_new_ones_follow():
    flow = Flow(FlowConfig(buffer_max_records=100), batch_size=10, max_poll=30, worker=0)
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


def _measure(flow: Flow, consumer, buffered=0, oldest=None) -> None:
    flow.next_measure = 0.0
    flow.measure(consumer, ASSIGNED, buffered, oldest)


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
    flow = Flow(FlowConfig(buffer_max_records=10, lag_pause_messages=100, lag_pause_ms=0), batch_size=5,
                max_poll=5, worker=0)
    consumer = _Consumer({("t", 0): 0}, {("t", 0): 500})
    _measure(flow, consumer)
    flow.regulate(consumer, 10, ASSIGNED)
    consumer.positions[("t", 0)] = 500  # the cached watermark is stale while paused
    _measure(flow, consumer, buffered=10)
    assert flow.catchup and flow.paused


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
