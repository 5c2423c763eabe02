"""Notifications (`bridge.notify`): Java's map order, the notifications Debezium 3.7 sends about
snapshots (against records a real Debezium wrote, tests/data/notifications), their records on the
sink topic, the log line, and the settings."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from bridge.config import config_from_properties
from bridge.errors import ConfigError
from bridge.format.json import JsonConverter
from bridge.format.converter import Converters
from bridge.kafka.settings import KafkaSettings
from bridge.notify import channels
from bridge.notify.channels import LogChannel, Notifier, build_notifier
from bridge.notify.java_order import JavaHashMap, hash_set_order, string_hash, string_order
from bridge.notify.notification import (IncrementalSnapshotNotifications, InitialSnapshotNotifications, Notification,
                                        TableProgress, java_key_text)
from bridge.notify.record import NotificationRecords
from bridge.notify.settings import NotificationConfig
from tests.unit.builders import MINIMAL

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "notifications" / "debezium-3.7.0.jsonl"
S = "sx2_s"  # the schema of the golden run (connector sx2, tables a (5 rows), b (3), empty, signal table sig)


def test_java_string_hash_and_hash_map_order():
    assert string_hash("hello") == 99162322 and string_hash("") == 0
    assert string_hash("é😀") == (0xE9 * 31 * 31 + 0xD83D * 31 + 0xDE00) & 0xFFFFFFFF  # UTF-16 code units
    # 16 buckets at the first put; entries of one bucket keep their insertion order
    made = JavaHashMap()
    for key in ("data_collections", "status", "connector_name"):
        made.put(key, "x")
    assert [k for k, _ in made.items()] == ["connector_name", "data_collections", "status"]
    made = JavaHashMap()
    for key in ("status", "data_collections"):
        made.put(key, "x")
    assert [k for k, _ in made.items()] == ["status", "data_collections"]  # same bucket
    assert str(made) == "{status=x, data_collections=x}"


def test_copy_constructor_presizes_and_resizes_like_jdk17():
    # Map.of(k, v) copied: 2 slots, then a third entry doubles it to 4
    made = JavaHashMap.copy_of([("data_collections", "a")])
    made.put("connector_name", "p")
    assert [k for k, _ in made.items()] == ["connector_name", "data_collections"]
    # a map of 5 entries in 16 slots copied into 8 slots: total_rows, data_collections and status share a bucket
    source = JavaHashMap()
    for key in ("data_collections", "scanned_collection", "total_rows_scanned", "status", "total_rows"):
        source.put(key, "x")
    copy = JavaHashMap.copy_of(source.items())
    copy.put("connector_name", "p")
    assert [k for k, _ in copy.items()] == ["scanned_collection", "connector_name", "total_rows_scanned", "total_rows",
                                            "data_collections", "status"]


def test_hash_set_and_tree_set_orders_are_javas():
    # as Debezium 3.7 wrote them in three runs (IN_PROGRESS data_collections of the initial snapshot)
    assert hash_set_order(["sx1_s.a", "sx1_s.b", "sx1_s.empty"]) == ["sx1_s.a", "sx1_s.b", "sx1_s.empty"]
    assert hash_set_order(["sx2_s.a", "sx2_s.b", "sx2_s.empty"]) == ["sx2_s.empty", "sx2_s.b", "sx2_s.a"]
    assert hash_set_order(["sx3_s.a", "sx3_s.b", "sx3_s.empty"]) == ["sx3_s.a", "sx3_s.empty", "sx3_s.b"]
    assert string_order(["s.b", "s.a", "S.z"]) == ["S.z", "s.a", "s.b"]


def _golden() -> list[tuple[str, str]]:
    return [(r["key"], r["value"]) for r in map(json.loads, GOLDEN.read_text().splitlines())]


def _ours() -> list[Notification]:
    """The notifications of the golden run, built by pgbridge's builders."""
    initial = InitialSnapshotNotifications("sx2")
    listed = [f"{S}.a", f"{S}.b", f"{S}.empty", f"{S}.sig"]
    read = listed[:3]
    out = [initial.started(), initial.resolved(listed)]
    for table, rows in (("a", 5), ("b", 3), ("empty", 0)):
        out += [initial.in_progress(f"{S}.{table}", read), initial.table_completed(f"{S}.{table}", rows, listed)]
    out.append(initial.completed())
    inc = IncrementalSnapshotNotifications("sx2", chunk_size=2)
    queue = [f"{S}.b", f"{S}.empty", f"{S}.a"]
    out += [inc.started("sig-1", queue), inc.resolved("sig-1", queue)]
    out += [inc.in_progress("sig-1", queue, TableProgress(f"{S}.b", "3", last, 3, scanned))
            for last, scanned in (("2", 2), ("3", 3))]
    out.append(inc.table_completed("sig-1", queue, f"{S}.b", 3, "SUCCEEDED", 3))
    out.append(inc.table_completed("sig-1", queue[1:], f"{S}.empty", 0, "EMPTY", None))
    out += [inc.in_progress("sig-1", queue[2:], TableProgress(f"{S}.a", "5", last, 5, scanned))
            for last, scanned in (("2", 2), ("4", 4), ("5", 5))]
    out += [inc.table_completed("sig-1", queue[2:], f"{S}.a", 5, "SUCCEEDED", 5), inc.completed("sig-1")]
    return out


def _masked(text: str) -> dict:
    """A record's JSON with its id and timestamp left out, `additional_data` as its (key, value)
    pairs in order."""
    doc = json.loads(text, object_pairs_hook=lambda pairs: pairs)
    doc = dict(doc)
    payload = dict(doc["payload"])
    for name in ("id", "timestamp"):
        payload.pop(name, None)
    doc["payload"] = payload
    return doc


def test_the_notifications_of_a_snapshot_are_debeziums_records_but_for_ids_and_timestamps():
    records = NotificationRecords(Converters(JsonConverter(True), JsonConverter(True)), "sx2.notify")
    golden, ours = _golden(), _ours()
    assert len(golden) == len(ours) == 20
    for (want_key, want_value), n in zip(golden, ours):
        want, got = _masked(want_value), _masked(records.value(n).decode())
        assert got["schema"] == want["schema"]
        if (n.aggregate_type, n.type) == ("Initial Snapshot", "TABLE_SCAN_COMPLETED"):
            # status and data_collections share a bucket; their order is Map.of's, drawn per JVM
            assert dict(got["payload"]["additional_data"]) == dict(want["payload"]["additional_data"])
            got["payload"].pop("additional_data")
            want["payload"].pop("additional_data")
        assert got == want, n
        key = json.loads(want_key)
        assert json.loads(records.key(n)) == {**key, "payload": {"id": n.id}}
        if n.aggregate_type == "Incremental Snapshot":  # the signal's id; the initial snapshot's are UUIDs
            assert n.id == json.loads(want_value)["payload"]["id"] == "sig-1"


def test_records_without_schemas_and_a_signal_without_id():
    records = NotificationRecords(Converters(JsonConverter(False), JsonConverter(False)), "n")
    n = IncrementalSnapshotNotifications("p", 10).completed(None)
    assert len(n.id) == 36 and n.id != IncrementalSnapshotNotifications("p", 10).completed(None).id
    assert json.loads(records.key(n)) == {"id": n.id}
    assert json.loads(records.value(n)) == {"id": n.id, "type": "COMPLETED", "aggregate_type": "Incremental Snapshot",
                                            "additional_data": {"connector_name": "p"}, "timestamp": n.timestamp}


def test_in_progress_without_a_row_count_and_key_values_as_java_prints_them():
    inc = IncrementalSnapshotNotifications("p", 2)
    n = inc.in_progress("s", ["a.t"], TableProgress("a.t", None, "1,x", None, 2))
    assert dict(n.additional_data) == {"data_collections": "a.t", "current_collection_in_progress": "a.t",
                                       "maximum_key": '"<null>"', "last_processed_key": "1,x", "connector_name": "p"}
    assert [java_key_text(v, t) for v, t in (("t", "boolean"), ("f", "boolean"), (None, "integer"), ("7", "bigint"))] \
        == ["true", "false", "<null>", "7"]
    # chunk_index never passes total_chunks (the table grew since it was counted)
    n = inc.in_progress("s", ["a.t"], TableProgress("a.t", "9", "9", 3, 9))
    assert dict(n.additional_data)["chunk_index"] == "2" == dict(n.additional_data)["total_chunks"]


def test_log_channel_writes_debeziums_line(caplog):
    n = Notification("x", "Initial Snapshot", "STARTED", (("connector_name", "p"), ("k", "v")), 17)
    with caplog.at_level(logging.INFO, logger="bridge.notify.channels"):
        LogChannel().send(n)
    assert caplog.messages == ["[Notification Service]  {id='x', aggregateType='Initial Snapshot', type='STARTED', "
                               "additionalData={connector_name=p, k=v}, timestamp=17}"]


class FakeProducer:
    def __init__(self, conf: dict) -> None:
        self.conf = conf
        self.produced: list[tuple] = []
        self.flushed = False

    def produce(self, topic, value, key, on_delivery):
        self.produced.append((topic, key, value))

    def poll(self, timeout):
        return 0

    def flush(self, timeout):
        self.flushed = True
        return 0


def test_sink_channel_produces_keyed_records_with_the_java_partitioner(monkeypatch):
    made = []

    def producer(connection, tuning, **extra):
        made.append(FakeProducer({**connection.settings, **tuning.settings, **extra}))
        return made[-1]

    monkeypatch.setattr(channels.clients, "producer", producer)
    config = config_from_properties(MINIMAL)
    notifier = build_notifier(NotificationConfig(("sink", "log"), "p.notify"), config.kafka, config.events)
    assert isinstance(notifier, Notifier)
    n = InitialSnapshotNotifications("p").started()
    notifier.send(n)
    notifier.close()
    (producer_,) = made
    assert producer_.conf["partitioner"] == "murmur2_random" and producer_.conf["acks"] == "all"
    ((topic, key, value),) = producer_.produced
    assert topic == "p.notify" and producer_.flushed
    assert json.loads(key)["payload"] == {"id": n.id} and json.loads(value)["payload"]["type"] == "STARTED"
    assert build_notifier(NotificationConfig(), KafkaSettings.split({"bootstrap.servers": "k:1"}), config.events) is None


def test_notification_settings():
    cfg = config_from_properties({**MINIMAL, "debezium.source.notification.enabled.channels": "sink, log,sink",
                                  "debezium.source.notification.sink.topic.name": "t"})
    assert cfg.notification == NotificationConfig(("sink", "log"), "t") and not cfg.keys.refused
    assert config_from_properties(MINIMAL).notification == NotificationConfig()
    # a topic without the sink channel does nothing, as in Debezium
    cfg = config_from_properties({**MINIMAL, "debezium.source.notification.enabled.channels": "log",
                                  "debezium.source.notification.sink.topic.name": "t"})
    assert cfg.notification == NotificationConfig(("log",), None) and not cfg.keys.refused
    with pytest.raises(ConfigError, match=r"notification\.sink\.topic\.name is required"):
        config_from_properties({**MINIMAL, "debezium.source.notification.enabled.channels": "sink"})
    with pytest.raises(ConfigError, match=r"jmx channel is refused: pgbridge runs no JVM.*Prometheus"):
        config_from_properties({**MINIMAL, "debezium.source.notification.enabled.channels": "log,jmx"})
    with pytest.raises(ConfigError, match=r"'com\.acme\.Pager' is refused: a custom notification channel"):
        config_from_properties({**MINIMAL, "debezium.source.notification.enabled.channels": "com.acme.Pager"})
    with pytest.raises(ConfigError, match=r"notification\.whatever is refused: not a setting"):
        config_from_properties({**MINIMAL, "debezium.source.notification.whatever": "x"})
