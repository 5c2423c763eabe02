"""Truncate barriers between producers (`bridge.produce.barrier`): what each step waits for,
what it publishes, and how a producer worker takes them from its ring."""

from __future__ import annotations

import threading
import time

import pytest

from bridge.errors import DeliveryError, ProtocolError
from bridge.pgoutput import messages as m
from bridge.produce.barrier import BarrierAbandoned, TruncateBarrier
from bridge.ring import LsnCells
from bridge.route import records as rec
from bridge.route.partitioner import key_hash
from tests.pgoutput_encoder import encode
from tests.unit.builders import REL, make_router, pipeline, txn


class Outbox:
    """A `KafkaOutput`'s queue: `pending` records until a flush delivers them, noted in `log`."""

    def __init__(self, name: str, log: list, pending: int = 0) -> None:
        self.name, self.log, self.pending, self.flushes = name, log, pending, 0

    def __len__(self) -> int:
        return self.pending

    def flush(self, timeout_s: float) -> int:
        self.flushes += 1
        time.sleep(0.01)
        if self.pending:
            self.log.append((self.name, "delivered", self.pending))
            self.pending = 0
        return 0

    def poll(self, timeout_s: float = 0) -> int:
        time.sleep(timeout_s)
        return 0


def barrier(cells, index, kafka, failed=None, aborted=None, commit=None) -> TruncateBarrier:
    return TruncateBarrier(index, cells, kafka, failed or (lambda: None), aborted or (lambda: False), commit)


def test_the_truncate_follows_what_others_produced_before_it_and_precedes_what_they_produce_after():
    log: list = []
    with LsnCells.create(3) as cells:
        # GIVEN producer 0 writing truncate 1, producers 1 and 2 with undelivered records before it
        outs = [Outbox("p0", log), Outbox("p1", log, pending=5), Outbox("p2", log, pending=2)]
        steps = [barrier(cells, i, outs[i]) for i in range(3)]

        def other(i: int) -> None:
            steps[i].step(rec.ARRIVE, 0, 1)
            log.append((f"p{i}", "goes on"))

        def owner() -> None:
            steps[0].step(rec.HOLD, 0, 1)
            log.append(("p0", "truncate"))
            outs[0].pending = 1
            steps[0].step(rec.RELEASE, 0, 1)

        # WHEN all three reach the barrier, the owner first
        threads = [threading.Thread(target=owner)] + [threading.Thread(target=other, args=(i,)) for i in (1, 2)]
        for t in threads:
            t.start()
            time.sleep(0.02)
        for t in threads:
            t.join(10)

        # THEN the others' records are delivered before the truncate is produced, and neither
        # goes on before the truncate is delivered; every cell shows barrier 1 passed
        at = {entry: i for i, entry in enumerate(log)}
        truncate, delivered = at[("p0", "truncate")], at[("p0", "delivered", 1)]
        assert at[("p1", "delivered", 5)] < truncate and at[("p2", "delivered", 2)] < truncate
        assert delivered < at[("p1", "goes on")] and delivered < at[("p2", "goes on")]
        assert [cells.barrier(i) for i in range(3)] == [1, 1, 1]


def test_each_step_waits_for_the_cells_it_needs():
    with LsnCells.create(2) as cells:
        # an ARRIVE publishes at once, then waits for the owner's RELEASE
        arrived = threading.Thread(target=barrier(cells, 1, Outbox("p1", [])).step, args=(rec.ARRIVE, 0, 1))
        arrived.start()
        time.sleep(0.05)
        assert arrived.is_alive() and cells.barrier(1) == 1
        cells.publish_barrier(0, 1)
        arrived.join(5)
        assert not arrived.is_alive()
        # a HOLD waits until every other producer passed its number
        held = threading.Thread(target=barrier(cells, 0, Outbox("p0", [])).step, args=(rec.HOLD, 0, 2))
        held.start()
        time.sleep(0.05)
        assert held.is_alive() and cells.barrier(0) == 1  # a HOLD publishes nothing
        cells.publish_barrier(1, 2)
        held.join(5)
        assert not held.is_alive()


def test_with_exactly_once_settling_commits_instead_of_flushing():
    commits = []
    with LsnCells.create(2) as cells:
        kafka = Outbox("p0", [], pending=3)
        barrier(cells, 0, kafka, commit=lambda: commits.append(len(kafka))).step(rec.RELEASE, 0, 1)
        assert commits == [3] and kafka.flushes == 0 and cells.barrier(0) == 1


def test_a_delivery_failure_or_an_aborted_pipeline_ends_the_wait():
    with LsnCells.create(2) as cells:
        with pytest.raises(DeliveryError, match="broker refused"):
            barrier(cells, 1, Outbox("p1", []), failed=lambda: "broker refused").step(rec.ARRIVE, 0, 1)
        stopping = threading.Event()
        threading.Timer(0.05, stopping.set).start()
        with pytest.raises(BarrierAbandoned, match="producer 0: the pipeline stopped at truncate barrier 2"):
            barrier(cells, 0, Outbox("p0", []), aborted=stopping.is_set).step(rec.HOLD, 0, 2)


class RecordingBarrier:
    def __init__(self, sink) -> None:
        self.sink, self.steps = sink, []

    def step(self, step: int, owner: int, number: int) -> None:
        self.steps.append((step, owner, number, [r[2]["payload"]["op"] for r in self.sink.records]))


def test_the_worker_takes_its_barrier_steps_where_its_ring_has_them():
    # GIVEN two producers' rings: a row on one, then a truncate the other writes
    router = make_router(producers=2, **{"debezium.source.skipped.operations": "none"})
    router.handle(encode(REL), 100)
    owner = key_hash(b"salt", b"public.t") % 2
    key = next(k for k in (str(i).encode() for i in range(50))
               if key_hash(b"salt", b"t" + len(k).to_bytes(4, "big") + k) % 2 != owner)
    txn(router, 200, [m.Insert(REL.relation_id, (key, b"a")), m.Truncate((REL.relation_id,), 0)])

    for p in range(2):
        # WHEN each ring is handed to a producer's worker with a barrier
        _, worker, sink = pipeline(**{"debezium.source.skipped.operations": "none"})
        worker.barrier = RecordingBarrier(sink)
        worker.handle_batch(memoryview(bytes(router.builders[p].buffer)))
        # THEN the owner holds before its truncate is produced and releases after it; the other
        # arrives after its row is produced
        if p == owner:
            assert worker.barrier.steps == [(rec.HOLD, owner, 1, []), (rec.RELEASE, owner, 1, ["t"])]
        else:
            assert worker.barrier.steps == [(rec.ARRIVE, owner, 1, ["c"])]


def test_a_worker_without_barrier_cells_refuses_a_barrier():
    router = make_router(producers=2, **{"debezium.source.skipped.operations": "none"})
    router.handle(encode(REL), 100)
    txn(router, 200, [m.Truncate((REL.relation_id,), 0)])
    _, worker, _ = pipeline()
    with pytest.raises(ProtocolError, match="barrier"):
        worker.handle_batch(memoryview(bytes(router.builders[0].buffer)))
