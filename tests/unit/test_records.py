"""Ring records: each kind's constructor packs the documented 24-byte header and payload, and
the readers give back what the constructors packed (`bridge.route.records`)."""

from __future__ import annotations

import struct

import msgspec

from bridge.route import records as rec

MSG = b"pgoutput message"


def fields(record: bytes) -> tuple:
    """(kind, half, hash, lsn, aux, payload) by the layout in the module's docstring."""
    kind, half, pad, hash_, lsn, aux = struct.unpack_from("<BBHIQQ", record)
    assert pad == 0 and rec.HEADER_SIZE == 24
    return kind, half, hash_, lsn, aux, record[24:]


def test_each_kind_packs_its_fields_in_the_header():
    assert fields(rec.begin(500, 400, MSG)) == (ord("B"), 0, 0, 500, 400, MSG)
    assert fields(rec.commit(600, MSG)) == (ord("C"), 0, 0, 600, 0, MSG)
    assert fields(rec.row(rec.WHOLE, 7, 510, 3 << 32 | 2, MSG)) == (ord("W"), 0, 7, 510, 3 << 32 | 2, MSG)
    assert fields(rec.row(rec.OLD_KEY_HALF, 7, 510, 0, MSG))[:2] == (ord("W"), 1)
    assert fields(rec.row(rec.NEW_KEY_HALF, 7, 510, 0, MSG))[:2] == (ord("W"), 2)
    assert fields(rec.snapshot_row(rec.INCREMENTAL_MARKER, 9, 520, MSG)) == (ord("S"), 5, 9, 520, 0, MSG)
    assert fields(rec.message(11, 530, 1 << 32 | 1, MSG)) == (ord("M"), 0, 11, 530, 1 << 32 | 1, MSG)
    assert fields(rec.standalone_message(11, 540, 1_700_000_000_000_000, MSG)) == (
        ord("N"), 0, 11, 540, 1_700_000_000_000_000, MSG)
    assert fields(rec.truncate(13, 550, 2 << 32 | 1, 16384, MSG)) == (
        ord("T"), 0, 13, 550, 2 << 32 | 1, (16384).to_bytes(4, "big") + MSG)
    assert fields(rec.tx_begin(490)) == (ord("X"), rec.TX_BEGIN, 0, 490, 0, b"")
    assert fields(rec.tx_end(600, 3, [("public.t", 3)]))[:5] == (ord("X"), rec.TX_END, 0, 600, 0)
    relation = fields(rec.relation(100, MSG, ("id",), {"id", "a"}, {"z"}, "p.public.t"))
    assert relation[:5] == (ord("R"), 0, 0, 100, 0)
    assert msgspec.msgpack.decode(relation[5]) == [MSG, ["id"], ["a", "id"], ["z"], "p.public.t", []]


def test_readers_give_back_what_the_constructors_packed():
    relation = rec.relation(100, MSG, ("id", "k"), {"k", "id"}, (), "p.public.t", (("k", "'x'::text"),))
    assert tuple(rec.relation_fields(relation[rec.HEADER_SIZE:])) == (
        MSG, ["id", "k"], ["id", "k"], [], "p.public.t", [("k", "'x'::text")])
    assert rec.truncated_relation(rec.truncate(13, 550, 0, 16384, MSG)[rec.HEADER_SIZE:]) == 16384
    events, per_table = rec.tx_end_fields(rec.tx_end(600, 3, {"public.t": 2, "public.u": 1}.items())[rec.HEADER_SIZE:])
    assert (events, per_table) == (3, [("public.t", 2), ("public.u", 1)])
    *_, aux, _ = fields(rec.row(rec.WHOLE, 7, 510, 3 << 32 | 2, MSG))
    assert rec.order_fields(aux) == (3, 2)


def test_the_framed_header_is_the_length_prefix_then_the_header():
    framed = rec.FRAMED_HEADER.pack(rec.HEADER_SIZE + len(MSG), rec.ROW, rec.WHOLE, 7, 510, 0)
    assert framed + MSG == (rec.HEADER_SIZE + len(MSG)).to_bytes(4, "little") + rec.row(rec.WHOLE, 7, 510, 0, MSG)
