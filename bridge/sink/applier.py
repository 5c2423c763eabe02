"""The thread that writes a sink worker's batches while its poll loop keeps reading.

One batch at a time: the poll loop hands a batch over when the thread is idle and meanwhile
keeps polling (the consumer stays in its group however long the target takes, serves rebalances,
measures lag, and pauses its partitions when the buffer is full: `bridge.sink.flow`). An error
the write raises is kept and raised again on the poll loop's thread (`check`).
"""

from __future__ import annotations

import threading
from typing import Callable


class Applier:
    def __init__(self, write: Callable[[list], None], name: str) -> None:
        self._write = write
        self._ready = threading.Condition()
        self._batch: list | None = None
        self._closed = False
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def idle(self) -> bool:
        return self._batch is None

    @property
    def in_flight(self) -> int:
        """Records of the batch being written (they count as buffered until it commits)."""
        batch = self._batch
        return len(batch) if batch is not None else 0

    def oldest(self):
        """The first record of the batch being written, or None."""
        batch = self._batch
        return batch[0] if batch else None

    def submit(self, batch: list) -> None:
        with self._ready:
            assert self._batch is None, "one batch at a time"
            self._batch = batch
            self._ready.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until the batch being written is done (or `timeout` seconds); whether it is."""
        with self._ready:
            return self._ready.wait_for(lambda: self._batch is None, timeout)

    def check(self) -> None:
        """Raise the write's error here, on the caller's thread."""
        if self.failure is not None:
            raise self.failure

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._ready:
                self._ready.wait_for(lambda: self._batch is not None or self._closed)
                if self._batch is None:
                    return
                batch = self._batch
            try:
                if self.failure is None:
                    self._write(batch)
            except BaseException as exc:  # noqa: BLE001 - raised again on the poll loop's thread
                self.failure = exc
            with self._ready:
                self._batch = None
                self._ready.notify_all()
