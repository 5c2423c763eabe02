"""Records inside a batch: `<u32 length><length bytes>` repeated, no padding between them.

The ring itself moves opaque batches; this is the framing the decoder and the producers
agree on for the many small records a batch carries.
"""

import struct
from collections.abc import Iterator

LENGTH_FORMAT = "<I"  # each record's length, in front of it
_LENGTH = struct.Struct(LENGTH_FORMAT)


class BatchBuilder:
    """Packs records into one reusable buffer, handed to `RingWriter.write` as one batch."""

    __slots__ = ("buffer", "records")

    def __init__(self) -> None:
        # A bytearray, not a memoryview of one: a live export would forbid growing it.
        self.buffer = bytearray()
        self.records = 0

    def add(self, record: bytes | bytearray | memoryview) -> None:
        self.buffer += _LENGTH.pack(len(record))
        self.buffer += record
        self.records += 1

    def add_framed(self, framed_head: bytes, body: bytes) -> None:
        """`add(head + body)` without joining them, for a head packed with the record's length
        in front (`LENGTH_FORMAT`, then the head's fields: one `struct` call for both): the
        decoder's hot path."""
        buffer = self.buffer
        buffer += framed_head
        buffer += body
        self.records += 1

    @property
    def nbytes(self) -> int:
        return len(self.buffer)

    def clear(self) -> None:
        del self.buffer[:]
        self.records = 0


def iter_records(batch: memoryview) -> Iterator[memoryview]:
    """Yield each record of `batch` as a view into it, released when the iteration moves on.

    Records live in the ring and are overwritten once the batch is handed back, so a view
    kept past its turn would silently change: releasing it makes such use fail loudly
    instead (and lets the ring unmap). Copy with `bytes(record)` what must be kept.
    Raises ValueError if the last record runs past the end of the batch.
    """
    unpack_from = _LENGTH.unpack_from
    end = len(batch)
    offset = 0
    while offset < end:
        (length,) = unpack_from(batch, offset)
        offset += 4
        stop = offset + length
        if stop > end:
            raise ValueError(f"record at offset {offset - 4} runs past the end of its batch")
        record = batch[offset:stop]
        try:
            yield record
        finally:
            record.release()
        offset = stop
