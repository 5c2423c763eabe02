"""The sink's overlap: a batch prepared (records read as changes) on a thread of its own while
the writer thread has the previous one with the target; written in order, a preparation error
raised on the poll loop's thread, a waiting batch of lost partitions never written."""

from __future__ import annotations

import json
import threading
import time

import pytest
from confluent_kafka import TopicPartition

from bridge.sink.applier import Applier
from bridge.sink.stats import COUNTERS, Stats
from bridge.sink.worker import SinkWorker
from tests.unit.builders import sink_file_config

TOPIC = "srv.public.t"


class _Message:
    def __init__(self, partition: int, offset: int) -> None:
        self._partition, self._offset = partition, offset

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return json.dumps({"id": self._offset}).encode()

    def value(self) -> bytes:
        return json.dumps({"before": None, "after": {"id": self._offset}, "op": "c",
                           "source": {"lsn": 100 + self._offset}}).encode()

    def timestamp(self) -> tuple[int, int]:
        return 1, self._offset


class _Consumer:
    def __init__(self) -> None:
        self.unassigned: list = []

    def incremental_unassign(self, partitions) -> None:
        self.unassigned += partitions


class _Gate:
    """A write that waits to be let through and records what it was given, and on which thread."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.started = threading.Event()
        self.written: list = []

    def __call__(self, prepared) -> None:
        self.started.set()
        assert self.open.wait(5)
        self.written.append(prepared)


def test_the_next_batch_is_prepared_while_one_is_written_and_they_are_written_in_order():
    gate, prepared = _Gate(), threading.Event()

    def prepare(batch):
        assert threading.current_thread() is not threading.main_thread()
        if batch == ["c"]:
            prepared.set()
        return tuple(batch)
    applier = Applier(prepare, gate, "test-writer")
    try:
        applier.submit(["a", "b"])
        assert gate.started.wait(5) and applier.wait_room(5)  # the writer took it: room for the next
        applier.submit(["c"])
        assert prepared.wait(5) and gate.written == []  # prepared while the first one is being written
        assert not applier.room and not applier.idle
        assert applier.in_flight == 3 and applier.oldest() == "a"
        assert not applier.wait_idle(0.05)
        gate.open.set()
        assert applier.wait_idle(5) and applier.in_flight == 0 and applier.oldest() is None
        assert gate.written == [("a", "b"), ("c",)]
        applier.check()
    finally:
        applier.close()


def test_a_preparation_error_is_raised_on_the_poll_loops_thread_and_nothing_is_written_after_it():
    gate = _Gate()
    gate.open.set()

    def prepare(batch):
        if batch == ["bad"]:
            raise RuntimeError("unreadable")
        return batch
    applier = Applier(prepare, gate, "test-writer")
    try:
        applier.submit(["bad"])
        assert applier.wait_idle(5)
        with pytest.raises(RuntimeError, match="unreadable"):
            applier.check()
        applier.submit(["c"])
        assert applier.wait_idle(5) and gate.written == []
    finally:
        applier.close()


def test_a_batch_waiting_taken_back_is_never_written():
    gate = _Gate()
    applier = Applier(list, gate, "test-writer")
    try:
        applier.submit(["a"])
        assert gate.started.wait(5) and applier.wait_room(5)
        applier.submit(["b", "c"])
        assert applier.take_waiting() == ["b", "c"] and applier.take_waiting() == []
        gate.open.set()
        assert applier.wait_idle(5) and gate.written == [["a"]]
    finally:
        applier.close()


def _worker(tmp_path) -> SinkWorker:
    config = sink_file_config(tmp_path, {"value.converter.schemas.enable": "false",
                                         "key.converter.schemas.enable": "false",
                                         "primary.key.mode": "record_key", "bridge.sink.offsets": "kafka"})
    return SinkWorker(config, 0, Stats(1, [0] * len(COUNTERS)), threading.Event())


def test_lost_partitions_records_in_the_prepared_batch_are_dropped_and_the_others_read_again(tmp_path):
    worker, gate = _worker(tmp_path), _Gate()
    worker.applier = Applier(worker._prepare, gate, "test-writer")
    try:
        worker.assigned = {(TOPIC, 0), (TOPIC, 1)}
        first = [_Message(0, 1), _Message(1, 1)]
        worker.applier.submit(first)
        assert gate.started.wait(5) and worker.applier.wait_room(5)
        worker.applier.submit([_Message(0, 2), _Message(1, 2)])
        worker.pending = [_Message(0, 3), _Message(1, 3)]
        consumer = _Consumer()
        lost = threading.Thread(target=worker._on_lost, args=(consumer, [TopicPartition(TOPIC, 1)]))
        lost.start()
        # the writer is held in the first batch: only `take_waiting` can empty the queue behind it
        applier = worker.applier
        deadline = time.monotonic() + 5
        while (applier._waiting is not None or applier._queued is not None) and time.monotonic() < deadline:
            time.sleep(0.001)
        gate.open.set()  # the batch being written finishes: its offsets write is what fails for a taken partition
        lost.join(5)
        assert not lost.is_alive() and worker.applier.idle
        assert [prepared.batch for prepared in gate.written] == [first]  # the waiting one never written
        prepared = gate.written[0]
        assert [c.key for _, c in prepared.changes] == [(1,), (1,)] and prepared.next_offsets == {
            (TOPIC, 0): 2, (TOPIC, 1): 2}
        assert [(m.partition(), m.offset()) for m in worker.pending] == [(0, 2), (0, 3)]
        assert worker.assigned == {(TOPIC, 0)} and consumer.unassigned == [TopicPartition(TOPIC, 1)]
    finally:
        worker.applier.close()


def test_a_batch_queued_behind_one_whose_offsets_moved_is_dropped(tmp_path):
    worker = _worker(tmp_path)
    prepared = worker._prepare([_Message(0, 5)])
    worker.reseek = True
    worker.writer = None  # a write would fail on it
    worker._apply(prepared)
    assert worker.commits == {}
