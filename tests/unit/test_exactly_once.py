"""Exactly once, without servers: what a producer skips after a restart, the position its
commits record, and how resume points are chosen from the markers (`bridge.produce.exactly_once`)."""

from __future__ import annotations

import json
import logging

from bridge.config import config_from_properties
from bridge.convert.types import TypeRegistry
from bridge.pgoutput import messages as m
from bridge.produce.exactly_once import ResumePoint, Transactions, choose_resume_points
from bridge.produce.kafka import KafkaOutput, TransactionalOutput
from bridge.produce.worker import ProducerWorker, run_producer
from bridge.ring import RingOwner, RingReader, RingWriter, LsnCells
from bridge.ring.records import BatchBuilder, iter_records
from bridge.route.router import Router
from bridge.source.catalog import TableInfo
from tests.pgoutput_encoder import encode
from tests.fakes import FakeSink
from tests.unit.builders import MINIMAL, REL, txn

EO = {"bridge.exactly.once": "true", "debezium.source.tombstones.on.delete": "false"}


class TransactionalSink(FakeSink):
    """Records produced, grouped by the Kafka transaction they were produced in."""

    def __init__(self) -> None:
        super().__init__()
        self.open = False
        self.committed: list[list[tuple]] = []
        self._current: list[tuple] = []

    def produce(self, topic, key, value, on_delivery, partition=-1, headers=None) -> None:
        assert self.open, "produce outside a transaction"
        if topic == "pgbridge_offsets":  # the marker: a plain-text key
            self.records.append((topic, key.decode(), json.loads(value)))
        else:
            super().produce(topic, key, value, on_delivery, partition, headers)
        self._current.append(self.records[-1])

    def begin_transaction(self) -> None:
        assert not self.open
        self.open = True

    def commit_transaction(self, timeout_s: float = 60.0) -> None:
        assert self.open
        self.committed.append(self._current)
        self._current, self.open = [], False



def test_the_fakes_implement_the_worker_protocols():
    assert isinstance(FakeSink(), KafkaOutput) and not isinstance(FakeSink(), TransactionalOutput)
    assert isinstance(TransactionalSink(), TransactionalOutput)


def setup(resume: ResumePoint | None = None, **props):
    config = config_from_properties({**MINIMAL, "bridge.producers": "1", "debezium.source.topic.prefix": "p",
                                     **EO, **props})
    router = Router(config.routing, lambda rel: TableInfo(("id",), frozenset({"id"})))
    sink = TransactionalSink()
    sink.open = True  # the tests of the worker alone: one long transaction
    worker = ProducerWorker(config.producer_spec, sink, TypeRegistry(), run_id="run", resume=resume)
    router.handle(encode(REL), 10)
    return config, router, worker, sink


def ids(sink) -> list[int]:
    return [v["payload"]["after"]["id"] for t, _, v in sink.records if t == "p.public.t"]


def feed(router, worker) -> None:
    worker.handle_batch(memoryview(bytes(router.builders[0].buffer)))
    router.builders[0].buffer.clear()


def workload(router) -> None:
    """T1 ends at 200 (rows 1, 2), T2 at 300 (rows 3, 4, 5), a message at 350, T3 at 400 (row 6)."""
    txn(router, 200, [m.Insert(16384, (b"1", b"a")), m.Insert(16384, (b"2", b"a"))])
    txn(router, 300, [m.Insert(16384, (str(i).encode(), b"a")) for i in (3, 4, 5)])
    router.handle(encode(m.LogicalMessage(False, 350, "audit", b"x")), 350)
    txn(router, 400, [m.Insert(16384, (b"6", b"a"))])


def test_without_a_resume_point_everything_is_produced():
    _, router, worker, sink = setup()
    workload(router)
    feed(router, worker)
    assert ids(sink) == [1, 2, 3, 4, 5, 6]


def test_replay_skips_whole_transactions_and_the_committed_part_of_one():
    # GIVEN an earlier run committed T1 and the first two rows of T2 (commit LSN 292)
    _, router, worker, sink = setup(ResumePoint(lsn=200, txn=292, done=2))
    workload(router)
    feed(router, worker)
    # THEN the replay writes only the rest
    assert ids(sink) == [5, 6]
    assert [t for t, _, _ in sink.records].count("p.message") == 1


def test_a_committed_standalone_message_is_skipped_too():
    _, router, worker, sink = setup(ResumePoint(lsn=350))
    workload(router)
    feed(router, worker)
    assert ids(sink) == [6] and "p.message" not in [t for t, _, _ in sink.records]


def test_position_counts_units_inside_an_open_transaction():
    _, router, worker, _ = setup()
    txn(router, 200, [m.Insert(16384, (b"1", b"a"))])
    router.handle(encode(m.Begin(292, 1_700_000_000_000_000, 8)), 201)
    router.handle(encode(m.Insert(16384, (b"3", b"a"))), 210)
    router.handle(encode(m.Insert(16384, (b"4", b"a"))), 211)
    feed(router, worker)
    assert worker.position() == ResumePoint(200, 292, 2)
    router.handle(encode(m.Commit(0, 292, 300, 1_700_000_000_000_000)), 300)
    feed(router, worker)
    assert worker.position() == ResumePoint(300, 0, 0)


def test_positions_replayed_through_a_resume_point_agree_with_the_first_run():
    # The first run commits after each batch; a second run resumed from any of those markers
    # writes exactly the rest: together, every row once.
    batches = []
    _, router, _, _ = setup()
    txn(router, 200, [m.Insert(16384, (b"1", b"a"))])
    batches.append(bytes(router.builders[0].buffer))
    router.builders[0].buffer.clear()
    router.handle(encode(m.Begin(292, 1_700_000_000_000_000, 8)), 201)
    for i in (2, 3):
        router.handle(encode(m.Insert(16384, (str(i).encode(), b"a"))), 210 + i)
    batches.append(bytes(router.builders[0].buffer))
    router.builders[0].buffer.clear()
    router.handle(encode(m.Insert(16384, (b"4", b"a"))), 220)
    router.handle(encode(m.Commit(0, 292, 300, 1_700_000_000_000_000)), 300)
    batches.append(bytes(router.builders[0].buffer))
    stream = b"".join(batches)
    for crash_after in range(len(batches)):
        _, _, first, sink1 = setup()
        for batch in batches[:crash_after + 1]:
            first.handle_batch(memoryview(batch))
        point = first.position()
        _, _, second, sink2 = setup(point)
        second.handle_batch(memoryview(stream))
        assert ids(sink1) + ids(sink2) == [1, 2, 3, 4], (crash_after, point)


def test_run_producer_commits_with_a_marker_and_publishes_what_the_commit_made_safe(monkeypatch):
    config = config_from_properties({**MINIMAL, "bridge.producers": "1", "debezium.source.topic.prefix": "p", **EO,
                                     "bridge.exactly.once.commit.interval.ms": "1"})
    router = Router(config.routing, lambda rel: TableInfo(("id",), frozenset({"id"})))
    router.handle(encode(REL), 10)
    txn(router, 200, [m.Insert(16384, (b"1", b"a"))])
    router.handle(encode(m.Begin(292, 1_700_000_000_000_000, 8)), 201)
    router.handle(encode(m.Insert(16384, (b"2", b"a"))), 210)
    sink = TransactionalSink()
    worker = ProducerWorker(config.producer_spec, sink, TypeRegistry(), run_id="run")
    with RingOwner(1 << 20) as owner, RingWriter(owner.handle) as writer, RingReader(owner.handle) as reader, \
            LsnCells.create(1) as cells:
        assert writer.write(bytes(router.builders[0].buffer))
        writer.close()
        run_producer(0, worker, reader, cells, 5.0, transactions=Transactions(sink, config.exactly_once_scope, 0, "sys-1"))
        acked = cells.acked(0)
    markers = [(k, v) for txn_records in sink.committed for t, k, v in txn_records if t == "pgbridge_offsets"]
    assert sink.committed and not sink.open
    # every Kafka transaction ends with its marker, and the last one says: T1 whole, 1 unit of T2
    assert all(records[-1][0] == "pgbridge_offsets" for records in sink.committed)
    assert markers[-1][1] == {"lsn": 200, "txn": 292, "done": 1, "producers": 1, "routing": config.routing.fingerprint(),
                              "system": "sys-1"}
    assert acked == 200  # the open PostgreSQL transaction is not confirmable yet
    assert ids(sink) == [1, 2]


def test_resume_points_from_markers():
    config = config_from_properties({**MINIMAL, "bridge.producers": "2", **EO})
    routing = config.routing.fingerprint()

    def marker(lsn, producers=2, routing=routing, system="s"):
        return {"lsn": lsn, "txn": lsn + 8, "done": 3, "producers": producers, "routing": routing, "system": system}

    found = {0: marker(100), 1: marker(200)}
    assert choose_resume_points(found, 2, routing, "s", slot_is_new=False) == [
        ResumePoint(100, 108, 3), ResumePoint(200, 208, 3)]
    assert choose_resume_points({1: marker(200)}, 2, routing, "s", False) == [ResumePoint(), ResumePoint(200, 208, 3)]
    # a new slot, or another cluster: another history
    assert choose_resume_points(found, 2, routing, "s", slot_is_new=True) == [ResumePoint(), ResumePoint()]
    assert choose_resume_points(found, 2, routing, "other", False) == [ResumePoint(), ResumePoint()]


def test_changed_routing_or_producer_count_replays_at_least_once(caplog):
    caplog.set_level(logging.WARNING)
    config = config_from_properties({**MINIMAL, "bridge.producers": "2", **EO})
    routing = config.routing.fingerprint()
    base = {"lsn": 100, "txn": 0, "done": 0, "routing": routing, "system": "s"}
    assert choose_resume_points({0: {**base, "producers": 3}}, 2, routing, "s", False) == [ResumePoint()] * 2
    assert choose_resume_points({0: {**base, "producers": 2, "routing": "x"}}, 2, routing, "s", False) == \
        [ResumePoint()] * 2
    assert "written again (at least once)" in caplog.text
    salted = config_from_properties({**MINIMAL, "bridge.producers": "2", **EO, "bridge.partition.salt": "x"})
    assert salted.routing.fingerprint() != routing


def test_marker_keys_name_the_server_database_slot_and_producer():
    config = config_from_properties({**MINIMAL, **EO, "debezium.source.slot.name": "s1"})
    assert config.exactly_once_scope.marker_key(3) == b"db.example:5432/inventory/s1/3"


def test_a_chain_of_crashes_at_every_record_writes_each_row_once():
    """Run 1 commits after i records, run 2 (resumed) after j records of the replay, run 3 goes
    to the end: for every i, j, the rows the three committed are each row once. (Run 2 replays
    whole transactions before run 1's position, whose commits must keep run 1's partial count.)"""
    _, router, _, _ = setup()
    txn(router, 200, [m.Insert(16384, (str(i).encode(), b"a")) for i in (1, 2)])
    txn(router, 300, [m.Insert(16384, (str(i).encode(), b"a")) for i in (3, 4, 5)])
    txn(router, 400, [m.Insert(16384, (str(i).encode(), b"a")) for i in (6, 7)])
    records = [bytes(r) for r in iter_records(memoryview(bytes(router.builders[0].buffer)))]
    relation, records = records[0], records[1:]

    def batch(rs) -> memoryview:
        builder = BatchBuilder()
        for r in (relation, *rs):
            builder.add(r)
        return memoryview(bytes(builder.buffer))

    def run(resume, upto):
        _, _, worker, sink = setup(resume)
        worker.handle_batch(batch(records[:upto]))
        return ids(sink), worker.position()

    for i in range(len(records) + 1):
        first, point1 = run(None, i)
        for j in range(len(records) + 1):
            second, point2 = run(point1, j)
            third, _ = run(point2, len(records))
            assert first + second + third == [1, 2, 3, 4, 5, 6, 7], (i, j, point1, point2)
