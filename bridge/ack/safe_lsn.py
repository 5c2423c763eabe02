"""The coordinator's watermark math: how far the slot may be confirmed.

Inputs, all LSNs that only grow (shared-memory cells, see `bridge.ring.cells`):
- `dispatched` (D): every transaction the stream sent before D is fully written into the
  rings; when the decoder is between transactions it is the stream's latest position.
- `pushed[p]` (P_p): end LSN of the newest transaction written into producer p's ring.
- `acked[p]` (W_p): every transaction producer p received that ends at or before W_p is
  acknowledged by Kafka.

A producer only receives the transactions that touch its keys, so it cannot know D itself.
Instead: a producer with everything it received acked (W_p >= P_p) holds nothing back, so its
bound is D; otherwise its bound is W_p. The safe LSN is the minimum bound, and never above D.

Why this never confirms an unacked event: take a transaction T ending at or before the result.
T ends at or before D, so it was fully pushed before D was read, and D is written after the
P_p of the same transaction, so every producer p holding events of T had P_p >= end(T) when
read. Either W_p >= P_p >= end(T), or the bound W_p >= result >= end(T): in both cases p has
acked T. Reading D before the P_p and W_p cells is what makes this hold.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


def safe_lsn(dispatched: int, pushed: Sequence[int], acked: Sequence[int]) -> int:
    bound = dispatched
    for p_pushed, p_acked in zip(pushed, acked, strict=True):
        if p_acked < p_pushed and p_acked < bound:
            bound = p_acked
    return bound


class SafeLsn:
    """Monotonic safe LSN from cell readers; `dispatched` is read first (see module doc)."""

    def __init__(self, read_dispatched: Callable[[], int], read_pushed: Callable[[], list[int]],
                 read_acked: Callable[[], list[int]], start: int = 0) -> None:
        self._dispatched = read_dispatched
        self._pushed = read_pushed
        self._acked = read_acked
        self.value = start

    def update(self) -> int:
        dispatched = self._dispatched()
        pushed = self._pushed()
        acked = self._acked()
        candidate = safe_lsn(dispatched, pushed, acked)
        # A lower candidate is normal right after a restart (cells start at 0 while the slot
        # is further on); the confirmed position itself never goes backwards.
        if candidate > self.value:
            self.value = candidate
        return self.value
