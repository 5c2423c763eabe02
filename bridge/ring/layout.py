"""Byte layout of a ring segment: header words, frames, alignment.

A ring segment is `HEADER_SIZE + capacity` bytes. The header is an array of native
(little-endian on x86-64) uint64 words, each 8-byte aligned, read and written through a
`memoryview.cast("Q")`. Words are grouped by the process that writes them, one 64-byte
cache line per writer, so the two ends never false-share a line:

    offset  word             written by   meaning
    0       magic            owner        b"PGBRING1"
    8       capacity         owner        size of the data area in bytes (multiple of 8)
    64      head             writer       bytes ever published (monotonic, never wraps)
    72      writer_closed    writer*      1 once the writer finished: end of stream
    80      writer_wants     writer       0, or the free bytes the sleeping writer waits for
    128     tail             reader       bytes ever consumed (monotonic, never wraps)
    136     reader_closed    reader*      1 once the reader is gone: writes are refused
    144     reader_sleeping  reader       1 while the reader sleeps on the data wakeup
    192     data area        writer       `capacity` bytes of frames

    * the owner also sets both closed flags when it aborts the ring (a child died).

`head - tail` is the number of used bytes; `position % capacity` is the offset in the data
area. Positions are 64-bit byte counters: at 10 GB/s they wrap after 58 years.

The data area holds frames, each 8-byte aligned: an 8-byte frame header
`<u32 payload length><u32 kind>`, the payload, zero to seven bytes of padding. A frame never
straddles the end of the data area: when the next batch does not fit before the end, the
writer fills the rest with a SKIP frame and continues at offset 0 (so the reader always gets
a batch as one contiguous memoryview, with no copy).
"""

import struct

HEADER_SIZE = 192

# Word indices into the header viewed as uint64 (byte offset / 8).
MAGIC = 0
CAPACITY = 1
HEAD = 8
WRITER_CLOSED = 9
WRITER_WANTS = 10
TAIL = 16
READER_CLOSED = 17
READER_SLEEPING = 18

RING_MAGIC = int.from_bytes(b"PGBRING1", "little")

FRAME = struct.Struct("<II")
FRAME_SIZE = FRAME.size
KIND_BATCH = 0
KIND_SKIP = 1

MIN_CAPACITY = 64
# Frame lengths are u32: keep every frame, and so the data area, below 4 GiB.
MAX_CAPACITY = 1 << 32


def frame_size(payload: int) -> int:
    """Bytes a frame with `payload` bytes occupies: header plus payload rounded up to 8."""
    return FRAME_SIZE + ((payload + 7) & ~7)


def check_capacity(capacity: int) -> None:
    """Reject a data-area size the layout cannot hold."""
    if capacity % 8 or not MIN_CAPACITY <= capacity <= MAX_CAPACITY:
        raise ValueError(
            f"ring capacity must be a multiple of 8 between {MIN_CAPACITY} and "
            f"{MAX_CAPACITY} bytes, got {capacity}"
        )
