"""Chunk planning: bounds cover every key / page exactly once, ranges are open at both ends."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.snapshot.plan import key_bounds, page_bounds, quote_ident, range_conditions


def chunk_of(value: int, bounds: list[int]) -> int:
    """Which range (as `range_conditions` builds them) holds `value`."""
    return sum(value >= b for b in bounds)


@pytest.mark.parametrize(
    ("low", "high", "chunks", "bounds"),
    [
        (1, 1_000_000, 4, [250_001, 500_001, 750_001]),
        (1, 10, 3, [5, 8]),
        (-10, 10, 3, [-3, 4]),
        (5, 5, 4, []),  # one key: one range
        (1, 3, 8, [2, 3]),  # fewer keys than chunks: one key per range
        (0, 99, 1, []),
    ],
)
def test_key_bounds(low, high, chunks, bounds):
    assert key_bounds(low, high, chunks) == bounds


@given(st.integers(-(2**63), 2**63 - 1), st.integers(0, 2**40), st.integers(1, 64))
def test_key_bounds_split_evenly_and_stay_inside(low, width, chunks):
    high = min(low + width, 2**63 - 1)
    bounds = key_bounds(low, high, chunks)
    assert bounds == sorted(set(bounds)) and len(bounds) <= chunks - 1
    assert all(low < b <= high for b in bounds)
    sizes = [hi - lo for lo, hi in zip([low, *bounds], [*bounds, high + 1], strict=True)]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize(
    ("pages", "chunks", "bounds"),
    [(15149, 4, [3788, 7576, 11364]), (8, 4, [2, 4, 6]), (3, 8, [1, 2]), (0, 4, []), (1, 4, [])],
)
def test_page_bounds(pages, chunks, bounds):
    assert page_bounds(pages, chunks) == bounds


def test_range_conditions_are_open_at_both_ends():
    assert range_conditions('"id"', ["10", "20"]) == ['"id" < 10', '"id" >= 10 AND "id" < 20', '"id" >= 20']
    assert range_conditions("ctid", ["'(5,0)'"]) == ["ctid < '(5,0)'", "ctid >= '(5,0)'"]
    assert range_conditions("ctid", []) == [""]


def test_every_value_falls_in_exactly_one_range_even_outside_the_planned_bounds():
    bounds = key_bounds(100, 200, 4)
    assert [chunk_of(v, bounds) for v in (-5, 100, 125, 126, 200, 10**9)] == [0, 0, 0, 1, 3, 3]


def test_quote_ident():
    assert quote_ident("Order Items") == '"Order Items"'
    assert quote_ident('we"ird') == '"we""ird"'
