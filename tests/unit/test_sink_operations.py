"""What `bridge sink` tells operators: Connect's dead-letter context headers (and how a replay
reads them back, and prunes delete markers) and the metrics and health its supervisor serves."""

from __future__ import annotations

from types import SimpleNamespace

import psycopg2.errors
import pytest
from confluent_kafka import OFFSET_INVALID, TopicPartition

from bridge.sink import replay as replay_module
from bridge.sink.dlq import context_headers
from bridge.sink.records import RecordRefused
from bridge.sink.replay import DeadLetter, Replay, dead_letter, replay
from bridge.sink.stats import COUNTERS, SinkState, Stats
from bridge.status.http import respond
from tests.fakes import PruneTarget
from tests.unit.builders import sink_file_config


def test_context_headers_are_connects_names_and_strings():
    try:
        raise psycopg2.errors.StringDataRightTruncation("value too long for type character varying(3)")
    except psycopg2.Error as cause:
        error = RecordRefused("t: value too long", "TASK_PUT", cause)
    headers = dict(context_headers(error, "srv.public.t", 2, 41, "orders-sink", 0))
    assert list(headers) == [f"__connect.errors.{n}" for n in (
        "topic", "partition", "offset", "connector.name", "task.id", "stage", "class.name", "exception.class.name",
        "exception.message", "exception.stacktrace")]
    assert headers["__connect.errors.partition"] == b"2" and headers["__connect.errors.offset"] == b"41"
    assert headers["__connect.errors.class.name"] == b"io.debezium.connector.jdbc.JdbcSinkConnectorTask"
    assert headers["__connect.errors.exception.class.name"] == b"psycopg2.errors.StringDataRightTruncation"
    assert headers["__connect.errors.exception.message"] == b"t: value too long"
    assert b"StringDataRightTruncation" in headers["__connect.errors.exception.stacktrace"]
    converter = dict(context_headers(RecordRefused("bad json", "VALUE_CONVERTER"), "t", 0, 0, "s", 1))
    assert converter["__connect.errors.class.name"] == b"org.apache.kafka.connect.json.JsonConverter"
    assert converter["__connect.errors.exception.class.name"] == b"bridge.sink.records.RecordRefused"


class _DeadLetterMessage:
    def __init__(self, headers) -> None:
        self._headers = headers

    def headers(self):
        return self._headers

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 7

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes:
        return b"v"


def test_a_replay_reads_the_original_coordinates_back_from_the_context_headers():
    headers = [("app", b"x"), *context_headers(RecordRefused("no"), "srv.public.t", 2, 41, "orders-sink", 0)]
    assert dead_letter(_DeadLetterMessage(headers)) == DeadLetter(0, 7, ("srv.public.t", 2, 41), b"k", b"v")
    assert dead_letter(_DeadLetterMessage(headers)).where() == "srv.public.t[2]@41 (dead letter @0:7)"
    without = dead_letter(_DeadLetterMessage(None))
    assert without.original is None and without.where() == "dead letter @0:7"


class _Letter(_DeadLetterMessage):
    def __init__(self, offset: int) -> None:
        super().__init__(context_headers(RecordRefused("no"), "srv.public.t", 0, offset, "orders-sink", 0))
        self._offset = offset

    def offset(self) -> int:
        return self._offset

    def error(self):
        return None


class _DeadLetterTopic:
    """A consumer of a dead-letter topic of one partition holding `count` records, `per_poll` a poll."""

    def __init__(self, topic: str, count: int, per_poll: int) -> None:
        self.topic, self.count, self.per_poll, self.next = topic, count, per_poll, 0

    def list_topics(self, topic, timeout):
        return SimpleNamespace(topics={topic: SimpleNamespace(error=None, partitions={0: None})})

    def committed(self, partitions, timeout):
        return [TopicPartition(self.topic, 0, OFFSET_INVALID)]

    def get_watermark_offsets(self, partition, timeout):
        return 0, self.count

    def assign(self, partitions) -> None:
        self.next = partitions[0].offset

    def consume(self, count, timeout):
        letters = [_Letter(o) for o in range(self.next, min(self.count, self.next + self.per_poll))]
        self.next += len(letters)
        return letters

    def position(self, partitions):
        return [TopicPartition(self.topic, 0, self.next)]

    def commit(self, offsets, asynchronous) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.mark.parametrize("markers", ["true", "false"])
def test_a_replay_prunes_the_delete_markers_past_their_retention_as_a_worker_does(tmp_path, monkeypatch, capsys,
                                                                                  markers):
    # GIVEN a dead-letter topic of 5 records read 2 a poll, and a target holding 4 markers past the retention
    config = sink_file_config(tmp_path, {"delete.enabled": "true", "primary.key.mode": "record_key",
                                         "bridge.sink.delete.markers": markers})
    topic, target = "orders-dlq", PruneTarget([4])
    monkeypatch.setattr(replay_module.clients, "consumer", lambda *args, **kw: _DeadLetterTopic(topic, 5, 2))
    monkeypatch.setattr(Replay, "_connect", lambda self: target)
    batches = []
    monkeypatch.setattr(Replay, "_apply", lambda self, conn, batch: batches.append(len(batch)))
    # WHEN it is replayed
    replay(config, topic)
    # THEN with markers on, the first transaction is followed by one pruning (the next is due in a minute)
    assert batches == [2, 2, 1]
    out = capsys.readouterr().out
    if markers == "true":
        assert len(target.statements) == 1 and "DELETE FROM \"__pgbridge_sink_deletes\"" in target.statements[0]
        assert "pruned 4 delete marker(s) older than bridge.sink.delete.markers.retention.ms=604800000" in out
    else:
        assert target.statements == [] and "pruned" not in out


def test_metrics_count_per_worker_and_health_follows_the_workers():
    stats = Stats(2, [0] * (2 * len(COUNTERS)))
    stats.add(1, rows=5, batches=1, dead_letters=2)
    alive = [True, True]
    state = SinkState(stats, [lambda i=i: alive[i] for i in range(2)], phase="streaming")
    code, _, body = respond(state, "GET", "/q/metrics")
    text = body.decode()
    assert code == 200 and 'pgbridge_sink_rows_total{worker="1"} 5' in text
    assert 'pgbridge_sink_dead_letters_total{worker="1"} 2' in text and "pgbridge_sink_up 1" in text
    assert respond(state, "GET", "/q/health")[0] == 200
    alive[0] = False
    assert respond(state, "GET", "/q/health")[0] == 503
