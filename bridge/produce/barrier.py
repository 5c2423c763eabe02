"""A truncate between barriers: in Kafka after every record before it in WAL order, before every one after it.

A key has one producer, so per-key order holds whatever the partition counts. A truncate is the
one event of a table topic ordered against every key, and a partition is written by several
producers when its topic's partition count is not a multiple of theirs (one partition, two
producers): without a barrier the truncate can overtake rows the other producer still holds,
or be overtaken by later ones, and a consumer applying the topic (Debezium's JDBC sink with
`truncate.enabled`) keeps stale rows or loses new ones. Debezium, one task, writes them in WAL
order.

With more than one producer the decoder numbers its truncates and puts barrier records in
every ring (`bridge.route.records.barrier`); each producer publishes the newest barrier it
passed in its shared cell (`LsnCells.publish_barrier`):
- ARRIVE (every producer but the truncate's owner, where the truncate falls in WAL order):
  settle what it produced, publish k, then wait until the owner published k.
- HOLD (the owner, just before the truncate): wait until every other producer published k.
- RELEASE (the owner, just after it): settle (the truncate is in Kafka), publish k.
Settling is waiting until Kafka acknowledged every record produced so far (their offsets are
then fixed); with exactly once it is a commit of the open Kafka transaction: otherwise a crash
aborting it would replay its records after a truncate another producer committed.

Barriers reach every producer in the same order, and the decoder writes every ring's batch at
once when one holds a barrier (`Dispatcher.write_full`), so the waits form no cycle. A
producer waiting keeps serving its delivery reports; a delivery failure or an aborted pipeline
ends the wait. Rows pay nothing; a truncate costs one flush (or commit) per producer.
"""

from __future__ import annotations

from typing import Callable

from bridge.errors import BridgeError, DeliveryError
from bridge.produce.kafka import KafkaOutput
from bridge.ring import LsnCells
from bridge.route import records as rec

POLL_S = 0.002  # a waiting producer serves its delivery reports this often


class BarrierAbandoned(BridgeError):
    """The pipeline stopped while a producer waited at a truncate barrier."""


class TruncateBarrier:
    """One producer's part in the truncate barriers (the module docstring)."""

    def __init__(self, index: int, cells: LsnCells, kafka: KafkaOutput, failed: Callable[[], str | None],
                 aborted: Callable[[], bool], commit: Callable[[], None] | None = None) -> None:
        """`failed`: the first delivery failure, if any (`AckTracker.failed`); `aborted`: whether
        the pipeline is being torn down (`RingReader.aborted`); `commit`: with exactly once,
        commits the open Kafka transaction and opens the next one."""
        self._index = index
        self._cells = cells
        self._kafka = kafka
        self._failed = failed
        self._aborted = aborted
        self._commit = commit
        self._others = [p for p in range(cells.producers) if p != index]

    def step(self, step: int, owner: int, number: int) -> None:
        """Barrier `number` of the truncate producer `owner` writes: this producer's `step`."""
        cells = self._cells
        if step == rec.ARRIVE:
            self._settle(number)
            cells.publish_barrier(self._index, number)
            self._wait(lambda: cells.barrier(owner) >= number, number)
        elif step == rec.HOLD:
            self._wait(lambda: all(cells.barrier(p) >= number for p in self._others), number)
        else:
            self._settle(number)
            cells.publish_barrier(self._index, number)

    def _settle(self, number: int) -> None:
        if self._commit is not None:
            self._commit()
            return
        kafka = self._kafka
        while len(kafka):
            kafka.flush(POLL_S)
            self._check(number)
        self._check(number)

    def _wait(self, passed: Callable[[], bool], number: int) -> None:
        while not passed():
            self._kafka.poll(POLL_S)
            self._check(number)

    def _check(self, number: int) -> None:
        failed = self._failed()
        if failed is not None:
            raise DeliveryError(failed)
        if self._aborted():
            raise BarrierAbandoned(f"producer {self._index}: the pipeline stopped at truncate barrier {number}")
