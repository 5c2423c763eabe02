"""The shared LSN cells: per-producer acked watermarks and the safe LSN.

The cross-process case is in test_ring_procs.py.
"""

import os

import pytest

from bridge.ring import LsnCells


def test_cells_start_at_zero_and_are_seen_by_an_attached_process_view() -> None:
    with LsnCells.create(3) as coordinator, LsnCells.attach(coordinator.handle) as producer:
        assert coordinator.acked_all() == [0, 0, 0] and coordinator.safe_lsn == 0
        producer.publish_acked(1, 0x16_B374_D848)
        coordinator.publish_safe_lsn(0x16_B374_D800)
        assert coordinator.acked(1) == 0x16_B374_D848
        assert coordinator.acked_all() == [0, 0x16_B374_D848, 0]
        assert producer.safe_lsn == 0x16_B374_D800


def test_watermarks_never_move_backwards() -> None:
    with LsnCells.create(1) as cells:
        cells.publish_acked(0, 200)
        cells.publish_acked(0, 200)  # unchanged is fine
        with pytest.raises(ValueError, match="backwards from 200 to 199"):
            cells.publish_acked(0, 199)
        cells.publish_safe_lsn(50)
        with pytest.raises(ValueError, match="backwards"):
            cells.publish_safe_lsn(49)
        assert cells.acked(0) == 200 and cells.safe_lsn == 50


def test_producer_index_and_count_are_checked() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LsnCells.create(0)
    with LsnCells.create(2) as cells:
        with pytest.raises(IndexError, match="out of range"):
            cells.publish_acked(2, 1)
        with pytest.raises(ValueError, match="not the LSN cells of 3 pgbridge producers"):
            LsnCells.attach(cells.handle._replace(producers=3))


def test_close_unlinks_only_for_the_creator() -> None:
    cells = LsnCells.create(1)
    path = os.path.join("/dev/shm", cells.handle.name)
    LsnCells.attach(cells.handle).close()
    assert os.path.exists(path)
    cells.close()
    cells.close()  # idempotent
    assert not os.path.exists(path)


def test_a_producers_truncate_barrier_cell_only_grows_and_leaves_its_neighbours_alone() -> None:
    with LsnCells.create(2) as cells, LsnCells.attach(cells.handle) as producer:
        producer.publish_producer_stats(1, 10, 11, 12)
        producer.publish_poisoned(1, 13)
        producer.publish_incompatible(1, 14)
        producer.publish_pushed(1, 15)
        producer.publish_barrier(1, 2)
        assert [cells.barrier(0), cells.barrier(1)] == [0, 2]
        with pytest.raises(ValueError, match="backwards from 2 to 1"):
            producer.publish_barrier(1, 1)
        assert cells.producer_stats(1) == (10, 11, 12) and cells.poisoned(1) == 13 \
            and cells.incompatible(1) == 14 and cells.pushed_all() == [0, 15] and cells.acked_all() == [0, 0]
