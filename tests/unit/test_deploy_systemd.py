"""deploy/systemd: each unit runs a real `bridge` subcommand with flags the CLI's own parser
accepts, restarts the way an active/standby pair needs, reloads with a signal the bridge stops
cleanly on, is hardened, and passes `systemd-analyze verify` where systemd is installed."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bridge import cli
from bridge.commands import COMMANDS
from bridge.errors import ExitCode
from tests.deploy_files import SYSTEMD, read_unit, reload_signal, unit_command

RUN = SYSTEMD / "pgbridge@.service"
SINK = SYSTEMD / "pgbridge-sink@.service"
TEMPLATES = (RUN, SINK)
# what `systemctl reload` must send: `bridge run` re-reads its file on SIGHUP (bridge.ops.reload);
# the sink reads its file once, so its reload is a clean stop (which it drains on) and a restart
RELOAD = {RUN: signal.SIGHUP, SINK: signal.SIGTERM}


def _parsed(path: Path):
    command = unit_command(read_unit(path))
    assert command[0] == "/opt/pgbridge/bin/bridge", command
    if command[1] not in COMMANDS:
        pytest.skip(f"`bridge {command[1]}` is not in this tree yet")
    return cli._parser().parse_args(command[1:])


def test_the_pair_unit_runs_bridge_run_on_the_instance_config():
    args = _parsed(RUN)
    assert args.command == "run" and args.config == "/etc/pgbridge/orders.properties"


def test_the_sink_unit_runs_bridge_sink_with_its_workers():
    args = _parsed(SINK)
    assert args.command == "sink" and args.config == "/etc/pgbridge/orders.json"
    assert args.workers == 4  # Environment=PGBRIDGE_SINK_WORKERS, overridable in /etc/pgbridge/%i.env


def test_an_unknown_flag_would_be_caught():
    with pytest.raises(SystemExit):
        cli._parser().parse_args(["run", "-c", "x", "--no-such-flag"])


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_restart_and_reload(path):
    service = read_unit(path)["Service"]
    assert service["Restart"] == ["always"] and service["KillMode"] == ["mixed"]
    assert reload_signal(read_unit(path)) == RELOAD[path]
    prevented = {ExitCode(int(code)) for code in service["RestartPreventExitStatus"][0].split()}
    assert ExitCode.CONFIG in prevented
    # an active that lost its HA lock (12) must come back, as a standby
    assert ExitCode.HA_LOCK_LOST not in prevented
    assert read_unit(path)["Unit"]["StartLimitIntervalSec"] == ["0"]


def test_a_lost_slot_waits_for_the_operator():
    prevented = read_unit(RUN)["Service"]["RestartPreventExitStatus"][0].split()
    assert str(int(ExitCode.SLOT_LOST)) in prevented


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_hardening(path):
    service = {k: v[-1] for k, v in read_unit(path)["Service"].items()}
    assert service["NoNewPrivileges"] == "true" and service["ProtectSystem"] == "strict"
    assert service["PrivateTmp"] == "true" and service["User"] == "pgbridge"
    assert "/dev/shm" in service["ReadWritePaths"].split()  # the rings and multiprocessing's semaphores
    assert int(service["LimitNOFILE"]) >= 65536


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_systemd_analyze_verify(path, tmp_path):
    # an instance of the template, with ExecStart pointing at this interpreter's `bridge`
    bridge = Path(sys.executable).parent / "bridge"
    if not bridge.exists():
        pytest.skip(f"{bridge} is not installed")
    unit = tmp_path / path.name.replace("@", "@orders")
    unit.write_text(path.read_text().replace("/opt/pgbridge/bin/bridge", str(bridge)))
    proc = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr
