"""The decoder's routing: which producer gets which record, and the progress it reports."""

from bridge.decode import messages as m
from bridge.ring.records import iter_records
from bridge.route import records as rec
from bridge.route.partitioner import key_hash
from bridge.route.router import Router
from bridge.source.catalog import TableInfo
from tests.pgoutput_encoder import encode

REL = m.Relation(16384, "public", "t", "d", (
    m.RelationColumn(True, "id", 23, -1), m.RelationColumn(False, "v", 25, -1)))


def make(producers=4):
    return Router(producers, "p", b"salt", {}, lambda rel: TableInfo(("id",), frozenset({"id"})))


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
