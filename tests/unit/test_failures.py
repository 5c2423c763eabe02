"""An event that cannot be built or delivered: Debezium's event.converting/processing failure
handling modes and Kafka Connect's errors.* settings (`bridge.produce.failures`)."""

from __future__ import annotations

import json
import logging

import pytest
from confluent_kafka import KafkaError

from bridge.ack.tracker import AckTracker
from bridge.config import config_from_properties, load_config
from bridge.convert.types import TypeRegistry
from bridge.errors import ConfigError, ValueNotConverted
from bridge.pgoutput import messages as m
from bridge.produce.failures import FailureHandling, Failures, Unsent
from bridge.produce.worker import ProducerWorker
from bridge.route.router import Router
from bridge.source.catalog import TableInfo
from tests.fakes import FakeProducer, RecordingSink
from tests.pgoutput_encoder import encode
from tests.unit.builders import MINIMAL, run_batch

INT4, NUMERIC = 23, 1700
# public.t (relation 16384): id int4 (the key), n numeric NOT NULL, m numeric
REL = m.Relation(16384, "public", "t", "d", (m.RelationColumn(True, "id", INT4, -1),
                                             m.RelationColumn(False, "n", NUMERIC, -1),
                                             m.RelationColumn(False, "m", NUMERIC, -1)))
NOT_NULL = frozenset({"id", "n"})
TS = 1_700_000_000_000_000


def config(**props: str):
    return config_from_properties({**MINIMAL, "bridge.producers": "1", "debezium.source.topic.prefix": "p",
                                   **{k.replace("__", "."): v for k, v in props.items()}})


def stream(rows: list[tuple[bytes, bytes, bytes]], **props: str):
    """Three one-row transactions (commit LSNs 1000, 2000, 3000) through a router and one producer
    acknowledging at once: (worker, sink, the LSN of each row)."""
    cfg = config(**props)
    router = Router(cfg.routing, lambda rel: TableInfo(("id",), NOT_NULL))
    sink = RecordingSink()
    worker = ProducerWorker(cfg.producer_spec, sink, TypeRegistry(), run_id="run")
    router.handle(encode(REL), 10)
    lsns = []
    for i, row in enumerate(rows, start=1):
        end = 1000 * i
        router.handle(encode(m.Begin(end - 8, TS, 7 + i)), end - 100)
        router.handle(encode(m.Insert(16384, row)), end - 50)
        router.handle(encode(m.Commit(0, end - 8, end, TS)), end)
        lsns.append(end - 50)
    run_batch(router, worker)
    return worker, sink, lsns


ROWS = [(b"1", b"1.5", b"NaN"), (b"2", b"NaN", b"2.5"), (b"3", b"3", b"3")]
ONE_AND_A_HALF, THREE = {"scale": 1, "value": "Dw=="}, {"scale": 0, "value": "Aw=="}  # VariableScaleDecimal


def after(sink: RecordingSink) -> list[dict]:
    return [json.loads(r[2])["payload"]["after"] for r in sink.records if r[2] is not None]


# --- settings ----------------------------------------------------------------------------------


def test_defaults_are_debeziums_and_connects():
    cfg = config()
    assert cfg.failures == FailureHandling("fail", "warn", "none", False, False)
    assert not cfg.producer_spec.skips_refused


def test_every_key_is_read(tmp_path):
    path = tmp_path / "c.json"
    settings = {k.removeprefix("debezium.source."): v for k, v in MINIMAL.items() if k.startswith("debezium.source.")}
    path.write_text(json.dumps({**settings, "errors.tolerance": "all", "errors.log.enable": "true",
                                "errors.log.include.messages": True, "errors.retry.timeout": -1,
                                "errors.retry.delay.max.ms": "1000", "event.processing.failure.handling.mode": "WARN",
                                "event.converting.failure.handling.mode": "skip",
                                "errors.deadletterqueue.topic.name": "dlq"}))
    cfg = load_config(path, "127.0.0.1:9092", refuse=False)
    assert cfg.failures == FailureHandling("warn", "skip", "all", True, True)
    assert cfg.producer_spec.skips_refused
    assert not cfg.keys.refused
    assert [v.key for v in cfg.keys.ignored] == ["errors.deadletterqueue.topic.name"]  # a source ignores them


def test_ignore_is_the_legacy_name_of_skip():
    assert config(debezium__source__event__processing__failure__handling__mode="ignore").failures.processing == "skip"


def test_exactly_once_never_skips_a_refused_record():
    cfg = config(connect__errors__tolerance="all", bridge__exactly__once="true")
    assert cfg.failures.tolerance == "all" and not cfg.producer_spec.skips_refused


@pytest.mark.parametrize(("key", "value"), [
    ("connect.errors.tolerance", "ALL"),  # Connect's validator is case-sensitive
    ("connect.errors.tolerance", "some"),
    ("debezium.source.event.processing.failure.handling.mode", "retry"),
    ("debezium.source.event.converting.failure.handling.mode", "ignore"),
    ("connect.errors.log.enable", "yes"),
    ("connect.errors.retry.timeout", "soon"),
])
def test_invalid_values_are_refused_naming_the_key(key, value):
    with pytest.raises(ConfigError, match=rf"^{key.replace('.', '[.]')}='{value}'"):
        config_from_properties({**MINIMAL, key: value})


def test_errors_max_retries_is_refused_with_pgbridges_own_setting():
    cfg = config_from_properties({**MINIMAL, "connect.errors.max.retries": "3"}, refuse=False)
    (refused,) = cfg.keys.refused
    assert "bridge.restart.policy" in refused.why


# --- a value Debezium cannot convert -------------------------------------------------------------


def test_a_nullable_column_is_null_with_a_warning_and_a_not_null_one_fails_the_event(caplog):
    # GIVEN NaN (numeric, decimal.handling.mode=precise) in the nullable m of row 1 and in the NOT NULL n of row 2
    # WHEN they stream with Debezium's defaults (converting=warn, processing=fail)
    with caplog.at_level(logging.WARNING), pytest.raises(ValueNotConverted) as failed:
        stream(ROWS)
    # THEN row 1 had its column null with a warning, and row 2 stops the bridge: one message
    # naming the table, the LSN, the column and why, and what to set instead
    assert "public.t.m: the special value NaN cannot be represented" in caplog.text
    assert str(failed.value) == (
        "cannot build the change event of public.t at LSN 0/79E: column n: the special value NaN cannot be "
        "represented with decimal.handling.mode=precise (use decimal.handling.mode=string or double to keep it); "
        "it is a NOT NULL column without a default, which cannot be null. event.processing.failure.handling.mode=fail "
        "stops here, as Debezium does; set it to warn or skip to skip such an event")


def test_warn_logs_and_skips_the_event_and_the_slot_moves_past_it(caplog):
    with caplog.at_level(logging.WARNING):
        worker, sink, lsns = stream(ROWS, debezium__source__event__processing__failure__handling__mode="warn")
    # THEN rows 1 and 3 are produced, row 2 is skipped with one warning (without the row's values)
    assert after(sink) == [{"id": 1, "n": ONE_AND_A_HALF, "m": None}, {"id": 3, "n": THREE, "m": THREE}]
    (skipped,) = [r for r in caplog.records if r.name == "bridge.produce.failures"]
    assert skipped.levelno == logging.WARNING
    assert skipped.getMessage().startswith("skipped the change event of public.t at LSN 0/79E: column n: ")
    assert "2.5" not in skipped.getMessage() and not skipped.exc_info
    # AND the watermark passes the skipped row's transaction: it was skipped on purpose
    assert worker.tracker.safe_lsn() == 3000


def test_warn_logs_the_rows_values_only_when_asked(caplog):
    with caplog.at_level(logging.WARNING, logger="bridge.produce.failures"):
        stream(ROWS, debezium__source__event__processing__failure__handling__mode="warn",
               connect__errors__log__include__messages="true")
    assert "(row {'id': '2', 'n': 'NaN', 'm': '2.5'})" in caplog.text


@pytest.mark.parametrize("mode", ["skip", "ignore"])
def test_skip_skips_the_event_without_a_warning(caplog, mode):
    with caplog.at_level(logging.INFO):
        worker, sink, _ = stream(ROWS, debezium__source__event__processing__failure__handling__mode=mode)
    assert [a["id"] for a in after(sink)] == [1, 3]
    assert not [r for r in caplog.records if r.name == "bridge.produce.failures"]
    assert worker.tracker.safe_lsn() == 3000


def test_a_key_column_fails_the_event_whatever_it_is():
    with pytest.raises(ValueNotConverted, match="column id: .*; it is a key column"):
        rel = m.Relation(16385, "public", "k", "d", (m.RelationColumn(True, "id", NUMERIC, -1),))
        cfg = config()
        router = Router(cfg.routing, lambda r: TableInfo(("id",), frozenset()))
        worker = ProducerWorker(cfg.producer_spec, RecordingSink(), TypeRegistry(), run_id="run")
        router.handle(encode(rel), 10)
        router.handle(encode(m.Begin(992, TS, 7)), 900)
        router.handle(encode(m.Insert(16385, (b"NaN",))), 950)
        router.handle(encode(m.Commit(0, 992, 1000, TS)), 1000)
        run_batch(router, worker)


def test_a_not_null_column_with_a_default_gets_the_default_as_jsonconverter_writes_it(monkeypatch, caplog):
    # GIVEN n NOT NULL DEFAULT 7 (Debezium 3.7 live: NaN there is written as the field's default
    # 7.00, "Arw=", by JsonConverter's replace.null.with.default; the Struct accepts the null)
    from bridge.produce import events
    field_schema = events.field_schema

    def with_default(name, schema, optional, default=None):
        field = field_schema(name, schema, optional=optional, default=default)
        return {**field, "default": "Arw="} if name == "n" else field

    monkeypatch.setattr(events, "field_schema", with_default)
    with caplog.at_level(logging.WARNING):
        worker, sink, _ = stream(ROWS)
    # THEN row 2 is delivered with n at its default, with Debezium's warning, and nothing fails
    assert [a["n"] for a in after(sink)] == [ONE_AND_A_HALF, "Arw=", THREE]
    assert "public.t.n: the special value NaN" in caplog.text and "emitted as its default" in caplog.text
    assert worker.tracker.safe_lsn() == 3000


def test_converting_fail_fails_the_event_of_a_nullable_column_too(caplog):
    with caplog.at_level(logging.WARNING):
        worker, sink, _ = stream(ROWS, debezium__source__event__converting__failure__handling__mode="fail",
                                 debezium__source__event__processing__failure__handling__mode="warn")
    # row 1 (NaN in nullable m) and row 2 (NaN in NOT NULL n) are both skipped
    assert [a["id"] for a in after(sink)] == [3]
    assert "event.converting.failure.handling.mode=fail" in caplog.text


def test_converting_skip_leaves_the_column_null_without_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        _, sink, _ = stream(ROWS[:1], debezium__source__event__converting__failure__handling__mode="skip")
    assert after(sink) == [{"id": 1, "n": ONE_AND_A_HALF, "m": None}]
    assert not caplog.records


def test_a_failure_that_is_not_a_value_debezium_rejects_keeps_its_traceback_under_fail():
    failures = Failures(FailureHandling(), skips_refused=False)
    with pytest.raises(KeyError):
        failures.event(KeyError("bug"), "public.t", 100, None)


# --- a record Kafka refuses (errors.tolerance) ---------------------------------------------------


def refused(code=KafkaError.MSG_SIZE_TOO_LARGE, fatal=False) -> KafkaError:
    return KafkaError(code, "Message size too large", fatal=fatal)


def test_tolerance_all_skips_a_refused_record_with_an_error_line(caplog):
    tracker = AckTracker(skip=Failures(FailureHandling(tolerance="all"), skips_refused=True).refused)
    txn = tracker.begin()
    txn.pending = 2
    with caplog.at_level(logging.ERROR):
        txn(refused(), Unsent("p.public.t", 0, b"k", b"v" * 10))
        txn(None, None)
    tracker.commit(5000)
    assert tracker.failed is None and tracker.safe_lsn() == 5000
    assert "record for p.public.t [0] not delivered: Message size too large; skipped (errors.tolerance=all)" \
        in caplog.text
    assert "vvvv" not in caplog.text


def test_the_record_is_logged_with_errors_log_enable_and_include_messages(caplog):
    failures = Failures(FailureHandling(tolerance="all", log_enable=True, log_messages=True), skips_refused=True)
    with caplog.at_level(logging.ERROR):
        assert failures.refused(refused(), Unsent("t", 1, b'{"id":1}', None))
    assert 'record key={"id":1} value=null' in caplog.text


@pytest.mark.parametrize(("skips", "fatal"), [(False, False), (True, True)])
def test_tolerance_none_or_a_fatal_error_fails(skips, fatal):
    tracker = AckTracker(skip=Failures(FailureHandling(), skips_refused=skips).refused)
    txn = tracker.begin()
    txn.pending = 1
    txn(refused(fatal=fatal), Unsent("t", 0, None, None))
    tracker.commit(5000)
    assert tracker.failed is not None and tracker.safe_lsn() == 0


def test_a_record_librdkafka_refuses_at_once_is_skipped_through_its_delivery_callback():
    # GIVEN errors.tolerance=all; WHEN librdkafka refuses a record when it is produced
    from bridge.kafka.settings import KafkaSettings
    from bridge.produce.kafka import KafkaWriter
    cfg = config(connect__errors__tolerance="all")
    kafka = KafkaWriter(KafkaSettings.split({"bootstrap.servers": "127.0.0.1:1"}), skips_refused=True)
    producer = FakeProducer(refuse=True)
    kafka._producer, kafka.produce_call = producer, producer.produce
    kafka.partitions = lambda topic: 1
    router = Router(cfg.routing, lambda rel: TableInfo(("id",), NOT_NULL))
    worker = ProducerWorker(cfg.producer_spec, kafka, TypeRegistry(), run_id="run")
    router.handle(encode(REL), 10)
    router.handle(encode(m.Begin(4992, TS, 7)), 100)
    router.handle(encode(m.Insert(16384, (b"1", b"1", b"1"))), 200)
    router.handle(encode(m.Commit(0, 4992, 5000, TS)), 5000)
    run_batch(router, worker)
    # THEN it counts as handled: the transaction is confirmable
    assert worker.tracker.failed is None and worker.tracker.safe_lsn() == 5000


def test_a_snapshot_row_that_cannot_be_converted_is_handled_the_same_way(caplog):
    # GIVEN an initial snapshot's transaction with the three rows (Debezium's snapshot dispatch
    # applies the same mode)
    from bridge.route import records as rec
    cfg = config(debezium__source__event__processing__failure__handling__mode="warn")
    router = Router(cfg.routing, lambda rel: TableInfo(("id",), NOT_NULL))
    sink = RecordingSink()
    worker = ProducerWorker(cfg.producer_spec, sink, TypeRegistry(), run_id="run")
    router.handle(encode(REL), 10)
    router.snapshot_begin(encode(m.Begin(1000, TS, 7)), 1000)
    for row in ROWS:
        router.snapshot_row(encode(m.Insert(16384, row)), 1000, rec.SNAPSHOT_MARKERS.index("true"))
    router.handle(encode(m.Commit(0, 1000, 1000, TS)), 1000)
    with caplog.at_level(logging.WARNING, logger="bridge.produce.failures"):
        run_batch(router, worker)
    # THEN rows 1 and 3 are read, row 2 is skipped with its warning, the snapshot's transaction completes
    assert [a["id"] for a in after(sink)] == [1, 3]
    assert "skipped the change event of public.t" in caplog.text
    assert worker.tracker.safe_lsn() == 1000
