"""Synthesized snapshot messages decode as the streaming decoder expects."""

from bridge.pgoutput import messages as m
from bridge.pgoutput.protocol import PgOutputDecoder
from bridge.snapshot import wire

REL = m.Relation(16384, "public", "t", "d", (m.RelationColumn(True, "id", 23, -1),
                                             m.RelationColumn(False, "amount", 1700, 655366)))


def test_round_trips_through_the_decoder():
    d = PgOutputDecoder(1)
    assert d.decode(wire.begin(500, 1_700_000_000_000_000, 42)) == m.Begin(500, 1_700_000_000_000_000, 42)
    assert d.decode(wire.relation(REL)) == REL
    assert d.decode(wire.insert(16384, (b"1", None))) == m.Insert(16384, (b"1", None))
    c = d.decode(wire.commit(500, 1_700_000_000_000_000))
    assert (c.commit_lsn, c.end_lsn, c.commit_ts) == (500, 500, 1_700_000_000_000_000)
