"""Integer fen arithmetic. A cost is computed exactly and rounded half up to the fen once; subsidies
are rounded down (in vouchers/split.py); the team pays the rest. Never floats."""

from __future__ import annotations

from datetime import timedelta

BP = 10_000  # basis points in 100%
MICROHOURS_PER_HOUR = 1_000_000  # metered GPU usage is counted in integer micro-GPU-hours


def round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up, for non-negative integers."""
    if numerator < 0 or denominator <= 0:
        raise ValueError("round_half_up takes a non-negative numerator and a positive denominator")
    return (2 * numerator + denominator) // (2 * denominator)


def time_cost_fen(hourly_rate_fen: int, duration: timedelta) -> int:
    """Cost of ``duration`` at ``hourly_rate_fen`` (rate × seconds / 3600, half up)."""
    seconds = int(duration.total_seconds())
    return round_half_up(hourly_rate_fen * seconds, 3600)


def usage_cost_fen(microhours: int, price_per_gpu_hour_fen: int) -> int:
    """Cost of metered GPU usage: micro-GPU-hours × price per GPU-hour, half up to the fen."""
    return round_half_up(microhours * price_per_gpu_hour_fen, MICROHOURS_PER_HOUR)


def share_fen(amount_fen: int, rate_bp: int) -> int:
    """A fee as a share of a cost (late cancellation, no-show): half up, like any charge."""
    return round_half_up(amount_fen * rate_bp, BP)


MAX_FEN = 10**13  # ¥100 billion: far above any programme, far below integer overflow
