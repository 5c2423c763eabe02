"""Shared LSN cells beside the rings: what was dispatched, pushed, acked, and is safe.

Each cell is an aligned uint64 with exactly one writing process, so a plain 8-byte store is
atomic and readers never see a torn value (x86-64, see `bridge.ring.ring`). Every LSN cell is
a watermark and may only grow; a write that would move one backwards raises ValueError.

Layout (one segment, one 64-byte line per cell so writers never share a cache line):

    offset        cell               written by     read by
    0             magic              owner          b"PGBWMK04"
    8             producers (n)      owner
    64            safe LSN           coordinator    decoder (flush_lsn of status updates)
    128           dispatched LSN     decoder        coordinator
    136, 144      server's wal_end, messages read   (decoder → metrics)
    152           1 once the decoder runs (its signal handlers are in place)
    160, 168      Kafka authentication failures, the last one's time (µs)   (decoder → metrics)
    192 + 192*i   acked watermark i  producer i     coordinator
    200 + 192*i,  rows, records produced,           (producer i → metrics)
    208, 216      commit time (µs) of the newest acked transaction
    224, 232      Kafka authentication failures, the last one's time (µs)
    240 + 192*i   poison records written            (producer i → metrics)
    248 + 192*i   events whose schema the registry refused, quarantined   (producer i → metrics)
    256 + 192*i   pushed LSN i       decoder        coordinator
    320 + 192*i   truncate barrier i producer i     producers (`bridge.produce.barrier`)

The counters beside a cell share its line and its writer; they are statistics only (read
without ordering), never part of the ack contract. The truncate barrier cell is no statistic:
the number of the newest barrier producer i passed, which only grows.

`bridge.ack.safe_lsn.safe_lsn` says how the coordinator combines them.
"""

from __future__ import annotations

from multiprocessing.shared_memory import SharedMemory
from typing import NamedTuple, Self

from bridge.ring.segment import attach_segment, create_segment

_MAGIC = int.from_bytes(b"PGBWMK04", "little")
_LINE = 8  # uint64 words per 64-byte cache line
_SAFE = _LINE  # word index of the safe LSN
_DISPATCHED = 2 * _LINE
_ACKED = 3 * _LINE  # word index of producer 0's acked watermark
_PUSHED = 4 * _LINE  # word index of producer 0's pushed LSN
_BARRIER = 5 * _LINE  # word index of producer 0's truncate barrier
_STRIDE = 3 * _LINE  # words between one producer's cells and the next's


def _size(producers: int) -> int:
    return 8 * (_ACKED + _STRIDE * producers)


class LsnCellsHandle(NamedTuple):
    """What a child needs to attach: plain data, picklable under every start method."""

    name: str
    producers: int


class LsnCells:
    """The LSN cells. The coordinator `create()`s them, children `attach()` to `handle`."""

    def __init__(self, shm: SharedMemory, producers: int, *, owner: bool) -> None:
        self._shm = shm
        self._owner = owner
        self._words = shm.buf[: _size(producers)].cast("Q")
        self._closed = False
        self.producers = producers
        self.handle = LsnCellsHandle(shm.name, producers)

    @classmethod
    def create(cls, producers: int) -> Self:
        """New cells, all zero, for `producers` producers; `close()` unlinks them."""
        if producers < 1:
            raise ValueError(f"producers must be at least 1, got {producers}")
        cells = cls(create_segment("lsn", _size(producers)), producers, owner=True)
        cells._words[0] = _MAGIC
        cells._words[1] = producers
        return cells

    @classmethod
    def attach(cls, handle: LsnCellsHandle) -> Self:
        cells = cls(attach_segment(handle.name), handle.producers, owner=False)
        if cells._words[0] != _MAGIC or cells._words[1] != handle.producers:
            cells.close()
            raise ValueError(
                f"shared memory {handle.name!r} is not the LSN cells of {handle.producers} pgbridge producers"
            )
        return cells

    def acked(self, producer: int) -> int:
        return self._words[_ACKED + _STRIDE * self._index(producer)]

    def acked_all(self) -> list[int]:
        return list(self._words[_ACKED::_STRIDE])

    def publish_acked(self, producer: int, lsn: int) -> None:
        """Producer `producer`: every transaction it was given that ends at or before `lsn`
        is acked by Kafka."""
        self._advance(_ACKED + _STRIDE * self._index(producer), lsn)

    def publish_producer_stats(self, producer: int, rows: int, records: int, acked_commit_us: int) -> None:
        """Producer `producer`: rows converted, records produced, and the commit time of the
        newest transaction Kafka fully acked (metrics)."""
        base = _ACKED + _STRIDE * self._index(producer)
        words = self._words
        words[base + 1] = rows
        words[base + 2] = records
        words[base + 3] = acked_commit_us

    def producer_stats(self, producer: int) -> tuple[int, int, int]:
        base = _ACKED + _STRIDE * self._index(producer)
        words = self._words
        return words[base + 1], words[base + 2], words[base + 3]

    def publish_poisoned(self, producer: int, count: int) -> None:
        """Producer `producer`: events it put in the poison topic (`bridge.produce.poison`)."""
        self._words[_ACKED + _STRIDE * self._index(producer) + 6] = count

    def poisoned(self, producer: int) -> int:
        return self._words[_ACKED + _STRIDE * self._index(producer) + 6]

    def publish_incompatible(self, producer: int, count: int) -> None:
        """Producer `producer`: events it put in bridge.registry.incompatible.topic (`bridge.produce.incompatible`)."""
        self._words[_ACKED + _STRIDE * self._index(producer) + 7] = count

    def incompatible(self, producer: int) -> int:
        return self._words[_ACKED + _STRIDE * self._index(producer) + 7]

    def barrier(self, producer: int) -> int:
        return self._words[_BARRIER + _STRIDE * self._index(producer)]

    def publish_barrier(self, producer: int, number: int) -> None:
        """Producer `producer`: passed truncate barrier `number` (`bridge.produce.barrier`)."""
        self._advance(_BARRIER + _STRIDE * self._index(producer), number)

    def publish_decoder_stats(self, wal_end: int, messages: int) -> None:
        """Decoder: the server's newest position seen on the stream, messages read (metrics)."""
        self._words[_DISPATCHED + 1] = wal_end
        self._words[_DISPATCHED + 2] = messages

    def publish_decoder_running(self) -> None:
        """Decoder: started; from now on a SIGTERM is a graceful stop, not its death."""
        self._words[_DISPATCHED + 3] = 1

    @property
    def decoder_running(self) -> bool:
        return self._words[_DISPATCHED + 3] == 1

    def publish_auth_failures(self, producer: int | None, count: int, last_us: int) -> None:
        """Producer `producer` (None: the decoder): Kafka authentication failures so far, and when
        the last one happened (`bridge.kafka.auth_failures`; metrics and health)."""
        base = _DISPATCHED + 3 if producer is None else _ACKED + _STRIDE * self._index(producer) + 3
        self._words[base + 1] = count
        self._words[base + 2] = last_us

    def auth_failures(self) -> tuple[int, int]:
        """Every child's authentication failures summed, and the newest one's time (µs, 0: none)."""
        words = self._words
        bases = [_DISPATCHED + 3] + [_ACKED + _STRIDE * i + 3 for i in range(self.producers)]
        return sum(words[b + 1] for b in bases), max(words[b + 2] for b in bases)

    def decoder_stats(self) -> tuple[int, int]:
        return self._words[_DISPATCHED + 1], self._words[_DISPATCHED + 2]

    def pushed(self, producer: int) -> int:
        return self._words[_PUSHED + _STRIDE * self._index(producer)]

    def pushed_all(self) -> list[int]:
        return list(self._words[_PUSHED::_STRIDE])

    def publish_pushed(self, producer: int, lsn: int) -> None:
        """Decoder: the newest transaction end written into producer `producer`'s ring."""
        self._advance(_PUSHED + _STRIDE * self._index(producer), lsn)

    @property
    def dispatched(self) -> int:
        return self._words[_DISPATCHED]

    def publish_dispatched(self, lsn: int) -> None:
        """Decoder: everything the stream sent before `lsn` is in the rings. Written after
        the `pushed` cells of the same transactions."""
        self._advance(_DISPATCHED, lsn)

    @property
    def safe_lsn(self) -> int:
        return self._words[_SAFE]

    def publish_safe_lsn(self, lsn: int) -> None:
        """Coordinator: the decoder may confirm up to `lsn` to PostgreSQL."""
        self._advance(_SAFE, lsn)

    def _index(self, producer: int) -> int:
        if not 0 <= producer < self.producers:
            raise IndexError(f"producer {producer} out of range 0..{self.producers - 1}")
        return producer

    def _advance(self, word: int, lsn: int) -> None:
        current = self._words[word]
        if lsn < current:
            raise ValueError(f"watermark would move backwards from {current} to {lsn}")
        self._words[word] = lsn

    def close(self) -> None:
        """Unmap; the creator also unlinks. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._words.release()
        self._shm.close()
        if self._owner:
            self._shm.unlink()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
