"""The decoder's assembly (`bridge.proc.decoder_build`): which hooks the router gets, and that
the incremental snapshot reads signals and emits its chunks through the built router."""

from __future__ import annotations

import json
from types import SimpleNamespace

from bridge.config import config_from_properties
from bridge.pgoutput import messages as m
from bridge.proc import decoder_build
from bridge.proc.decoder_build import build_decoder
from bridge.ring.records import iter_records
from bridge.route import records as rec
from bridge.route.router import Router
from bridge.snapshot.incremental.tables import TableRef
from bridge.snapshot.incremental.window import ALL_VISIBLE
from bridge.source.catalog import TableInfo
from tests.pgoutput_encoder import encode

PROPS = {
    "debezium.sink.kafka.producer.bootstrap.servers": "127.0.0.1:9092",
    "debezium.source.database.hostname": "db.example", "debezium.source.database.user": "u",
    "debezium.source.database.dbname": "d", "debezium.source.topic.prefix": "p", "bridge.producers": "1",
}
SIGNAL = m.Relation(500, "public", "sig", "d", (
    m.RelationColumn(True, "id", 1043, -1), m.RelationColumn(False, "type", 1043, -1),
    m.RelationColumn(False, "data", 1043, -1)))
TABLE = m.Relation(600, "public", "t", "d", (
    m.RelationColumn(True, "id", 23, -1), m.RelationColumn(False, "v", 25, -1)))


class Catalog:
    """`sql` for `describe_table`'s queries is never reached: tables are described by this."""


class SignalDb:
    """`PostgresDatabase` of a signal table and one table `public.t` of two rows."""

    def __init__(self, *args) -> None:
        self.signals: list[tuple[str, str, str]] = []

    def check_signal_table(self):
        pass

    def close(self):
        pass

    def load_progress(self, id_):
        return None

    def save_progress(self, id_, data):
        pass

    def insert_signal(self, id_, type_, data):
        self.signals.append((id_, type_, data))

    def published_tables(self):
        return [TableRef("public", "t", 600, "r")]

    def relation(self, ref):
        return TABLE

    def type_names(self, columns):
        return ["integer" for _ in columns]

    def max_key(self, table):
        return ("2",)

    def read_chunk(self, table, limit):
        return [(b"1", b"a"), (b"2", b"b")], ALL_VISIBLE


def describe(monkeypatch):
    monkeypatch.setattr(decoder_build, "describe_table", lambda sql, rel, filters: TableInfo(("id",), frozenset()))


def test_without_cutover_or_signal_table_the_router_has_no_hooks_and_the_tick_is_the_callers():
    ticks = []
    decoder = build_decoder(config_from_properties(PROPS), [], None, Catalog(), on_tick=lambda: ticks.append(1))
    assert decoder.cutover is None and decoder.incremental is None and not decoder.streaming
    assert decoder.router.handle.__func__ is Router.handle
    decoder.dispatcher._on_tick()
    assert ticks == [1]


def test_cutover_filter_is_the_routers_drop_hook(monkeypatch):
    asked = []
    monkeypatch.setattr(decoder_build, "confirmed_flush_lsn", lambda sql, slot: 100)
    monkeypatch.setattr(decoder_build, "resume_filter", lambda cfg, kafka, confirmed: (
        lambda kind, payload, lsn: asked.append((kind, lsn, confirmed)) or False))
    config = config_from_properties({**PROPS, "bridge.cutover.offsets.file": "/nonexistent"})
    decoder = build_decoder(config, [], None, Catalog())
    assert decoder.cutover is not None
    describe(monkeypatch)
    decoder.router.handle(encode(TABLE), 120)
    assert asked == [(ord("R"), 120, 100)]


def test_incremental_snapshot_reads_signals_and_emits_chunks_through_the_built_router(monkeypatch):
    monkeypatch.setattr(decoder_build, "PostgresDatabase", SignalDb)
    describe(monkeypatch)
    decoder = build_decoder(config_from_properties({**PROPS, "debezium.source.signal.data.collection": "public.sig"}),
                            [], SimpleNamespace(safe_lsn=0), Catalog())
    router, db = decoder.router, decoder.incremental._db
    router.handle(encode(SIGNAL), 10)
    router.handle(encode(TABLE), 11)

    def txn(lsn, *rows):
        router.handle(encode(m.Begin(lsn + 9, 1_700_000_000_000_000, lsn)), lsn)
        for i, (id_, type_, data) in enumerate(rows):
            router.handle(encode(m.Insert(500, (id_.encode(), type_.encode(), data.encode()))), lsn + 1 + i)
        router.handle(encode(m.Commit(0, lsn + 9, lsn + 10, 1_700_000_000_000_000)), lsn + 10)

    txn(100, ("s1", "execute-snapshot", json.dumps({"data-collections": ["public.t"]})))
    decoder.dispatcher._on_tick()  # the incremental snapshot's turn: it reads a chunk between its markers
    assert [t for _, t, _ in db.signals] == ["snapshot-window-open", "snapshot-window-close"]
    router.builders[0].clear()
    txn(200, db.signals[0])
    txn(300, db.signals[1])
    snapshot_rows = [bytes(r) for r in iter_records(memoryview(bytes(router.builders[0].buffer)))
                     if r[0] == rec.SNAPSHOT_ROW]
    assert len(snapshot_rows) == 2 and decoder.incremental.rows_emitted == 2


def test_the_kafka_channel_and_the_notifier_are_built_in_the_decoder_and_closed_with_it(monkeypatch):
    made = {}

    class Channel:
        name = "kafka"

        def __init__(self, config, poll_interval_s):
            made["channel"] = (config.topic, poll_interval_s)
            self.closed = False

        def read(self):
            return []

        def acted(self, generation):
            pass

        def stored(self, generation):
            pass

        def close(self):
            made["channel closed"] = True

    class Notifier:
        def poll(self):
            made["polled"] = made.get("polled", 0) + 1

        def close(self):
            made["notifier closed"] = True

    monkeypatch.setattr(decoder_build, "PostgresDatabase", SignalDb)
    monkeypatch.setattr(decoder_build, "KafkaChannel", Channel)
    monkeypatch.setattr(decoder_build, "build_notifier", lambda config, kafka, events: Notifier())
    monkeypatch.setattr(decoder_build, "ReplicationStream", lambda *a, **k: SimpleNamespace(close=lambda: None))
    config = config_from_properties({
        **PROPS, "debezium.source.signal.data.collection": "public.sig",
        "debezium.source.signal.enabled.channels": "kafka", "debezium.source.signal.kafka.bootstrap.servers": "k:1",
        "debezium.source.signal.poll.interval.ms": "200", "debezium.source.notification.enabled.channels": "log"})
    decoder = build_decoder(config, [], SimpleNamespace(safe_lsn=0), Catalog())
    assert made == {"channel": ("p-signal", 0.2)}
    assert decoder.incremental._source is None  # kafka only: rows inserted into the signal table are not signals
    decoder.dispatcher._on_tick()
    assert made["polled"] == 1  # delivery reports are served between stream reads
    decoder.close()
    assert made["channel closed"] and made["notifier closed"]
