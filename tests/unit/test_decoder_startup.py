"""The decoder's start-up decision, for every snapshot.mode × slot × cut-over
(`bridge.proc.decoder_startup`)."""

from __future__ import annotations

import pytest

from bridge.cutover.offsets import OffsetsError
from bridge.errors import ConfigError
from bridge.proc.decoder_startup import StartupPlan, startup_plan

MODES = ("initial", "always", "initial_only", "no_data", "when_needed")


def plan(snapshot=False, keep_slot=False, ensure_slot=False, stream=True, cutover=False, new_slot=False):
    return StartupPlan(snapshot=snapshot, keep_slot=keep_slot, ensure_slot=ensure_slot, stream=stream,
                       cutover=cutover, new_slot=new_slot)


@pytest.mark.parametrize(("mode", "slot_exists", "expected"), [
    # no slot yet: never streamed
    ("initial", False, plan(snapshot=True, keep_slot=True, new_slot=True)),
    ("always", False, plan(snapshot=True, keep_slot=True, new_slot=True)),
    ("initial_only", False, plan(snapshot=True, stream=False, new_slot=True)),
    ("no_data", False, plan(ensure_slot=True, new_slot=True)),
    ("when_needed", False, plan(snapshot=True, keep_slot=True, new_slot=True)),
    # the slot exists: streamed before
    ("initial", True, plan(ensure_slot=True)),
    ("always", True, plan(snapshot=True, keep_slot=True)),
    ("initial_only", True, plan(stream=False)),
    ("no_data", True, plan(ensure_slot=True)),
    ("when_needed", True, plan(ensure_slot=True)),
])
def test_without_cutover(mode, slot_exists, expected):
    assert startup_plan(mode, slot_exists, False, slot_name="s") == expected


@pytest.mark.parametrize("mode", ("initial", "no_data", "when_needed"))
def test_cutover_streams_the_existing_slot_without_a_snapshot(mode):
    assert startup_plan(mode, True, True, slot_name="s") == plan(ensure_slot=True, cutover=True)


@pytest.mark.parametrize("mode", MODES)
def test_cutover_needs_the_slot_debezium_streamed_from(mode):
    with pytest.raises(OffsetsError, match="slot 's' does not exist"):
        startup_plan(mode, False, True, slot_name="s")


@pytest.mark.parametrize("mode", ("always", "initial_only"))
def test_cutover_with_a_mode_that_snapshots_or_never_streams_is_refused(mode):
    with pytest.raises(ConfigError, match="contradicts the cut-over"):
        startup_plan(mode, True, True, slot_name="s")
