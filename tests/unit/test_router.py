"""The decoder's routing: which producer gets which record, and the progress it reports."""

from bridge.config import config_from_properties
from bridge.pgoutput import messages as m
from bridge.ring.records import iter_records
from bridge.route import records as rec
from bridge.route.hooks import RouterHooks
from bridge.route.partitioner import key_hash
from bridge.route.router import Router
from bridge.source.catalog import TableInfo
from tests.pgoutput_encoder import encode
from tests.unit.builders import MINIMAL, REL
from tests.unit.builders import make_router as make


def records(router, producer):
    data = memoryview(bytes(router.builders[producer].buffer))
    return [(r[0], bytes(r[rec.HEADER_SIZE:])) for r in (bytes(x) for x in iter_records(data))]


def owner(key_value: bytes, producers=4) -> int:
    return key_hash(b"salt", b"t" + len(key_value).to_bytes(4, "big") + key_value) % producers


def txn(router, rows, end_lsn, xid=7):
    router.handle(encode(m.Begin(end_lsn - 8, 1_700_000_000_000_000, xid)), end_lsn - 8)
    for i, row in enumerate(rows):
        router.handle(encode(row), end_lsn - 8 + i)
    router.handle(encode(m.Commit(0, end_lsn - 16, end_lsn, 1_700_000_000_000_000)), end_lsn)


def test_relation_goes_to_every_producer_and_rows_only_to_their_owner():
    router = make()
    router.handle(encode(REL), 100)
    txn(router, [m.Insert(16384, (b"1", b"a"))], end_lsn=200)
    target = owner(b"1")
    for p in range(4):
        kinds = [k for k, _ in records(router, p)]
        if p == target:
            assert kinds == [rec.RELATION, rec.BEGIN, rec.ROW, rec.COMMIT]
        else:
            assert kinds == [rec.RELATION]  # no Begin/Commit for a producer without rows
    assert router.pending_pushed == {target: 200}
    assert router.pending_dispatched == 200 and not router.in_txn


def test_same_key_always_same_producer():
    router = make()
    router.handle(encode(REL), 100)
    txn(router, [m.Insert(16384, (b"42", b"a")), m.Update(16384, None, None, (b"42", b"b"))], 300)
    txn(router, [m.Delete(16384, "K", (b"42", None))], 400)
    target = owner(b"42")
    rows = [k for p in range(4) for k, _ in records(router, p) if k == rec.ROW and p == target]
    assert len(rows) == 3


def test_primary_key_change_is_split_between_the_two_owners():
    router = make(producers=64)  # enough producers that the two keys very likely differ
    router.handle(encode(REL), 100)
    old_owner, new_owner = owner(b"1", 64), owner(b"2", 64)
    assert old_owner != new_owner
    txn(router, [m.Update(16384, "K", (b"1", None), (b"2", b"x"))], 200)
    halves = {}
    for p in (old_owner, new_owner):
        for r in iter_records(memoryview(bytes(router.builders[p].buffer))):
            kind, half, *_ = rec.HEADER.unpack_from(r)
            if kind == rec.ROW:
                halves[p] = half
    assert halves == {old_owner: rec.OLD_KEY_HALF, new_owner: rec.NEW_KEY_HALF}
    assert router.pending_pushed == {old_owner: 200, new_owner: 200}


def test_begin_record_carries_the_previous_commit_for_sequence():
    router = make(producers=1)
    router.handle(encode(REL), 100)
    txn(router, [m.Insert(16384, (b"1", b"a"))], 200)
    txn(router, [m.Insert(16384, (b"2", b"a"))], 300)
    begins = [rec.HEADER.unpack_from(bytes(r)) for r in iter_records(memoryview(bytes(router.builders[0].buffer)))
              if r[0] == rec.BEGIN]
    assert [b[4] for b in begins] == [0, 200]


def kinds(router, producer):
    return [k for k, _ in records(router, producer)]


def test_skipped_operations_are_dropped_by_the_router():
    router = make(producers=1, **{"debezium.source.skipped.operations": "u,t"})
    router.handle(encode(REL), 100)
    txn(router, [m.Insert(16384, (b"1", b"a")), m.Update(16384, None, None, (b"1", b"b"))], 200)
    assert kinds(router, 0) == [rec.RELATION, rec.BEGIN, rec.ROW, rec.COMMIT]


def test_transaction_metadata_numbers_events_and_sends_begin_end_to_producer_0():
    router = make(producers=4, **{"debezium.source.provide.transaction.metadata": "true"})
    router.handle(encode(REL), 100)
    txn(router, [m.Insert(16384, (str(i).encode(), b"a")) for i in range(3)], 500)
    assert kinds(router, 0)[:3] == [rec.RELATION, rec.BEGIN, rec.TXMETA]
    assert kinds(router, 0)[-2:] == [rec.TXMETA, rec.COMMIT]
    orders = []
    for p in range(4):
        for r in iter_records(memoryview(bytes(router.builders[p].buffer))):
            kind, half, _, _, aux = rec.HEADER.unpack_from(r)
            if kind == rec.ROW:
                orders.append((aux >> 32, aux & 0xFFFFFFFF))
    assert sorted(orders) == [(1, 1), (2, 2), (3, 3)]


def tx_records(router, producer=0):
    """The (kind, half, LSN) of the transaction metadata records the router built."""
    out = []
    for r in iter_records(memoryview(bytes(router.builders[producer].buffer))):
        kind, half, _, lsn, _ = rec.HEADER.unpack_from(r)
        if kind == rec.TXMETA:
            out.append((half, lsn, bytes(r[rec.HEADER_SIZE:])))
    return out


EMPTY = [
    m.LogicalMessage(True, 190, "other-prefix", b"x"),  # a message the prefix filter drops
    m.Truncate((16384,), 0),  # a skipped operation (t)
]


def test_a_transaction_with_nothing_captured_still_gets_begin_and_end_with_metadata():
    # GIVEN transaction metadata and a prefix filter; WHEN a transaction holds only what is not captured
    router = make(producers=2, **{"debezium.source.provide.transaction.metadata": "true",
                                  "debezium.source.message.prefix.include.list": "mine"})
    router.handle(encode(REL), 100)
    txn(router, EMPTY, 200)
    # THEN producer 0 gets BEGIN at the Begin's position and END with no events, as Debezium writes
    assert [(half, lsn) for half, lsn, _ in tx_records(router)] == [(rec.TX_BEGIN, 192), (rec.TX_END, 200)]
    assert rec.tx_end_fields(tx_records(router)[1][2]) == (0, [])
    assert router.pending_dispatched == 200


def test_no_begin_or_end_without_metadata_for_the_snapshot_or_for_what_a_cut_over_drops():
    plain = make(producers=1, **{"debezium.source.message.prefix.include.list": "mine"})
    plain.handle(encode(REL), 100)
    txn(plain, EMPTY, 200)
    assert tx_records(plain) == []
    # the initial snapshot's transaction
    meta = {"debezium.source.provide.transaction.metadata": "true"}
    snap = make(producers=1, **meta)
    snap.snapshot_begin(encode(m.Begin(292, 1_700_000_000_000_000, 9)), 292)
    snap.handle(encode(m.Commit(0, 292, 300, 1_700_000_000_000_000)), 300)
    assert tx_records(snap) == []
    # a transaction a cut-over drops whole (its changes were Debezium's), and one it lets through
    config = config_from_properties({**MINIMAL, "bridge.producers": "1", "debezium.source.topic.prefix": "p", **meta,
                                     "debezium.source.message.prefix.include.list": "mine"})
    current = [0]

    def drop(kind, payload, lsn):  # the changes of transaction 7 were Debezium's
        return kind not in b"BCR" and current[0] == 7

    cut = Router(config.routing, lambda rel: TableInfo(("id",), frozenset({"id"})), RouterHooks(drop=drop))
    cut.handle(encode(REL), 100)
    current[0] = 7
    txn(cut, [m.Insert(16384, (b"1", b"a"))], 200, xid=7)
    assert tx_records(cut) == []
    current[0] = 8
    txn(cut, [m.LogicalMessage(True, 290, "not-captured", b"x")], 300, xid=8)
    assert [half for half, _, _ in tx_records(cut)] == [rec.TX_BEGIN, rec.TX_END]


def test_non_transactional_message_is_its_own_unit_of_work():
    router = make(producers=2)
    msg = m.LogicalMessage(False, 777, "audit", b"hello")
    router.handle(encode(msg), 777)
    owner = key_hash(b"salt", b"audit") % 2
    assert kinds(router, owner) == [rec.STANDALONE_MESSAGE]
    assert router.pending_pushed == {owner: 777} and router.pending_dispatched == 777


def test_message_topic_takes_its_per_topic_salt():
    router = make(producers=1, **{"bridge.partition.salt.p.message": "blue"})
    router.handle(encode(m.LogicalMessage(False, 777, "audit", b"x")), 777)
    (record,) = [bytes(r) for r in iter_records(memoryview(bytes(router.builders[0].buffer)))]
    _, _, hash_, _, _ = rec.HEADER.unpack_from(record)
    assert hash_ == key_hash(b"blue", b"audit") != key_hash(b"salt", b"audit")


def test_message_prefix_filter():
    router = make(producers=1, **{"debezium.source.message.prefix.exclude.list": "aud.*"})
    router.handle(encode(m.LogicalMessage(False, 777, "audit", b"x")), 777)
    assert kinds(router, 0) == []


def test_truncate_goes_to_each_captured_table_owner_only_when_not_skipped():
    router = make(producers=1)
    router.handle(encode(REL), 100)
    txn(router, [m.Truncate((16384,), 0)], 200)
    assert rec.TRUNCATE not in kinds(router, 0)
    router = make(producers=1, **{"debezium.source.skipped.operations": "none"})
    router.handle(encode(REL), 100)
    txn(router, [m.Truncate((16384,), 0)], 200)
    assert kinds(router, 0) == [rec.RELATION, rec.BEGIN, rec.TRUNCATE, rec.COMMIT]


def test_skipped_read_operations_drop_snapshot_rows_only():
    from bridge.snapshot import wire
    for skipped, expected in (("r", []), ("t", [rec.BEGIN, rec.SNAPSHOT_ROW])):
        router = make(producers=1, **{"debezium.source.skipped.operations": skipped})
        router.handle(encode(REL), 100)
        router.builders[0].clear()
        router.handle(encode(m.Begin(300, 1_700_000_000_000_000, 9)), 200)
        router.snapshot_row(wire.insert(16384, (b"1", b"a")), 250, 0)
        assert kinds(router, 0) == expected


class GeneralOnly(Router):
    """A Router that never takes the leading-key hot path: the reference it must agree with."""

    def _on_relation(self, payload, lsn):
        super()._on_relation(payload, lsn)
        self._leading.clear()


def test_hot_path_routes_byte_for_byte_like_the_general_path():
    # GIVEN a table keyed by its first column, one keyed by a later column, and every kind of change
    late_key = m.Relation(16385, "public", "late", "d", (
        m.RelationColumn(False, "v", 25, -1), m.RelationColumn(True, "id", 23, -1)))
    changes = [
        m.Insert(16384, (b"1", b"a")), m.Insert(16384, (b"2", None)), m.Insert(16385, (b"x", b"3")),
        m.Update(16384, None, None, (b"1", b"b")), m.Update(16384, "K", (b"1", None), (b"9", b"b")),
        m.Update(16384, "O", (b"2", b"old"), (b"2", m.UNCHANGED_TOAST)),
        m.Update(16384, "K", (b"3", None), (m.UNCHANGED_TOAST, b"c")),
        m.Delete(16384, "K", (b"9", None)), m.Delete(16384, "O", (b"2", b"old")), m.Delete(16385, "K", (None, b"3")),
    ]
    for props in ({}, {"debezium.source.provide.transaction.metadata": "true"}):
        config = config_from_properties({**MINIMAL, "bridge.producers": "4", "bridge.partition.salt": "salt",
                                         "debezium.source.topic.prefix": "p", **props})
        describe = lambda rel: TableInfo(("id",), frozenset({"id"}))  # noqa: E731
        hot, general = Router(config.routing, describe), GeneralOnly(config.routing, describe)
        # WHEN both route the same stream
        for router in (hot, general):
            router.handle(encode(REL), 100)
            router.handle(encode(late_key), 101)
            txn(router, changes, end_lsn=300)
        # THEN every producer's batch is the same bytes
        assert list(hot._leading) == [16384]  # the hot path served the table keyed by its first column
        for p in range(4):
            assert hot.builders[p].buffer == general.builders[p].buffer, (props, p)
        assert hot.pending_pushed == general.pending_pushed


def test_hooks_see_watched_rows_relations_and_truncates_before_they_are_routed():
    seen, relations, truncates = [], [], []
    watched = {}
    config = config_from_properties({**MINIMAL, "bridge.producers": "1", "debezium.source.topic.prefix": "p",
                                     "debezium.source.skipped.operations": "none"})
    router = Router(config.routing, lambda rel: TableInfo(("id",), frozenset({"id"})), RouterHooks(
        watched=watched, on_relation=relations.append, on_truncate=truncates.append))
    router.handle(encode(REL), 100)
    assert [r.relation_id for r in relations] == [16384]
    # GIVEN the table watched after the router was built (the hooks' owner keeps the mapping)
    watched[16384] = lambda *change: seen.append((change[0], change[2], change[5], change[6]))
    txn(router, [m.Insert(16384, (b"1", b"a")), m.Update(16384, "K", (b"1", None), (b"2", b"b"))], 200, xid=9)
    # THEN the watcher sees each change (kind, key, lsn, xid), which is routed as well
    assert seen == [("I", b"t\x00\x00\x00\x011", 192, 9), ("U", b"t\x00\x00\x00\x012", 193, 9)]
    assert kinds(router, 0).count(rec.ROW) == 3  # the insert, and the key change's two halves
    del watched[16384]
    txn(router, [m.Insert(16384, (b"3", b"a")), m.Truncate((16384,), 0)], 300)
    assert len(seen) == 2 and len(truncates) == 1


def test_a_drop_hook_is_asked_first_and_without_one_handle_checks_nothing():
    asked = []

    def drop_inserts(kind, payload, lsn):
        asked.append(kind)
        return kind == ord("I")

    plain = make(producers=1)
    assert plain.handle.__func__ is Router.handle  # the method itself: no per-message check
    config = config_from_properties({**MINIMAL, "bridge.producers": "1", "debezium.source.topic.prefix": "p"})
    dropping = Router(config.routing, lambda rel: TableInfo(("id",), frozenset({"id"})), RouterHooks(drop=drop_inserts))
    dropping.handle(encode(REL), 100)
    txn(dropping, [m.Insert(16384, (b"1", b"a"))], 200)
    assert asked == [ord(c) for c in "RBIC"] and kinds(dropping, 0) == [rec.RELATION]


def barriers(router, producer):
    """Each record's kind, a barrier as (kind, step, owner, number)."""
    data = memoryview(bytes(router.builders[producer].buffer))
    out = []
    for r in (bytes(x) for x in iter_records(data)):
        kind, step, owner, _, number = rec.HEADER.unpack_from(r)
        out.append((kind, step, owner, number) if kind == rec.BARRIER else kind)
    return out


def test_with_several_producers_a_truncate_goes_out_between_barriers_every_producer_gets_in_wal_order():
    # GIVEN 3 producers, truncates captured, rows of the table on two of them
    router = make(producers=3, **{"debezium.source.skipped.operations": "none"})
    router.handle(encode(REL), 100)
    t = key_hash(b"salt", b"public.t") % 3  # the truncate's owner: by the table's hash
    keys = [k for k in (str(i).encode() for i in range(50)) if owner(k, 3) != t][:2]
    assert router.fenced is False

    # WHEN a transaction inserts, truncates, inserts; then another truncates
    txn(router, [m.Insert(16384, (keys[0], b"a")), m.Truncate((16384,), 0), m.Insert(16384, (keys[1], b"b"))], 200)
    assert router.fenced is True  # the dispatcher writes every batch together (`write_full`)
    txn(router, [m.Truncate((16384,), 0)], 300)

    # THEN every other producer gets an ARRIVE where each truncate falls, after the rows before it
    # and before those after it; the owner a HOLD before each truncate and a RELEASE after it
    for p in range(3):
        got = [r for r in barriers(router, p) if r not in (rec.RELATION, rec.BEGIN, rec.COMMIT)]
        if p == t:
            assert got == [(rec.BARRIER, rec.HOLD, t, 1), rec.TRUNCATE, (rec.BARRIER, rec.RELEASE, t, 1),
                           (rec.BARRIER, rec.HOLD, t, 2), rec.TRUNCATE, (rec.BARRIER, rec.RELEASE, t, 2)]
            continue
        rows_before = [rec.ROW] if p == owner(keys[0], 3) else []
        rows_after = [rec.ROW] if p == owner(keys[1], 3) else []
        assert got == [*rows_before, (rec.BARRIER, rec.ARRIVE, t, 1), *rows_after, (rec.BARRIER, rec.ARRIVE, t, 2)]
    # a barrier carries its truncate's LSN
    arrive = next(bytes(x) for x in iter_records(memoryview(bytes(router.builders[(t + 1) % 3].buffer)))
                  if x[0] == rec.BARRIER)
    assert rec.HEADER.unpack_from(arrive)[3] == 200 - 8 + 1  # the Truncate's own LSN (`txn`)


def test_one_producer_writes_its_truncates_without_barriers():
    router = make(producers=1, **{"debezium.source.skipped.operations": "none"})
    router.handle(encode(REL), 100)
    txn(router, [m.Truncate((16384,), 0)], 200)
    assert rec.BARRIER not in kinds(router, 0) and router.fenced is False
