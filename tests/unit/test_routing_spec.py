"""The routing spec: its fingerprint changes with every input routing reads, and only with them."""

from __future__ import annotations

import dataclasses
import os
import pickle
import subprocess
import sys

import pytest

from bridge.route.filters import TableFilter
from bridge.route.settings import EventConfig, PipelineConfig
from bridge.route.spec import RoutingSpec

PIPELINE = PipelineConfig(producers=2, ring_bytes=1 << 24, salt=b"", salts={}, partitioner="mmh3",
                          restart_policy="never", restart_max_attempts=5, restart_backoff_ms=2000,
                          shutdown_timeout_ms=60_000)
EVENTS = EventConfig(topic_prefix="shop", tombstones_on_delete=True, skipped_operations=frozenset({"t"}),
                     key_schemas_enable=True, value_schemas_enable=True)


def spec(pipeline=PIPELINE, events=EVENTS, filters=TableFilter(), signal=None) -> RoutingSpec:
    return RoutingSpec.of(pipeline, events, filters, signal)


@pytest.mark.parametrize("change", [
    lambda: spec(pipeline=dataclasses.replace(PIPELINE, producers=3)),
    lambda: spec(pipeline=dataclasses.replace(PIPELINE, salt=b"x")),
    lambda: spec(pipeline=dataclasses.replace(PIPELINE, salts={"shop.public.t": b"x"})),
    lambda: spec(pipeline=dataclasses.replace(PIPELINE, partitioner="murmur2")),
    lambda: spec(events=dataclasses.replace(EVENTS, topic_prefix="shop2")),  # per-topic salts follow the name
    lambda: spec(events=dataclasses.replace(EVENTS, topic_delimiter="_")),
    lambda: spec(events=dataclasses.replace(EVENTS, skipped_operations=frozenset({"t", "d"}))),
    lambda: spec(events=dataclasses.replace(EVENTS, tombstones_on_delete=False)),
    lambda: spec(events=dataclasses.replace(EVENTS, provide_transaction_metadata=True)),
    lambda: spec(filters=TableFilter.from_lists(table_include="public.a")),
    lambda: spec(filters=TableFilter.from_lists(table_include="public.b")),
    lambda: spec(signal="public.signal"),
], ids=["producers", "salt", "salts", "partitioner", "prefix", "delimiter", "skipped", "tombstones", "metadata",
        "filter", "filter-other-regex", "signal"])
def test_every_routing_input_changes_the_fingerprint(change):
    assert change().fingerprint() != spec().fingerprint()


def test_settings_routing_does_not_read_leave_the_fingerprint_alone():
    # GIVEN the converter's schemas switch and the restart policy: no effect on which records exist
    other = spec(pipeline=dataclasses.replace(PIPELINE, restart_policy="on-failure", ring_bytes=1 << 25),
                 events=dataclasses.replace(EVENTS, value_schemas_enable=False, heartbeat_interval_ms=5))
    assert other.fingerprint() == spec().fingerprint()


def test_the_fingerprint_is_the_same_in_another_process():
    # sets are iterated in hash order, which differs between processes: the digest must not
    code = ("import sys, pickle; print(pickle.loads(sys.stdin.buffer.read()).fingerprint())")
    many = spec(events=dataclasses.replace(EVENTS, skipped_operations=frozenset("cudt")),
                pipeline=dataclasses.replace(PIPELINE, salts={"a": b"1", "b": b"2", "c": b"3"}))
    seen = {subprocess.run([sys.executable, "-c", code], input=pickle.dumps(many), capture_output=True,
                           check=True, env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout for seed in (1, 2, 3)}
    assert seen == {many.fingerprint().encode() + b"\n"}
