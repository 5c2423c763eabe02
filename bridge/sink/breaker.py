"""The dead-letter circuit breaker: stop the sink instead of dead-lettering a whole topic.

`bridge.sink.dlq.max.consecutive` bounds the dead-lettered records in a row (in the order the
worker read them; any record written or skipped in between resets the run);
`bridge.sink.dlq.max.ratio` bounds dead-lettered / processed over the last
`bridge.sink.dlq.window` records or more (whole batches: the ratio is judged once that many were
processed, so one early bad record cannot trip it). The batch that would pass a bound is not
written and not dead-lettered: the sink stops with `DeadLetterLimit`, and a restart after the fix
starts at that batch. Off by default (Connect has no such bound); costs nothing per record while
no record is refused.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from bridge.errors import BridgeError, ExitCode


class DeadLetterLimit(BridgeError):
    """Too many records refused: the sink stops rather than dead-letter them all."""

    exit_code = ExitCode.DELIVERY


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    max_consecutive: int = 0  # 0: no bound
    max_ratio: float | None = None  # None: no bound
    window: int = 1000

    @property
    def enabled(self) -> bool:
        return bool(self.max_consecutive) or self.max_ratio is not None


class Breaker:
    def __init__(self, config: BreakerConfig) -> None:
        self.config = config
        self.run = 0  # dead letters in a row so far
        self._batches: deque[tuple[int, int]] = deque()  # (processed, dead-lettered) per batch
        self._processed = 0
        self._dead = 0

    def check(self, batch: list, refused: set[tuple[str, int, int]]) -> None:
        """Count `batch` (messages, in read order) of which `refused` (topic, partition, offset)
        are to be dead-lettered; raises `DeadLetterLimit` when a bound would be passed, and then
        counts nothing (the batch is not written)."""
        config = self.config
        run = self.run
        if not refused:
            run = 0
        elif config.max_consecutive:
            for message in batch:
                if (message.topic(), message.partition(), message.offset()) in refused:
                    run += 1
                    if run > config.max_consecutive:
                        raise DeadLetterLimit(
                            f"more than bridge.sink.dlq.max.consecutive={config.max_consecutive} records in a row "
                            f"refused (the last {message.topic()}[{message.partition()}]@{message.offset()}): "
                            "stopping instead of dead-lettering them; fix the cause and restart (the batch was "
                            "not written)")
                else:
                    run = 0
        if config.max_ratio is not None:
            processed, dead = self._processed + len(batch), self._dead + len(refused)
            drop = 0
            for old_processed, old_dead in self._batches:  # the oldest batches beyond the window
                if processed - old_processed < config.window:
                    break
                processed, dead, drop = processed - old_processed, dead - old_dead, drop + 1
            if processed >= config.window and dead > config.max_ratio * processed:
                raise DeadLetterLimit(
                    f"{dead} of the last {processed} records refused, over bridge.sink.dlq.max.ratio="
                    f"{config.max_ratio}: stopping instead of dead-lettering them; fix the cause and restart "
                    "(the batch was not written)")
            for _ in range(drop):
                self._batches.popleft()
            self._batches.append((len(batch), len(refused)))
            self._processed, self._dead = processed, dead
        self.run = run
