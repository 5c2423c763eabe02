"""Kafka authentication failures (`bridge.kafka.auth_failures`): counted from every client's
`error_cb` and from failed AWS MSK IAM token refreshes, carried to the coordinator through the LSN
cells, reported as `pgbridge_kafka_auth_failures_total` and as readiness DEGRADED."""

from __future__ import annotations

import json
import logging
import time

import pytest
from confluent_kafka import KafkaError

from bridge.errors import ConnectionFailed
from bridge.kafka import auth_failures, clients, msk
from bridge.ring import LsnCells
from bridge.status.http import respond
from bridge.status.metrics import AUTH_DEGRADED_S, PipelineState, render
from tests.prometheus_text import parse

AUTH = KafkaError(KafkaError._AUTHENTICATION, "sasl_ssl://127.0.0.1:19292/bootstrap: SASL authentication error")
TRANSPORT = KafkaError(KafkaError._TRANSPORT, "127.0.0.1:19292/bootstrap: Connection refused")


def test_every_clients_error_callback_counts_authentication_errors_and_keeps_the_callers(caplog):
    seen: list = []
    given = clients._errors("producer", seen.append)
    given(AUTH)
    given(TRANSPORT)
    assert seen == [AUTH, TRANSPORT]
    assert auth_failures.counts()[0] == 1
    assert abs(auth_failures.counts()[1] / 1e6 - time.time()) < 5
    # a client without a callback of its own: logged, as librdkafka logs errors then
    with caplog.at_level(logging.ERROR, "bridge.kafka.librdkafka"):
        clients._errors("admin client", None)(AUTH)
    assert auth_failures.counts()[0] == 2
    assert "SASL authentication error" in caplog.text


def test_a_failed_msk_token_refresh_counts():
    class Signer:
        @staticmethod
        def generate_auth_token(region):
            raise RuntimeError("credentials expired")

    with pytest.raises(ConnectionFailed):
        msk.MskToken("eu-west-1", signer=Signer)("")
    assert auth_failures.counts()[0] == 1


def test_a_child_hands_its_count_to_its_cell_and_the_coordinator_sums_them():
    with LsnCells.create(2) as cells:
        auth_failures.bind(lambda count, last: cells.publish_auth_failures(1, count, last))
        auth_failures.record()
        auth_failures.record()
        auth_failures.bind(None)
        auth_failures.record()  # no longer handed over
        cells.publish_auth_failures(None, 1, 5)  # the decoder's
        count, last = cells.auth_failures()
        assert count == 3 and last > 5
        assert cells.producer_stats(1) == (0, 0, 0)  # beside, not over, the producer's statistics


@pytest.fixture
def state():
    cells = LsnCells.create(1)
    cells.publish_decoder_running()

    class Child:
        def __init__(self, role):
            self.role, self.alive = role, True

    st = PipelineState("slot", 1, phase="streaming", cells=cells, children=[Child("decoder"), Child("producer-0")])
    yield st
    cells.close()


def test_the_metric_counts_every_process_across_runs(state):
    def metric() -> float:
        return parse(render(state.families()))[("pgbridge_kafka_auth_failures_total", ())]

    assert metric() == 0
    state.cells.publish_auth_failures(0, 2, 1)
    state.cells.publish_auth_failures(None, 1, 1)
    auth_failures.record()  # the coordinator's own (a reload's check, the offsets reader)
    assert metric() == 4
    state.carry_auth_failures()  # the run ended: its cells go
    state.cells.close()
    with LsnCells.create(1) as second:  # the next run's
        state.cells = second
        assert metric() == 4
        second.publish_auth_failures(0, 1, 1)
        assert metric() == 5


def test_readiness_is_degraded_after_an_authentication_failure_and_up_again_later(state):
    code, _, body = respond(state, "GET", "/q/health")
    assert code == 200 and json.loads(body)["status"] == "UP"
    now_us = time.time_ns() // 1000
    state.cells.publish_auth_failures(0, 1, now_us - 1_000_000)
    code, _, body = respond(state, "GET", "/q/health/ready")
    doc = json.loads(body)
    assert code == 200 and doc["status"] == "DEGRADED"
    assert doc["checks"][0]["data"] == {"phase": "streaming", "decoder": "UP", "producer-0": "UP",
                                        "kafka_auth": "DEGRADED", "kafka_auth_failures": "1"}
    assert json.loads(respond(state, "GET", "/q/health/live")[2])["status"] == "UP"
    assert not state.auth_failing(now_us + AUTH_DEGRADED_S * 1_000_000)
    state.children[1].alive = False  # down stays down
    assert respond(state, "GET", "/q/health")[0] == 503
