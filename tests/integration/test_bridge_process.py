"""The process helper of this tier (`support.BridgeProcess`) runs whichever subcommand it is given."""

from __future__ import annotations

from tests.integration.support import BridgeProcess, write_properties


def test_the_process_helper_runs_the_subcommand_it_is_given(tmp_path, pg_dsn, kafka_bootstrap):
    cfg = write_properties(tmp_path / "a.properties", pg_dsn, kafka_bootstrap, prefix="x", slot="x", publication="x")
    # GIVEN the helper told to run `check` instead of the default `run`
    bridge = BridgeProcess(cfg, tmp_path / "check.log", command="check")
    assert BridgeProcess(cfg, tmp_path / "run.log").command == "run"
    # WHEN it starts
    bridge.start()
    # THEN the process validates the configuration and exits by itself, where `run` would stream
    assert bridge.wait(60) == 0, bridge.log()
    assert f"{cfg}: OK" in bridge.log()
