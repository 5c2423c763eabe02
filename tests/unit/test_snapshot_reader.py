"""Snapshot sessions take the walsender's session settings (the values' text depends on them)."""

from bridge.convert.values import REPLICATION_SESSION_OPTIONS
from bridge.snapshot.reader import SESSION_SETTINGS


def test_every_replication_session_option_is_applied():
    applied = {f"-c {name}={value}" for name, value in SESSION_SETTINGS}
    options = REPLICATION_SESSION_OPTIONS.split(" -c ")
    assert len(options) == REPLICATION_SESSION_OPTIONS.count("-c")
    assert {"-c " + o.removeprefix("-c ") for o in options} <= applied
    assert ("statement_timeout", "0") in SESSION_SETTINGS
