"""Watermark math of the coordinator: min over producers, transaction boundaries, never backwards."""

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.ack.safe_lsn import SafeLsn, safe_lsn


def test_caught_up_producers_hold_nothing_back():
    # GIVEN producer 0 acked all it got (100) and producer 1 never got anything
    assert safe_lsn(dispatched=300, pushed=[100, 0], acked=[100, 0]) == 300


def test_a_producer_with_outstanding_work_bounds_the_result():
    assert safe_lsn(dispatched=300, pushed=[300, 200], acked=[100, 200]) == 100
    assert safe_lsn(dispatched=300, pushed=[300, 300], acked=[250, 200]) == 200


def test_never_above_dispatched_even_if_cells_were_read_late():
    # acked/pushed read after the decoder moved on: the result is still capped by D
    assert safe_lsn(dispatched=100, pushed=[300], acked=[200]) == 100


def test_safe_lsn_object_never_goes_backwards():
    cells = {"d": 500, "p": [500], "a": [500]}
    s = SafeLsn(lambda: cells["d"], lambda: cells["p"], lambda: cells["a"])
    assert s.update() == 500
    cells.update(d=600, p=[600], a=[500])  # new work in flight
    assert s.update() == 500
    cells.update(a=[600])
    assert s.update() == 600


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2)), min_size=1, max_size=40), st.data())
def test_every_transaction_at_or_below_the_result_is_acked(txns, data):
    """Model: transactions end at LSN 10, 20, ...; each touches a random subset of 3
    producers; each producer acks its transactions in order, a random prefix of them."""
    producers = 3
    touched = [sorted({a % producers, b % producers}) for a, b in txns]
    ends = [10 * (i + 1) for i in range(len(txns))]
    dispatched_count = data.draw(st.integers(0, len(txns)))
    pushed, acked, acked_upto = [0] * producers, [0] * producers, {}
    for p in range(producers):
        mine = [i for i in range(dispatched_count) if p in touched[i]]
        if mine:
            pushed[p] = ends[mine[-1]]
        k = data.draw(st.integers(0, len(mine)))
        acked_upto[p] = set(mine[:k])
        acked[p] = ends[mine[k - 1]] if k else 0
    dispatched = ends[dispatched_count - 1] if dispatched_count else 0
    result = safe_lsn(dispatched, pushed, acked)
    for i, end in enumerate(ends):
        if end <= result:
            assert all(i in acked_upto[p] for p in touched[i]), (i, result)
