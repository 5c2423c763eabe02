"""The decoder process's work per message: route it to the producers that need it.

Only what routing needs is parsed: the message type, the relation, the key bytes (without
converting a column), and for Begin/Commit their LSNs and xid. A producer sees a
transaction's Begin just before its first row of that transaction and its Commit only if it
got a row, so a producer with quiet keys is never woken for others' transactions; the
coordinator learns from `pushed`/`dispatched` which producers hold nothing back
(`bridge.ack.watermark`).
"""

from __future__ import annotations

from typing import Callable, Mapping

import msgspec

from bridge.decode.messages import Begin, Commit, Relation
from bridge.decode.pgoutput import PgOutputDecoder
from bridge.decode.relations import RelationCache
from bridge.errors import ProtocolError
from bridge.ring.records import BatchBuilder
from bridge.route import records as rec
from bridge.route.keys import extract_key
from bridge.route.partitioner import key_hash, keyless_hash
from bridge.source.catalog import TableInfo

_ROW_KINDS = frozenset(b"IUD")
_IGNORED = frozenset(b"YOT")  # Type (types resolve by OID), Origin, Truncate (skipped.operations=t)
_encode_relation = msgspec.msgpack.Encoder().encode


class Router:
    def __init__(self, producers: int, topic_prefix: str, salt: bytes, salts: Mapping[str, bytes],
                 describe: Callable[[Relation], TableInfo], captures: Callable[[str, str], bool] = lambda s, t: True
                 ) -> None:
        self.producers = producers
        self.builders = [BatchBuilder() for _ in range(producers)]
        self.relations = RelationCache()
        self._decoder = PgOutputDecoder(proto_version=1)
        self._describe = describe
        self._prefix = topic_prefix
        self._salt = salt
        self._salts = dict(salts)
        self._salt_of: dict[int, bytes] = {}
        self._captures = captures
        self._skipped: set[int] = set()  # relations the filters leave out
        self.in_txn = False
        self._xid = 0
        self._begin: bytes = b""
        self._begun = [False] * producers
        self._last_commit = 0
        # Progress not yet visible to the coordinator: published once the batches are written.
        self.pending_pushed: dict[int, int] = {}
        self.pending_dispatched = 0

    def handle(self, payload: bytes, lsn: int) -> None:
        kind = payload[0]
        if kind in _ROW_KINDS:
            self._row(payload, lsn)
        elif kind == 0x42:  # 'B'
            self._on_begin(payload)
        elif kind == 0x43:  # 'C'
            self._on_commit(payload)
        elif kind == 0x52:  # 'R'
            self._on_relation(payload, lsn)
        elif kind not in _IGNORED:
            raise ProtocolError("unexpected message on a protocol-1 stream", offset=0, msg_type=chr(kind))

    def _row(self, payload: bytes, lsn: int) -> None:
        if not self.in_txn:
            raise ProtocolError("row change outside a transaction", offset=0, msg_type=chr(payload[0]))
        if self._skipped and int.from_bytes(payload[1:5], "big") in self._skipped:
            return
        _, relid, key, old_key = extract_key(payload, self.relations)
        salt = self._salt_of[relid]
        h = key_hash(salt, key) if key else keyless_hash(salt, self._xid)
        if old_key is not None and old_key != key and key:
            old_h = key_hash(salt, old_key)
            self._push(old_h % self.producers, rec.pack(rec.ROW, rec.OLD_KEY_HALF, old_h, lsn, 0, payload))
            self._push(h % self.producers, rec.pack(rec.ROW, rec.NEW_KEY_HALF, h, lsn, 0, payload))
        else:
            self._push(h % self.producers, rec.pack(rec.ROW, rec.WHOLE, h, lsn, 0, payload))

    def _push(self, producer: int, record: bytes) -> None:
        builder = self.builders[producer]
        if not self._begun[producer]:
            self._begun[producer] = True
            builder.add(self._begin)
        builder.add(record)

    def _on_begin(self, payload: bytes) -> None:
        msg = self._decoder.decode(payload)
        assert type(msg) is Begin
        if self.in_txn:
            raise ProtocolError("Begin inside a transaction", offset=0, msg_type="B")
        self.in_txn = True
        self._xid = msg.xid
        self._begin = rec.pack(rec.BEGIN, 0, 0, msg.final_lsn, self._last_commit, payload)
        self._begun = [False] * self.producers

    def _on_commit(self, payload: bytes) -> None:
        msg = self._decoder.decode(payload)
        assert type(msg) is Commit
        if not self.in_txn:
            raise ProtocolError("Commit without Begin", offset=0, msg_type="C")
        record = rec.pack(rec.COMMIT, 0, 0, msg.end_lsn, 0, payload)
        for producer, begun in enumerate(self._begun):
            if begun:
                self.builders[producer].add(record)
                self.pending_pushed[producer] = msg.end_lsn
        self.pending_dispatched = msg.end_lsn
        self._last_commit = msg.end_lsn
        self.in_txn = False

    def _on_relation(self, payload: bytes, lsn: int) -> None:
        msg = self._decoder.decode(payload)
        assert type(msg) is Relation
        if not self._captures(msg.namespace, msg.name):
            self._skipped.add(msg.relation_id)
            return
        self._skipped.discard(msg.relation_id)
        info = self._describe(msg)
        self.relations.add(msg, info.key_columns)
        topic = f"{self._prefix}.{msg.namespace}.{msg.name}"
        self._salt_of[msg.relation_id] = self._salts.get(topic, self._salt)
        body = _encode_relation([payload, list(info.key_columns), sorted(info.not_null)])
        record = rec.pack(rec.RELATION, 0, 0, lsn, 0, body)
        for builder in self.builders:
            builder.add(record)
