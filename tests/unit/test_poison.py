"""Poison-event quarantine (`bridge.produce.poison`): with `bridge.poison.topic`, a change that
cannot be decoded or converted, or a record Kafka refuses for good, goes to that topic with
headers instead of stopping the bridge; without it, nothing changes."""

from __future__ import annotations

import json
import struct

import pytest
from confluent_kafka import KafkaError

from bridge.config import config_from_properties
from bridge.convert.types import TypeRegistry
from bridge.errors import ConfigError, ProtocolError, ValueNotConverted
from bridge.pgoutput import messages as m
from bridge.produce.worker import ProducerWorker
from bridge.ring import LsnCells
from bridge.route.router import Router
from bridge.source.catalog import TableInfo
from bridge.status.metrics import PipelineState, render
from tests.pgoutput_encoder import encode
from tests.unit.builders import MINIMAL, run_batch

INT4, NUMERIC = 23, 1700
# public.t (relation 16384): id int4 (the key), n numeric NOT NULL
REL = m.Relation(16384, "public", "t", "d", (m.RelationColumn(True, "id", INT4, -1),
                                             m.RelationColumn(False, "n", NUMERIC, -1)))
TS = 1_700_000_000_000_000
POISON = "p.poison"


class HeldSink:
    """A `KafkaOutput` keeping every record with its delivery callback; acknowledged (or
    refused) by the test."""

    def __init__(self) -> None:
        self.records: list[dict] = []

    def produce_call(self, topic, value, key, partition, on_delivery, callback, timestamp, headers) -> None:
        self.produce(topic, key, value, on_delivery, partition, headers)

    def partitions(self, topic: str) -> int:
        return 1

    def produce(self, topic, key, value, on_delivery, partition=-1, headers=None) -> None:
        self.records.append({"topic": topic, "key": key, "value": value, "on_delivery": on_delivery,
                             "headers": dict(headers or [])})

    def ack(self, i: int, err: KafkaError | None = None) -> None:
        r = self.records[i]
        r["on_delivery"](err, _Msg(r["topic"], r["key"], r["value"]))

    def ack_all(self) -> None:
        for i in range(len(self.records)):
            self.ack(i)

    def on(self, topic: str) -> list[dict]:
        return [r for r in self.records if r["topic"] == topic]

    def poll(self, timeout_s: float = 0) -> int:
        return 0

    def flush(self, timeout_s: float) -> int:
        return 0

    def __len__(self) -> int:
        return 0


class _Msg:
    def __init__(self, topic, key, value) -> None:
        self._t, self._k, self._v = topic, key, value

    def topic(self):
        return self._t

    def partition(self):
        return 0

    def key(self):
        return self._k

    def value(self):
        return self._v


def config(**props: str):
    return config_from_properties({**MINIMAL, "bridge.producers": "1", "debezium.source.topic.prefix": "p",
                                   **{k.replace("__", "."): v for k, v in props.items()}})


def stream(rows: list[bytes], limit: int = 1 << 20, **props: str) -> tuple[ProducerWorker, HeldSink]:
    """One-row transactions (commit LSNs 1000, 2000, ...) of pgoutput Insert messages `rows`
    through a router and one producer; every topic's max.message.bytes is `limit`."""
    cfg = config(**props)
    router = Router(cfg.routing, lambda rel: TableInfo(("id",), frozenset({"id", "n"})))
    sink = HeldSink()
    limits: list[str] = []
    worker = ProducerWorker(cfg.producer_spec, sink, TypeRegistry(), run_id="run",
                            record_limit=lambda topic: limits.append(topic) or limit)
    router.handle(encode(REL), 10)
    for i, row in enumerate(rows, start=1):
        end = 1000 * i
        router.handle(encode(m.Begin(end - 8, TS, 7 + i)), end - 100)
        router.handle(row, end - 50)
        router.handle(encode(m.Commit(0, end - 8, end, TS)), end)
    run_batch(router, worker)
    return worker, sink


def insert(*values: bytes) -> bytes:
    return encode(m.Insert(16384, values))


GOOD1, NAN, GOOD3 = insert(b"1", b"1.5"), insert(b"2", b"NaN"), insert(b"3", b"3")
PRECISE = {"debezium__source__decimal__handling__mode": "precise"}


# --- settings ----------------------------------------------------------------------------------


def test_no_poison_topic_by_default():
    cfg = config()
    assert cfg.poison_topic is None and cfg.producer_spec.poison_topic is None
    assert not cfg.producer_spec.quarantines_refused


def test_the_key_is_honoured():
    cfg = config(bridge__poison__topic=POISON)
    assert cfg.producer_spec.poison_topic == POISON and cfg.producer_spec.quarantines_refused
    assert "bridge.poison.topic" in {v.key for v in cfg.keys.honoured}


def test_refused_records_are_not_quarantined_under_exactly_once():
    spec = config(bridge__poison__topic=POISON, bridge__exactly__once="true").producer_spec
    assert spec.poison_topic == POISON and not spec.quarantines_refused


@pytest.mark.parametrize("bad", ["has space", "a/b", "x" * 250, ".."])
def test_an_invalid_topic_name_is_refused(bad):
    with pytest.raises(ConfigError, match=r"bridge\.poison\.topic=.* is invalid"):
        config(bridge__poison__topic=bad)


# --- a change that cannot be converted ---------------------------------------------------------


def test_without_a_poison_topic_a_conversion_failure_still_stops():
    with pytest.raises(ValueNotConverted, match="LSN"):
        stream([GOOD1, NAN, GOOD3], **PRECISE)


def test_a_conversion_failure_is_quarantined_raw_and_the_stream_goes_on():
    worker, sink = stream([GOOD1, NAN, GOOD3], bridge__poison__topic=POISON, **PRECISE)
    (poison,) = sink.on(POISON)
    assert poison["value"] == NAN and poison["key"] is None  # the pgoutput message as the server sent it
    h = poison["headers"]
    assert h["pgbridge.poison.relation"] == b"public.t"
    assert h["pgbridge.poison.lsn"] == b"0/79E"  # 1950: the change's LSN
    assert h["pgbridge.poison.topic"] == b"p.public.t"
    assert h["pgbridge.poison.stage"] == b"convert"
    assert h["pgbridge.poison.error.class"] == b"ValueNotConverted"
    assert b"NOT NULL" in h["pgbridge.poison.error.message"]
    assert [json.loads(r["key"])["payload"]["id"] for r in sink.on("p.public.t")] == [1, 3]
    assert worker.quarantine.count == 1
    # the slot moves past it only once Kafka holds the poison record
    for i, r in enumerate(sink.records):
        if r["topic"] != POISON:
            sink.ack(i)
    assert worker.watermark == 1000
    sink.ack(sink.records.index(poison))
    assert worker.watermark == 3000


def test_what_debeziums_own_settings_skip_is_still_skipped():
    worker, sink = stream([GOOD1, NAN, GOOD3], bridge__poison__topic=POISON,
                          debezium__source__event__processing__failure__handling__mode="skip", **PRECISE)
    assert not sink.on(POISON) and worker.quarantine.count == 0
    assert len(sink.on("p.public.t")) == 2


def _truncated() -> bytes:
    """An Insert whose last column says 100 bytes follow, and only one does: the router, which
    reads the key alone, passes it; the producer cannot decode it."""
    good = insert(b"4", b"4")
    return good[:-5] + struct.pack(">i", 100) + b"4"


def test_without_a_poison_topic_a_message_that_cannot_be_decoded_still_stops():
    with pytest.raises(ProtocolError):
        stream([GOOD1, _truncated()], bridge__poison__topic="")


def test_a_message_that_cannot_be_decoded_is_quarantined():
    worker, sink = stream([GOOD1, _truncated(), GOOD3], bridge__poison__topic=POISON)
    (poison,) = sink.on(POISON)
    assert poison["value"] == _truncated()
    assert poison["headers"]["pgbridge.poison.relation"] == b"public.t"
    assert poison["headers"]["pgbridge.poison.error.class"] == b"ProtocolError"
    assert len(sink.on("p.public.t")) == 2


def test_a_record_that_cannot_fit_in_its_topic_is_quarantined_before_it_is_produced():
    # GIVEN a topic taking records of 5000 bytes: a batch with the big row would be refused whole
    big = insert(b"2", b"1" * 3000)
    worker, sink = stream([GOOD1, big, GOOD3], limit=5000, bridge__poison__topic=POISON)
    (poison,) = sink.on(POISON)
    assert json.loads(poison["value"])["payload"]["after"]["id"] == 2
    h = poison["headers"]
    assert h["pgbridge.poison.stage"] == b"delivery" and h["pgbridge.poison.error.class"] == b"MSG_SIZE_TOO_LARGE"
    assert b"does not fit in max.message.bytes=5000 of topic p.public.t" in h["pgbridge.poison.error.message"]
    assert h["pgbridge.poison.lsn"] == b"0/7C8"  # 1992: the transaction's commit LSN
    assert [json.loads(r["key"])["payload"]["id"] for r in sink.on("p.public.t")] == [1, 3]
    sink.ack_all()
    assert worker.watermark == 3000 and worker.quarantine.count == 1


def test_without_a_poison_topic_nothing_is_measured():
    worker, sink = stream([GOOD1], limit=10)
    assert worker._kafka_produce == sink.produce_call
    assert len(sink.records) == 1


# --- a record Kafka refuses ----------------------------------------------------------------------


def test_a_record_kafka_refuses_for_good_is_quarantined_as_it_was_built():
    worker, sink = stream([GOOD1, GOOD3], bridge__poison__topic=POISON)
    refused = sink.records[1]
    sink.ack(0)
    sink.ack(1, KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "Broker: Message size too large"))
    (poison,) = sink.on(POISON)
    assert (poison["key"], poison["value"]) == (refused["key"], refused["value"])
    h = poison["headers"]
    assert h["pgbridge.poison.stage"] == b"delivery"
    assert h["pgbridge.poison.relation"] == b"public.t" and h["pgbridge.poison.topic"] == b"p.public.t"
    assert h["pgbridge.poison.lsn"] == b"0/7C8"  # 1992, the transaction's commit LSN
    assert h["pgbridge.poison.error.class"] == b"MSG_SIZE_TOO_LARGE"
    assert worker.tracker.failed is None and worker.watermark == 1000
    sink.ack(sink.records.index(poison))
    assert worker.watermark == 2000 and worker.quarantine.count == 1


@pytest.mark.parametrize("err", [KafkaError(KafkaError._MSG_TIMED_OUT), KafkaError(KafkaError.MSG_SIZE_TOO_LARGE,
                                                                                   fatal=True)])
def test_a_transient_or_fatal_error_still_stops(err):
    worker, sink = stream([GOOD1], bridge__poison__topic=POISON)
    sink.ack(0, err)
    assert worker.tracker.failed is not None and not sink.on(POISON)


def test_a_poison_record_the_poison_topic_refuses_too_stops():
    worker, sink = stream([GOOD1], bridge__poison__topic=POISON)
    too_large = KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)
    sink.ack(0, too_large)
    sink.ack(1, too_large)
    assert worker.tracker.failed.startswith(f"Kafka refused a record for {POISON}")
    assert worker.watermark == 0


def test_errors_tolerance_all_still_skips_before_the_poison_topic():
    worker, sink = stream([GOOD1], bridge__poison__topic=POISON, connect__errors__tolerance="all")
    sink.ack(0, KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
    assert not sink.on(POISON) and worker.tracker.failed is None and worker.watermark == 1000


# --- the metric ----------------------------------------------------------------------------------


def test_the_count_is_a_metric_per_producer():
    with LsnCells.create(2) as cells:
        cells.publish_poisoned(1, 3)
        state = PipelineState("s", 2, cells=cells)
        text = render(state.families())
    assert 'pgbridge_poison_events_total{producer="0"} 0' in text
    assert 'pgbridge_poison_events_total{producer="1"} 3' in text


def test_registry_refused_events_are_a_metric_per_producer():
    with LsnCells.create(2) as cells:
        cells.publish_incompatible(0, 4)
        text = render(PipelineState("s", 2, cells=cells).families())
    assert 'pgbridge_registry_incompatible_events_total{producer="0"} 4' in text
    assert 'pgbridge_registry_incompatible_events_total{producer="1"} 0' in text
