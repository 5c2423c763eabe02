"""What the decoder does at start, decided from the snapshot mode, the slot and the cut-over
alone (`startup_plan`, no I/O): the decoder process carries it out (`bridge.proc.decoder_main`).

Debezium's snapshot modes, without Connect offsets: "no slot yet" means "never streamed". A
cut-over from Debezium (`bridge.cutover.*`) resumes the slot Debezium streamed from, so that slot
must exist and nothing is snapshotted.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.cutover.offsets import OffsetsError
from bridge.errors import ConfigError
from bridge.snapshot.initial import needs_snapshot


@dataclass(frozen=True, slots=True)
class StartupPlan:
    snapshot: bool  # take the initial snapshot through the pipeline
    keep_slot: bool  # after the snapshot, copy its slot to `slot.name` (not with initial_only)
    ensure_slot: bool  # no snapshot, streaming: check the slot, create it when missing
    stream: bool  # stream changes after start-up (initial_only never does)
    cutover: bool  # drop what Debezium emitted before the slot's position (`ResumeFilter`)
    new_slot: bool  # no slot yet: stored incremental snapshot progress is an earlier slot's


def startup_plan(mode: str, slot_exists: bool, cutover: bool, *, slot_name: str) -> StartupPlan:
    """`mode`: snapshot.mode (initial, always, initial_only, no_data, when_needed); whether the
    slot `slot_name` exists; whether a cut-over from Debezium is configured."""
    if cutover and not slot_exists:
        raise OffsetsError(f"cut-over from Debezium: slot {slot_name!r} does not exist; slot.name must be the slot "
                           "Debezium streamed from")
    if cutover and mode in ("always", "initial_only"):
        raise ConfigError(f"snapshot.mode={mode} contradicts the cut-over: it resumes Debezium's stream without a "
                          "snapshot")
    snapshot = needs_snapshot(mode, slot_exists)
    stream = mode != "initial_only"
    return StartupPlan(snapshot=snapshot, keep_slot=snapshot and stream, ensure_slot=stream and not snapshot,
                       stream=stream, cutover=cutover, new_slot=not slot_exists)
