"""The HA lock's pieces without servers: its key, its settings, the health it serves while
waiting, and how a lock in doubt turns into the lock-lost exit."""

from __future__ import annotations

import json

import pytest

from bridge.config import config_from_properties
from bridge.errors import ConfigError, ExitCode, HaLockLost
from bridge.ops import ha
from bridge.ops.ha import LeaderLock, lock_key
from bridge.source.settings import HaConfig, PostgresConfig
from bridge.status.http import respond
from bridge.status.metrics import PipelineState
from tests.unit.builders import MINIMAL


def test_the_key_is_a_signed_64_bit_hash_of_cluster_and_slot():
    key = lock_key("7312345678901234567", "orders_slot")
    assert key == lock_key("7312345678901234567", "orders_slot")
    assert -2**63 <= key < 2**63
    assert key != lock_key("7312345678901234567", "other_slot")
    assert key != lock_key("7312345678901234568", "orders_slot")


def test_the_key_splits_as_pg_locks_shows_a_bigint_lock():
    for key in (lock_key("1", "a"), lock_key("2", "b"), -1, 0, 2**63 - 1, -2**63):
        high, low = ha._lock_parts(key)
        assert 0 <= high < 2**32 and 0 <= low < 2**32
        assert int.from_bytes(((high << 32) | low).to_bytes(8, "big"), "big", signed=True) == key


def test_settings_default_off_and_lock_is_read():
    assert config_from_properties(MINIMAL).ha == HaConfig(lock=False, poll_ms=1000)
    config = config_from_properties({**MINIMAL, "bridge.ha.mode": "lock", "bridge.ha.poll.ms": "250"})
    assert config.ha == HaConfig(lock=True, poll_ms=250)
    assert {"bridge.ha.mode", "bridge.ha.poll.ms"} <= {v.key for v in config.keys.honoured}


@pytest.mark.parametrize("key, value", [("bridge.ha.mode", "leader"), ("bridge.ha.poll.ms", "0")])
def test_invalid_values_are_refused_naming_the_key(key, value):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        config_from_properties({**MINIMAL, key: value})


def test_a_standby_is_alive_but_not_ready():
    state = PipelineState("s", 1, phase="standby")
    code, _, body = respond(state, "GET", "/q/health")
    assert code == 503 and json.loads(body)["status"] == "STANDBY"
    code, _, body = respond(state, "GET", "/q/health/live")
    assert code == 200 and json.loads(body)["status"] == "UP"
    assert json.loads(respond(PipelineState("s", 1, phase="restarting"), "GET", "/q/health")[2])["status"] == "DOWN"


def lock(monkeypatch, now: float) -> LeaderLock:
    pg = PostgresConfig("db", 5432, "u", "", "d", "prefer", 10)
    held = LeaderLock(pg, HaConfig(lock=True, poll_ms=100), "orders_slot")
    held.key = 42
    monkeypatch.setattr(ha.time, "monotonic", lambda: now)
    held._checked = now
    return held


def test_a_lock_unconfirmed_for_too_long_is_lost_once(monkeypatch):
    held = lock(monkeypatch, 1000.0)
    lost: list[str] = []
    held.check_overdue(lost.append)
    assert not lost and not held.overdue()
    assert held.overdue(1000.0 + ha.LOST_AFTER_S + 0.1)
    monkeypatch.setattr(ha.time, "monotonic", lambda: 1000.0 + ha.LOST_AFTER_S + 0.1)
    held.check_overdue(lost.append)
    held.check_overdue(lost.append)
    assert len(lost) == 1 and "no lock check answered" in lost[0] and "orders_slot" in lost[0]
    with pytest.raises(HaLockLost) as exc:
        held.raise_if_lost()
    assert exc.value.exit_code == ExitCode.HA_LOCK_LOST == 12


def test_a_closed_lock_is_never_reported_lost(monkeypatch):
    held = lock(monkeypatch, 1000.0)
    held.close()  # a clean stop released it
    assert not held.overdue(1000.0 + 10 * ha.LOST_AFTER_S)
    held.raise_if_lost()


def test_the_client_gives_up_before_the_server_frees_the_lock():
    server = dict(part.split("=") for part in ha.SERVER_KEEPALIVES.split() if "=" in part)
    freed_after = int(server["tcp_keepalives_idle"]) + int(server["tcp_keepalives_interval"]) * int(
        server["tcp_keepalives_count"])
    assert ha.LOST_AFTER_S < freed_after
