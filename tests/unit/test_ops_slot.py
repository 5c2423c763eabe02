"""`bridge slot`'s plans and refusals from hand-made facts, and its confirmation rule: no server."""

from __future__ import annotations

import io

import pytest

from bridge.commands.slot import confirm
from bridge.errors import ConfigError, ReplicationSetupError
from bridge.lsn import parse_lsn
from bridge.ops.slot_tools import (
    SlotStatus,
    TableIdentity,
    parse_lsn_argument,
    plan_advance,
    plan_create,
    plan_drop,
    plan_recreate,
)
from bridge.source.slots import SlotFacts

CURRENT = parse_lsn("1/1000")


def slot(**changes) -> SlotFacts:
    facts = dict(name="s1", slot_type="logical", plugin="pgoutput", database="shop", temporary=False,
                 active_pid=None, restart_lsn=parse_lsn("1/100"), confirmed_flush_lsn=parse_lsn("1/200"),
                 wal_status="reserved", safe_wal_size=None)
    return SlotFacts(**{**facts, **changes})


def status(s: SlotFacts | None = None, tables=()) -> SlotStatus:
    return SlotStatus("s1", s, CURRENT, "p1", True, False, tables)


def test_status_reports_both_lags_against_the_current_wal():
    st = status(slot(), (TableIdentity("public", "a", "default", False),))
    doc = st.as_json()
    assert doc["restart_lag_bytes"] == 0xF00 and doc["confirmed_lag_bytes"] == 0xE00
    assert doc["restart_lsn"] == "1/100" and doc["current_wal_lsn"] == "1/1000"
    assert doc["tables"] == [{"schema": "public", "table": "a", "replica_identity": "default", "primary_key": False}]
    text = "\n".join(st.lines())
    assert "confirmed_flush_lsn  1/200  lag 3.5 KiB (3584 bytes)" in text
    assert "safe_wal_size        unlimited (max_slot_wal_keep_size=-1)" in text
    assert "public.a  default (no primary key: no key, no before-image)" in text


def test_status_of_a_missing_slot_says_so():
    st = status()
    assert st.as_json()["exists"] is False and st.restart_lag is None
    assert st.lines()[0] == "slot                s1 (does not exist)"


@pytest.mark.parametrize("text, lsn", [("1/200", 0x100000200), ("4294967808", 0x100000200)])
def test_an_lsn_argument_is_postgres_text_or_a_number(text, lsn):
    assert parse_lsn_argument(text) == lsn


def test_a_malformed_lsn_argument_is_refused():
    with pytest.raises(ReplicationSetupError, match="'12G' is not an LSN"):
        parse_lsn_argument("12G")


def test_advance_refuses_to_move_backwards():
    with pytest.raises(ReplicationSetupError, match="backwards: 1/1FF is before its confirmed_flush_lsn 1/200"):
        plan_advance(status(slot()), parse_lsn("1/1FF"))


def test_advance_refuses_to_pass_the_current_wal():
    with pytest.raises(ReplicationSetupError, match=r"past the WAL written so far: 1/1001 is after "
                                                    r"pg_current_wal_lsn\(\) 1/1000"):
        plan_advance(status(slot()), parse_lsn("1/1001"))


def test_advance_refuses_an_active_or_lost_slot():
    with pytest.raises(ReplicationSetupError, match="process 42 is streaming from it"):
        plan_advance(status(slot(active_pid=42)), CURRENT)
    with pytest.raises(ReplicationSetupError, match="wal_status=lost"):
        plan_advance(status(slot(wal_status="lost")), CURRENT)


def test_advance_says_what_is_skipped():
    plan = plan_advance(status(slot()), parse_lsn("1/800"))
    assert plan.destructive and plan.target == parse_lsn("1/800")
    assert plan.lines() == [
        "will advance slot 's1' from 1/200 to 1/800",
        "LOST: changes committed after 1/200 and before 1/800 (1.5 KiB (1536 bytes) of WAL) are skipped: never sent "
        "to Kafka; to bring the rows they changed to Kafka, run an incremental snapshot of the tables (an "
        "execute-snapshot signal, see README 'Incremental snapshots')"]


def test_create_refuses_an_existing_slot_and_a_skipped_initial_snapshot():
    with pytest.raises(ReplicationSetupError, match="already exists"):
        plan_create(status(slot()), "no_data", False, False)
    with pytest.raises(ReplicationSetupError, match="snapshot.mode=initial takes an initial snapshot .* --at-current"):
        plan_create(status(), "initial", True, False)
    assert not plan_create(status(), "initial", True, True).destructive
    assert plan_create(status(), "no_data", False, False).action == "create"


def test_drop_refuses_a_missing_or_active_slot_and_names_the_loss():
    with pytest.raises(ReplicationSetupError, match="does not exist"):
        plan_drop(status())
    with pytest.raises(ReplicationSetupError, match="stop that bridge first"):
        plan_drop(status(slot(active_pid=7)))
    [loss] = plan_drop(status(slot())).losses
    assert loss.startswith("the next `bridge run` starts a new slot at the WAL position of that moment: changes "
                           "committed after 1/200 and before then are not streamed")


def test_recreate_names_exactly_what_is_not_replayed():
    plan = plan_recreate(status(slot(wal_status="lost", restart_lsn=None)), parse_lsn("1/300"))
    assert plan.drop_first and plan.steps[0].startswith("drop replication slot 's1' (wal_status=lost")
    assert plan.losses == (
        "changes committed after 1/300 and before the new slot's position (about 1/1000, 3.2 KiB (3328 bytes) of "
        "WAL) are not replayed by PostgreSQL; to bring the rows they changed to Kafka, run an incremental snapshot "
        "of the tables (an execute-snapshot signal, see README 'Incremental snapshots')",)


def test_recreate_of_a_usable_slot_points_at_advance_instead():
    plan = plan_recreate(status(slot()), parse_lsn("1/300"))
    assert "`bridge slot advance --to 1/300` would keep every change after 1/300" in plan.losses[0]


def test_recreate_refuses_a_position_past_the_wal():
    with pytest.raises(ReplicationSetupError, match="not a position of this server's WAL"):
        plan_recreate(status(), parse_lsn("2/0"))
    assert not plan_recreate(status(), CURRENT).drop_first


class _Stdin(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_confirmation_needs_yes_without_a_terminal():
    confirm(True, "drop", stdin=_Stdin(False))
    with pytest.raises(ConfigError, match="no terminal to ask, pass --yes"):
        confirm(False, "drop", stdin=_Stdin(False))


def test_a_terminal_user_must_answer_yes():
    confirm(False, "drop", stdin=_Stdin(True), ask=lambda _: "y")
    with pytest.raises(ConfigError, match="not confirmed"):
        confirm(False, "drop", stdin=_Stdin(True), ask=lambda _: "")
