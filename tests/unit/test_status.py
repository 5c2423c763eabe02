"""Health verdicts and Prometheus metrics from the shared cells (`bridge.status`)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import pytest

from bridge.errors import ConfigError
from bridge.ring import RingOwner, RingWriter, LsnCells
from bridge.status.http import respond, serve
from bridge.status.metrics import Family, PipelineState, render
from bridge.status.settings import HttpConfig
from tests.prometheus_text import parse


@dataclass
class FakeChild:
    role: str
    alive: bool = True


@pytest.fixture
def state():
    cells = LsnCells.create(2)
    cells.publish_decoder_running()
    rings = [RingOwner(1 << 20) for _ in range(2)]
    st = PipelineState("slot", 2, phase="streaming", cells=cells, rings=rings,
                       children=[FakeChild("decoder"), FakeChild("producer-0"), FakeChild("producer-1")])
    yield st
    for ring in rings:
        ring.close()
    cells.close()


def test_render_is_prometheus_text_with_escaped_labels():
    text = render([Family("x_total", "counter", "things").add(3, role='a"b\\c')])
    assert text == '# HELP x_total things\n# TYPE x_total counter\nx_total{role="a\\"b\\\\c"} 3\n'


def test_metrics_come_from_the_cells_and_rings(state):
    cells = state.cells
    cells.publish_dispatched(5000)
    cells.publish_decoder_stats(9000, 42)
    cells.publish_acked(0, 4000)
    cells.publish_producer_stats(0, rows=10, records=12, acked_commit_us=1_700_000_000_000_000)
    cells.publish_producer_stats(1, rows=7, records=7, acked_commit_us=0)
    cells.publish_safe_lsn(4000)
    with RingWriter(state.rings[1].handle) as writer:
        assert writer.write(b"x" * 100)
    m = parse(render(state.families(now_us=1_700_000_000_250_000)))
    assert m[("pgbridge_up", ())] == 1
    assert m[("pgbridge_confirmed_lsn", ())] == 4000
    assert m[("pgbridge_dispatched_lsn", ())] == 5000
    assert m[("pgbridge_source_wal_end_lsn", ())] == 9000
    assert m[("pgbridge_source_lag_bytes", ())] == 5000
    assert m[("pgbridge_decoder_messages_total", ())] == 42
    assert m[("pgbridge_producer_rows_total", (("producer", "0"),))] == 10
    assert m[("pgbridge_producer_records_total", (("producer", "0"),))] == 12
    assert m[("pgbridge_producer_rows_total", (("producer", "1"),))] == 7
    assert m[("pgbridge_producer_acked_lsn", (("producer", "0"),))] == 4000
    assert m[("pgbridge_producer_milliseconds_behind_source", (("producer", "0"),))] == 250
    assert m[("pgbridge_producer_milliseconds_behind_source", (("producer", "1"),))] == 0  # nothing acked yet
    assert m[("pgbridge_ring_used_bytes", (("producer", "0"),))] == 0
    assert m[("pgbridge_ring_used_bytes", (("producer", "1"),))] >= 100
    assert m[("pgbridge_ring_capacity_bytes", (("producer", "1"),))] == 1 << 20
    assert m[("pgbridge_process_up", (("role", "decoder"),))] == 1


def test_health_is_down_when_a_process_died_or_the_pipeline_is_not_streaming(state):
    code, ctype, body = respond(state, "GET", "/q/health")
    doc = json.loads(body)
    assert code == 200 and ctype == "application/json" and doc["status"] == "UP"
    assert doc["checks"][0]["data"] == {"phase": "streaming", "decoder": "UP", "producer-0": "UP", "producer-1": "UP"}
    state.children[2].alive = False
    code, _, body = respond(state, "GET", "/q/health/ready")
    assert code == 503 and json.loads(body)["checks"][0]["data"]["producer-1"] == "DOWN"
    assert parse(render(state.families()))[("pgbridge_up", ())] == 0
    state.children[2].alive = True
    state.phase = "restarting"
    assert respond(state, "GET", "/health")[0] == 503
    assert respond(state, "GET", "/q/health/live")[0] == 200  # restarting is alive
    state.phase = "failing"  # a run winding down after a failure: the supervisor may restart it
    assert respond(state, "GET", "/q/health/live")[0] == 200 and respond(state, "GET", "/health")[0] == 503
    state.phase = "failed"
    assert respond(state, "GET", "/q/health/live")[0] == 503


def test_a_decoder_still_starting_is_not_ready_yet():
    with LsnCells.create(1) as cells:
        st = PipelineState("slot", 1, phase="streaming", cells=cells,
                           children=[FakeChild("decoder"), FakeChild("producer-0")])
        code, _, body = respond(st, "GET", "/q/health")
        assert code == 503 and json.loads(body)["checks"][0]["data"]["decoder"] == "STARTING"
        cells.publish_decoder_running()
        assert respond(st, "GET", "/q/health")[0] == 200


def test_between_runs_only_the_process_metrics_are_reported():
    st = PipelineState("slot", 1, phase="restarting", restarts=2)
    m = parse(render(st.families()))
    assert m[("pgbridge_up", ())] == 0 and m[("pgbridge_pipeline_restarts_total", ())] == 2
    assert not any(name == "pgbridge_confirmed_lsn" for name, _ in m)


def test_unknown_paths_and_methods(state):
    assert respond(state, "GET", "/nope")[0] == 404
    assert respond(state, "POST", "/q/health")[0] == 405
    assert respond(state, "GET", "/q/metrics?x=1")[0] == 200


def test_serving_over_http_and_a_busy_port_is_a_config_error(state):
    async def scenario():
        server = await serve(HttpConfig(True, "127.0.0.1", 0), state)
        port = server.sockets[0].getsockname()[1]
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /q/metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            response = await reader.read()
            writer.close()
            with pytest.raises(ConfigError, match=rf"bridge\.http\.port \(quarkus\.http\.port\)={port} .*cannot be used"):
                await serve(HttpConfig(True, "127.0.0.1", port), state)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"garbage\r\n\r\n")
            bad = await reader.read()
            writer.close()
        finally:
            server.close()
            await server.wait_closed()
        return response, bad

    response, bad = asyncio.run(scenario())
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"Content-Type: text/plain; version=0.0.4" in head
    assert f"Content-Length: {len(body)}".encode() in head and b"pgbridge_confirmed_lsn " in body
    assert bad.startswith(b"HTTP/1.1 400 Bad Request")


def test_disabled_serves_nothing(state):
    assert asyncio.run(serve(HttpConfig(False, "127.0.0.1", 0), state)) is None
