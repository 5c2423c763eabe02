"""Cut-over from Debezium: reading Connect's offsets file, picking our offset, and skipping what
Debezium already emitted (`bridge.cutover.offsets`)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from bridge.config import config_from_properties
from bridge.cutover.java_serialization import SerializationError, read_byte_map
from bridge.errors import ConfigError
from bridge.pgoutput import messages as m
from bridge.route.hooks import RouterHooks
from bridge.route.router import Router
from bridge.source.catalog import TableInfo
from bridge.cutover.offsets import (
    CutoverConfig,
    DebeziumOffset,
    OffsetsError,
    ResumeFilter,
    cutover_from_properties,
    read_offsets_file,
    select_offset,
)
from tests.pgoutput_encoder import encode
from tests.unit.builders import MINIMAL

DATA = Path(__file__).resolve().parents[1] / "data" / "offsets"
REAL = DATA / "debezium-3.7.0-standalone.dat"  # written by Debezium 3.7.0 on Connect 4.3.1 standalone
THREE = DATA / "three-entries.dat"  # MakeOffsets.java: two connectors and a deleted offset


# -- the Java-serialized file -----------------------------------------------------------------------

def test_reads_the_offsets_file_debezium_wrote():
    entries = read_offsets_file(REAL)
    assert len(entries) == 1
    key, _ = entries[0]
    assert json.loads(key) == ["cutover_fixture", {"server": "cutover_fixture"}]
    offset = select_offset(entries, CutoverConfig("cutover_fixture", "cutover_fixture", offsets_file=str(REAL)))
    assert offset == DebeziumOffset(lsn=1561834184, lsn_proc=1561834184, lsn_commit=1561834056, tx_id=472649,
                                    message_type="UPDATE", events_processed=1)
    assert offset.start_lsn == 1561834184 and offset.committed == 1561834056


def test_reads_several_entries_back_references_and_a_null_value():
    entries = dict(read_offsets_file(THREE))
    assert entries[b'["retired",{"server":"retired"}]'] is None
    assert json.loads(entries[b'["inventory",{"server":"shop"}]'])["txId"] == 771
    assert len(entries) == 3


def test_picks_the_entry_of_the_connector_name_and_server():
    offset = select_offset(read_offsets_file(THREE), CutoverConfig("billing", "billing", offsets_file="f"))
    assert (offset.lsn_proc, offset.events_processed, offset.message_type) == (37500000, 3, "INSERT")


def test_a_missing_entry_names_what_is_there():
    with pytest.raises(OffsetsError) as err:
        select_offset(read_offsets_file(THREE), CutoverConfig("inventory", "inventory", offsets_file="f.dat"))
    text = str(err.value)
    assert '["inventory",{"server":"inventory"}]' in text and '["inventory",{"server":"shop"}]' in text
    assert '["retired",{"server":"retired"}] (deleted)' in text and "bridge.cutover.connector.name" in text


def test_a_deleted_entry_says_so_and_the_newest_record_wins():
    key = b'["c",{"server":"p"}]'
    cfg = CutoverConfig("c", "p", offsets_topic="connect-offsets")
    with pytest.raises(OffsetsError, match="offset was deleted"):
        select_offset([(key, b'{"lsn":1}'), (key, None)], cfg)
    assert select_offset([(key, None), (key, b'{"lsn":5}'), (key, b'{"lsn":9}')], cfg).lsn == 9
    # keys match as JSON, not as bytes
    assert select_offset([(b'[ "c", {"server": "p"} ]', b'{"lsn":3}')], cfg).lsn == 3


def _fails(data: bytes, match: str) -> None:
    with pytest.raises(SerializationError, match=match):
        read_byte_map(data, "x.dat")


def test_malformed_files_are_refused_with_the_reason():
    real = REAL.read_bytes()
    _fails(b"", "no Java serialization magic")
    _fails(b'{"json": true}', "no Java serialization magic")
    _fails(real[:2] + b"\x00\x04" + real[4:], "stream version 4")
    _fails(real.replace(b"java.util.HashMap", b"java.util.TreeMap"), "class 'java.util.TreeMap'")
    _fails(real.replace(bytes.fromhex("0507dac1c31660d1"), bytes(8)), "serialVersionUID")
    _fails(real[:-1], "truncated")
    _fails(real[:-1] + b"\x70", "expected the end of the HashMap after 1 entries")
    _fails(real + b"\x00", "1 bytes after the HashMap")
    _fails(real[:40], "truncated")
    # the value array given as a reference to the HashMap itself
    value_at = real.index(b"uq\x00~\x00\x02")
    _fails(real[:value_at] + b"q\x00~\x00\x01" + real[value_at + 6:], "back-reference to something other")
    _fails(real[:value_at] + b"q\x00~\x00\x09" + real[value_at + 6:], "back-reference 0x7E0009 to nothing")


def test_any_corruption_is_a_clear_error_never_a_crash():
    real = REAL.read_bytes()
    for i in range(len(real)):
        for corrupt in (real[:i], real[:i] + bytes([real[i] ^ 0x41]) + real[i + 1:]):
            try:
                read_byte_map(corrupt, "x.dat")
            except SerializationError:
                pass  # inside an array's bytes a flip still parses: JSON checks come later


def test_unreadable_file_is_an_offsets_error(tmp_path):
    with pytest.raises(OffsetsError, match="cannot read Debezium's offsets file"):
        read_offsets_file(tmp_path / "missing.dat")
    assert issubclass(OffsetsError, ConfigError) and issubclass(SerializationError, ConfigError)


# -- the offset's JSON -----------------------------------------------------------------------------

def test_offset_without_lsn_proc_resumes_at_lsn_and_searches_nothing():
    offset = DebeziumOffset.from_json(b'{"lsn":1000,"txId":5,"ts_usec":1,"last_snapshot_record":true,'
                                      b'"snapshot":"INITIAL","snapshot_completed":true}', "w")
    assert offset.start_lsn == 1000
    resume = ResumeFilter(offset)
    assert resume.done and resume.start_lsn == 1000


@pytest.mark.parametrize("raw, match", [
    (b'{"lsn":1,"snapshot":"INITIAL","last_snapshot_record":false}', "inside its snapshot"),
    (b'{"txId":1}', "neither lsn_proc nor lsn"),
    (b'{"lsn":"0/16B3748"}', "not a non-negative integer"),
    (b'[1]', "not a JSON object"),
    (b'{lsn', "not JSON"),
])
def test_offsets_that_cannot_be_resumed(raw, match):
    with pytest.raises(OffsetsError, match=match):
        DebeziumOffset.from_json(raw, "w")


# -- configuration ---------------------------------------------------------------------------------

def props(**kv):
    data = {"debezium.source.topic.prefix": "shop", **{k.replace("_", "."): v for k, v in kv.items()}}
    return data.get


def test_no_cutover_keys_no_cutover():
    assert cutover_from_properties(props()) is None


def test_cutover_keys_and_the_connector_name_defaults():
    assert cutover_from_properties(props(bridge_cutover_offsets_file="/x/offsets.dat")) == \
        CutoverConfig("shop", "shop", offsets_file="/x/offsets.dat")
    assert cutover_from_properties(props(bridge_cutover_offsets_topic="connect-offsets",
                                         bridge_connector_name="inventory")) == \
        CutoverConfig("inventory", "shop", offsets_topic="connect-offsets")
    assert cutover_from_properties(props(bridge_cutover_offsets_topic="o", bridge_connector_name="inventory",
                                         bridge_cutover_connector_name="dbz")).connector_name == "dbz"


@pytest.mark.parametrize("kv, match", [
    ({"bridge_cutover_offsets_file": "f", "bridge_cutover_offsets_topic": "t"}, "both set"),
    ({"bridge_cutover_connector_name": "dbz"}, "neither bridge.cutover.offsets.file nor"),
    ({"bridge_cutover_offsets_file": "f", "debezium_source_snapshot_mode": "always"}, "contradicts the cut-over"),
])
def test_cutover_key_errors(kv, match):
    with pytest.raises(ConfigError, match=match):
        cutover_from_properties(props(**kv))


# -- what is skipped -------------------------------------------------------------------------------

def begin(final_lsn: int, xid: int) -> bytes:
    return encode(m.Begin(final_lsn, 0, xid))


def commit(commit_lsn: int, end_lsn: int) -> bytes:
    return encode(m.Commit(0, commit_lsn, end_lsn, 0))


ROW = encode(m.Insert(16384, (b"1", b"a")))


def run(resume: ResumeFilter, stream) -> list:
    """The (what, lsn) of the messages the filter lets through, Begin/Commit left out."""
    kept = []
    for what, payload, lsn in stream:
        if not resume(payload[0], payload, lsn) and what not in ("B", "C"):
            kept.append((what, lsn))
    return kept


def txn(xid: int, first: int, rows: list[int], commit_lsn: int, kinds=None) -> list:
    out = [("B", begin(commit_lsn, xid), first)]
    for i, lsn in enumerate(rows):
        kind = (kinds or {}).get(i, "row")
        out.append((kind, ROW if kind == "row" else encode(m.LogicalMessage(True, lsn, "p", b"x")), lsn))
    return out + [("C", commit(commit_lsn, commit_lsn + 40), commit_lsn + 40)]


def test_after_a_commit_offset_transactions_committed_before_it_are_skipped_whole():
    # GIVEN Debezium stopped after the commit of xid 11 (its Commit message at 340)
    resume = ResumeFilter(DebeziumOffset(340, 340, 340, 11, "COMMIT", None))
    # WHEN the slot (behind) resends xid 10 and 11, then xid 12
    kept = run(resume, txn(10, 100, [100, 120], 200) + txn(11, 130, [130], 300) + txn(12, 310, [310, 320], 400))
    # THEN only xid 12 passes, and the filter is then done
    assert kept == [("row", 310), ("row", 320)] and resume.done
    assert (resume.skipped_transactions, resume.skipped_events) == (2, 3)
    assert resume.start_lsn == 340


def test_inside_a_transaction_its_changes_up_to_lsn_proc_are_skipped():
    # GIVEN an offset at the change at 520 of xid 21; xid 20 committed (Commit at 480) before it
    resume = ResumeFilter(DebeziumOffset(520, 520, 480, 21, "UPDATE", 1))
    # WHEN the stream (started at 520) holds xid 20, committed after 520 but before xid 21, then xid 21
    kept = run(resume, txn(20, 505, [505], 440) + txn(21, 500, [500, 520, 530], 600) + txn(22, 610, [610], 700))
    # THEN xid 20 is skipped whole, xid 21 resumes after 520
    assert kept == [("row", 530), ("row", 610)]


def test_changes_sharing_lsn_proc_skip_exactly_the_counted_ones():
    resume = ResumeFilter(DebeziumOffset(520, 520, 480, 21, "INSERT", 2))  # a COPY: three rows at 520
    assert run(resume, txn(21, 500, [500, 520, 520, 520, 530], 600)) == [("row", 520), ("row", 530)]


def test_without_a_count_every_change_at_lsn_proc_is_skipped_as_older_debezium_does():
    resume = ResumeFilter(DebeziumOffset(520, 520, 480, 21, "INSERT", None))
    assert run(resume, txn(21, 500, [500, 520, 520, 530], 600)) == [("row", 530)]


def test_an_offset_at_a_transactional_message_keeps_the_change_at_its_end_lsn():
    # A logical message's LSN is the end of its record: the next change can start right there.
    resume = ResumeFilter(DebeziumOffset(520, 520, 480, 21, "MESSAGE", 1))
    stream = txn(21, 500, [500, 520, 520, 530], 600, kinds={1: "message"})
    assert run(resume, stream) == [("row", 520), ("row", 530)]


def test_a_different_first_transaction_is_emitted_whole(caplog):
    resume = ResumeFilter(DebeziumOffset(520, 520, 480, 21, "UPDATE", 1))
    with caplog.at_level(logging.WARNING):
        assert run(resume, txn(99, 500, [500, 520, 530], 600)) == [("row", 500), ("row", 520), ("row", 530)]
    assert "not txId 21" in caplog.text


def test_an_offset_at_begin_emits_that_transaction_whole():
    resume = ResumeFilter(DebeziumOffset(500, 500, 480, 21, "BEGIN", None))
    assert run(resume, txn(21, 500, [500, 520], 600)) == [("row", 500), ("row", 520)]


def test_non_transactional_messages_up_to_the_last_commit_are_skipped():
    resume = ResumeFilter(DebeziumOffset(340, 340, 340, None, "MESSAGE", None))
    msg = encode(m.LogicalMessage(False, 0, "p", b"x"))
    assert resume(msg[0], msg, 340) and not resume(msg[0], msg, 350)


def test_router_drops_skipped_changes_but_still_moves_the_slot_past_them():
    config = config_from_properties({**MINIMAL, "bridge.producers": "2", "debezium.source.topic.prefix": "p"})
    resume = ResumeFilter(DebeziumOffset(340, 340, 340, 11, "COMMIT", None))
    router = Router(config.routing, lambda rel: TableInfo(("id",), frozenset({"id"})), RouterHooks(drop=resume))
    router.handle(encode(m.Relation(16384, "public", "t", "d", (
        m.RelationColumn(True, "id", 23, -1), m.RelationColumn(False, "v", 25, -1)))), 90)
    for _, payload, lsn in txn(11, 130, [130], 300):
        router.handle(payload, lsn)
    assert router.pending_pushed == {} and router.pending_dispatched == 340  # nothing pushed; dispatched
    for _, payload, lsn in txn(12, 350, [350], 400):
        router.handle(payload, lsn)
    assert list(router.pending_pushed.values()) == [440]
