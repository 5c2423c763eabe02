"""Decoder of the pgoutput binary protocol, versions 1 to 4.

`PgOutputDecoder.decode` takes one XLogData payload (the bytes after the 25-byte 'w'
header) and returns one message from `bridge.pgoutput.messages`. All integers on the wire
are big-endian; "string" means NUL-terminated UTF-8.

Every decoder below checks bounds explicitly, so malformed, truncated or over-long input
raises exactly one `ProtocolError` carrying the offset of the field that failed; nothing
else escapes (the property tests feed it arbitrary bytes).

Layouts follow src/backend/replication/logical/proto.c; each decoder's docstring lists
the fields after the type byte. `[xid]` marks the int32 transaction id present only inside
a streamed block.
"""

import struct

from bridge.pgoutput.messages import (
    UNCHANGED_TOAST,
    Begin,
    BeginPrepare,
    BinaryValue,
    Commit,
    CommitPrepared,
    Delete,
    Insert,
    LogicalMessage,
    Message,
    Origin,
    Prepare,
    Relation,
    RelationColumn,
    RollbackPrepared,
    StreamAbort,
    StreamCommit,
    StreamPrepare,
    StreamStart,
    StreamStop,
    Truncate,
    Type,
    Update,
)
from bridge.errors import ProtocolError
from bridge.pgoutput import wire

# PostgreSQL counts time from 2000-01-01 UTC; this is that instant in UNIX microseconds.
PG_EPOCH_OFFSET_US = 946_684_800_000_000

_OID = wire.UINT32  # also xids and lengths: every int32 on the wire is unsigned here
_U32 = wire.unpack_u32
_U16 = wire.unpack_u16
_BEGIN = wire.BEGIN_FIELDS
_COMMIT = wire.COMMIT_FIELDS
_LSN = struct.Struct(">Q")
_TRUNCATE = struct.Struct(">IB")
_MESSAGE = struct.Struct(">BQ")
_STREAM_START = struct.Struct(">IB")
_STREAM_COMMIT = struct.Struct(">IBQQq")
_STREAM_ABORT = struct.Struct(">II")
_ABORT_INFO = struct.Struct(">Qq")
_BEGIN_PREPARE = struct.Struct(">QQqI")
_PREPARE = struct.Struct(">BQQqI")  # also Commit Prepared and Stream Prepare
_ROLLBACK_PREPARED = struct.Struct(">BQQqqI")
_COLUMN_TAIL = struct.Struct(">Ii")

_NULL, _UNCHANGED, _TEXT, _BINARY = wire.NULL, wire.UNCHANGED_TOAST, wire.TEXT, wire.BINARY


def _error(buf: bytes, offset: int, reason: str) -> ProtocolError:
    return ProtocolError(reason, offset=offset, msg_type=chr(buf[0]))


def _need(buf: bytes, pos: int, size: int, what: str) -> None:
    if pos + size > len(buf):
        raise _error(buf, pos, f"truncated {what}: need {size} bytes, have {len(buf) - pos}")


def _end(buf: bytes, pos: int) -> None:
    """Reject trailing bytes: every message must be consumed exactly."""
    if pos != len(buf):
        raise _error(buf, pos, f"{len(buf) - pos} unexpected trailing bytes")


def _fixed(buf: bytes, pos: int, layout: struct.Struct, what: str) -> tuple:
    _need(buf, pos, layout.size, what)
    return layout.unpack_from(buf, pos)


def _string(buf: bytes, pos: int, what: str) -> tuple[str, int]:
    end = buf.find(0, pos)
    if end < 0:
        raise _error(buf, pos, f"{what}: string without NUL terminator")
    try:
        return buf[pos:end].decode(), end + 1
    except UnicodeDecodeError as exc:
        raise _error(buf, pos + exc.start, f"{what}: invalid UTF-8") from None


def _read_tuple(buf: bytes, pos: int) -> tuple[tuple, int]:
    """TupleData: int16 ncols, then per column a kind byte
    ('n' null | 'u' unchanged TOAST | 't' text | 'b' binary); 't'/'b' add int32 len, data.
    Returns (values, position after the tuple)."""
    _need(buf, pos, 2, "tuple column count")
    (ncols,) = _U16(buf, pos)
    pos += 2
    size = len(buf)
    values = []
    append = values.append
    for _ in range(ncols):
        if pos >= size:
            raise _error(buf, pos, "truncated tuple: missing column kind")
        kind = buf[pos]
        if kind == _TEXT or kind == _BINARY:
            if pos + 5 > size:
                raise _error(buf, pos, "truncated tuple: missing column length")
            start = pos + 5
            pos = start + _U32(buf, pos + 1)[0]
            if pos > size:
                raise _error(buf, start, "truncated tuple: column value longer than message")
            append(buf[start:pos] if kind == _TEXT else BinaryValue(buf[start:pos]))
        elif kind == _NULL:
            append(None)
            pos += 1
        elif kind == _UNCHANGED:
            append(UNCHANGED_TOAST)
            pos += 1
        else:
            raise _error(buf, pos, f"unknown tuple column kind {kind:#04x}")
    return tuple(values), pos


def _begin(buf: bytes, pos: int, xid: None) -> Begin:
    """Begin 'B': int64 final_lsn | int64 commit_ts | int32 xid."""
    final_lsn, ts, txid = _fixed(buf, pos, _BEGIN, "Begin")
    _end(buf, pos + _BEGIN.size)
    return Begin(final_lsn, ts + PG_EPOCH_OFFSET_US, txid)


def _commit(buf: bytes, pos: int, xid: None) -> Commit:
    """Commit 'C': int8 flags (0) | int64 commit_lsn | int64 end_lsn | int64 commit_ts."""
    flags, commit_lsn, end_lsn, ts = _fixed(buf, pos, _COMMIT, "Commit")
    _end(buf, pos + _COMMIT.size)
    return Commit(flags, commit_lsn, end_lsn, ts + PG_EPOCH_OFFSET_US)


def begin_fields(buf: bytes) -> tuple[int, int, int]:
    """(final_lsn, commit time in UNIX µs, xid) of a whole Begin message (type byte
    included) without building a `Begin`: the decoder process reads one per transaction.
    Malformed input raises the same `ProtocolError` as `decode`."""
    if len(buf) != 1 + _BEGIN.size:
        msg = _begin(buf, 1, None)  # a wrong length: raises the precise error
        return msg.final_lsn, msg.commit_ts, msg.xid
    final_lsn, ts, xid = _BEGIN.unpack_from(buf, 1)
    return final_lsn, ts + PG_EPOCH_OFFSET_US, xid


def commit_end_lsn(buf: bytes) -> int:
    """end_lsn of a whole Commit message (type byte included), as `begin_fields` does for Begin."""
    if len(buf) != 1 + _COMMIT.size:
        return _commit(buf, 1, None).end_lsn  # a wrong length: raises the precise error
    return _COMMIT.unpack_from(buf, 1)[2]


def _origin(buf: bytes, pos: int, xid: None) -> Origin:
    """Origin 'O': int64 commit_lsn on the origin server | string origin name."""
    (lsn,) = _fixed(buf, pos, _LSN, "Origin")
    name, pos = _string(buf, pos + 8, "origin name")
    _end(buf, pos)
    return Origin(lsn, name)


def _relation(buf: bytes, pos: int, xid: int | None) -> Relation:
    """Relation 'R': [xid] | int32 relation oid | string namespace ('' = pg_catalog) |
    string name | int8 replica identity | int16 ncols | per column:
    int8 flags (1 = key) | string name | int32 type oid | int32 atttypmod."""
    (relid,) = _fixed(buf, pos, _OID, "Relation")
    namespace, pos = _string(buf, pos + 4, "namespace")
    name, pos = _string(buf, pos, "relation name")
    _need(buf, pos, 3, "replica identity and column count")
    identity = chr(buf[pos])
    (ncols,) = _U16(buf, pos + 1)
    pos += 3
    columns = []
    for _ in range(ncols):
        _need(buf, pos, 1, "column flags")
        is_key = bool(buf[pos] & 1)
        colname, pos = _string(buf, pos + 1, "column name")
        type_oid, typmod = _fixed(buf, pos, _COLUMN_TAIL, "column type")
        pos += _COLUMN_TAIL.size
        columns.append(RelationColumn(is_key, colname, type_oid, typmod))
    _end(buf, pos)
    return Relation(relid, namespace or "pg_catalog", name, identity, tuple(columns), xid)


def _type(buf: bytes, pos: int, xid: int | None) -> Type:
    """Type 'Y': [xid] | int32 type oid | string namespace ('' = pg_catalog) | string name."""
    (oid,) = _fixed(buf, pos, _OID, "Type")
    namespace, pos = _string(buf, pos + 4, "namespace")
    name, pos = _string(buf, pos, "type name")
    _end(buf, pos)
    return Type(oid, namespace or "pg_catalog", name, xid)


def _insert(buf: bytes, pos: int, xid: int | None) -> Insert:
    """Insert 'I': [xid] | int32 relation oid | byte 'N' | TupleData new."""
    _need(buf, pos, 5, "Insert")
    if buf[pos + 4] != 0x4E:  # 'N'
        raise _error(buf, pos + 4, "expected 'N' before the new tuple")
    new, end = _read_tuple(buf, pos + 5)
    _end(buf, end)
    return Insert(_U32(buf, pos)[0], new, xid)


def _update(buf: bytes, pos: int, xid: int | None) -> Update:
    """Update 'U': [xid] | int32 relation oid | optional (byte 'K' key columns or
    'O' whole old row | TupleData old) | byte 'N' | TupleData new."""
    _need(buf, pos, 5, "Update")
    (relid,) = _U32(buf, pos)
    pos += 4
    old_kind = old = None
    if buf[pos] == 0x4B or buf[pos] == 0x4F:  # 'K' | 'O'
        old_kind = chr(buf[pos])
        old, pos = _read_tuple(buf, pos + 1)
        _need(buf, pos, 1, "new tuple marker")
    if buf[pos] != 0x4E:
        raise _error(buf, pos, "expected 'K', 'O' or 'N' tuple marker")
    new, pos = _read_tuple(buf, pos + 1)
    _end(buf, pos)
    return Update(relid, old_kind, old, new, xid)


def _delete(buf: bytes, pos: int, xid: int | None) -> Delete:
    """Delete 'D': [xid] | int32 relation oid | byte 'K' or 'O' | TupleData old."""
    _need(buf, pos, 5, "Delete")
    kind = buf[pos + 4]
    if kind != 0x4B and kind != 0x4F:
        raise _error(buf, pos + 4, "expected 'K' or 'O' tuple marker")
    old, end = _read_tuple(buf, pos + 5)
    _end(buf, end)
    return Delete(_U32(buf, pos)[0], chr(kind), old, xid)


def _truncate(buf: bytes, pos: int, xid: int | None) -> Truncate:
    """Truncate 'T': [xid] | int32 nrelations | int8 options (1 cascade, 2 restart
    identity) | nrelations × int32 relation oid."""
    count, options = _fixed(buf, pos, _TRUNCATE, "Truncate")
    pos += _TRUNCATE.size
    _need(buf, pos, count * 4, "relation oids")
    _end(buf, pos + count * 4)
    return Truncate(struct.unpack_from(f">{count}I", buf, pos), options, xid)


def _message(buf: bytes, pos: int, xid: int | None) -> LogicalMessage:
    """Message 'M': [xid] | int8 flags (1 = transactional) | int64 lsn | string prefix |
    int32 length | content bytes."""
    flags, lsn = _fixed(buf, pos, _MESSAGE, "Message")
    prefix, pos = _string(buf, pos + _MESSAGE.size, "prefix")
    (length,) = _fixed(buf, pos, _OID, "content length")
    pos += 4
    _need(buf, pos, length, "content")
    _end(buf, pos + length)
    return LogicalMessage(bool(flags & 1), lsn, prefix, buf[pos:], xid)


def _stream_start(buf: bytes, pos: int, xid: None) -> StreamStart:
    """Stream Start 'S': int32 xid | int8 first segment (1 or 0)."""
    txid, first = _fixed(buf, pos, _STREAM_START, "Stream Start")
    _end(buf, pos + _STREAM_START.size)
    return StreamStart(txid, first == 1)


def _stream_stop(buf: bytes, pos: int, xid: None) -> StreamStop:
    """Stream Stop 'E': no fields."""
    _end(buf, pos)
    return StreamStop()


def _stream_commit(buf: bytes, pos: int, xid: None) -> StreamCommit:
    """Stream Commit 'c': int32 xid | int8 flags (0) | int64 commit_lsn | int64 end_lsn |
    int64 commit_ts."""
    txid, flags, commit_lsn, end_lsn, ts = _fixed(buf, pos, _STREAM_COMMIT, "Stream Commit")
    _end(buf, pos + _STREAM_COMMIT.size)
    return StreamCommit(txid, flags, commit_lsn, end_lsn, ts + PG_EPOCH_OFFSET_US)


def _stream_abort(buf: bytes, pos: int, xid: None) -> StreamAbort:
    """Stream Abort 'A' (protocol 2-3): int32 xid | int32 subxid."""
    txid, subxid = _fixed(buf, pos, _STREAM_ABORT, "Stream Abort")
    _end(buf, pos + _STREAM_ABORT.size)
    return StreamAbort(txid, subxid)


def _stream_abort_v4(buf: bytes, pos: int, xid: None) -> StreamAbort:
    """Stream Abort 'A' (protocol 4): int32 xid | int32 subxid, then, only when the
    subscriber asked for parallel streaming, int64 abort_lsn | int64 abort_ts.
    The message length tells which form arrived."""
    txid, subxid = _fixed(buf, pos, _STREAM_ABORT, "Stream Abort")
    pos += _STREAM_ABORT.size
    if pos == len(buf):
        return StreamAbort(txid, subxid)
    abort_lsn, ts = _fixed(buf, pos, _ABORT_INFO, "abort lsn and timestamp")
    _end(buf, pos + _ABORT_INFO.size)
    return StreamAbort(txid, subxid, abort_lsn, ts + PG_EPOCH_OFFSET_US)


def _begin_prepare(buf: bytes, pos: int, xid: None) -> BeginPrepare:
    """Begin Prepare 'b': int64 prepare_lsn | int64 end_lsn | int64 prepare_ts |
    int32 xid | string gid."""
    prepare_lsn, end_lsn, ts, txid = _fixed(buf, pos, _BEGIN_PREPARE, "Begin Prepare")
    gid, pos = _string(buf, pos + _BEGIN_PREPARE.size, "gid")
    _end(buf, pos)
    return BeginPrepare(prepare_lsn, end_lsn, ts + PG_EPOCH_OFFSET_US, txid, gid)


def _prepare_fields(buf: bytes, pos: int, what: str) -> tuple:
    """int8 flags | int64 lsn | int64 end_lsn | int64 ts | int32 xid | string gid."""
    flags, lsn, end_lsn, ts, txid = _fixed(buf, pos, _PREPARE, what)
    gid, pos = _string(buf, pos + _PREPARE.size, "gid")
    _end(buf, pos)
    return flags, lsn, end_lsn, ts + PG_EPOCH_OFFSET_US, txid, gid


def _prepare(buf: bytes, pos: int, xid: None) -> Prepare:
    """Prepare 'P': int8 flags (0) | int64 prepare_lsn | int64 end_lsn | int64 prepare_ts |
    int32 xid | string gid."""
    return Prepare(*_prepare_fields(buf, pos, "Prepare"))


def _commit_prepared(buf: bytes, pos: int, xid: None) -> CommitPrepared:
    """Commit Prepared 'K': int8 flags (0) | int64 commit_lsn | int64 end_lsn |
    int64 commit_ts | int32 xid | string gid."""
    return CommitPrepared(*_prepare_fields(buf, pos, "Commit Prepared"))


def _stream_prepare(buf: bytes, pos: int, xid: None) -> StreamPrepare:
    """Stream Prepare 'p': int8 flags (0) | int64 prepare_lsn | int64 end_lsn |
    int64 prepare_ts | int32 xid | string gid."""
    return StreamPrepare(*_prepare_fields(buf, pos, "Stream Prepare"))


def _rollback_prepared(buf: bytes, pos: int, xid: None) -> RollbackPrepared:
    """Rollback Prepared 'r': int8 flags (0) | int64 prepare_end_lsn |
    int64 rollback_end_lsn | int64 prepare_ts | int64 rollback_ts | int32 xid | string gid."""
    flags, prep_end, rb_end, prep_ts, rb_ts, txid = _fixed(
        buf, pos, _ROLLBACK_PREPARED, "Rollback Prepared"
    )
    gid, pos = _string(buf, pos + _ROLLBACK_PREPARED.size, "gid")
    _end(buf, pos)
    return RollbackPrepared(
        flags, prep_end, rb_end, prep_ts + PG_EPOCH_OFFSET_US, rb_ts + PG_EPOCH_OFFSET_US,
        txid, gid,
    )


# Message types by the protocol version that introduced them.
_V1 = {
    "B": _begin, "C": _commit, "O": _origin, "R": _relation, "Y": _type,
    "I": _insert, "U": _update, "D": _delete, "T": _truncate, "M": _message,
}
_V2 = {"S": _stream_start, "E": _stream_stop, "c": _stream_commit, "A": _stream_abort}
_V3 = {
    "b": _begin_prepare, "P": _prepare, "K": _commit_prepared,
    "r": _rollback_prepared, "p": _stream_prepare,
}
_V4 = {"A": _stream_abort_v4}
_BY_VERSION = (_V1, _V2, _V3, _V4)

# Types that carry a leading xid inside a streamed block.
_STREAMED = frozenset(b"RYIUDTM")
_STREAM_START_BYTE, _STREAM_STOP_BYTE = b"S"[0], b"E"[0]


class PgOutputDecoder:
    """Decodes one pgoutput message at a time.

    Stateful only in one bit: whether it is between Stream Start and Stream Stop, where
    changes, Relation, Type and Message carry their (sub)transaction id (`in_stream`, which
    the routing fast path in `bridge.route.keys` needs too).
    """

    __slots__ = ("proto_version", "in_stream", "_table")

    def __init__(self, proto_version: int = 1) -> None:
        if not 1 <= proto_version <= 4:
            raise ValueError(f"pgoutput proto_version must be 1 to 4, got {proto_version}")
        self.proto_version = proto_version
        self.in_stream = False
        table: list = [None] * 256
        for version in _BY_VERSION[:proto_version]:
            for letter, fn in version.items():
                table[ord(letter)] = fn
        self._table = table

    def decode(self, buf: bytes | bytearray | memoryview) -> Message:
        """Decode one message; raises `ProtocolError` (only) on malformed input."""
        if type(buf) is not bytes:
            # One copy, so fields slice straight into bytes (slicing a memoryview and then
            # calling bytes() per value costs two allocations per column).
            buf = bytes(buf)
        if not buf:
            raise ProtocolError("empty message", offset=0, msg_type=None)
        kind = buf[0]
        fn = self._table[kind]
        if fn is None:
            raise _error(buf, 0, f"unknown message type for protocol {self.proto_version}")
        if self.in_stream and kind in _STREAMED:
            _need(buf, 1, 4, "streamed transaction id")
            return fn(buf, 5, _U32(buf, 1)[0])
        if kind == _STREAM_START_BYTE or kind == _STREAM_STOP_BYTE:
            return self._stream_boundary(buf, fn)
        return fn(buf, 1, None)

    def _stream_boundary(self, buf: bytes, fn) -> Message:
        starting = buf[0] == _STREAM_START_BYTE
        if starting == self.in_stream:
            raise _error(buf, 0, "Stream Start/Stop out of order")
        msg = fn(buf, 1, None)
        self.in_stream = starting
        return msg
