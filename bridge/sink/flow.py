"""Flow control of one sink worker: a bounded buffer, lag, and catch-up mode.

- Bounded memory: records read but not yet committed into the target (the poll loop's pending
  records and the batches being prepared and written) never exceed
  `bridge.sink.buffer.max.records`. Each poll asks for at most the room left. With no room the
  poll loop first waits for the writer without polling: librdkafka's own queue is bounded
  (`queued.min.messages`), so its fetcher stops too, and keeps what it prefetched. A full buffer is
  the normal state of a catch-up (the batch written, the one prepared and the one read fill the
  default bound), and its writes end within milliseconds. Only when the buffer has stayed full for
  `FlowConfig.pause_after_ms` (a slow target) is every assigned partition paused
  (`consumer.pause`: librdkafka drops what it had prefetched) and the poll loop polls again (the
  worker stays in its group and serves rebalances); at half the bound they are resumed and
  fetching restarts at the position (a seek to it, so that librdkafka fetches at once). Pausing
  at once instead paused every other batch of a catch-up, each resume fetching and decompressing
  again what had been dropped (64 pauses over 600,000 records: a fifth fewer rows per second). A
  partition assigned while the buffer is full is paused too; one assigned otherwise is resumed
  (whatever it was when it was last revoked).
- Lag, measured once a second: per partition the high watermark (librdkafka's, updated by every
  fetch) minus the position; in time, the age of the oldest record read and not yet written
  (its Kafka timestamp), else, while records wait unread, the age of the last one written.
  An unknown measurement is never read as "nothing behind": after the seek that wakes a resumed
  partition librdkafka reports its position as unknown (-1001) until a record of it is read, so
  each partition's last known position (from `position()`, a seek, or the offset it was
  assigned at) and high watermark stand until new ones are known, and are dropped only when
  the partition is revoked or lost. Dropping its lag instead made catch-up flap: behind fell to
  the buffer alone, under half the threshold, for the second until the next measurement. A
  partition never measured since its assignment (nothing read, no stored offset) is not counted.
- Catch-up mode: when the records behind (lag + buffered) pass `bridge.sink.lag.pause.messages`
  or the lag in time passes `bridge.sink.lag.pause.ms`, batches grow from `batch.size` to
  `bridge.sink.catchup.batch.size`: a transaction's fixed costs (its commit's WAL flush, the
  offsets row, one statement per table and kind) are paid once per many more rows while nobody
  waits on latency. Back to normal when both are under half their threshold (never while
  paused: a full buffer means the target is the bottleneck). One measurement decides, both
  ways: the band between the threshold and its half is the hysteresis, and with an unknown
  measurement standing at the last known one, a remembered position is where the partition
  still is (nothing of it was read since) and a remembered watermark misses only what reached
  the topic since, never a partition's whole lag; a second, confirming measurement would only
  hold the large batches a second longer.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from confluent_kafka import KafkaException, TopicPartition

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FlowConfig:
    buffer_max_records: int = 10_000
    catchup_batch_size: int = 5_000
    lag_pause_messages: int = 5_000  # 0: not a trigger
    lag_pause_ms: int = 120_000  # 0: not a trigger
    pause_after_ms: int = 500  # how long the buffer is full before its partitions are paused


class Flow:
    MEASURE_EVERY_S = 1.0

    def __init__(self, config: FlowConfig, batch_size: int, max_poll: int, worker: int,
                 report: Callable[[dict], None] | None = None) -> None:
        self.config = config
        self.normal_batch = batch_size
        self.max_poll = max_poll
        self.worker = worker
        self.report = report
        self.paused = False
        self.full_since: float | None = None  # monotonic time the buffer was first found full
        self.catchup = False
        self.buffered_max = 0
        self.lag: dict[tuple[str, int], int] = {}
        # the last known position and high watermark per partition (none: never known since assigned)
        self.positions: dict[tuple[str, int], int] = {}
        self.highs: dict[tuple[str, int], int] = {}
        self.lag_ms = 0
        self.last_written_ms: int | None = None  # Kafka timestamp of the last record written
        self.next_measure = 0.0

    @property
    def batch_size(self) -> int:
        return self.config.catchup_batch_size if self.catchup else self.normal_batch

    def room(self, buffered: int) -> int:
        """How many records the next poll may take."""
        return max(0, min(self.max_poll, self.config.buffer_max_records - buffered))

    def regulate(self, consumer, buffered: int, assigned: set[tuple[str, int]]) -> None:
        """Pause every assigned partition once the buffer has been full for `pause_after_ms`,
        resume them at half of the bound."""
        if buffered > self.buffered_max:
            self.buffered_max = buffered
        bound = self.config.buffer_max_records
        if buffered < bound:
            self.full_since = None
        elif self.full_since is None:
            self.full_since = time.monotonic()
        if not self.paused and buffered >= bound and \
                time.monotonic() - self.full_since >= self.config.pause_after_ms / 1000:
            self.paused = True
            consumer.pause(_partitions(assigned))
            log.debug("%d records buffered (bridge.sink.buffer.max.records=%d): partitions paused", buffered, bound)
        elif self.paused and buffered <= bound // 2:
            self.paused = False
            partitions = _partitions(assigned)
            consumer.resume(partitions)
            # A seek to the position wakes librdkafka's fetcher now: after a resume alone it
            # fetches on its next idle wake-up, up to a second later (measured: 0.9 s per resume).
            try:
                for tp in consumer.position(partitions):
                    if tp.offset >= 0:
                        self.seek(consumer, tp)
            except KafkaException as exc:  # not fetching yet: it starts on its own
                log.debug("no seek after the resume: %s", exc)
            log.debug("%d records buffered: partitions resumed", buffered)

    def seek(self, consumer, tp: TopicPartition) -> None:
        """Seek, remembering the position: librdkafka reports it unknown until a record is read."""
        self.positions[(tp.topic, tp.partition)] = tp.offset
        consumer.seek(tp)

    def assigned(self, consumer, partitions: list[TopicPartition]) -> None:
        """Newly assigned partitions follow the buffer's state (after `incremental_assign`); one
        assigned at an offset (the target's stored one) is there until a record of it is read."""
        if partitions:
            (consumer.pause if self.paused else consumer.resume)(partitions)
        for tp in partitions:
            if tp.offset >= 0:
                self.positions[(tp.topic, tp.partition)] = tp.offset

    def revoked(self, partitions: list[tuple[str, int]]) -> None:
        """Revoked or lost partitions: their last known measurements go."""
        for key in partitions:
            self.positions.pop(key, None)
            self.highs.pop(key, None)

    def written(self, batch: list) -> None:
        """A batch committed: its last record's timestamp is how far the target has got."""
        kind, ms = batch[-1].timestamp()
        if kind:
            self.last_written_ms = ms

    def measure(self, consumer, assigned: set[tuple[str, int]], buffered: int, oldest) -> None:
        """Once a second: lag, the mode, and the report to the supervisor."""
        now = time.monotonic()
        if now < self.next_measure:
            return
        self.next_measure = now + self.MEASURE_EVERY_S
        positions, highs = self.positions, self.highs
        try:
            for tp in consumer.position(_partitions(assigned)):
                key = (tp.topic, tp.partition)
                if tp.offset >= 0:
                    positions[key] = tp.offset
                _, high = consumer.get_watermark_offsets(tp, cached=True)
                if high >= 0:
                    highs[key] = high
        except KafkaException as exc:  # a partition revoked meanwhile: the last known values stand
            log.debug("lag not measured: %s", exc)
        self.lag = lag = {key: max(0, highs[key] - positions[key]) for key in sorted(assigned)
                          if key in positions and key in highs}
        behind = sum(lag.values()) + buffered
        stamp = None
        if oldest is not None:
            kind, ms = oldest.timestamp()
            stamp = ms if kind else None
        elif behind:
            stamp = self.last_written_ms
        self.lag_ms = max(0, int(time.time() * 1000) - stamp) if stamp is not None else 0
        self._judge(behind)
        if self.report is not None:
            self.report({"worker": self.worker, "lag": [(t, p, n) for (t, p), n in lag.items()],
                         "lag_ms": self.lag_ms, "buffered": buffered, "buffered_max": self.buffered_max,
                         "behind": behind, "catchup": int(self.catchup), "paused": int(self.paused)})

    def _judge(self, behind: int) -> None:
        c = self.config
        over = (c.lag_pause_messages and behind > c.lag_pause_messages) or (
            c.lag_pause_ms and self.lag_ms > c.lag_pause_ms)
        under = (not c.lag_pause_messages or behind < c.lag_pause_messages / 2) and (
            not c.lag_pause_ms or self.lag_ms < c.lag_pause_ms / 2)
        if not self.catchup and over:
            self.catchup = True
            log.info("catch-up mode: %d records behind, lag %.1f s (bridge.sink.lag.pause.messages=%d, "
                     "bridge.sink.lag.pause.ms=%d); batches of %d records", behind, self.lag_ms / 1000,
                     c.lag_pause_messages, c.lag_pause_ms, c.catchup_batch_size)
        elif self.catchup and under and not self.paused:
            self.catchup = False
            log.info("normal mode: %d records behind, lag %.1f s; batches of %d records", behind,
                     self.lag_ms / 1000, self.normal_batch)


def _partitions(assigned) -> list[TopicPartition]:
    return [TopicPartition(t, p) for t, p in sorted(assigned)]
