"""The shared-memory ring within one process: framing, wrap-around, full/empty, closing.

Cross-process behaviour is in test_ring_procs.py; threads stand in for the other process
here where a test needs one end blocked while the other acts.
"""

import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.shm_leaks import no_leaked_segments  # noqa: F401 (autouse fixture)
from bridge.ring import (
    BatchBuilder,
    RingClosed,
    RingOwner,
    RingReader,
    RingWriter,
    iter_records,
)

CAPACITY = 256


@pytest.fixture
def ring() -> Iterator[tuple[RingWriter, RingReader]]:
    with RingOwner(CAPACITY) as owner, RingWriter(owner.handle) as writer, RingReader(
        owner.handle
    ) as reader:
        yield writer, reader


def _in_thread(fn: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """Run `fn()` in a thread; its result (or exception) lands in the returned list."""
    result: list[object] = []

    def run() -> None:
        try:
            result.append(fn())
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            result.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(0, CAPACITY - 8), max_size=80),
    reads=st.lists(st.integers(0, 3), max_size=80),
    seed=st.integers(0, 2**32),
)
def test_any_sequence_of_batches_arrives_intact_and_in_order(
    sizes: list[int], reads: list[int], seed: int
) -> None:
    # GIVEN a small ring, so the sequence wraps around the data area many times
    rng = random.Random(seed)
    with RingOwner(CAPACITY) as owner, RingWriter(owner.handle) as writer, RingReader(
        owner.handle
    ) as reader:
        expected: deque[bytes] = deque()

        def read_one() -> None:
            got = reader.read()
            if got is not None:
                assert bytes(got) == expected.popleft()

        # WHEN batches are written whenever they fit, with reads interleaved at random
        for size, read_after in zip(sizes, reads + [0] * len(sizes)):
            payload = rng.randbytes(size)
            # At most: every queued batch is consumed, then the skip frame it needed.
            for _ in range(len(expected) + 2):
                if writer.write(payload):
                    break
                read_one()
            else:
                pytest.fail(f"a {size}-byte batch never fit an emptied ring")
            expected.append(payload)
            for _ in range(read_after):
                read_one()
        # THEN draining yields exactly the remaining batches, and then nothing
        while expected:
            read_one()
        assert reader.read() is None


def test_max_batch_fits_an_emptied_ring_at_any_offset(
    ring: tuple[RingWriter, RingReader],
) -> None:
    writer, reader = ring
    assert writer.max_batch == CAPACITY - 8
    for filler in range(0, CAPACITY - 8, 24):
        # GIVEN the ring position moved by a batch of `filler` bytes (still held by the reader)
        assert writer.write(bytes(filler))
        assert len(reader.read()) == filler  # type: ignore[arg-type]
        # WHEN a max-size batch is written, the reader handing back space in between
        big = os.urandom(writer.max_batch)
        for _ in range(3):  # at most: the held batch, then the skip frame, are consumed
            if writer.write(big):
                break
            assert reader.read() is None
        # THEN it arrives whole
        assert bytes(reader.read()) == big  # type: ignore[arg-type]
        assert reader.read() is None  # hands it back


def test_oversized_batch_is_refused(ring: tuple[RingWriter, RingReader]) -> None:
    writer, _ = ring
    with pytest.raises(ValueError, match="max_batch"):
        writer.write(bytes(writer.max_batch + 1))


def test_capacity_must_be_aligned_and_in_range() -> None:
    for bad in (0, 32, 100, 1 << 33):
        with pytest.raises(ValueError, match="multiple of 8"):
            RingOwner(bad)


def test_full_ring_refuses_at_once_then_times_out(ring: tuple[RingWriter, RingReader]) -> None:
    writer, reader = ring
    # GIVEN a full ring
    while writer.write(bytes(40)):
        pass
    # WHEN writing without and with a timeout THEN both return False, the second after waiting
    assert writer.write(bytes(40)) is False
    started = time.monotonic()
    assert writer.write(bytes(40), timeout=0.05) is False
    assert 0.04 <= time.monotonic() - started < 1.0
    # AND after the reader frees room the write goes through
    assert reader.read() is not None
    assert reader.read() is not None
    assert writer.write(bytes(40))


def test_empty_ring_reads_none_at_once_then_after_timeout(
    ring: tuple[RingWriter, RingReader],
) -> None:
    _, reader = ring
    assert reader.read() is None
    started = time.monotonic()
    assert reader.read(timeout=0.05) is None
    assert 0.04 <= time.monotonic() - started < 1.0


def test_busy_ring_makes_no_wakeup_syscalls(ring: tuple[RingWriter, RingReader]) -> None:
    writer, reader = ring
    for i in range(1000):
        assert writer.write(i.to_bytes(4, "little"))
        assert reader.read() is not None
    assert writer.stats().signals == 0 and reader.stats().signals == 0
    assert writer.stats().sleeps == 0 and reader.stats().sleeps == 0
    assert writer.stats().batches == reader.stats().batches == 1000


def test_sleeping_reader_is_woken_by_a_signal(ring: tuple[RingWriter, RingReader]) -> None:
    writer, reader = ring
    # GIVEN a reader asleep on an empty ring
    thread, result = _in_thread(lambda: bytes(reader.read(timeout=10.0) or b""))
    while reader.stats().sleeps == 0:
        time.sleep(0.001)
    # WHEN a batch is written THEN the writer saw the sleep flag and signalled, and the reader woke
    assert writer.write(b"hello")
    thread.join(timeout=5.0)
    assert result == [b"hello"]
    assert writer.stats().signals == 1


def test_writer_waiting_for_room_is_woken_by_the_reader(
    ring: tuple[RingWriter, RingReader],
) -> None:
    writer, reader = ring
    while writer.write(bytes(40)):
        pass
    thread, result = _in_thread(lambda: writer.write(bytes(40), timeout=10.0))
    while writer.stats().sleeps == 0:
        time.sleep(0.001)
    # The writer waits for a quarter of the ring: reading everything frees that much.
    while reader.read() is not None:
        pass
    thread.join(timeout=5.0)
    assert result == [True]
    assert reader.stats().signals >= 1


def test_writer_close_is_end_of_stream_after_the_last_batch(
    ring: tuple[RingWriter, RingReader],
) -> None:
    writer, reader = ring
    assert writer.write(b"one") and writer.write(b"two")
    writer.close()
    assert bytes(reader.read()) == b"one"  # type: ignore[arg-type]
    assert bytes(reader.read()) == b"two"  # type: ignore[arg-type]
    for _ in range(2):  # and stays there
        with pytest.raises(RingClosed, match="end of stream"):
            reader.read(timeout=5.0)


def test_writer_close_wakes_a_sleeping_reader(ring: tuple[RingWriter, RingReader]) -> None:
    writer, reader = ring
    thread, result = _in_thread(lambda: reader.read(timeout=10.0))
    while reader.stats().sleeps == 0:
        time.sleep(0.001)
    started = time.monotonic()
    writer.close()
    thread.join(timeout=5.0)
    assert isinstance(result[0], RingClosed)
    assert time.monotonic() - started < 1.0


def test_reader_close_makes_writes_fail(ring: tuple[RingWriter, RingReader]) -> None:
    writer, reader = ring
    assert writer.write(b"unread")
    reader.close()
    with pytest.raises(RingClosed, match="reader is closed"):
        writer.write(b"more")


def test_abort_wakes_a_blocked_writer_and_ends_the_reader() -> None:
    with RingOwner(CAPACITY) as owner, RingWriter(owner.handle) as writer, RingReader(
        owner.handle
    ) as reader:
        while writer.write(bytes(40)):
            pass
        thread, result = _in_thread(lambda: writer.write(bytes(40), timeout=30.0))
        while writer.stats().sleeps == 0:
            time.sleep(0.001)
        started = time.monotonic()
        owner.abort()
        thread.join(timeout=5.0)
        assert isinstance(result[0], RingClosed)
        assert time.monotonic() - started < 1.0
        # The reader still drains what was published, then sees the end.
        drained = 0
        with pytest.raises(RingClosed):
            while reader.read() is not None:
                drained += 1
        assert drained == CAPACITY // 48


def test_records_round_trip_through_a_batch() -> None:
    records = [b"", b"a", bytes(range(200)), b"z" * 70000]
    builder = BatchBuilder()
    for record in records:
        builder.add(record)
    assert builder.records == 4
    assert builder.nbytes == 4 * 4 + sum(map(len, records))
    assert [bytes(r) for r in iter_records(memoryview(builder.buffer))] == records
    builder.clear()
    assert builder.nbytes == 0 and builder.records == 0


def test_truncated_record_is_an_error() -> None:
    builder = BatchBuilder()
    builder.add(b"12345678")
    with pytest.raises(ValueError, match="past the end"):
        list(iter_records(memoryview(builder.buffer)[:-1]))
