"""One bounded single-writer/single-reader ring of record batches in shared memory.

The coordinator creates a `RingOwner` before it starts its children and passes
`owner.handle` to them; the decoder opens a `RingWriter`, one producer opens a `RingReader`.
See `bridge.ring.layout` for the bytes and `bridge.ring.wakeup` for the sleep protocol.

Memory-ordering assumption (x86-64, documented rather than enforced): aligned 8-byte stores
through `memoryview.cast("Q")` are single atomic stores, and stores become visible to other
cores in program order. So the writer copies a batch into the data area first and publishes
`head` last, and the reader releases a batch's bytes only by publishing `tail` after it is
done with them; the other side never sees a position before the bytes it covers.

Start method: the handle pickles its eventfds with `multiprocessing.reduction.DupFd`, as
multiprocessing does for its own `Connection`s, so it works with 'spawn' and 'forkserver'
(the fds travel with the child's launch) as well as 'fork' (inherited as is). pgbridge uses
'spawn': the coordinator runs a uvloop event loop, and forking a process with an event loop
and threads copies their state into a child that never runs them (Python 3.12 warns on it).
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from multiprocessing.reduction import DupFd
from typing import Any, NamedTuple, Self

from bridge.errors import BridgeError
from bridge.ring import layout
from bridge.ring.segment import attach_segment, create_segment
from bridge.ring.wakeup import Wakeup, full_fence

# Longest single sleep before re-checking the ring: bounds the cost of a lost wake-up.
_MAX_SLEEP = 0.1


class RingClosed(BridgeError):
    """The other end of a ring is closed: end of stream for a reader, a gone reader for a writer."""


class RingStats(NamedTuple):
    """Counters of one ring end in this process. `signals` and `sleeps` are syscalls."""

    batches: int
    signals: int
    sleeps: int


class RingHandle:
    """Everything a child needs to open one end of a ring: segment name and two eventfds.

    `data_fd` wakes a sleeping reader, `space_fd` wakes a writer waiting for room.
    """

    __slots__ = ("name", "data_fd", "space_fd")

    def __init__(self, name: str, data_fd: int, space_fd: int) -> None:
        self.name = name
        self.data_fd = data_fd
        self.space_fd = space_fd

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_handle, (self.name, DupFd(self.data_fd), DupFd(self.space_fd)))

    def __repr__(self) -> str:
        return f"RingHandle({self.name!r})"


def _rebuild_handle(name: str, data_fd: Any, space_fd: Any) -> RingHandle:
    return RingHandle(name, data_fd.detach(), space_fd.detach())


class RingOwner:
    """The coordinator's side of one ring: creates it, aborts it when a child dies, unlinks it.

    `capacity` is the size of the data area in bytes; a single batch can be up to
    `capacity - 8` bytes, but keep batches well below a quarter of it so the writer can fill
    the ring while the reader works.
    """

    def __init__(self, capacity: int) -> None:
        layout.check_capacity(capacity)
        self.capacity = capacity
        self._shm = create_segment("ring", layout.HEADER_SIZE + capacity)
        with self._shm.buf[: layout.HEADER_SIZE] as raw, raw.cast("Q") as words:
            words[layout.MAGIC] = layout.RING_MAGIC
            words[layout.CAPACITY] = capacity
        self._data_wakeup = Wakeup.create()
        self._space_wakeup = Wakeup.create()
        self.handle = RingHandle(
            self._shm.name, self._data_wakeup.fileno(), self._space_wakeup.fileno()
        )
        self._closed = False

    def used_bytes(self) -> int:
        """Bytes written and not yet consumed (a gauge: read without ordering)."""
        if self._closed:
            return 0
        with self._shm.buf[: layout.HEADER_SIZE] as raw, raw.cast("Q") as words:
            return words[layout.HEAD] - words[layout.TAIL]

    def abort(self) -> None:
        """Mark both ends closed and wake both, e.g. after one of the two processes died.

        A live writer then gets `RingClosed` instead of waiting for room; a live reader
        drains what was published and then gets `RingClosed`.
        """
        if self._closed:
            return
        with self._shm.buf[: layout.HEADER_SIZE] as raw, raw.cast("Q") as words:
            words[layout.WRITER_CLOSED] = 1
            words[layout.READER_CLOSED] = 1
        self._data_wakeup.signal()
        self._space_wakeup.signal()

    def close(self) -> None:
        """Unlink the segment and close the eventfds; children keep their mappings."""
        if self._closed:
            return
        self._closed = True
        self._shm.close()
        self._shm.unlink()
        self._data_wakeup.close()
        self._space_wakeup.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _RingEnd(ABC):
    """What both ends share: the mapping, the header words, the data area, the wakeups."""

    def __init__(self, handle: RingHandle) -> None:
        self._shm = attach_segment(handle.name)
        self._words = self._shm.buf[: layout.HEADER_SIZE].cast("Q")
        if self._words[layout.MAGIC] != layout.RING_MAGIC:
            self._words.release()
            self._shm.close()
            raise ValueError(f"shared memory {handle.name!r} is not a pgbridge ring")
        self.capacity: int = self._words[layout.CAPACITY]
        self._data = self._shm.buf[layout.HEADER_SIZE : layout.HEADER_SIZE + self.capacity]
        # Own copies of the fds, so closing this end never closes the owner's (same process).
        self._data_wakeup = Wakeup(os.dup(handle.data_fd))
        self._space_wakeup = Wakeup(os.dup(handle.space_fd))
        self._batches = 0
        self._closed = False

    def _detach(self) -> None:
        self._closed = True
        self._words.release()
        self._data.release()
        self._shm.close()
        self._data_wakeup.close()
        self._space_wakeup.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @abstractmethod
    def close(self) -> None:
        """Tell the other end this one is done, then unmap; idempotent."""


class RingWriter(_RingEnd):
    """The decoder's end: appends whole batches, never blocks longer than its timeout."""

    def __init__(self, handle: RingHandle) -> None:
        super().__init__(handle)
        self.max_batch = self.capacity - layout.FRAME_SIZE
        # A full ring wakes the writer only once a quarter of it is free again, not for
        # every batch the reader frees: one sleep per many batches under backpressure.
        self._low_water = self.capacity // 4
        self._head: int = self._words[layout.HEAD]

    def write(self, batch: bytes | bytearray | memoryview, timeout: float = 0.0) -> bool:
        """Append `batch` (bytes-like, unsigned-byte format) as one frame.

        Returns False when the ring stayed too full for `timeout` seconds (0: do not wait),
        so the caller can do other work (answer keepalives) and retry. Raises RingClosed
        when the reader is gone and ValueError when the batch exceeds `max_batch`.
        """
        n = len(batch)
        size = layout.frame_size(n)
        capacity = self.capacity
        if size > capacity:
            raise ValueError(f"batch of {n} bytes exceeds max_batch={self.max_batch}")
        words, data = self._words, self._data
        deadline = None
        while True:
            if words[layout.READER_CLOSED]:
                raise RingClosed("ring reader is closed")
            head = self._head
            free = capacity - (head - words[layout.TAIL])
            offset = head % capacity
            to_end = capacity - offset
            if to_end < size:
                if free >= to_end:  # skip to offset 0: a frame never straddles the end
                    skip = to_end - layout.FRAME_SIZE
                    layout.FRAME.pack_into(data, offset, skip, layout.KIND_SKIP)
                    self._publish(head + to_end)
                    continue
                need = to_end
            elif free >= size:
                layout.FRAME.pack_into(data, offset, n, layout.KIND_BATCH)
                start = offset + layout.FRAME_SIZE
                data[start : start + n] = batch
                self._batches += 1
                self._publish(head + size)
                return True
            else:
                need = size
            now = time.monotonic()
            if deadline is None:
                deadline = now + timeout
            if now >= deadline:
                return False
            self._sleep_for_space(need, deadline - now)

    def _publish(self, head: int) -> None:
        self._head = head
        self._words[layout.HEAD] = head  # after the payload: this store publishes it
        full_fence()
        if self._words[layout.READER_SLEEPING]:
            self._data_wakeup.signal()

    def _sleep_for_space(self, need: int, timeout: float) -> None:
        words = self._words
        words[layout.WRITER_WANTS] = max(need, self._low_water)
        full_fence()
        # Re-check after announcing the sleep: the reader may have freed room meanwhile.
        free = self.capacity - (self._head - words[layout.TAIL])
        if free < need and not words[layout.READER_CLOSED]:
            self._space_wakeup.wait(min(timeout, _MAX_SLEEP))
        words[layout.WRITER_WANTS] = 0

    def stats(self) -> RingStats:
        return RingStats(self._batches, self._data_wakeup.signals, self._space_wakeup.sleeps)

    def close(self) -> None:
        """Mark end of stream (the reader drains, then gets RingClosed) and detach."""
        if self._closed:
            return
        self._words[layout.WRITER_CLOSED] = 1
        self._data_wakeup.signal()
        self._detach()


class RingReader(_RingEnd):
    """A producer's end: hands out one batch at a time as a memoryview into the ring."""

    def __init__(self, handle: RingHandle) -> None:
        super().__init__(handle)
        self._tail: int = self._words[layout.TAIL]
        self._batch: memoryview | None = None
        self._batch_size = 0

    def read(self, timeout: float = 0.0) -> memoryview | None:
        """The next batch, or None if none arrived within `timeout` seconds (0: do not wait).

        The view points into the ring and is valid until the next `read()` or `close()`,
        which hand its bytes back to the writer: copy whatever must outlive it. Raises
        RingClosed once the writer closed and every batch was read.
        """
        if self._batch is not None:
            self._batch.release()
            self._batch = None
            self._consume(self._batch_size)
        words, data = self._words, self._data
        deadline = None
        while True:
            tail = self._tail
            if words[layout.HEAD] != tail:
                offset = tail % self.capacity
                n, kind = layout.FRAME.unpack_from(data, offset)
                if kind == layout.KIND_SKIP:
                    self._consume(layout.FRAME_SIZE + n)
                    continue
                start = offset + layout.FRAME_SIZE
                self._batch = data[start : start + n]
                self._batch_size = layout.frame_size(n)
                self._batches += 1
                return self._batch
            # The writer sets the flag after its last publish, so re-read head after it.
            if words[layout.WRITER_CLOSED] and words[layout.HEAD] == tail:
                raise RingClosed("ring writer is closed: end of stream")
            now = time.monotonic()
            if deadline is None:
                deadline = now + timeout
            if now >= deadline:
                return None
            self._sleep_for_data(deadline - now)

    @property
    def aborted(self) -> bool:
        """Whether the coordinator aborted the pipeline (`RingOwner.abort`: a child died)."""
        return bool(self._words[layout.READER_CLOSED])

    def _consume(self, size: int) -> None:
        tail = self._tail + size
        self._tail = tail
        words = self._words
        words[layout.TAIL] = tail  # only after the batch's bytes are no longer read
        full_fence()
        wants = words[layout.WRITER_WANTS]
        if wants and self.capacity - (words[layout.HEAD] - tail) >= wants:
            self._space_wakeup.signal()

    def _sleep_for_data(self, timeout: float) -> None:
        words = self._words
        words[layout.READER_SLEEPING] = 1
        full_fence()
        # Re-check after announcing the sleep: the writer may have published meanwhile.
        if words[layout.HEAD] == self._tail and not words[layout.WRITER_CLOSED]:
            self._data_wakeup.wait(min(timeout, _MAX_SLEEP))
        words[layout.READER_SLEEPING] = 0

    def stats(self) -> RingStats:
        return RingStats(self._batches, self._space_wakeup.signals, self._data_wakeup.sleeps)

    def close(self) -> None:
        """Tell the writer nobody reads any more (its writes raise RingClosed) and detach."""
        if self._closed:
            return
        if self._batch is not None:
            self._batch.release()
            self._batch = None
        self._words[layout.READER_CLOSED] = 1
        self._space_wakeup.signal()
        self._detach()
