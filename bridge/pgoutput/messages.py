"""The pgoutput messages, as immutable records.

Conventions shared by every message:
- LSNs are unsigned 64-bit ints (`bridge.lsn.format_lsn` prints them).
- Timestamps are UNIX-epoch microseconds (ints); the wire carries PostgreSQL-epoch ones.
- `xid` on a change/Relation/Type/Message is the (sub)transaction id the server adds inside
  a streamed block (protocol >= 2, between StreamStart and StreamStop), else None.
- A tuple (`new`, `old`) holds one entry per column of the relation: None for SQL NULL,
  `UNCHANGED_TOAST` for a TOASTed value the server did not resend, `bytes` for the text
  representation (undecoded), `BinaryValue` for the binary (typsend) representation.
"""

from typing import Final

import msgspec


class _UnchangedToast:
    """Type of the `UNCHANGED_TOAST` singleton."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNCHANGED_TOAST"

    def __reduce__(self) -> str:
        # Pickled across processes it must stay the singleton, so `is` checks keep working.
        return "UNCHANGED_TOAST"


UNCHANGED_TOAST: Final = _UnchangedToast()

class _Msg(msgspec.Struct, frozen=True, gc=False):
    """Base of every message: immutable, hashable, and invisible to the cyclic GC."""


class BinaryValue(msgspec.Struct, frozen=True, gc=False):
    """A column sent in binary (`typsend`) format; `data` is the raw send output."""

    data: bytes


TupleValue = bytes | BinaryValue | _UnchangedToast | None


class RelationColumn(_Msg):
    is_key: bool  # part of the replica identity (primary key, identity index, or FULL)
    name: str
    type_oid: int
    type_modifier: int  # atttypmod, -1 when the type has none


class Begin(_Msg):
    final_lsn: int
    commit_ts: int
    xid: int


class Commit(_Msg):
    flags: int
    commit_lsn: int
    end_lsn: int
    commit_ts: int


class Origin(_Msg):
    commit_lsn: int
    name: str


class Relation(_Msg):
    relation_id: int
    namespace: str  # "pg_catalog" when the wire sends the empty string
    name: str
    replica_identity: str  # 'd' default, 'n' nothing, 'f' full, 'i' index
    columns: tuple[RelationColumn, ...]
    xid: int | None = None


class Type(_Msg):
    type_oid: int
    namespace: str
    name: str
    xid: int | None = None


class Insert(_Msg):
    relation_id: int
    new: tuple
    xid: int | None = None


class Update(_Msg):
    relation_id: int
    old_kind: str | None  # 'K' old key columns only, 'O' whole old row, None not sent
    old: tuple | None
    new: tuple
    xid: int | None = None


class Delete(_Msg):
    relation_id: int
    old_kind: str  # 'K' or 'O', as for Update
    old: tuple
    xid: int | None = None


TRUNCATE_CASCADE: Final = 1
TRUNCATE_RESTART_IDENTITY: Final = 2


class Truncate(_Msg):
    relation_ids: tuple[int, ...]
    options: int  # bit set of TRUNCATE_CASCADE | TRUNCATE_RESTART_IDENTITY
    xid: int | None = None

    @property
    def cascade(self) -> bool:
        return bool(self.options & TRUNCATE_CASCADE)

    @property
    def restart_identity(self) -> bool:
        return bool(self.options & TRUNCATE_RESTART_IDENTITY)


class LogicalMessage(_Msg):
    transactional: bool
    lsn: int
    prefix: str
    content: bytes
    xid: int | None = None


class StreamStart(_Msg):
    xid: int
    first_segment: bool


class StreamStop(_Msg):
    pass


class StreamCommit(_Msg):
    xid: int
    flags: int
    commit_lsn: int
    end_lsn: int
    commit_ts: int


class StreamAbort(_Msg):
    xid: int
    subxid: int  # equals xid when the whole top-level transaction aborted
    abort_lsn: int | None = None  # protocol 4 with parallel streaming only
    abort_ts: int | None = None


class BeginPrepare(_Msg):
    prepare_lsn: int
    end_lsn: int
    prepare_ts: int
    xid: int
    gid: str


class Prepare(_Msg):
    flags: int
    prepare_lsn: int
    end_lsn: int
    prepare_ts: int
    xid: int
    gid: str


class CommitPrepared(_Msg):
    flags: int
    commit_lsn: int
    end_lsn: int
    commit_ts: int
    xid: int
    gid: str


class RollbackPrepared(_Msg):
    flags: int
    prepare_end_lsn: int
    rollback_end_lsn: int
    prepare_ts: int
    rollback_ts: int
    xid: int
    gid: str


class StreamPrepare(_Msg):
    flags: int
    prepare_lsn: int
    end_lsn: int
    prepare_ts: int
    xid: int
    gid: str


Message = (
    Begin | Commit | Origin | Relation | Type | Insert | Update | Delete | Truncate
    | LogicalMessage | StreamStart | StreamStop | StreamCommit | StreamAbort
    | BeginPrepare | Prepare | CommitPrepared | RollbackPrepared | StreamPrepare
)
