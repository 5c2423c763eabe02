"""A small pgoutput encoder, the inverse of the decoder: builds message bytes for tests."""

import struct

import msgspec

from bridge.pgoutput import messages as m
from bridge.pgoutput.protocol import PG_EPOCH_OFFSET_US


def s(text: str) -> bytes:
    return text.encode() + b"\x00"


def t64(unix_us: int) -> bytes:
    return struct.pack(">q", unix_us - PG_EPOCH_OFFSET_US)


def tup(values: tuple) -> bytes:
    out = [struct.pack(">H", len(values))]
    for v in values:
        if v is None:
            out.append(b"n")
        elif v is m.UNCHANGED_TOAST:
            out.append(b"u")
        elif isinstance(v, m.BinaryValue):
            out.append(b"b" + struct.pack(">I", len(v.data)) + v.data)
        else:
            out.append(b"t" + struct.pack(">I", len(v)) + v)
    return b"".join(out)


def x(msg) -> bytes:
    return b"" if msg.xid is None else struct.pack(">I", msg.xid)


def encode(msg) -> bytes:
    q, i = (lambda v: struct.pack(">Q", v)), (lambda v: struct.pack(">I", v))
    match msg:
        case m.Begin():
            return b"B" + q(msg.final_lsn) + t64(msg.commit_ts) + i(msg.xid)
        case m.Commit():
            return (b"C" + bytes([msg.flags]) + q(msg.commit_lsn) + q(msg.end_lsn)
                    + t64(msg.commit_ts))
        case m.Origin():
            return b"O" + q(msg.commit_lsn) + s(msg.name)
        case m.Relation():
            cols = b"".join(bytes([c.is_key]) + s(c.name)
                            + struct.pack(">Ii", c.type_oid, c.type_modifier) for c in msg.columns)
            return (b"R" + x(msg) + i(msg.relation_id) + s(msg.namespace) + s(msg.name)
                    + msg.replica_identity.encode() + struct.pack(">H", len(msg.columns)) + cols)
        case m.Type():
            return b"Y" + x(msg) + i(msg.type_oid) + s(msg.namespace) + s(msg.name)
        case m.Insert():
            return b"I" + x(msg) + i(msg.relation_id) + b"N" + tup(msg.new)
        case m.Update():
            old = b"" if msg.old_kind is None else msg.old_kind.encode() + tup(msg.old)
            return b"U" + x(msg) + i(msg.relation_id) + old + b"N" + tup(msg.new)
        case m.Delete():
            return b"D" + x(msg) + i(msg.relation_id) + msg.old_kind.encode() + tup(msg.old)
        case m.Truncate():
            return (b"T" + x(msg) + struct.pack(">IB", len(msg.relation_ids), msg.options)
                    + b"".join(i(r) for r in msg.relation_ids))
        case m.LogicalMessage():
            return (b"M" + x(msg) + bytes([msg.transactional]) + q(msg.lsn) + s(msg.prefix)
                    + i(len(msg.content)) + msg.content)
        case m.StreamStart():
            return b"S" + i(msg.xid) + bytes([msg.first_segment])
        case m.StreamCommit():
            return (b"c" + i(msg.xid) + bytes([msg.flags]) + q(msg.commit_lsn) + q(msg.end_lsn)
                    + t64(msg.commit_ts))
        case m.StreamAbort():
            extra = b"" if msg.abort_lsn is None else q(msg.abort_lsn) + t64(msg.abort_ts)
            return b"A" + i(msg.xid) + i(msg.subxid) + extra
        case m.BeginPrepare():
            return (b"b" + q(msg.prepare_lsn) + q(msg.end_lsn) + t64(msg.prepare_ts) + i(msg.xid)
                    + s(msg.gid))
        case m.Prepare() | m.CommitPrepared() | m.StreamPrepare():
            letter = {m.Prepare: b"P", m.CommitPrepared: b"K", m.StreamPrepare: b"p"}[type(msg)]
            flags, lsn, end_lsn, at, txid, gid = msgspec.structs.astuple(msg)
            return letter + bytes([flags]) + q(lsn) + q(end_lsn) + t64(at) + i(txid) + s(gid)
        case m.RollbackPrepared():
            return (b"r" + bytes([msg.flags]) + q(msg.prepare_end_lsn) + q(msg.rollback_end_lsn)
                    + t64(msg.prepare_ts) + t64(msg.rollback_ts) + i(msg.xid) + s(msg.gid))
    raise AssertionError(msg)
