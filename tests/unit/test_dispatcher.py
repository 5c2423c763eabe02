"""The decoder's loop: stream → router → rings, the progress it publishes, and how it reads."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from bridge.pgoutput import messages as m
from bridge.ring import RingOwner, RingReader, RingWriter, LsnCells
from bridge.ring.records import iter_records
from bridge.route import dispatcher as dispatcher_module
from bridge.route import records as rec
from bridge.route.dispatcher import Dispatcher
from tests.pgoutput_encoder import encode
from tests.unit.builders import REL
from tests.unit.builders import make_router as make


class ScriptedStream:
    """Hands out prepared reads; stops the loop when they run out."""

    def __init__(self, reads: list[list[tuple[bytes, int]]], stop: threading.Event) -> None:
        self.reads = [[SimpleNamespace(payload=p, data_start=lsn) for p, lsn in batch] for batch in reads]
        self.stop = stop
        self.wal_end = 0
        self.flushed_lsn = 0
        self.confirmed: list[int] = []

    def read(self, max_messages: int, timeout_s: float) -> list:
        batch = self.reads.pop(0)
        assert len(batch) <= max_messages
        if batch:
            self.wal_end = max(self.wal_end, batch[-1].data_start)
        if not self.reads:
            self.stop.set()
        return batch

    def confirm(self, lsn: int, *, force: bool = False) -> None:
        self.flushed_lsn = lsn
        self.confirmed.append(lsn)


class RecordingStop(threading.Event):
    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return self.is_set()


def txn(xid: int, end_lsn: int, keys: list[bytes]) -> list[tuple[bytes, int]]:
    msgs = [(encode(m.Begin(end_lsn, 1_700_000_000_000_000, xid)), end_lsn - 10)]
    msgs += [(encode(m.Insert(REL.relation_id, (k, b"v"))), end_lsn - 9 + i) for i, k in enumerate(keys)]
    msgs.append((encode(m.Commit(0, end_lsn - 1, end_lsn, 1_700_000_000_000_000)), end_lsn))
    return msgs


def run(reads, *, coalesce_s: float, producers: int = 2, ring_bytes: int = 1 << 20):
    router = make(producers=producers)
    stop = RecordingStop()
    stream = ScriptedStream(reads, stop)
    with LsnCells.create(producers) as cells:
        owners = [RingOwner(ring_bytes) for _ in range(producers)]
        writers = [RingWriter(o.handle) for o in owners]
        readers = [RingReader(o.handle) for o in owners]
        try:
            dispatcher = Dispatcher(stream, router, writers, cells, coalesce_s=coalesce_s)
            dispatcher.run(stop)
            kinds = []
            for reader in readers:
                got = []
                while (batch := reader.read(0)) is not None:
                    got += [bytes(r)[0] for r in iter_records(batch)]
                kinds.append(got)
            return stop.waits, dispatcher, kinds, cells.dispatched
        finally:
            for x in (*writers, *readers, *owners):
                x.close()


def test_routes_everything_into_the_rings_and_publishes_the_commit_as_dispatched():
    reads = [[(encode(REL), 100)], txn(7, 200, [b"1", b"2", b"3", b"4"])]
    _, dispatcher, kinds, dispatched = run(reads, coalesce_s=0.002)
    assert dispatcher.messages == 7
    assert all(k[0] == rec.RELATION for k in kinds)  # every producer learns the relation
    assert sum(k.count(rec.ROW) for k in kinds) == 4
    assert dispatched == 200


def test_waits_for_a_batch_to_gather_only_after_draining_the_stream():
    full = txn(1, 10_000, [str(i).encode() for i in range(dispatcher_module.READ_BATCH - 2)])
    assert len(full) == dispatcher_module.READ_BATCH
    reads = [[(encode(REL), 100)], full, [], txn(2, 20_000, [b"x"])]
    waits, *_ = run(reads, coalesce_s=0.002)
    # after the drained reads (the Relation alone, the last txn), not after a full read (more
    # is buffered) or an empty one (the read itself already waited on the socket)
    assert waits == [0.002, 0.002]


def test_coalescing_off_reads_again_at_once():
    waits, *_ = run([[(encode(REL), 100)], txn(2, 300, [b"x"])], coalesce_s=0.0)
    assert waits == []


def test_a_bulk_read_of_wide_rows_is_written_in_pieces_that_fit_the_ring():
    # 4,000 rows of 4 kB in one read: 16 MB for one producer's 1 MiB ring, drained meanwhile
    wide = b"w" * 4096
    msgs = [(encode(m.Begin(10_000_000, 1_700_000_000_000_000, 3)), 1000)]
    msgs += [(encode(m.Insert(REL.relation_id, (str(i).encode(), wide))), 1001 + i) for i in range(4000)]
    msgs.append((encode(m.Commit(0, 9_999_999, 10_000_000, 1_700_000_000_000_000)), 10_000_000))
    router = make(producers=1)
    stop = RecordingStop()
    stream = ScriptedStream([[(encode(REL), 100)], msgs], stop)
    with LsnCells.create(1) as cells, RingOwner(1 << 20) as owner, RingWriter(owner.handle) as writer, \
            RingReader(owner.handle) as reader:
        rows = 0

        def drain():
            nonlocal rows
            while True:
                try:
                    batch = reader.read(0.5)
                except Exception:  # noqa: BLE001 - RingClosed ends the drain; a failure shows in the row count
                    return
                if batch is None:
                    if stop.is_set():
                        return
                    continue
                rows += sum(1 for r in iter_records(batch) if bytes(r[:1])[0] == rec.ROW)

        drainer = threading.Thread(target=drain)
        drainer.start()
        Dispatcher(stream, router, [writer], cells, coalesce_s=0).run(stop)
        writer.close()
        drainer.join(30)
    assert rows == 4000


def test_write_full_writes_every_batch_once_one_holds_a_truncate_barrier():
    # GIVEN two producers' small batches (far below FLUSH_BYTES)
    router = make(producers=2, **{"debezium.source.skipped.operations": "none"})
    router.handle(encode(REL), 100)
    with LsnCells.create(2) as cells:
        owners = [RingOwner(1 << 20) for _ in range(2)]
        writers = [RingWriter(o.handle) for o in owners]
        readers = [RingReader(o.handle) for o in owners]
        try:
            dispatcher = Dispatcher(None, router, writers, cells)
            for payload, lsn in txn(7, 200, [b"1", b"2"]):
                router.handle(payload, lsn)
            dispatcher.write_full()
            assert [r.read(0) for r in readers] == [None, None]  # nothing full: nothing written

            # WHEN a truncate's barriers join them
            router.handle(encode(m.Begin(300, 1_700_000_000_000_000, 8)), 290)
            router.handle(encode(m.Truncate((REL.relation_id,), 0)), 291)
            dispatcher.write_full()

            # THEN every ring gets its batch, barrier included, at once
            for reader in readers:
                batch = reader.read(0)
                assert batch is not None and rec.BARRIER in [bytes(r)[0] for r in iter_records(batch)]
            assert router.fenced is False and all(b.nbytes == 0 for b in router.builders)
        finally:
            for x in (*writers, *readers, *owners):
                x.close()
