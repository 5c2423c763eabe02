"""The compact records the decoder hands to producers through the rings.

Each record is a fixed header followed by the raw pgoutput message it carries, so the decoder
never converts a column and nothing is pickled:

    offset  size  field
    0       1     kind     'R' relation, 'B' begin, 'W' row change, 'C' commit, 'M' message in a
                           transaction, 'N' non-transactional message, 'T' truncate of one table,
                           'X' transaction metadata (BEGIN/END record), 'S' snapshot row
    1       1     half     rows: 0 whole change, 1 old-key half, 2 new-key half; 'X': 0 BEGIN, 1 END;
                           'S': index in SNAPSHOT_MARKERS
    2       2     (padding)
    4       4     hash     the salted routing hash (the producer derives the partition)
    8       8     lsn      the message's own LSN (commit: the transaction's end LSN)
    16      8     aux      begin: end LSN of the previous transaction (Debezium's `sequence`);
                           'N': commit time (µs) of the newest transaction begun, 0 if none;
                           rows, 'T', 'M': total_order << 32 | data_collection_order (transaction metadata)
    24      ...   payload  the pgoutput message; 'R': msgpack [message, key columns, not-null columns];
                           'T': relation id (4 bytes) + message; 'X' END: msgpack [events, [[table, n]...]]

A primary-key change is split in two records so each half is produced by the owner of its
key: the old key's delete (+ tombstone) and the new key's create.
"""

from __future__ import annotations

import struct

from bridge.ring.records import LENGTH_FORMAT

HEADER = struct.Struct("<BBxxIQQ")
HEADER_SIZE = HEADER.size
# A batch's length prefix and the header in one pack: `BatchBuilder.add_framed`'s head
FRAMED_HEADER = struct.Struct(LENGTH_FORMAT + HEADER.format[1:])

RELATION, BEGIN, ROW, COMMIT = b"R"[0], b"B"[0], b"W"[0], b"C"[0]
MESSAGE, STANDALONE_MESSAGE, TRUNCATE, TXMETA = b"M"[0], b"N"[0], b"T"[0], b"X"[0]
SNAPSHOT_ROW = b"S"[0]
# `half` of a snapshot row: its Debezium `source.snapshot` marker
SNAPSHOT_MARKERS = ("true", "first", "first_in_data_collection", "last_in_data_collection", "last", "incremental")
INCREMENTAL_MARKER = SNAPSHOT_MARKERS.index("incremental")  # rows of an incremental snapshot's chunk
WHOLE, OLD_KEY_HALF, NEW_KEY_HALF = 0, 1, 2
TX_BEGIN, TX_END = 0, 1


def pack(kind: int, half: int, hash_: int, lsn: int, aux: int, payload: bytes) -> bytes:
    return HEADER.pack(kind, half, hash_, lsn, aux) + payload
