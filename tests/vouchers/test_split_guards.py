"""vouchers/split.py beyond tests/vouchers/test_split.py: what mutation testing found unpinned."""

from __future__ import annotations

import pytest

from vouchers.split import split_cost


def test_a_negative_cost_is_refused_saying_why():
    with pytest.raises(ValueError, match=r"^a cost cannot be negative$"):
        split_cost(-1, [])


def test_a_zero_cost_splits_into_nothing():
    split = split_cost(0, [])
    assert (split.total_fen, split.lines, split.subsidy_fen, split.team_pays_fen) == (0, (), 0, 0)
