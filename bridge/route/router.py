"""The decoder process's work per message: route it to the producers that need it.

Only what routing needs is parsed: the message type, the relation, the key bytes (without
converting a column), and for Begin/Commit their LSNs and xid. A producer sees a
transaction's Begin just before its first record of that transaction and its Commit only if
it got one, so a producer with quiet keys is never woken for others' transactions; the
coordinator learns from `pushed`/`dispatched` which producers hold nothing back
(`bridge.ack.safe_lsn`).

Besides rows: logical messages go to the owner of their prefix (a non-transactional one is a
self-contained unit with its own position; a table-less outbox's messages, `RoutingSpec.outbox`,
to the owner of their event key), truncates to the owner of each table's topic (with more than
one producer, between barriers every producer gets: `bridge.produce.barrier`), and
with `provide.transaction.metadata` the decoder numbers each transaction's events and has
producer 0 write its BEGIN/END records (one producer keeps that topic in commit order).

When a transform makes the Kafka key or partition from something other than the table's key
(`RoutingSpec.by_table`), every row of a table goes to one producer (by the table's hash, as
its truncates do): all of the table's order is kept, at the cost of its parallelism.

What else sees the stream (a cut-over filter, the incremental snapshot) is passed in as
`RouterHooks` when the router is built (`bridge.route.hooks`).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import mmh3

from bridge.errors import ProtocolError
from bridge.pgoutput import wire
from bridge.pgoutput.messages import LogicalMessage, Relation, Truncate
from bridge.pgoutput.protocol import PgOutputDecoder, begin_fields, commit_end_lsn
from bridge.pgoutput.relations import RelationCache
from bridge.ring.records import BatchBuilder
from bridge.route import records as rec
from bridge.route.hooks import RouterHooks
from bridge.route.keys import BINARY, COUNT_KIND_LENGTH, TEXT, extract_key, leading_key
from bridge.route.partitioner import key_hash, keyless_hash
from bridge.route.spec import RoutingSpec
from bridge.route.topics import TopicNames
from bridge.source.catalog import TableInfo

_INSERT, _UPDATE, _DELETE = wire.INSERT, wire.UPDATE, wire.DELETE
_NEW, _KEY, _OLD = wire.NEW, wire.KEY, wire.OLD
_RELATION_ID = wire.unpack_u32
_FRAMED_HEADER = rec.FRAMED_HEADER.pack
_HEADER_SIZE, _ROW, _WHOLE = rec.HEADER_SIZE, rec.ROW, rec.WHOLE
_IGNORED = frozenset((wire.TYPE, wire.ORIGIN))  # types resolve by OID
_CONTENT = wire.CONTENT
_mmh3 = mmh3.hash
TXMETA_PRODUCER = 0
MESSAGE_COLLECTION = "io.debezium.connector.postgresql.LogicalDecodingMessageMonitor$LogicalDecodingMessageId"


NO_HOOKS = RouterHooks()


class Router:
    def __init__(self, spec: RoutingSpec, describe: Callable[[Relation], TableInfo],
                 hooks: RouterHooks = NO_HOOKS) -> None:
        self.producers = spec.producers
        self.builders = [BatchBuilder() for _ in range(self.producers)]
        self.relations = RelationCache()
        self._decoder = PgOutputDecoder(proto_version=1)
        self._describe = describe
        self._filters = spec.filters
        self._topics = TopicNames(spec.topic_prefix, spec.topic_delimiter)
        self._salt = spec.salt
        self._salts = dict(spec.salts)  # per-topic overrides, by the topic's (sanitized) name
        self._message_salt = self._salts.get(self._topics.message(), self._salt)
        self._outbox = spec.outbox  # (prefix, key member): outbox messages go by their event key
        skipped = spec.skipped_operations
        self._skip_insert, self._skip_update, self._skip_delete = "c" in skipped, "u" in skipped, "d" in skipped
        self._truncates = "t" not in skipped
        self._skip_read = "r" in skipped  # snapshot rows (op "r"), initial or incremental
        self._skips = self._skip_insert or self._skip_update or self._skip_delete
        self._txmeta = spec.transaction_metadata
        self._tables: dict[int, tuple[bytes, str]] = {}  # relation id -> (salt, "schema.table")
        # Relations keyed by their leading columns (the common shape), for the hot path:
        # relation id -> (salt, key column count, column count, "schema.table")
        self._leading: dict[int, tuple[bytes, int, int, str]] = {}
        self._skipped: set[int] = set()  # relations the filters leave out
        # With a transform making the Kafka key or partition (`RoutingSpec.by_table`): relation
        # id -> the producer of all its rows (by the table's hash); such relations never take
        # the hot path, so other tables pay nothing for it.
        self._by_table = spec.by_table
        self._owners: dict[int, int] = {}
        self.in_txn = False
        self._xid = 0
        self._begin_lsn = 0
        self._begin: bytes = b""
        self._begun = [False] * self.producers
        self._last_commit = 0
        self._last_commit_ts = 0  # commit time (µs) of the newest Begin: Debezium's non-transactional message time
        self._events = 0
        self._per_table: dict[str, int] = {}
        # Progress not yet visible to the coordinator: published once the batches are written.
        self.pending_pushed: dict[int, int] = {}
        self.pending_dispatched = 0
        # Truncates routed between barriers (`bridge.produce.barrier`), and whether one is in
        # the batches not yet written: then every batch is written with it (`Dispatcher.write_full`).
        self._barriers = 0
        self.fenced = False
        # Incremental snapshots (`bridge.snapshot.incremental`): the signal table is always
        # captured, as in Debezium.
        self._signal_table = spec.signal_table
        self._watched = hooks.watched
        self._on_relation_hook = hooks.on_relation
        self._on_truncate_hook = hooks.on_truncate
        # With transaction metadata, Debezium writes BEGIN and END for every transaction the
        # server sends, captured or not (END with `event_count` 0); not for its snapshot's, nor
        # for one a cut-over drops whole (Debezium wrote those already). `_boundaries` says
        # whether the current transaction gets them even without an event.
        self._boundaries = False
        drop = hooks.drop
        if drop is not None:
            # Only with the hook does `handle` ask it first (an instance attribute shadowing the method).
            route = self.handle

            def handle(payload: bytes, lsn: int) -> None:
                kind = payload[0]
                if drop(kind, payload, lsn):
                    return
                route(payload, lsn)
                if kind == 0x42:  # 'B': a replayed transaction shows by nothing passing the hook
                    self._boundaries = False
                elif kind in _CONTENT:
                    self._boundaries = self._txmeta
            self.handle = handle  # type: ignore[method-assign]

    def handle(self, payload: bytes, lsn: int) -> None:
        kind = payload[0]
        if kind == _INSERT or kind == _UPDATE or kind == _DELETE:
            self._row(payload, lsn)
        elif kind == 0x42:  # 'B'
            self._on_begin(payload, lsn)
        elif kind == 0x43:  # 'C'
            self._on_commit(payload, lsn)
        elif kind == 0x52:  # 'R'
            self._on_relation(payload, lsn)
        elif kind == 0x4D:  # 'M'
            self._on_message(payload, lsn)
        elif kind == 0x54:  # 'T'
            self._on_truncate(payload, lsn)
        elif kind not in _IGNORED:
            raise ProtocolError("unexpected message on a protocol-1 stream", offset=0, msg_type=chr(kind))

    # -- rows --------------------------------------------------------------------------------

    def _row(self, payload: bytes, lsn: int) -> None:
        if not self.in_txn:
            raise ProtocolError("row change outside a transaction", offset=0, msg_type=chr(payload[0]))
        key = None
        # The hot path: an Insert, an Update without an old tuple or a Delete of a table keyed
        # by its leading columns, routed by a slice of the tuple (`leading_key`). Everything
        # else, every malformed message included, takes the general path (`_route`).
        if len(payload) > 6 and not self._skips:
            relid = _RELATION_ID(payload, 1)[0]
            leading = self._leading.get(relid)
            marker = payload[5]
            if leading is not None and (marker == _NEW if payload[0] != _DELETE else marker == _KEY or marker == _OLD) \
                    and not (self._watched and relid in self._watched):
                salt, key_columns, ncols, table = leading
                # A one-column key first in the tuple is by far the most common shape: its
                # column count, kind and length in one unpack (`leading_key`'s first step)
                if key_columns == 1 and len(payload) >= 13:
                    count, value_kind, length = COUNT_KIND_LENGTH(payload, 6)
                    if count == ncols and (value_kind == TEXT or value_kind == BINARY) and 13 + length <= len(payload):
                        key = payload[8:13 + length]
                else:
                    key = leading_key(payload, 6, ncols, key_columns)
        if key is not None:
            h = _mmh3(salt + key, 0, False)  # key_hash, inlined: the tests hold both paths to the same records
        else:
            routed = self._route(payload, lsn)
            if routed is None:
                return
            h, table = routed
        # one row record's header ('W', `rec.row`, inlined: packed with the batch's length
        # prefix), appended beside the payload
        producer = h % self.producers
        if not self._begun[producer]:
            self._begun[producer] = True
            self.builders[producer].add(self._begin)
        self.builders[producer].add_framed(_FRAMED_HEADER(
            _HEADER_SIZE + len(payload), _ROW, _WHOLE, h, lsn, self._count(table, lsn) if self._txmeta else 0), payload)

    def _route(self, payload: bytes, lsn: int) -> tuple[int, str] | None:
        """The general path of a row change: its (hash, table) when it is routed as one whole
        record, None when it is filtered out or was split here (a primary-key change)."""
        if self._skipped and int.from_bytes(payload[1:5], "big") in self._skipped:
            return None
        kind, relid, key, old_key = extract_key(payload, self.relations)
        watcher = self._watched.get(relid) if self._watched else None
        if watcher is not None:
            watcher(kind, relid, key, old_key, payload, lsn, self._xid)
        salt, table = self._tables[relid]
        h = key_hash(salt, key) if key else keyless_hash(salt, self._xid)
        owner = self._owners.get(relid) if self._owners else None  # routed by table
        if old_key is not None and old_key != key and key:
            # A primary-key change: delete (+ tombstone) under the old key, create under the new.
            old_h = key_hash(salt, old_key)
            if not self._skip_delete:
                self._push(old_h % self.producers if owner is None else owner,
                           rec.row(rec.OLD_KEY_HALF, old_h, lsn, self._count(table, lsn), payload))
            if not self._skip_insert:
                self._push(h % self.producers if owner is None else owner,
                           rec.row(rec.NEW_KEY_HALF, h, lsn, self._count(table, lsn), payload))
            return None
        if self._skips and ((self._skip_insert and kind == "I") or (self._skip_update and kind == "U") or (
                self._skip_delete and kind == "D")):
            return None
        if owner is not None:  # the key's hash still picks the partition; the table, the producer
            self._push(owner, rec.row(rec.WHOLE, h, lsn, self._count(table, lsn), payload))
            return None
        return h, table

    def snapshot_row(self, payload: bytes, lsn: int, marker: int) -> None:
        """A snapshot row (a synthesized Insert, `bridge.snapshot.wire`), routed by key like a
        streamed one so it reaches Kafka before any later change of the same key."""
        if self._skip_read:  # skipped.operations=r
            return
        _, relid, key, _ = extract_key(payload, self.relations)
        salt, _ = self._tables[relid]
        h = key_hash(salt, key) if key else keyless_hash(salt, self._xid)
        owner = self._owners.get(relid) if self._owners else None  # routed by table
        self._push(h % self.producers if owner is None else owner, rec.snapshot_row(marker, h, lsn, payload))

    def _count(self, table: str, lsn: int) -> int:
        """Transaction metadata: the event's (total_order, data_collection_order), packed."""
        if not self._txmeta:
            return 0
        if self._events == 0:
            self._push(TXMETA_PRODUCER, rec.tx_begin(self._begin_lsn))
        self._events += 1
        order = self._per_table[table] = self._per_table.get(table, 0) + 1
        return self._events << 32 | order  # the packed order of `rec.order_fields`, inlined: once per row

    def _push(self, producer: int, record: bytes) -> None:
        builder = self.builders[producer]
        if not self._begun[producer]:
            self._begun[producer] = True
            builder.add(self._begin)
        builder.add(record)

    # -- transaction boundaries ----------------------------------------------------------------

    def _on_begin(self, payload: bytes, lsn: int) -> None:
        final_lsn, commit_ts, xid = begin_fields(payload)
        if self.in_txn:
            raise ProtocolError("Begin inside a transaction", offset=0, msg_type="B")
        self.in_txn = True
        self._xid = xid
        self._last_commit_ts = commit_ts
        self._begin_lsn = lsn
        self._begin = rec.begin(final_lsn, self._last_commit, payload)
        self._begun = [False] * self.producers
        self._events = 0
        self._per_table = {}
        self._boundaries = self._txmeta

    def snapshot_begin(self, payload: bytes, lsn: int) -> None:
        """The initial snapshot's Begin (`bridge.snapshot.wire`): its transaction has no BEGIN
        or END record, as Debezium's snapshot has none."""
        self._on_begin(payload, lsn)
        self._boundaries = False

    def _on_commit(self, payload: bytes, lsn: int) -> None:
        end_lsn = commit_end_lsn(payload)
        if not self.in_txn:
            raise ProtocolError("Commit without Begin", offset=0, msg_type="C")
        if self._events:
            self._push(TXMETA_PRODUCER, rec.tx_end(lsn, self._events, self._per_table.items()))
        elif self._boundaries:  # nothing captured: BEGIN and END all the same, as Debezium
            self._push(TXMETA_PRODUCER, rec.tx_begin(self._begin_lsn))
            self._push(TXMETA_PRODUCER, rec.tx_end(lsn, 0, ()))
        record = rec.commit(end_lsn, payload)
        for producer, begun in enumerate(self._begun):
            if begun:
                self.builders[producer].add(record)
                self.pending_pushed[producer] = end_lsn
        self.pending_dispatched = end_lsn
        self._last_commit = end_lsn
        self.in_txn = False

    def snapshot_done(self) -> None:
        """After the snapshot's transaction: the first streamed one has no previous commit in
        Debezium's `sequence` (`[null, ...]`), as after a fresh start."""
        self._last_commit = 0
        self._last_commit_ts = 0

    # -- schema, messages, truncates -----------------------------------------------------------

    def _on_relation(self, payload: bytes, lsn: int) -> None:
        msg = self._decoder.decode(payload)
        assert type(msg) is Relation
        if not self._filters.captures(msg.namespace, msg.name) and (
                f"{msg.namespace}.{msg.name}" != self._signal_table):
            self._skipped.add(msg.relation_id)
            self._leading.pop(msg.relation_id, None)
            return
        self._skipped.discard(msg.relation_id)
        info = self._describe(msg)
        cached = self.relations.add(msg, info.key_columns)
        topic = self._topics.table(msg.namespace, msg.name)
        salt, table = self._salts.get(topic, self._salt), f"{msg.namespace}.{msg.name}"
        self._tables[msg.relation_id] = (salt, table)
        if self._by_table:  # decided once per relation: its truncates' producer for all its rows
            self._owners[msg.relation_id] = key_hash(salt, table.encode()) % self.producers
            self._leading.pop(msg.relation_id, None)
        elif cached.key_indexes and cached.key_end == len(cached.key_indexes):
            self._leading[msg.relation_id] = (salt, cached.key_end, len(cached.is_key), table)
        else:
            self._leading.pop(msg.relation_id, None)
        record = rec.relation(lsn, payload, info.key_columns, info.not_null, info.excluded, topic, info.defaults)
        for builder in self.builders:
            builder.add(record)
        if self._on_relation_hook is not None:
            self._on_relation_hook(msg)

    def _on_message(self, payload: bytes, lsn: int) -> None:
        msg = self._decoder.decode(payload)
        assert type(msg) is LogicalMessage
        if not msg.transactional:
            # Debezium commits a non-transactional message, filtered out or not: it anchors
            # the `sequence` of what follows (and its own).
            self._last_commit = msg.lsn
        if not self._filters.captures_message(msg.prefix):
            return
        h = key_hash(self._message_salt, msg.prefix.encode()) if self._outbox is None or \
            msg.prefix != self._outbox[0] else self._outbox_hash(msg.content)
        owner = h % self.producers
        if msg.transactional:
            if not self.in_txn:
                raise ProtocolError("transactional message outside a transaction", offset=0, msg_type="M")
            # Debezium counts a message as an event of its transaction, in a data collection of
            # its own named by a Java object's identity (LogicalDecodingMessageId@<hash>).
            collection = f"{MESSAGE_COLLECTION}@{msg.lsn & 0x7FFFFFFF:x}"
            self._push(owner, rec.message(h, msg.lsn, self._count(collection, msg.lsn), payload))
            return
        # Its own unit of work: confirmable once acked, at its own position. Debezium stamps
        # it with the newest transaction's commit time.
        self.builders[owner].add(rec.standalone_message(h, msg.lsn, self._last_commit_ts, payload))
        self.pending_pushed[owner] = max(self.pending_pushed.get(owner, 0), msg.lsn)
        self.pending_dispatched = max(self.pending_dispatched, msg.lsn)

    def _outbox_hash(self, content: bytes) -> int:
        """An outbox message's producer, by its event key (one aggregate's events from one
        producer, in WAL order, as an outbox table's rows by table); content without such a key,
        which its producer will refuse, by the prefix."""
        try:
            key = json.loads(content).get(self._outbox[1])  # type: ignore[index]
        except (ValueError, AttributeError):
            key = None
        text = self._outbox[0] if not isinstance(key, str) else key  # type: ignore[index]
        return key_hash(self._message_salt, text.encode())

    def _on_truncate(self, payload: bytes, lsn: int) -> None:
        if self._on_truncate_hook is not None:
            self._on_truncate_hook(payload)
        if not self._truncates:
            return
        msg = self._decoder.decode(payload)
        assert type(msg) is Truncate
        for relid in msg.relation_ids:
            if relid in self._skipped or relid not in self._tables:
                continue
            salt, table = self._tables[relid]
            h = key_hash(salt, table.encode())
            owner = h % self.producers
            record = rec.truncate(h, lsn, self._count(table, lsn), relid, payload)
            if self.producers == 1:
                self._push(owner, record)
                continue
            # Other producers write the partition too: the truncate goes out between barriers.
            self._barriers += 1
            for producer, builder in enumerate(self.builders):
                if producer != owner:
                    builder.add(rec.barrier(rec.ARRIVE, owner, lsn, self._barriers))
            self.builders[owner].add(rec.barrier(rec.HOLD, owner, lsn, self._barriers))
            self._push(owner, record)
            self.builders[owner].add(rec.barrier(rec.RELEASE, owner, lsn, self._barriers))
            self.fenced = True
