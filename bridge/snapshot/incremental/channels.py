"""Signal channels: where the signals an incremental snapshot acts on come from.

Every channel gives the snapshot its signals in arrival order (`read`, at the decoder loop's
turn), and learns when what they changed is stored (`stored`): a channel that keeps a position
of its own (the kafka channel's committed offset) moves it only then, so that a restart neither
loses a signal nor acts on it twice. The snapshot's stored progress says what is stored: each
change of the snapshot's state has a generation number (`progress.ProgressKeeper`).

`SourceChannel` is the signal table (`signal.data.collection`), read from the stream by the
router's hook; its position is the slot's, so `stored` has nothing to do. The kafka channel is
`kafka_channel.KafkaChannel`.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

from bridge.snapshot.incremental.signals import Signal


class SignalChannel(Protocol):
    name: str

    def read(self) -> list[Signal]:
        """The signals that arrived since the last read, oldest first."""
        ...

    def acted(self, generation: int) -> None:
        """What the signals of the last `read` change is generation `generation` of the
        snapshot's state (or earlier)."""
        ...

    def stored(self, generation: int) -> None:
        """The snapshot's state up to generation `generation` is stored."""
        ...

    def close(self) -> None: ...


class SourceChannel:
    """The signal table's rows, handed over in WAL order (`push`); a row whose transaction the
    slot had not confirmed comes again after a restart, so nothing is kept here."""

    name = "source"

    def __init__(self) -> None:
        self._arrived: deque[Signal] = deque()

    def push(self, signal: Signal) -> None:
        self._arrived.append(signal)

    def read(self) -> list[Signal]:
        out = list(self._arrived)
        self._arrived.clear()
        return out

    def acted(self, generation: int) -> None:
        pass

    def stored(self, generation: int) -> None:
        pass

    def close(self) -> None:
        pass
