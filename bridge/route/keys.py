"""Routing keys straight from raw Insert/Update/Delete bytes, without decoding the row.

The decoder process only needs to know which partition a change belongs to, so it reads
the key columns' raw bytes and skips everything else by length. A key is the wire form of
the key columns concatenated: per column its kind byte, then for 't'/'b' the int32 length
and the data. That is length-prefixed (so ('a', 'bc') != ('ab', 'c')), keeps NULL ('n')
apart from the empty string ('t', length 0), and equal keys give equal bytes.

Which key a change routes by:
- Insert: the new row's key.
- Update: the new row's key, and `old_key` when the server sent an old tuple ('K' or 'O'),
  which it does when the key changed, under REPLICA IDENTITY FULL, or when a key column is
  stored out of line (TOAST). In that last case the new tuple only says "unchanged" ('u')
  for that column, so the key comes from the old tuple, which carries the value.
- Delete: the old tuple's key.

Only the tuple prefix up to the last key column is read for the routing key; the full
decode in the producer validates the rest of the message.

`leading_key` is the decoder's hot path for the common shape, a key made of the tuple's
first columns (`CachedRelation.key_end == len(key_indexes)`): it reads those columns'
lengths and slices, and leaves anything unusual (NULL or unchanged key values, bytes that
run short, a column count that disagrees with the Relation) to `extract_key`, which gives
the same key or the precise `ProtocolError`.
"""

from bridge.errors import ProtocolError
from bridge.pgoutput import wire
from bridge.pgoutput.relations import CachedRelation, RelationCache, UnknownRelation

_U32 = wire.unpack_u32
_U16 = wire.unpack_u16
COUNT_KIND_LENGTH = wire.COUNT_KIND_LENGTH.unpack_from  # TupleData's ncols, then its first column

_INSERT, _UPDATE, _DELETE = wire.INSERT, wire.UPDATE, wire.DELETE
_NEW, _KEY, _OLD = wire.NEW, wire.KEY, wire.OLD
_NULL, _UNCHANGED, TEXT, BINARY = wire.NULL, wire.UNCHANGED_TOAST, wire.TEXT, wire.BINARY


def _error(buf: bytes, offset: int, reason: str) -> ProtocolError:
    return ProtocolError(reason, offset=offset, msg_type=chr(buf[0]))


def _tuple_key(
    buf: bytes, pos: int, cached: CachedRelation, whole: bool
) -> tuple[bytes | None, int]:
    """Read a TupleData at `pos`; return (key bytes, end position).

    With `whole` false, stops after the last key column (the end position is then
    meaningless). The key is None when a key column is unchanged TOAST ('u')."""
    is_key = cached.is_key
    size = len(buf)
    if pos + 2 > size:
        raise _error(buf, pos, "truncated tuple column count")
    (ncols,) = _U16(buf, pos)
    if ncols != len(is_key):
        raise _error(buf, pos, f"tuple has {ncols} columns, its Relation {len(is_key)}")
    pos += 2
    parts = []
    unchanged = False
    for i in range(ncols if whole else cached.key_end):
        start = pos
        if pos >= size:
            raise _error(buf, pos, "truncated tuple: missing column kind")
        kind = buf[pos]
        if kind == TEXT or kind == BINARY:
            if pos + 5 > size:
                raise _error(buf, pos, "truncated tuple: missing column length")
            pos += 5 + _U32(buf, pos + 1)[0]
            if pos > size:
                raise _error(buf, start + 5, "truncated tuple: column value longer than message")
        elif kind == _NULL:
            pos += 1
        elif kind == _UNCHANGED:
            pos += 1
            unchanged = unchanged or is_key[i]
        else:
            raise _error(buf, pos, f"unknown tuple column kind {kind:#04x}")
        if is_key[i]:
            parts.append(buf[start:pos])
    return (None if unchanged else b"".join(parts)), pos


def extract_key(
    buf: bytes, relations: RelationCache, in_stream: bool = False
) -> tuple[str, int, bytes, bytes | None]:
    """Return (msg_type 'I'|'U'|'D', relation_id, key, old_key) of one raw change.

    `old_key` is the old tuple's key for an Update that carries one, else None (for a
    Delete, `key` already is the old tuple's key). `in_stream` is
    `PgOutputDecoder.in_stream`: inside a streamed block a 4-byte xid precedes the
    relation id. Raises `ProtocolError` (`UnknownRelation` for an undescribed relation)."""
    if type(buf) is not bytes:
        buf = bytes(buf)
    if not buf:
        raise ProtocolError("empty message", offset=0, msg_type=None)
    msg_type = buf[0]
    if msg_type != _INSERT and msg_type != _UPDATE and msg_type != _DELETE:
        raise _error(buf, 0, "not a row change (Insert, Update or Delete)")
    pos = 5 if in_stream else 1
    if len(buf) < pos + 5:
        raise _error(buf, len(buf), "truncated change header")
    (relid,) = _U32(buf, pos)
    cached = relations.get(relid)
    if cached is None:
        raise UnknownRelation(relid, offset=pos, msg_type=chr(msg_type))
    pos += 4
    marker = buf[pos]
    old_key = None
    if msg_type == _INSERT:
        if marker != _NEW:
            raise _error(buf, pos, "expected 'N' before the new tuple")
    elif msg_type == _DELETE:
        if marker != _KEY and marker != _OLD:
            raise _error(buf, pos, "expected 'K' or 'O' tuple marker")
    elif marker == _KEY or marker == _OLD:
        old_key, pos = _tuple_key(buf, pos + 1, cached, True)
        if pos >= len(buf) or buf[pos] != _NEW:
            raise _error(buf, pos, "expected 'N' after the old tuple")
    elif marker != _NEW:
        raise _error(buf, pos, "expected 'K', 'O' or 'N' tuple marker")
    key, _ = _tuple_key(buf, pos + 1, cached, False)
    if key is None:
        # Only an Update's new tuple may omit an out-of-line key value; the old one has it.
        if old_key is None:
            raise _error(buf, pos, "key column is unchanged TOAST and no old key was sent")
        key = old_key
    return chr(msg_type), relid, key, old_key


def leading_key(buf: bytes, pos: int, ncols: int, key_columns: int) -> bytes | None:
    """The key of the TupleData at `pos` when its first `key_columns` columns (>= 1) are the
    key and all hold a text or binary value; None sends the caller to `extract_key`.

    Returns exactly the bytes `extract_key` returns for such a tuple: those columns' wire
    form, `kind | int32 length | data` each, read straight from `buf`."""
    size = len(buf)
    if size < pos + 7:
        return None
    count, kind, length = COUNT_KIND_LENGTH(buf, pos)
    if count != ncols or (kind != TEXT and kind != BINARY):
        return None
    start = pos + 2
    end = start + 5 + length
    for _ in range(key_columns - 1):
        if size < end + 5:
            return None
        kind = buf[end]
        if kind != TEXT and kind != BINARY:
            return None
        end += 5 + _U32(buf, end + 1)[0]
    if end > size:
        return None
    return buf[start:end]
