"""The threads that prepare and write a sink worker's batches while its poll loop keeps reading.

Two batches in flight at most: one being written, the next one prepared and waiting. A batch
submitted is prepared (`prepare`: everything that needs no database, the records read as
changes) on a thread of its own while the writer thread has the previous one's statements and
commit with PostgreSQL (the GIL released), so that neither the writer nor the poll loop waits for
it; the writer takes batches in the order they were submitted. Meanwhile the poll loop reads the
batch after them, and once the buffer is full waits for a write to end, pausing its partitions
and polling on if that takes long (it stays in its group however long the target takes, serves
rebalances, measures lag: `bridge.sink.flow`). An error the preparation or the write raises is kept and
raised again on the poll loop's thread (`check`); nothing is prepared or written after it.
"""

from __future__ import annotations

import threading
from typing import Callable


class Applier:
    def __init__(self, prepare: Callable[[list], object], write: Callable[[object], None], name: str) -> None:
        self._prepare = prepare
        self._write = write
        self._ready = threading.Condition()
        self._writing: tuple[list, object] | None = None
        self._waiting: tuple[list, object] | None = None  # prepared, the next one written
        self._queued: list | None = None  # submitted, being prepared
        self._closed = False
        self._written = 0  # batches written so far
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._preparer = threading.Thread(target=self._prepare_next, name=name + "-prepare", daemon=True)
        self._preparer.start()

    @property
    def idle(self) -> bool:
        return self._writing is None and self._waiting is None and self._queued is None

    @property
    def room(self) -> bool:
        """Whether a batch can be submitted now (none waiting behind the one being written)."""
        return self._waiting is None and self._queued is None

    @property
    def in_flight(self) -> int:
        """Records of the batches submitted (they count as buffered until they commit)."""
        writing, waiting, queued = self._writing, self._waiting, self._queued
        return ((len(writing[0]) if writing is not None else 0) + (len(waiting[0]) if waiting is not None else 0)
                + (len(queued) if queued is not None else 0))

    def oldest(self):
        """The first record of the batches submitted, or None."""
        for batch in (self._writing, self._waiting, (self._queued,)):
            if batch is not None and batch[0]:
                return batch[0][0]
        return None

    def submit(self, batch: list) -> None:
        """Queue `batch` to be prepared and then written behind the one being written."""
        with self._ready:
            assert self._waiting is None and self._queued is None, "one batch waiting at a time"
            if self.failure is not None:
                return
            self._queued = batch
            self._ready.notify_all()

    def take_waiting(self) -> list:
        """Take back the batch waiting to be written (it never will be); its records, or []."""
        with self._ready:
            self._ready.wait_for(lambda: self._queued is None)  # its preparation finishes
            waiting, self._waiting = self._waiting, None
            self._ready.notify_all()
        return waiting[0] if waiting is not None else []

    def wait_room(self, timeout: float | None = None) -> bool:
        """Wait until a batch can be submitted (or `timeout` seconds); whether it can."""
        with self._ready:
            return self._ready.wait_for(lambda: self._waiting is None and self._queued is None, timeout)

    def wait_written(self, timeout: float | None = None) -> bool:
        """Wait until the batch being written is done (or `timeout` seconds); whether it is."""
        with self._ready:
            if self.idle:
                return True
            written = self._written
            return self._ready.wait_for(lambda: self._written != written, timeout)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until the batches submitted are written (or `timeout` seconds); whether they are."""
        with self._ready:
            return self._ready.wait_for(lambda: self.idle, timeout)

    def check(self) -> None:
        """Raise the preparation's or the write's error here, on the caller's thread."""
        if self.failure is not None:
            raise self.failure

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()
        self._thread.join()
        self._preparer.join()

    def _prepare_next(self) -> None:
        while True:
            with self._ready:
                self._ready.wait_for(lambda: self._queued is not None or self._closed)
                if self._queued is None:
                    return
                batch = self._queued
            prepared = None
            try:
                if self.failure is None:
                    prepared = self._prepare(batch)
            except BaseException as exc:  # noqa: BLE001 - raised again on the poll loop's thread
                self.failure = exc
            with self._ready:
                self._queued = None
                if self.failure is None:
                    self._waiting = (batch, prepared)
                self._ready.notify_all()

    def _run(self) -> None:
        while True:
            with self._ready:
                self._ready.wait_for(lambda: self._waiting is not None or self._closed)
                if self._waiting is None:
                    return
                self._writing, self._waiting = self._waiting, None
                self._ready.notify_all()  # room for the next one
                prepared = self._writing[1]
            try:
                if self.failure is None:
                    self._write(prepared)
            except BaseException as exc:  # noqa: BLE001 - raised again on the poll loop's thread
                self.failure = exc
            with self._ready:
                self._writing = None
                self._written += 1
                self._ready.notify_all()
