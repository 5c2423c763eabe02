"""The pgoutput wire vocabulary in one place: message types, tuple markers, column kinds and
the compiled struct readers of the fixed-size fields (PostgreSQL's "Logical Replication
Message Formats"). Every module that reads pgoutput bytes takes its names from here; the
per-row hot paths bind them to module globals and keep a comment naming the literal.

Integers are big-endian; an Int32 on the wire that is an OID, xid or length is unsigned.
"""

from __future__ import annotations

import struct

# Message types (Byte1 at the start of every message)
BEGIN, COMMIT, ORIGIN, RELATION, TYPE = b"BCORY"
INSERT, UPDATE, DELETE, TRUNCATE, MESSAGE = b"IUDTM"
STREAM_START, STREAM_STOP, STREAM_COMMIT, STREAM_ABORT = b"SEca"
BEGIN_PREPARE, PREPARE, COMMIT_PREPARED, ROLLBACK_PREPARED, STREAM_PREPARE = b"bPKrp"
ROW_CHANGES = frozenset((INSERT, UPDATE, DELETE))
# What a transaction carries besides Begin, Commit, Relation, Type and Origin
CONTENT = frozenset((INSERT, UPDATE, DELETE, TRUNCATE, MESSAGE))

# TupleData markers before a tuple: new, old key columns only, old full row (REPLICA IDENTITY FULL)
NEW, KEY, OLD = b"NKO"
# TupleData column kinds: null, unchanged TOASTed value, text, binary
NULL, UNCHANGED_TOAST, TEXT, BINARY = b"nutb"

UINT16 = struct.Struct(">H")
UINT32 = struct.Struct(">I")
unpack_u16 = UINT16.unpack_from
unpack_u32 = UINT32.unpack_from
# Begin after its type byte: Int64 final LSN (of the commit record), Int64 commit time, Int32 xid
BEGIN_FIELDS = struct.Struct(">QqI")
# Commit after its type byte: Int8 flags, Int64 commit LSN, Int64 end LSN, Int64 commit time
COMMIT_FIELDS = struct.Struct(">BQQq")
# TupleData's Int16 column count, then its first column's Byte1 kind and Int32 length
COUNT_KIND_LENGTH = struct.Struct(">HBI")
# A column's Byte1 kind and Int32 length
KIND_LENGTH = struct.Struct(">BI")
