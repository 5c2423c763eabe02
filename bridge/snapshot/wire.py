"""pgoutput messages synthesized for snapshot rows, so they travel the streaming path unchanged.

A snapshot row becomes an Insert of its relation (text columns, exactly as pgoutput would send
them), framed by a Begin and a Commit at the slot's consistent point. The router then routes
it by key and the producers convert it as they do streamed rows. Layouts (protocol 1):

    Begin    'B' final_lsn:u64 commit_ts:i64 (PostgreSQL epoch, µs) xid:u32
    Commit   'C' flags:u8 commit_lsn:u64 end_lsn:u64 commit_ts:i64
    Relation 'R' relid:u32 namespace:str name:str replica_identity:u8 ncols:u16
             then per column: flags:u8 name:str type_oid:u32 atttypmod:i32
    Insert   'I' relid:u32 'N' ncols:u16 then per column 'n' | 't' len:u32 bytes
"""

from __future__ import annotations

import struct

from bridge.pgoutput.messages import Relation
from bridge.pgoutput.protocol import PG_EPOCH_OFFSET_US

_BEGIN = struct.Struct(">cQqI")
_COMMIT = struct.Struct(">cBQQq")
_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")
_COLUMN_TAIL = struct.Struct(">Ii")


def begin(final_lsn: int, commit_ts_us: int, xid: int) -> bytes:
    return _BEGIN.pack(b"B", final_lsn, commit_ts_us - PG_EPOCH_OFFSET_US, xid)


def commit(lsn: int, commit_ts_us: int) -> bytes:
    return _COMMIT.pack(b"C", 0, lsn, lsn, commit_ts_us - PG_EPOCH_OFFSET_US)


def _str(text: str) -> bytes:
    return text.encode() + b"\0"


def relation(rel: Relation) -> bytes:
    parts = [b"R", _U32.pack(rel.relation_id), _str(rel.namespace), _str(rel.name),
             rel.replica_identity.encode(), _U16.pack(len(rel.columns))]
    for col in rel.columns:
        parts += [bytes((1 if col.is_key else 0,)), _str(col.name), _COLUMN_TAIL.pack(col.type_oid, col.type_modifier)]
    return b"".join(parts)


def insert(relid: int, row: tuple[bytes | None, ...]) -> bytes:
    parts = [b"I", _U32.pack(relid), b"N", _U16.pack(len(row))]
    for value in row:
        if value is None:
            parts.append(b"n")
        else:
            parts += [b"t", _U32.pack(len(value)), value]
    return b"".join(parts)
