"""`bridge drill` without servers: the bridge.drill.* section (read by `bridge run` too, so the
same file serves both), the command line, and the drill's verdict on what arrived in Kafka."""

from __future__ import annotations

import json

import pytest

from bridge import cli
from bridge.config import config_from_properties
from bridge.config.drill import DrillConfig
from bridge.errors import ConfigError
from bridge.ops.drill import DrillFailed, DrillResult, _key_and_v, per_key_problems
from tests.unit.builders import MINIMAL


def test_the_section_is_read_by_bridge_run():
    config = config_from_properties({**MINIMAL, "bridge.drill.toxiproxy.url": "http://127.0.0.1:8474",
                                     "bridge.drill.kafka.proxy": "kafka", "bridge.drill.table": "app.drill",
                                     "bridge.drill.duration.ms": "5000", "bridge.drill.database.port": "5433"})
    assert config.drill == DrillConfig(toxiproxy_url="http://127.0.0.1:8474", kafka_proxy="kafka", table="app.drill",
                                       duration_ms=5000, pg_port=5433)
    assert config_from_properties(MINIMAL).drill == DrillConfig()


@pytest.mark.parametrize("key, value, says", [
    ("bridge.drill.table", "drill", "name it schema.table"),
    ("bridge.drill.duration.ms", "10", "bridge.drill.duration.ms"),
    ("bridge.drill.kafka.proxi", "kafka", "bridge.drill.kafka.proxi is refused"),
])
def test_bad_and_misspelt_keys_are_refused(key, value, says):
    with pytest.raises(ConfigError, match=says.replace(".", r"\.")):
        config_from_properties({**MINIMAL, key: value})


def test_scenarios_parse():
    parser = cli._parser()
    args = parser.parse_args(["drill", "bridge-kill", "-c", "f.properties", "--pid", "42"])
    assert (args.command, args.scenario, args.pid) == ("drill", "bridge-kill", 42)
    with pytest.raises(SystemExit):
        parser.parse_args(["drill", "disk-full", "-c", "f.properties"])


def test_in_order_with_a_replay_is_fine():
    # 0..3, a restart replays from 2, then on to 5
    assert per_key_problems({1: [0, 1, 2, 3, 2, 3, 4, 5], 2: [0]}, {1: 5, 2: 0}) == []


@pytest.mark.parametrize("values, final, says", [
    ({1: [0, 1, 3]}, {1: 3}, "key 1: 1 then 3"),
    ({1: [0, 1, 2]}, {1: 3}, "key 1: missing [3]"),
    ({1: [1, 2]}, {1: 2}, "key 1: missing [0]"),
    ({}, {7: 2}, "key 7: no event"),
])
def test_a_gap_a_missing_change_or_key_is_found(values, final, says):
    assert any(says in p for p in per_key_problems(values, final)), per_key_problems(values, final)


def test_events_are_read_with_and_without_schemas():
    assert _key_and_v(b'{"id": 3}', json.dumps({"op": "u", "after": {"id": 3, "v": 9}}).encode()) == (3, 9)
    with_schemas = json.dumps({"schema": {}, "payload": {"op": "c", "after": {"id": 4, "v": 0}}}).encode()
    assert _key_and_v(b'{"schema": {}, "payload": {"id": 4}}', with_schemas) == (4, 0)
    assert _key_and_v(b'{"id": 3}', None) == (None, 0)
    with pytest.raises(DrillFailed, match="JSON events"):
        _key_and_v(b"\x00\x00\x00\x00\x01", b"\x00\x00\x00\x00\x01\x02")


def test_the_result_line_names_the_figures():
    line = DrillResult("kafka-partition", 10.0, 1.6, 4.3, 4.6, 3059, 3039).line()
    assert line == ("drill kafka-partition: fault 10.0s; after the heal: resumed 1.6s, caught up 4.3s, slot caught up "
                    "4.6s; 3059 records for 3039 committed changes; nothing lost, per-key order held")
