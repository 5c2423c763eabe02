"""Incremental snapshots: the watermark window and its deduplication, driven through a real
Router with a fake SQL side (`bridge.snapshot.incremental`), wired as `bridge.proc.decoder_build`
wires them."""

from __future__ import annotations

import json
import logging

import pytest

from bridge.config import config_from_properties
from bridge.errors import ConfigError
from bridge.pgoutput import messages as m
from bridge.pgoutput.protocol import PgOutputDecoder
from bridge.pgoutput.relations import RelationCache
from bridge.ring.records import iter_records
from bridge.route import records as rec
from bridge.route.keys import extract_key
from bridge.route.router import Router
from bridge.snapshot import wire
from bridge.snapshot.incremental.emitter import RouterEmitter
from bridge.snapshot.incremental.machine import IncrementalSnapshot
from bridge.snapshot.incremental.progress import StoredProgress, StoredTable, parse_progress, progress_id
from bridge.snapshot.incremental.signals import Signal
from bridge.snapshot.incremental.sql import chunk_query
from bridge.snapshot.incremental.tables import SnapshotTable, TableRef
from bridge.snapshot.incremental.window import ALL_VISIBLE, XidSnapshot, key_bytes, metadata
from bridge.source.catalog import TableInfo
from tests.pgoutput_encoder import encode
from tests.unit.builders import MINIMAL

SIG_OID, T_OID = 500, 600
PROGRESS_ID = "pgbridge-progress-test"
SIGNAL = m.Relation(SIG_OID, "public", "dbz_signal", "d", (
    m.RelationColumn(True, "id", 1043, -1), m.RelationColumn(False, "type", 1043, -1),
    m.RelationColumn(False, "data", 1043, -1)))
TABLE = m.Relation(T_OID, "public", "t", "d", (
    m.RelationColumn(True, "id", 23, -1), m.RelationColumn(False, "v", 25, -1)))
_decode = PgOutputDecoder(proto_version=1).decode


class FakeDb:
    """The table `public.t` as {id: v}, and the signal rows the snapshot writes."""

    def __init__(self, rows: dict[int, str]) -> None:
        self.rows = dict(rows)
        self.signals: list[tuple[str, str, str]] = []
        self.xids = ALL_VISIBLE  # what the next chunk's SELECT "saw"
        self.reads = 0
        self.progress: dict[str, str] = {}  # the progress rows, by id
        self.progress_writes = 0

    def save_progress(self, id_, data):
        self.progress[id_] = data
        self.progress_writes += 1

    def load_progress(self, id_):
        return self.progress.get(id_)

    def insert_signal(self, id_, type_, data):
        self.signals.append((id_, type_, data))

    def published_tables(self):
        return [TableRef("public", "dbz_signal", SIG_OID, "r"), TableRef("public", "t", T_OID, "r")]

    def relation(self, ref):
        assert ref.oid == T_OID
        return TABLE

    def type_names(self, columns):
        return ["integer" for _ in columns]

    def max_key(self, table):
        return (str(max(self.rows)),) if self.rows else None

    def read_chunk(self, table, limit):
        self.reads += 1
        low = int(table.last_key[0]) if table.last_key else -1
        high = int(table.max_key[0])
        keys = sorted(k for k in self.rows if low < k <= high)[:limit]
        return [(str(k).encode(), self.rows[k].encode()) for k in keys], self.xids

    def row_count(self, table):
        return sum(1 for k in self.rows if k <= int(table.max_key[0]))


class Stream:
    """Feeds the router pgoutput messages in WAL order, one transaction at a time."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.lsn = 1000
        self.xid = 700

    def txn(self, *changes, xid: int | None = None) -> int:
        self.xid += 1
        self.lsn += 100
        begin = self.lsn
        self.router.handle(encode(m.Begin(begin + 90, 1_700_000_000_000_000, xid or self.xid)), begin)
        for i, change in enumerate(changes):
            self.router.handle(encode(change), begin + 1 + i)
        self.router.handle(encode(m.Commit(0, begin + 90, begin + 99, 1_700_000_000_000_000)), begin + 99)
        return begin

    def signal(self, id_: str, type_: str, data: str | None = None, xid: int | None = None) -> int:
        return self.txn(m.Insert(SIG_OID, (id_.encode(), type_.encode(), None if data is None else data.encode())),
                        xid=xid)

    def watermark(self, db: FakeDb, index: int) -> int:
        """The watermark `db.signals[index]` arriving in the stream."""
        return self.signal(*db.signals[index])


class Acks:
    """The coordinator's safe LSN, set by the test."""

    def __init__(self) -> None:
        self.lsn = 1 << 63  # everything acked unless a test says otherwise

    def __call__(self) -> int:
        return self.lsn


def make(rows: dict[int, str] | None = None, chunk_size: int = 3, describe_table: bool = True,
         db: FakeDb | None = None, acks: Acks | None = None, machine: dict | None = None, **props):
    """`machine`: more arguments of the IncrementalSnapshot (channels, notifier)."""
    config = config_from_properties({**MINIMAL, "bridge.producers": "1", "debezium.source.topic.prefix": "p",
                                     "debezium.source.signal.data.collection": "public.dbz_signal", **props})

    def describe(relation):
        return TableInfo(("id",), frozenset({"id"}))

    db = db or FakeDb(rows if rows is not None else {i: f"v{i}" for i in range(1, 8)})
    inc = IncrementalSnapshot("public.dbz_signal", chunk_size, db, describe, acked_lsn=acks or Acks(),
                              progress_id=PROGRESS_ID, **(machine or {}))
    router = Router(config.routing, describe, inc.router_hooks())
    inc.attach(RouterEmitter(router, lambda: None))
    stream = Stream(router)
    router.handle(encode(SIGNAL), 10)
    if describe_table:
        router.handle(encode(TABLE), 11)
    return router, db, inc, stream


def execute(stream: Stream, *tables: str, **extra) -> None:
    stream.signal("ad-hoc-1", "execute-snapshot",
                  json.dumps({"data-collections": list(tables) or ["public.t"], "type": "incremental", **extra}))


def take(router: Router):
    """The records written so far (one producer), as (kind, half, lsn, row values or None); cleared."""
    out = []
    builder = router.builders[0]
    for r in iter_records(memoryview(bytes(builder.buffer))):
        kind, half, _, lsn, _ = rec.HEADER.unpack_from(r)
        payload = bytes(r[rec.HEADER_SIZE:])
        values = None
        if kind in (rec.ROW, rec.SNAPSHOT_ROW):
            msg = _decode(payload)
            values = getattr(msg, "new", None) or getattr(msg, "old", None)
        out.append((kind, half, lsn, values))
    builder.clear()
    return out


def snapshot_rows(records) -> list[tuple]:
    return [v for kind, half, _, v in records if kind == rec.SNAPSHOT_ROW]


def test_chunk_rows_go_out_at_the_close_watermark_inside_its_transaction_minus_keys_changed_in_the_window():
    router, db, inc, stream = make()
    execute(stream)
    inc.tick()
    # GIVEN a chunk read between the two watermarks the snapshot wrote
    assert [(i.rsplit("-", 1)[1], t) for i, t, _ in db.signals] == [
        ("open", "snapshot-window-open"), ("close", "snapshot-window-close")]
    stream.watermark(db, 0)
    # WHEN key 2 changes and key 3 is deleted inside the window
    stream.txn(m.Update(T_OID, None, None, (b"2", b"changed")))
    stream.txn(m.Delete(T_OID, "K", (b"3", None)))
    take(router)
    close_lsn = stream.watermark(db, 1)
    # THEN only key 1 is emitted, as an incremental snapshot row, inside the close transaction
    records = take(router)
    kinds = [k for k, *_ in records]
    assert kinds == [rec.BEGIN, rec.SNAPSHOT_ROW, rec.ROW, rec.COMMIT]
    _, half, lsn, values = records[1]
    assert values == (b"1", b"v1") and rec.SNAPSHOT_MARKERS[half] == "incremental" and lsn == close_lsn + 1
    assert records[2][3][1] == b"snapshot-window-close"  # the signal table's own event is emitted too


def test_change_before_the_open_watermark_keeps_the_row_unless_the_chunk_did_not_see_it():
    router, db, inc, stream = make()
    execute(stream)
    db.xids = XidSnapshot(900, 905, frozenset({902}))  # the chunk's SELECT did not see xid 902
    inc.tick()
    # GIVEN changes committed before the open watermark: one seen by the SELECT, one not
    stream.txn(m.Update(T_OID, None, None, (b"1", b"seen")), xid=901)
    stream.txn(m.Update(T_OID, None, None, (b"2", b"unseen")), xid=902)
    stream.watermark(db, 0)
    take(router)
    stream.watermark(db, 1)
    # THEN the row the SELECT read after change 901 stays; the one older than change 902 is dropped
    assert snapshot_rows(take(router)) == [(b"1", b"v1"), (b"3", b"v3")]


def test_primary_key_change_in_the_window_drops_both_keys():
    router, db, inc, stream = make()
    execute(stream)
    inc.tick()
    stream.watermark(db, 0)
    stream.txn(m.Update(T_OID, "K", (b"1", None), (b"3", b"moved")))
    take(router)
    stream.watermark(db, 1)
    assert snapshot_rows(take(router)) == [(b"2", b"v2")]


def test_whole_table_in_key_order_chunk_by_chunk_up_to_the_key_fixed_at_the_start(caplog):
    caplog.set_level(logging.INFO, "bridge.snapshot.incremental")
    router, db, inc, stream = make()
    execute(stream)
    emitted = []
    for _ in range(10):
        before = len(db.signals)
        inc.tick()
        if len(db.signals) == before:
            break
        db.rows[100] = "beyond the maximum"  # inserted after the start: left to the stream
        for i in range(before, len(db.signals)):
            stream.watermark(db, i)
        emitted += snapshot_rows(take(router))
    assert [int(k) for k, _ in emitted] == [1, 2, 3, 4, 5, 6, 7]
    assert not inc.running
    assert "incremental snapshot of public.t done: 7 rows" in caplog.text
    assert "incremental snapshot completed" in caplog.text


def test_stop_snapshot_takes_effect_at_the_next_chunk_boundary():
    router, db, inc, stream = make()
    execute(stream)
    inc.tick()
    stream.signal("stop-1", "stop-snapshot", json.dumps({"data-collections": ["public.t"], "type": "incremental"}))
    inc.tick()  # a chunk is in flight: nothing happens yet
    stream.watermark(db, 0)
    take(router)
    stream.watermark(db, 1)
    assert len(snapshot_rows(take(router))) == 3  # the buffered chunk still goes out, as in Debezium
    inc.tick()
    assert not inc.running and len(db.signals) == 2  # no further chunk


def test_pause_and_resume():
    _router, db, inc, stream = make()
    execute(stream)
    stream.signal("p", "pause-snapshot", "{}")
    inc.tick()
    assert db.signals == [] and inc.running
    stream.signal("r", "resume-snapshot", "{}")
    inc.tick()
    assert len(db.signals) == 2


def test_watermarks_of_a_snapshot_this_process_does_not_run_are_ignored(caplog):
    caplog.set_level(logging.DEBUG, "bridge.snapshot.incremental")
    # GIVEN a restart: the stream replays watermarks of the snapshot the previous process ran
    router, _db, inc, stream = make()
    stream.signal("0f0e-open", "snapshot-window-open", "{}")
    stream.signal("0f0e-close", "snapshot-window-close", "{}")
    stream.signal("0f0f-open", "snapshot-window-open", "{}")
    # THEN they are ignored, said once at info level, then at debug
    assert not snapshot_rows(take(router)) and not inc.running
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(infos) == 1 and "'0f0e-open' is not of a chunk this process reads" in infos[0]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_table_the_stream_has_not_described_yet_gets_a_relation_first():
    router, db, inc, stream = make(describe_table=False)
    execute(stream)
    inc.tick()
    stream.watermark(db, 0)
    take(router)
    stream.watermark(db, 1)
    kinds = [k for k, *_ in take(router)]
    assert kinds[:3] == [rec.RELATION, rec.BEGIN, rec.SNAPSHOT_ROW]  # relations go straight to every ring


def test_shape_change_during_the_window_reads_the_chunk_again():
    router, db, inc, stream = make()
    execute(stream)
    inc.tick()
    stream.watermark(db, 0)
    wider = m.Relation(T_OID, "public", "t", "d", TABLE.columns + (m.RelationColumn(False, "w", 23, -1),))
    stream.txn(wider, m.Insert(T_OID, (b"50", b"x", b"1")))
    take(router)
    stream.watermark(db, 1)
    assert snapshot_rows(take(router)) == []
    inc.tick()  # the same chunk again, in the new shape
    assert db.reads == 2 and len(db.signals) == 4


def test_truncate_in_the_window_empties_the_chunk():
    router, db, inc, stream = make(**{"debezium.source.skipped.operations": "none"})
    execute(stream)
    inc.tick()
    stream.watermark(db, 0)
    stream.txn(m.Truncate((T_OID,), 0))
    take(router)
    stream.watermark(db, 1)
    assert snapshot_rows(take(router)) == []


def test_signal_table_is_captured_even_when_the_filters_leave_it_out():
    router, db, inc, stream = make(**{"debezium.source.table.include.list": r"public\.t"})
    execute(stream)
    inc.tick()
    assert len(db.signals) == 2
    assert any(k == rec.ROW for k, *_ in take(router))  # the signal's own event


def test_signals_that_are_not_for_incremental_snapshots_are_ignored(caplog):
    _router, db, inc, stream = make()
    stream.signal("b", "execute-snapshot", json.dumps({"data-collections": ["public.t"], "type": "blocking"}))
    stream.signal("x", "execute-snapshot", "not json")
    stream.signal("y", "execute-snapshot", json.dumps({"data-collections": ["public.nope"]}))
    stream.signal("z", "something-else", "{}")
    inc.tick()
    assert db.signals == [] and not inc.running
    assert "blocking" in caplog.text and "not a JSON object" in caplog.text and "public.nope" in caplog.text


def test_key_bytes_are_the_routing_key_of_the_same_row():
    cache = RelationCache()
    cache.add(TABLE, ("id",))
    row = (b"42", b"x")
    assert key_bytes(row, (0,)) == extract_key(wire.insert(T_OID, row), cache)[2]
    assert key_bytes((None, b"x"), (0,)) == b"n"


def test_xid_snapshot_visibility_across_an_epoch():
    snap = XidSnapshot.parse("4294967290:4294967300:4294967295")  # xmax is in epoch 1
    assert snap.visible(4294967289 & 0xFFFFFFFF)  # below xmin: committed before
    assert not snap.visible(4294967295 & 0xFFFFFFFF)  # in progress
    assert snap.visible(4294967296 & 0xFFFFFFFF)  # epoch 1, xid 0: committed
    assert not snap.visible(4294967301 & 0xFFFFFFFF)  # started after the snapshot


def test_chunk_query():
    table = SnapshotTable(TableRef("public", "t", T_OID, "r"), condition="v <> 'x'", relation=TABLE,
                          key_columns=("id",), key_types=("integer",), max_key=("7",), last_key=(b"3",))
    mogrify = lambda sql, args: sql % tuple(f"'{a}'" for a in args)  # noqa: E731
    assert chunk_query(table, 3, mogrify, ("3",)) == (
        'SELECT "id", "v" FROM ONLY "public"."t" WHERE ("id") > (\'3\'::integer) AND ("id") <= (\'7\'::integer) '
        "AND (v <> 'x') ORDER BY \"id\" LIMIT 3")


def test_watermark_data_is_debeziums_signal_metadata():
    assert metadata(1_700_000_000.5, 1_700_000_001.123456, "sig-1", "public.t") == (
        '{"openWindowTimestamp": "2023-11-14T22:13:20.500Z", "closeWindowTimestamp": "2023-11-14T22:13:21.123456Z", '
        '"correlationId": "sig-1", "dataCollectionId": "public.t"}')


def test_config_keys():
    config = config_from_properties({**MINIMAL, "debezium.source.signal.data.collection": "public.sig",
                                     "debezium.source.incremental.snapshot.chunk.size": "10"})
    assert (config.incremental.signal_table, config.incremental.chunk_size) == ("public.sig", 10)
    assert config_from_properties(MINIMAL).incremental.signal_table is None
    assert config_from_properties(MINIMAL).incremental.chunk_size == 1024
    with pytest.raises(ConfigError, match="insert_insert"):
        config_from_properties({**MINIMAL, "debezium.source.incremental.snapshot.watermarking.strategy":
                                "insert_delete"})
    with pytest.raises(ConfigError, match="schema"):
        config_from_properties({**MINIMAL, "debezium.source.signal.data.collection": "sig"})


# -- resuming after a restart ------------------------------------------------------------------------

def run_chunk(inc, db, stream, router) -> tuple[list[int], int | None]:
    """One tick and the watermarks it wrote streamed back: (keys emitted, close watermark's LSN)."""
    before = len(db.signals)
    inc.tick()
    close_lsn = None
    for i in range(before, len(db.signals)):
        lsn = stream.watermark(db, i)
        if db.signals[i][1] == "snapshot-window-close":
            close_lsn = lsn + 1  # the watermark's Insert, first change of its transaction
    return [int(k) for k, _ in snapshot_rows(take(router))], close_lsn


def stored(db) -> dict:
    return json.loads(db.progress[PROGRESS_ID])


def test_progress_is_stored_as_of_the_oldest_chunk_kafka_has_not_acked_and_a_restart_goes_on_from_there():
    acks = Acks()
    acks.lsn = 0  # nothing acked yet
    router, db, inc, stream = make(acks=acks)
    execute(stream)
    assert run_chunk(inc, db, stream, router)[0] == [1, 2, 3]
    first_close = stream.lsn + 1
    assert run_chunk(inc, db, stream, router)[0] == [4, 5, 6]
    # Neither chunk is acked: a restart would read the table from its start (up to the fixed max key).
    assert stored(db)["tables"] == [{"table": "public.t", "condition": None, "signal": "ad-hoc-1",
                                     "max_key": ["7"], "last_key": None}]
    # WHEN Kafka acks the first chunk's transaction
    acks.lsn = first_close + 1
    assert run_chunk(inc, db, stream, router)[0] == [7]  # stored before this chunk starts
    assert stored(db)["tables"][0]["last_key"] == ["3"]
    # THEN after a crash a new process resumes after key 3: chunk 2 again (at least once), never chunk 1
    router2, _, inc2, stream2 = make(db=db)
    inc2.resume()
    assert inc2.running
    emitted = []
    for _ in range(5):
        emitted += run_chunk(inc2, db, stream2, router2)[0]
    assert emitted == [4, 5, 6, 7] and not inc2.running


def test_completed_snapshot_leaves_nothing_to_resume_once_acked():
    acks = Acks()
    acks.lsn = 0
    router, db, inc, stream = make(acks=acks)
    execute(stream)
    for _ in range(5):
        run_chunk(inc, db, stream, router)
    assert not inc.running
    assert stored(db)["tables"][0]["last_key"] is None  # completed, but nothing acked yet
    acks.lsn = 1 << 63
    inc.tick()
    assert stored(db)["tables"] == []
    router2, _, inc2, stream2 = make(db=db)
    inc2.resume()
    assert not inc2.running and run_chunk(inc2, db, stream2, router2) == ([], None)


def test_stop_snapshot_empties_the_stored_progress():
    router, db, inc, stream = make()
    execute(stream)
    run_chunk(inc, db, stream, router)
    assert stored(db)["tables"]
    stream.signal("stop-1", "stop-snapshot", json.dumps({"type": "incremental"}))
    inc.tick()
    assert stored(db)["tables"] == []


def test_replayed_signal_does_not_queue_a_resumed_table_twice():
    router, db, inc, stream = make()
    execute(stream)
    run_chunk(inc, db, stream, router)  # keys 1..3, acked
    inc.tick()
    router2, _, inc2, stream2 = make(db=db)
    inc2.resume()
    execute(stream2)  # the signal's transaction was not confirmed: the stream brings it again
    emitted = []
    for _ in range(5):
        emitted += run_chunk(inc2, db, stream2, router2)[0]
    assert emitted == [4, 5, 6, 7]


def test_pause_survives_a_restart():
    router, db, inc, stream = make()
    execute(stream)
    run_chunk(inc, db, stream, router)
    stream.signal("p", "pause-snapshot", "{}")
    inc.tick()
    router2, _, inc2, stream2 = make(db=db)
    inc2.resume()
    assert inc2.running and run_chunk(inc2, db, stream2, router2) == ([], None)
    stream2.signal("r", "resume-snapshot", "{}")
    assert run_chunk(inc2, db, stream2, router2)[0] == [4, 5, 6]


def test_a_new_slot_clears_the_stored_progress():
    router, db, inc, stream = make()
    execute(stream)
    run_chunk(inc, db, stream, router)
    router2, _, inc2, stream2 = make(db=db)
    inc2.resume(new_slot=True)
    assert not inc2.running and run_chunk(inc2, db, stream2, router2) == ([], None)
    assert stored(db)["tables"] == []


def test_progress_that_cannot_be_stored_is_warned_about_once_and_the_snapshot_runs_on(caplog):
    import psycopg2

    class NoUpdate(FakeDb):
        def save_progress(self, id_, data):
            raise psycopg2.errors.InsufficientPrivilege("permission denied for table dbz_signal")

    router, db, inc, stream = make(db=NoUpdate({i: f"v{i}" for i in range(1, 8)}))
    execute(stream)
    emitted = []
    for _ in range(5):
        emitted += run_chunk(inc, db, stream, router)[0]
    assert emitted == [1, 2, 3, 4, 5, 6, 7]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "cannot store its progress" in warnings[0] and "permission denied" in warnings[0]


def test_unreadable_progress_is_not_resumed(caplog):
    db = FakeDb({1: "a"})
    db.progress[PROGRESS_ID] = '{"version": 99, "tables": []}'
    _router, _, inc, _ = make(db=db)
    inc.resume()
    assert not inc.running
    assert "is not readable (version 99)" in caplog.text


def test_progress_id_fits_debeziums_recommended_id_column():
    assert progress_id("debezium") == "pgbridge-progress-debezium"
    long = progress_id("s" * 63)
    assert len(long) <= 42 and long != progress_id("t" * 63)


def test_stored_progress_reads_without_a_running_snapshot():
    router, db, inc, stream = make()
    execute(stream)
    run_chunk(inc, db, stream, router)
    inc.tick()  # the chunk is acked: the progress goes on after it
    assert parse_progress(db.progress[PROGRESS_ID]) == StoredProgress(
        paused=False, tables=(StoredTable("public.t", None, "ad-hoc-1", ["7"], ["3"]),))
    with pytest.raises(ValueError, match="version 99"):
        parse_progress('{"version": 99, "tables": []}')
    with pytest.raises(ValueError):
        parse_progress('{"version": 1, "tables": [{"condition": null}]}')


# -- signal channels and notifications ----------------------------------------------------------------

class Notes:
    """A notifier that keeps what it is sent."""

    def __init__(self) -> None:
        self.sent = []

    def send(self, notification) -> None:
        self.sent.append(notification)

    def take(self) -> list[tuple]:
        """(type, additional_data without connector_name, id) of each notification; cleared."""
        out = [(n.type, {k: v for k, v in n.additional_data if k != "connector_name"}, n.id) for n in self.sent]
        self.sent.clear()
        return out


class QueueChannel:
    """A signal channel fed by the test, recording what the machine tells it."""

    name = "kafka"

    def __init__(self) -> None:
        self.arrived: list = []
        self.acted_at: list[int] = []
        self.stored_at: list[int] = []
        self.closed = False

    def read(self):
        out, self.arrived = self.arrived, []
        return out

    def acted(self, generation):
        self.acted_at.append(generation)

    def stored(self, generation):
        self.stored_at.append(generation)

    def close(self):
        self.closed = True


def run_all(inc, db, stream, router, ticks: int = 6) -> list[int]:
    emitted = []
    for _ in range(ticks):
        emitted += run_chunk(inc, db, stream, router)[0]
    return emitted


def test_notifications_of_an_incremental_snapshot_are_debeziums_steps():
    notes = Notes()
    router, db, inc, stream = make(machine={"notifier": notes, "connector": "p"})
    execute(stream)
    assert run_all(inc, db, stream, router) == [1, 2, 3, 4, 5, 6, 7]
    t = "public.t"
    progress = {"data_collections": t, "current_collection_in_progress": t, "maximum_key": "7", "total_rows": "7",
                "total_chunks": "3"}
    assert notes.take() == [
        ("STARTED", {"data_collections": t}, "ad-hoc-1"),
        ("DATA_COLLECTIONS_RESOLVED", {"data_collections": t}, "ad-hoc-1"),
        ("IN_PROGRESS", {**progress, "last_processed_key": "3", "chunk_index": "1"}, "ad-hoc-1"),
        ("IN_PROGRESS", {**progress, "last_processed_key": "6", "chunk_index": "2"}, "ad-hoc-1"),
        ("IN_PROGRESS", {**progress, "last_processed_key": "7", "chunk_index": "3"}, "ad-hoc-1"),
        ("TABLE_SCAN_COMPLETED", {"data_collections": t, "scanned_collection": t, "total_rows_scanned": "7",
                                  "status": "SUCCEEDED", "total_rows": "7"}, "ad-hoc-1"),
        ("COMPLETED", {}, "ad-hoc-1"),
    ]


def test_notifications_of_an_empty_table_pause_resume_and_stop():
    notes = Notes()
    router, db, inc, stream = make(rows={}, machine={"notifier": notes, "connector": "p"})
    execute(stream)
    run_all(inc, db, stream, router, ticks=2)
    assert [(k, d) for k, d, _ in notes.take()][2:] == [
        ("TABLE_SCAN_COMPLETED", {"data_collections": "public.t", "scanned_collection": "public.t",
                                  "total_rows_scanned": "0", "status": "EMPTY"}), ("COMPLETED", {})]
    db.rows = {i: "v" for i in range(1, 8)}
    execute(stream)
    run_chunk(inc, db, stream, router)
    notes.take()
    stream.signal("p1", "pause-snapshot", "{}")
    stream.signal("p2", "pause-snapshot", "{}")  # already paused: nothing to say
    inc.tick()
    stream.signal("r1", "resume-snapshot", "{}")
    run_chunk(inc, db, stream, router)
    assert [(k, d, i) for k, d, i in notes.take()][:2] == [
        ("PAUSED", {"data_collections": "public.t"}, "ad-hoc-1"), ("RESUMED", {"data_collections": "public.t"},
                                                                   "ad-hoc-1")]
    stream.signal("s1", "stop-snapshot", json.dumps({"data-collections": ["public.t"], "type": "incremental"}))
    run_chunk(inc, db, stream, router)
    (completed, aborted) = notes.take()
    # the table being read is stopped: Debezium moves past it (COMPLETED, the last table), then
    # reports the stop under a new id, the snapshot's correlation id being gone
    assert completed == ("COMPLETED", {}, "ad-hoc-1")
    assert aborted[:2] == ("ABORTED", {"data_collections": "public.t"}) and aborted[2] != "ad-hoc-1"


def test_signals_of_another_channel_run_snapshots_and_are_stored_before_it_commits():
    kafka = QueueChannel()
    acks = Acks()
    acks.lsn = 0
    router, db, inc, stream = make(acks=acks, machine={"channels": [kafka]})
    kafka.arrived = [Signal("execute-snapshot", "k1", {"data-collections": ["public.t"]})]
    assert run_chunk(inc, db, stream, router)[0] == [1, 2, 3]
    # the queue holding public.t is stored before the first chunk is read: the signal's effect survives
    acted = kafka.acted_at[-1]
    assert acted > 0 and kafka.stored_at[-1] >= acted
    assert stored(db)["tables"][0]["signal"] == "k1"
    # a signal that arrives while a chunk is unacked is not stored until that chunk is acked
    kafka.arrived = [Signal("pause-snapshot", None, {})]
    run_chunk(inc, db, stream, router)
    assert kafka.stored_at[-1] < kafka.acted_at[-1] and not stored(db)["paused"]
    acks.lsn = 1 << 63
    inc.tick()
    assert kafka.stored_at[-1] >= kafka.acted_at[-1] and stored(db)["paused"]
    inc.close()
    assert kafka.closed


def test_signals_inserted_into_the_table_are_ignored_without_the_source_channel():
    kafka = QueueChannel()
    router, db, inc, stream = make(machine={"source_channel": False, "channels": [kafka]})
    execute(stream)
    assert run_chunk(inc, db, stream, router) == ([], None) and not inc.running
    kafka.arrived = [Signal("execute-snapshot", None, {"data-collections": ["public.t"]})]
    # its watermarks still are read from the stream
    assert run_all(inc, db, stream, router) == [1, 2, 3, 4, 5, 6, 7]
