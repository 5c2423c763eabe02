"""The single-process ack contract: confirm only fully acked transactions, in commit order."""

from bridge.ack.tracker import AckTracker


def test_confirms_only_after_every_event_is_acked():
    t = AckTracker()
    txn = t.begin()
    t.produced(txn)
    t.produced(txn)
    t.commit(end_lsn=100)
    assert t.safe_lsn() == 0
    t.acked(txn)
    assert t.safe_lsn() == 0
    t.acked(txn)
    assert t.safe_lsn() == 100


def test_later_transaction_acked_first_waits_for_earlier():
    t = AckTracker()
    first = t.begin()
    t.produced(first)
    t.commit(100)
    second = t.begin()
    t.produced(second)
    t.commit(200)
    t.acked(second)
    assert t.safe_lsn() == 0  # GIVEN the older transaction is still in flight
    t.acked(first)
    assert t.safe_lsn() == 200


def test_open_transaction_is_never_confirmed_even_when_its_events_are_acked():
    t = AckTracker()
    txn = t.begin()
    t.produced(txn)
    t.acked(txn)
    assert t.safe_lsn(stream_position=500) == 0
    t.commit(300)
    assert t.safe_lsn() == 300


def test_idle_stream_advances_to_stream_position_and_never_backwards():
    t = AckTracker(start_lsn=50)
    assert t.safe_lsn(stream_position=40) == 50
    assert t.safe_lsn(stream_position=80) == 80
    txn = t.begin()
    t.produced(txn)
    assert t.safe_lsn(stream_position=90) == 80  # busy: the stream position is not safe
    t.acked(txn)
    t.commit(120)
    assert t.safe_lsn(stream_position=130) == 130


def test_failure_freezes_the_safe_lsn():
    t = AckTracker()
    txn = t.begin()
    t.produced(txn)
    t.commit(100)
    t.fail("broker said no")
    t.acked(txn)
    assert t.safe_lsn(stream_position=1000) == 0
    assert t.failed == "broker said no"


def test_empty_transaction_is_confirmable_at_once():
    t = AckTracker()
    t.begin()
    t.commit(70)
    assert t.safe_lsn() == 70
