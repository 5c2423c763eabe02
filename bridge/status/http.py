"""Health checks and Prometheus metrics over HTTP, on the coordinator's event loop.

The paths are Debezium Server's (Quarkus SmallRye Health and Micrometer), so probes and
scrape configs written for it keep working; the short forms are aliases:

    /q/health, /q/health/ready, /health, /health/ready   200 UP when every process is
                                                         streaming, else 503 DOWN; 200 DEGRADED
                                                         while streaming with the slot keeping
                                                         more WAL than bridge.wal.warn.bytes
                                                         or within 5 minutes of a Kafka
                                                         authentication failure
                                                         (503 STANDBY: bridge.ha.mode=lock, waiting)
    /q/health/live, /health/live                         200 UP unless the pipeline failed
                                                         for good (restarts count as alive)
    /q/metrics, /metrics                                 Prometheus text format

A minimal HTTP/1.1 server: one request per connection, GET or HEAD, nothing else is read.
It needs no dependency beyond asyncio and cannot slow the data path: it runs in the
coordinator, which only reads shared cells.
"""

from __future__ import annotations

import asyncio
import json
import logging

from bridge.errors import ConfigError
from bridge.status.metrics import PipelineState, render
from bridge.status.settings import HttpConfig

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 5.0
MAX_HEADER_LINES = 100
_READY = ("/q/health", "/q/health/ready", "/health", "/health/ready")
_LIVE = ("/q/health/live", "/health/live")
_METRICS = ("/q/metrics", "/metrics")
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


def respond(state: PipelineState, method: str, path: str) -> tuple[int, str, bytes]:
    """(status, content type, body) for one request."""
    if method not in ("GET", "HEAD"):
        return 405, "text/plain; charset=utf-8", b"only GET and HEAD\n"
    path = path.split("?", 1)[0].rstrip("/") or "/"
    if path in _METRICS:
        return 200, "text/plain; version=0.0.4; charset=utf-8", render(state.families()).encode()
    if path in _READY or path in _LIVE:
        if path in _LIVE:
            up, data = state.phase != "failed", {"phase": state.phase}
        else:
            up, data = state.healthy()
        status = "UP" if up else "STANDBY" if state.phase == "standby" and path in _READY else "DOWN"
        degraded = state.degraded() if up and path in _READY else None
        if degraded:
            status, data = "DEGRADED", {**data, **degraded}
        body = {"status": status, "checks": [{"name": "pgbridge", "status": status, "data": data}]}
        return (200 if up else 503), "application/json", json.dumps(body).encode()
    return 404, "text/plain; charset=utf-8", b"not found: try /q/health or /q/metrics\n"


async def _handle(state: PipelineState, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT_S)
        for _ in range(MAX_HEADER_LINES):  # headers: read and ignored
            header = await asyncio.wait_for(reader.readline(), READ_TIMEOUT_S)
            if header in (b"\r\n", b"\n", b""):
                break
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            code, ctype, body = 400, "text/plain; charset=utf-8", b"bad request\n"
            method = "GET"
        else:
            method = parts[0]
            code, ctype, body = respond(state, method, parts[1])
        head = (f"HTTP/1.1 {code} {_REASONS[code]}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        writer.write(head if method == "HEAD" else head + body)
        await writer.drain()
    except (asyncio.TimeoutError, ConnectionError, asyncio.LimitOverrunError, ValueError):
        pass  # a client that is slow, gone or sends garbage gets nothing more
    finally:
        writer.close()


async def serve(config: HttpConfig, state: PipelineState) -> asyncio.Server | None:
    """Start serving (None when disabled). A port that cannot be bound is a config error."""
    if not config.enabled:
        return None
    try:
        server = await asyncio.start_server(lambda r, w: _handle(state, r, w), config.host, config.port)
    except OSError as exc:
        raise ConfigError(f"bridge.http.port (quarkus.http.port)={config.port} on host {config.host!r} cannot be "
                          f"used: {exc.strerror or exc}; choose another port, 0 for any free one, or set "
                          "bridge.http.enabled=false") from None
    port = server.sockets[0].getsockname()[1]
    log.info("health and metrics on http://%s:%d/q/health and /q/metrics", config.host, port)
    return server
