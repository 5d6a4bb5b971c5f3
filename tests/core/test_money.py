"""booking/core/money.py: integer fen arithmetic, rounded half up once (the mutation-testing core's own tests)."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from booking.core.money import (
    BP,
    MICROHOURS_PER_HOUR,
    round_half_up,
    share_fen,
    time_cost_fen,
    usage_cost_fen,
)


def exact_half_up(value: Fraction) -> int:
    whole = value.numerator // value.denominator
    return whole + 1 if value - whole >= Fraction(1, 2) else whole


def test_constants():
    assert (BP, MICROHOURS_PER_HOUR) == (10_000, 1_000_000)


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        (0, 1, 0),
        (0, 7, 0),
        (1, 1, 1),
        (1, 2, 1),  # exactly half: up
        (1, 3, 0),
        (2, 3, 1),
        (3, 2, 2),
        (5, 2, 3),
        (149, 100, 1),
        (150, 100, 2),
        (151, 100, 2),
        (7, 10, 1),
        (10**15 + 1, 2, 5 * 10**14 + 1),  # far beyond 32 bits, still exact
    ],
)
def test_round_half_up(numerator, denominator, expected):
    assert round_half_up(numerator, denominator) == expected


@given(st.integers(0, 10**12), st.integers(1, 10**7))
def test_round_half_up_is_the_exact_rounding(numerator, denominator):
    assert round_half_up(numerator, denominator) == exact_half_up(Fraction(numerator, denominator))


@pytest.mark.parametrize(("numerator", "denominator"), [(-1, 1), (-1, 2), (1, 0), (0, 0), (1, -1), (-5, -5)])
def test_round_half_up_refuses_negatives_and_zero_denominators(numerator, denominator):
    with pytest.raises(
        ValueError, match=r"^round_half_up takes a non-negative numerator and a positive denominator$"
    ):
        round_half_up(numerator, denominator)


@pytest.mark.parametrize(
    ("rate", "duration", "expected"),
    [
        (10_000, timedelta(hours=1), 10_000),
        (10_000, timedelta(minutes=30), 5_000),
        (10_000, timedelta(0), 0),
        (1, timedelta(minutes=30), 1),  # 0.5 fen: half up
        (1, timedelta(minutes=29, seconds=59), 0),
        (7_777, timedelta(minutes=90), 11_666),  # 11_665.5: half up
        (100, timedelta(seconds=1), 0),  # 0.0277…
        (3_600, timedelta(seconds=1), 1),
        (3_600, timedelta(seconds=1, microseconds=999_999), 1),  # whole seconds only
    ],
)
def test_time_cost_fen(rate, duration, expected):
    assert time_cost_fen(rate, duration) == expected


@pytest.mark.parametrize(
    ("microhours", "price", "expected"),
    [
        (1_000_000, 350, 350),
        (1_500_000, 350, 525),
        (0, 350, 0),
        (1_000, 500, 1),  # 0.5 fen: half up
        (999, 500, 0),  # 0.4995 fen
        (1, 1_000_000, 1),
        (3, 166_667, 1),  # 0.500001
        (2_500_000, 3, 8),  # 7.5 → 8
    ],
)
def test_usage_cost_fen(microhours, price, expected):
    assert usage_cost_fen(microhours, price) == expected


@pytest.mark.parametrize(
    ("amount", "rate_bp", "expected"),
    [
        (10_000, 5_000, 5_000),
        (10_000, 10_000, 10_000),
        (10_000, 0, 0),
        (1, 5_000, 1),  # half a fen: half up
        (1, 4_999, 0),
        (333, 3_333, 111),  # 110.9889
        (12_345, 2_500, 3_086),  # 3_086.25
        (12_346, 2_500, 3_087),  # 3_086.5 → up
    ],
)
def test_share_fen(amount, rate_bp, expected):
    assert share_fen(amount, rate_bp) == expected


def test_negative_amounts_are_refused_everywhere():
    with pytest.raises(ValueError):
        time_cost_fen(-1, timedelta(hours=1))
    with pytest.raises(ValueError):
        usage_cost_fen(-1, 100)
    with pytest.raises(ValueError):
        share_fen(-1, 100)
