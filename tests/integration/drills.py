"""Helpers of the failure drills (tests/integration/test_drills.py) and of the poison-topic
test: a Toxiproxy client, the drill broker and a scratch PostgreSQL cluster of their own, raw
reads of a topic, a bridge's metrics, and the drill's end check ("nothing lost, per-key order
kept, slot caught up").

The drills never touch the shared Kafka or PostgreSQL: a broker fault is played on the drill
broker (deploy/local/kafka-drill), a PostgreSQL restart on a scratch cluster, and network faults
on Toxiproxy proxies that only the drill's bridge goes through.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, KafkaError

from tests.integration.support import REPO, BridgeProcess, wait_until
from tests.prometheus_text import parse

LOCAL = REPO / "deploy" / "local"


def run_up(script: str, timeout: float = 300) -> tuple[dict[str, str], bool]:
    """Run a deploy/local/<script>/up: (its exports, whether it started something)."""
    proc = subprocess.run([str(LOCAL / script / "up")], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"deploy/local/{script}/up failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return dict(re.findall(r"^export (\w+)='([^']*)'$", proc.stdout, re.M)), "# started: nothing" not in proc.stdout


def run_down(script: str) -> None:
    subprocess.run([str(LOCAL / script / "down")], capture_output=True, timeout=120, check=False)


# -- a bridge's metrics ---------------------------------------------------------------------------


def http_port(bridge: BridgeProcess) -> int:
    """The port of the bridge's health and metrics (bridge.http.port=0 picks one; the log says)."""
    found = wait_until(lambda: re.search(r"health and metrics on http://127\.0\.0\.1:(\d+)/", bridge.log()),
                       what="the HTTP port in the log")
    return int(found[1])


def metric_total(port: int, name: str) -> float:
    """The sum of metric `name` over its labels, from the bridge's /q/metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/q/metrics", timeout=10) as response:
        families = parse(response.read().decode())
    return sum(v for (n, _), v in families.items() if n == name)


# -- raw records ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawRecord:
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]
    partition: int

    def json(self):
        return json.loads(self.value)


def read_raw(bootstrap: str, topic: str, count: int, timeout: float = 60.0) -> list[RawRecord]:
    """The first `count` records of `topic` as bytes (fails when fewer arrive within `timeout`)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"raw-{os.getpid()}-{time.monotonic_ns()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    out: list[RawRecord] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            for msg in consumer.consume(100, 0.5):
                if msg.error():
                    if msg.error().code() in (KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART):
                        continue
                    raise AssertionError(f"consumer error: {msg.error()}")
                out.append(RawRecord(msg.key(), msg.value(), dict(msg.headers() or []), msg.partition()))
    finally:
        consumer.close()
    assert len(out) >= count, f"{topic}: {len(out)} records of {count} after {timeout}s"
    return out[:count]


# -- processes ------------------------------------------------------------------------------------


def pid_from(path: str) -> int:
    return int(Path(path).read_text().strip())


def signal_pid(pid: int, sig: signal.Signals) -> None:
    os.kill(pid, sig)
