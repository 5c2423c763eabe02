"""Shared-memory SPSC rings of record batches (decoder → producers) and the LSN cells beside them.

The coordinator creates everything before it starts its children ('spawn' start method; the
handles are picklable, the ring's eventfds travel with them), the children attach, and the
coordinator unlinks after they exited:

    ring = RingOwner(capacity)                     # one per producer
    cells = LsnCells.create(producers)
    ctx = multiprocessing.get_context("spawn")
    ctx.Process(target=producer_main, args=(ring.handle, cells.handle)).start()
    # decoder:   RingWriter(handle).write(batch, timeout) -> bool   (False: still full)
    # producer:  RingReader(handle).read(timeout) -> memoryview | None
    ring.abort()                                   # a child died: wake and fail the other end
    ring.close(); cells.close()                    # unlink
"""

from bridge.ring.cells import LsnCells, LsnCellsHandle
from bridge.ring.records import BatchBuilder, iter_records
from bridge.ring.ring import RingClosed, RingHandle, RingOwner, RingReader, RingStats, RingWriter

__all__ = [
    "BatchBuilder",
    "RingClosed",
    "RingHandle",
    "RingOwner",
    "RingReader",
    "RingStats",
    "RingWriter",
    "LsnCells",
    "LsnCellsHandle",
    "iter_records",
]
