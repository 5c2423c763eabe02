"""The quarantine: which refused records are schema mismatches, and that the worker sends those
to the quarantine topic (with a reason header) and the rest to the dead-letter topic."""

from __future__ import annotations

import psycopg2.errors
import pytest

from bridge.sink.quarantine.mismatch import SchemaMismatch, mismatch_reason
from bridge.sink.quarantine.topic import REASON_HEADER
from bridge.sink.records import RecordRefused
from bridge.sink.values.errors import ValueNotDecoded
from bridge.sink.worker import RecordFailed, SinkWorker
from tests.unit.builders import sink_file_config


def _refused(cause: BaseException) -> RecordRefused:
    return RecordRefused(f"t: {cause}", "TASK_PUT", cause)


@pytest.mark.parametrize("error, reason", [
    (SchemaMismatch("table t has no column c and schema.evolution=none", "undefined_column"), "undefined_column"),
    (_refused(psycopg2.errors.UndefinedColumn()), "undefined_column"),
    (_refused(psycopg2.errors.StringDataRightTruncation()), "string_data_right_truncation"),
    (_refused(psycopg2.errors.InvalidTextRepresentation()), "invalid_text_representation"),
    (_refused(psycopg2.errors.NumericValueOutOfRange()), "numeric_value_out_of_range"),
    (_refused(psycopg2.errors.InvalidDatetimeFormat()), "invalid_datetime_format"),
    (_refused(psycopg2.errors.DatetimeFieldOverflow()), "datetime_field_overflow"),
    (_refused(psycopg2.errors.DatatypeMismatch()), "datatype_mismatch"),
    (_refused(ValueNotDecoded("not a date")), "value_not_decoded"),
    # not schema mismatches: the data is at odds with the target, or the record cannot be read
    (_refused(psycopg2.errors.UniqueViolation()), None),
    (_refused(psycopg2.errors.NotNullViolation()), None),
    (_refused(psycopg2.errors.CheckViolation()), None),
    (RecordRefused("the value is not JsonConverter JSON", "VALUE_CONVERTER", ValueError("x")), None),
    (RecordRefused("cannot upsert into t with no key fields"), None),
])
def test_schema_mismatches_are_told_from_other_refusals(error, reason):
    assert mismatch_reason(error) == reason


class _Message:
    def __init__(self, offset: int) -> None:
        self._offset = offset

    def topic(self) -> str:
        return "t"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset


class _Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[int, tuple]] = []
        self.flushed = 0

    def send(self, message, error, extra=()) -> None:
        self.sent.append((message.offset(), extra))

    def flush(self) -> None:
        self.flushed += 1


def _worker(config) -> SinkWorker:
    worker = SinkWorker.__new__(SinkWorker)
    worker.config, worker.dead = config, _Producer()
    worker.quarantine = _Producer() if config.quarantine.enabled else None
    return worker


def test_mismatches_go_to_the_quarantine_topic_and_the_rest_to_the_dead_letter_topic(tmp_path):
    config = sink_file_config(tmp_path, {"errors.tolerance": "all", "errors.deadletterqueue.topic.name": "dlq",
                                "bridge.sink.quarantine.topic": "quarantine"})
    assert (config.quarantine.topic, config.quarantine.replication_factor) == ("quarantine", 3)
    worker = _worker(config)
    refused = [(_Message(3), _refused(psycopg2.errors.UniqueViolation())),
               (_Message(1), _refused(psycopg2.errors.StringDataRightTruncation())),
               (_Message(2), SchemaMismatch("no column", "undefined_column"))]
    assert worker._dead_letter(refused) == 2
    assert worker.quarantine.sent == [(1, ((REASON_HEADER, b"string_data_right_truncation"),)),
                                      (2, ((REASON_HEADER, b"undefined_column"),))]
    assert worker.dead.sent == [(3, ())]
    assert worker.quarantine.flushed == 1 and worker.dead.flushed == 1


def test_with_tolerance_none_a_quarantine_still_takes_mismatches_and_any_other_refusal_stops(tmp_path):
    config = sink_file_config(tmp_path, {"bridge.sink.quarantine.topic": "quarantine",
                                "bridge.sink.quarantine.topic.replication.factor": "1"})
    assert config.quarantine.replication_factor == 1
    worker = _worker(config)
    assert worker._dead_letter([(_Message(1), SchemaMismatch("no column", "undefined_column"))]) == 1
    worker = _worker(config)
    with pytest.raises(RecordFailed, match=r"t\[0\]@5 refused"):
        worker._dead_letter([(_Message(4), SchemaMismatch("no column", "undefined_column")),
                             (_Message(5), _refused(psycopg2.errors.UniqueViolation()))])
    assert worker.quarantine.sent == []  # nothing sent for a batch that is not written


def test_without_a_quarantine_topic_mismatches_are_dead_letters(tmp_path):
    worker = _worker(sink_file_config(tmp_path, {"errors.tolerance": "all", "errors.deadletterqueue.topic.name": "dlq"}))
    assert worker._dead_letter([(_Message(1), SchemaMismatch("no column", "undefined_column"))]) == 0
    assert worker.dead.sent == [(1, ())]


def test_the_circuit_breaker_counts_quarantined_records_even_with_tolerance_none(tmp_path, monkeypatch):
    import threading

    from bridge.sink import worker as worker_module
    from bridge.sink.breaker import DeadLetterLimit
    from bridge.sink.stats import COUNTERS, Stats

    monkeypatch.setattr(worker_module, "quarantine_producer", lambda config, task: _Producer())
    config = sink_file_config(tmp_path, {"bridge.sink.quarantine.topic": "quarantine", "bridge.sink.dlq.max.consecutive": "1"})
    worker = SinkWorker(config, 0, Stats(1, [0] * len(COUNTERS)), threading.Event())
    batch = [_Message(1), _Message(2)]
    with pytest.raises(DeadLetterLimit, match="more than bridge.sink.dlq.max.consecutive=1"):
        worker.breaker.check(batch, {("t", 0, 1), ("t", 0, 2)})
    assert SinkWorker(sink_file_config(tmp_path, {"bridge.sink.dlq.max.consecutive": "1"}), 0, Stats(1, [0] * len(COUNTERS)),
                      threading.Event()).breaker is None  # neither a DLQ tolerance nor a quarantine: nothing set aside
