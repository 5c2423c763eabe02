"""The ack contract of one producer: confirm only fully acked transactions, in commit order.
A Txn's `pending` counts records handed to Kafka; calling it is their delivery report."""

from bridge.ack.tracker import AckTracker


def test_confirms_only_after_every_event_is_acked():
    t = AckTracker()
    txn = t.begin()
    txn.pending += 1  # a record handed to Kafka
    txn.pending += 1
    t.commit(end_lsn=100)
    assert t.safe_lsn() == 0
    txn(None, None)  # its delivery report
    assert t.safe_lsn() == 0
    txn(None, None)
    assert t.safe_lsn() == 100


def test_later_transaction_acked_first_waits_for_earlier():
    t = AckTracker()
    first = t.begin()
    first.pending += 1
    t.commit(100)
    second = t.begin()
    second.pending += 1
    t.commit(200)
    second(None, None)
    assert t.safe_lsn() == 0  # GIVEN the older transaction is still in flight
    first(None, None)
    assert t.safe_lsn() == 200


def test_open_transaction_is_never_confirmed_even_when_its_events_are_acked():
    t = AckTracker()
    txn = t.begin()
    txn.pending += 1
    txn(None, None)
    assert t.safe_lsn(stream_position=500) == 0
    t.commit(300)
    assert t.safe_lsn() == 300


def test_idle_stream_advances_to_stream_position_and_never_backwards():
    t = AckTracker(start_lsn=50)
    assert t.safe_lsn(stream_position=40) == 50
    assert t.safe_lsn(stream_position=80) == 80
    txn = t.begin()
    txn.pending += 1
    assert t.safe_lsn(stream_position=90) == 80  # busy: the stream position is not safe
    txn(None, None)
    t.commit(120)
    assert t.safe_lsn(stream_position=130) == 130


def test_failure_freezes_the_safe_lsn():
    t = AckTracker()
    txn = t.begin()
    txn.pending += 1
    t.commit(100)
    t.fail("broker said no")
    txn(None, None)
    assert t.safe_lsn(stream_position=1000) == 0
    assert t.failed == "broker said no"


def test_empty_transaction_is_confirmable_at_once():
    t = AckTracker()
    t.begin()
    t.commit(70)
    assert t.safe_lsn() == 70


def test_a_refused_delivery_report_fails_the_tracker():
    class Err:
        def str(self):
            return "MSG_SIZE_TOO_LARGE"

    class Msg:
        def topic(self):
            return "t"

        def partition(self):
            return 3

    t = AckTracker()
    txn = t.begin()
    txn.pending += 1
    t.commit(100)
    txn(Err(), Msg())
    assert t.safe_lsn() == 0 and t.failed == "Kafka refused a record for t [3]: MSG_SIZE_TOO_LARGE"
