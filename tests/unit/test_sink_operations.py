"""What `bridge sink` tells operators: Connect's dead-letter context headers (and how a replay
reads them back) and the metrics and health its supervisor serves."""

from __future__ import annotations

import psycopg2.errors

from bridge.sink.dlq import context_headers
from bridge.sink.records import RecordRefused
from bridge.sink.replay import DeadLetter, dead_letter
from bridge.sink.stats import COUNTERS, SinkState, Stats
from bridge.status.http import respond


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
