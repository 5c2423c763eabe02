"""Named fault points (`bridge.failpoints`): armed only by PGBRIDGE_FAILPOINTS, read at import.
Each point driven through a real bridge is in tests/integration/test_fault_points.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bridge import failpoints
from bridge.errors import ConfigError
from tests.unit.builders import MINIMAL

REPO = Path(__file__).resolve().parents[2]
REACH = "from bridge import failpoints; failpoints.hit(failpoints.BEFORE_CONFIRM); print('past it')"


def python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60)


def test_the_variable_names_points_and_actions():
    assert failpoints.parse("") == {}
    assert failpoints.parse("before_confirm:kill, mid_snapshot:sleep:250,") == {
        "before_confirm": None, "mid_snapshot": 0.25}


@pytest.mark.parametrize("text, message", [
    ("before_confrim:kill", r"unknown fault point 'before_confrim' \(known: after_produce_before_commit, "),
    ("before_confirm", r"'before_confirm' has no valid action \(kill, or sleep:<ms>\)"),
    ("before_confirm:sleep:soon", r"'before_confirm:sleep:soon' has no valid action"),
    ("mid_snapshot:exit", r"'mid_snapshot:exit' has no valid action"),
])
def test_a_misspelt_point_or_action_is_refused_rather_than_ignored(text, message):
    with pytest.raises(ConfigError, match=rf"PGBRIDGE_FAILPOINTS: {message}"):
        failpoints.parse(text)


def test_without_the_variable_nothing_is_armed():
    result = python(f"{REACH}; print(failpoints.ENABLED)", {"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["past", "it", "False"]


def test_kill_ends_the_process_that_reaches_the_point_as_a_crash_would():
    result = python(REACH, {"PGBRIDGE_FAILPOINTS": "before_confirm:kill"})
    assert result.returncode == -9, result.stderr
    assert "past it" not in result.stdout


def test_a_point_that_is_not_armed_is_passed():
    result = python(REACH, {"PGBRIDGE_FAILPOINTS": "mid_snapshot:kill"})
    assert result.returncode == 0 and "past it" in result.stdout, result.stderr


def test_sleep_pauses_at_the_point(monkeypatch, caplog):
    slept = []
    monkeypatch.setattr(failpoints, "ARMED", {failpoints.MID_SNAPSHOT: 0.25})
    monkeypatch.setattr(failpoints.time, "sleep", slept.append)
    failpoints.hit(failpoints.BEFORE_CONFIRM)
    failpoints.hit(failpoints.MID_SNAPSHOT)
    assert slept == [0.25]
    assert "fault point mid_snapshot: sleeping 0.250s" in caplog.text


def test_a_misspelt_variable_stops_the_bridge_with_one_line(tmp_path):
    config = tmp_path / "a.properties"
    config.write_text("".join(f"{k}={v}\n" for k, v in MINIMAL.items()))
    result = python(f"from bridge.cli import main; raise SystemExit(main(['run', '-c', {str(config)!r}]))",
                    {"PGBRIDGE_FAILPOINTS": "before_confirm:crash"})
    assert result.returncode == 2, result.stderr
    assert "PGBRIDGE_FAILPOINTS: 'before_confirm:crash' has no valid action" in result.stderr
    assert "Traceback" not in result.stderr
