"""The compact records the decoder hands to producers through the rings.

Each record is a fixed header followed by the raw pgoutput message it carries, so the decoder
never converts a column and nothing is pickled:

    offset  size  field
    0       1     kind     'R' relation, 'B' begin, 'W' row change, 'C' commit, 'M' message in a
                           transaction, 'N' non-transactional message, 'T' truncate of one table,
                           'X' transaction metadata (BEGIN/END record), 'S' snapshot row,
                           'F' barrier around a truncate
    1       1     half     rows: 0 whole change, 1 old-key half, 2 new-key half; 'X': 0 BEGIN, 1 END;
                           'S': index in SNAPSHOT_MARKERS; 'F': 0 arrive, 1 hold, 2 release
    2       2     (padding)
    4       4     hash     the salted routing hash (the producer derives the partition);
                           'F': the index of the producer writing the truncate
    8       8     lsn      the message's own LSN (commit: the transaction's end LSN)
    16      8     aux      begin: end LSN of the previous transaction (Debezium's `sequence`);
                           'N': commit time (µs) of the newest transaction begun, 0 if none;
                           rows, 'T', 'M': total_order << 32 | data_collection_order (transaction metadata);
                           'F': the barrier's number (1, 2, ... in this decoder's stream)
    24      ...   payload  the pgoutput message; 'R': msgpack [message, key columns, not-null columns,
                           excluded columns, topic, [[column, default expression]...]];
                           'T': relation id (4 bytes) + message;
                           'X' END: msgpack [events, [[table, n]...]]

A primary-key change is split in two records so each half is produced by the owner of its
key: the old key's delete (+ tombstone) and the new key's create.

A truncate is the one event of a table topic that is ordered against every key, so with more
than one producer it travels between barriers (`bridge.produce.barrier`): every other
producer gets an 'F' arrive where it falls in WAL order, its owner an 'F' hold before it and
an 'F' release after it.

`half` and `aux` mean different things per kind, so records are made by one constructor per
kind (named arguments, not six integers) and their payloads read back by the matching readers
below. The decoder's per-row hot path packs its row records inline (`Router._row`).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

import msgspec

from bridge.ring.records import LENGTH_FORMAT

HEADER = struct.Struct("<BBxxIQQ")
HEADER_SIZE = HEADER.size
# A batch's length prefix and the header in one pack: `BatchBuilder.add_framed`'s head
FRAMED_HEADER = struct.Struct(LENGTH_FORMAT + HEADER.format[1:])

RELATION, BEGIN, ROW, COMMIT = b"R"[0], b"B"[0], b"W"[0], b"C"[0]
MESSAGE, STANDALONE_MESSAGE, TRUNCATE, TXMETA = b"M"[0], b"N"[0], b"T"[0], b"X"[0]
SNAPSHOT_ROW, BARRIER = b"S"[0], b"F"[0]
# `half` of a snapshot row: its Debezium `source.snapshot` marker
SNAPSHOT_MARKERS = ("true", "first", "first_in_data_collection", "last_in_data_collection", "last", "incremental")
INCREMENTAL_MARKER = SNAPSHOT_MARKERS.index("incremental")  # rows of an incremental snapshot's chunk
WHOLE, OLD_KEY_HALF, NEW_KEY_HALF = 0, 1, 2
TX_BEGIN, TX_END = 0, 1
ARRIVE, HOLD, RELEASE = 0, 1, 2  # `half` of a barrier (`bridge.produce.barrier`)

_pack = HEADER.pack
_encode = msgspec.msgpack.Encoder().encode
_decode_relation = msgspec.msgpack.Decoder(
    tuple[bytes, list[str], list[str], list[str], str, list[tuple[str, str]]]).decode
_decode_tx_end = msgspec.msgpack.Decoder(tuple[int, list[tuple[str, int]]]).decode


# -- constructors, one per kind -------------------------------------------------------------------

def relation(lsn: int, payload: bytes, key_columns: Iterable[str], not_null: Iterable[str],
             excluded: Iterable[str], topic: str, defaults: Iterable[tuple[str, str]] = ()) -> bytes:
    """'R': a Relation message with what the decoder learned of the table from the catalog
    (`defaults`: (column, default expression) pairs), and its topic: named once, by the
    decoder, so producers never compute it on their own."""
    return _pack(RELATION, 0, 0, lsn, 0) + _encode([payload, list(key_columns), sorted(not_null), sorted(excluded),
                                                     topic, list(defaults)])


def begin(final_lsn: int, prev_commit: int, payload: bytes) -> bytes:
    """'B': a Begin, at its transaction's commit LSN, with the end LSN of the transaction
    before it (Debezium's `sequence`; 0 when there is none)."""
    return _pack(BEGIN, 0, 0, final_lsn, prev_commit) + payload


def commit(end_lsn: int, payload: bytes) -> bytes:
    """'C': a Commit, at its transaction's end LSN."""
    return _pack(COMMIT, 0, 0, end_lsn, 0) + payload


def row(half: int, hash_: int, lsn: int, order: int, payload: bytes) -> bytes:
    """'W': a row change, whole or one half of a primary-key change (`half`); `order` is the
    packed event order with transaction metadata (`order_fields`), else 0."""
    return _pack(ROW, half, hash_, lsn, order) + payload


def snapshot_row(marker: int, hash_: int, lsn: int, payload: bytes) -> bytes:
    """'S': a snapshot row (a synthesized Insert) with its index in SNAPSHOT_MARKERS."""
    return _pack(SNAPSHOT_ROW, marker, hash_, lsn, 0) + payload


def message(hash_: int, lsn: int, order: int, payload: bytes) -> bytes:
    """'M': a logical message inside a transaction, counted as one of its events (`order`)."""
    return _pack(MESSAGE, 0, hash_, lsn, order) + payload


def standalone_message(hash_: int, lsn: int, commit_ts: int, payload: bytes) -> bytes:
    """'N': a non-transactional logical message, stamped with the newest transaction's commit
    time (µs; 0 before any)."""
    return _pack(STANDALONE_MESSAGE, 0, hash_, lsn, commit_ts) + payload


def truncate(hash_: int, lsn: int, order: int, relation_id: int, payload: bytes) -> bytes:
    """'T': a Truncate message, for the one table `relation_id` of the tables it names."""
    return _pack(TRUNCATE, 0, hash_, lsn, order) + relation_id.to_bytes(4, "big") + payload


def barrier(step: int, owner: int, lsn: int, number: int) -> bytes:
    """'F': barrier `number` around the truncate at `lsn` that producer `owner` writes; `step`
    is ARRIVE (every other producer), HOLD (the owner, before it) or RELEASE (the owner, after it)."""
    return _pack(BARRIER, step, owner, lsn, number)


def tx_begin(begin_lsn: int) -> bytes:
    """'X' BEGIN: the transaction-metadata BEGIN record, at the Begin message's LSN."""
    return _pack(TXMETA, TX_BEGIN, 0, begin_lsn, 0)


def tx_end(commit_lsn: int, events: int, per_table: Iterable[tuple[str, int]]) -> bytes:
    """'X' END: the transaction-metadata END record: events in all, and per data collection."""
    return _pack(TXMETA, TX_END, 0, commit_lsn, 0) + _encode([events, list(per_table)])


# -- readers of what the constructors packed (a header is read with HEADER/FRAMED_HEADER) ----------

def relation_fields(payload: bytes) -> tuple[bytes, list[str], list[str], list[str], str, list[tuple[str, str]]]:
    """An 'R' payload: (Relation message, key columns, not-null columns, excluded columns, topic,
    [(column, default expression)...])."""
    return _decode_relation(payload)


def truncated_relation(payload: bytes) -> int:
    """A 'T' payload's table (the Truncate message follows it)."""
    return int.from_bytes(payload[:4], "big")


def tx_end_fields(payload: bytes) -> tuple[int, list[tuple[str, int]]]:
    """An 'X' END payload: (events, [(data collection, events)...])."""
    return _decode_tx_end(payload)


def order_fields(aux: int) -> tuple[int, int]:
    """An event's (total_order, data_collection_order) from its `aux`."""
    return aux >> 32, aux & 0xFFFFFFFF
