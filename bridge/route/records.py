"""The compact records the decoder hands to producers through the rings.

Each record is a fixed header followed by the raw pgoutput message it carries, so the decoder
never converts a column and nothing is pickled:

    offset  size  field
    0       1     kind     'R' relation, 'B' begin, 'W' row change, 'C' commit
    1       1     half     rows only: 0 whole change, 1 old-key half, 2 new-key half
    2       2     (padding)
    4       4     hash     rows only: the salted routing hash (the producer derives the partition)
    8       8     lsn      the message's own LSN (commit: the transaction's end LSN)
    16      8     aux      begin: end LSN of the previous transaction (Debezium's `sequence`)
    24      ...   payload  the pgoutput message; for 'R' a msgpack [message, key columns, not-null columns]

A primary-key change is split in two records so each half is produced by the owner of its
key: the old key's delete (+ tombstone) and the new key's create.
"""

from __future__ import annotations

import struct

HEADER = struct.Struct("<BBxxIQQ")
HEADER_SIZE = HEADER.size

RELATION, BEGIN, ROW, COMMIT = b"R"[0], b"B"[0], b"W"[0], b"C"[0]
WHOLE, OLD_KEY_HALF, NEW_KEY_HALF = 0, 1, 2


def pack(kind: int, half: int, hash_: int, lsn: int, aux: int, payload: bytes) -> bytes:
    return HEADER.pack(kind, half, hash_, lsn, aux) + payload
