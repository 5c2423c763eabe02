"""kill -9 of any pipeline process at random moments never loses a committed change; with
exactly once, never writes one twice either (as read by a read_committed consumer)."""

from tests.integration.crash_loop import crash_loop


def test_crash_loop_loses_nothing_and_keeps_per_key_order(pg_dsn, kafka_bootstrap, tmp_path, unique_name):
    kills = crash_loop(pg_dsn, kafka_bootstrap, tmp_path, unique_name, iterations=21, producers=2, seed=20261124)
    # GIVEN 21 kills spread over every kind of process
    assert sum(kills.values()) == 21
    assert all(kills[k] > 0 for k in ("coordinator", "decoder", "producer")), kills


def test_crash_loop_with_exactly_once_writes_every_change_once(pg_dsn, kafka_bootstrap, tmp_path, unique_name):
    kills = crash_loop(pg_dsn, kafka_bootstrap, tmp_path, unique_name, iterations=21, producers=2, seed=20261125,
                       exactly_once=True)
    assert sum(kills.values()) == 21
    assert all(kills[k] > 0 for k in ("coordinator", "decoder", "producer")), kills
