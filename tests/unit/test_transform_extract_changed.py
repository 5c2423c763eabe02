"""Debezium's ExtractChangedRecordState (`bridge.transform.extract_changed`) on the records
`EventBuilder` builds; tests/integration/test_live_transforms_debezium.py compares it with the
running Debezium."""

from __future__ import annotations

from bridge.pgoutput import messages as m
from bridge.pgoutput.protocol import PgOutputDecoder
from bridge.produce.events import TxnContext
from tests.pgoutput_encoder import encode
from tests.unit.builders import chain_builder

T = "debezium.transforms"
TXN = TxnContext(xid=700, commit_ts_us=1_700_000_000_123_456, last_commit_lsn=1000)


def changed(**options: str) -> dict[str, str]:
    return {T: "ch", f"{T}.ch.type": "io.debezium.transforms.ExtractChangedRecordState",
            **{f"{T}.ch.{k}": v for k, v in options.items()}}


def change(b, msg) -> list:
    return b.change(PgOutputDecoder(1).decode(encode(msg)), TXN, 4096)


def test_an_update_with_its_old_row_names_changed_and_unchanged_columns():
    b = chain_builder(changed(**{"header.changed.name": "Changed", "header.unchanged.name": "Same"}))
    [r] = change(b, m.Update(16384, "O", (b"1", b"a"), (b"1", b"b")))
    assert r.headers[-2:] == [("Changed", b'["v"]'), ("Same", b'["id"]')]
    # without the old row (or on a create): both empty
    [r] = change(b, m.Insert(16384, (b"1", b"a")))
    assert r.headers[-2:] == [("Changed", b"[]"), ("Same", b"[]")]


def test_a_delete_and_its_tombstone_share_the_headers_and_unset_names_add_none():
    b = chain_builder(changed(**{"header.unchanged.name": "Same", "header.changed.name": " "}))
    delete, tombstone = change(b, m.Delete(16384, "K", (b"1", None)))
    assert delete.headers[-1] == ("Same", b"[]") and tombstone.headers[-1] == ("Same", b"[]")
    assert [h for h in delete.headers if h[0] == " "] == []

