"""Instrument booking policy in time: opening hours in the instrument's own timezone, the slot grid,
duration bounds, lead time, horizon and blackouts.

Booking validation and availability search use these same primitives, so the calendar never offers
a slot that booking would refuse. All instants are timezone-aware UTC; wall-clock reasoning happens
in the instrument's IANA zone (DST-free Asia/Shanghai by default, any other zone works).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from booking.core.errors import Invalid

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class WeeklyRange:
    weekday: int  # 0 = Monday
    opens_minute: int
    closes_minute: int  # up to 1440 (midnight at the end of the day)


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid("Unknown timezone.", details={"timezone": ["Not an IANA timezone name."]})


def _wall_to_utc(day, minute: int, tz: ZoneInfo) -> datetime:
    """Local wall-clock ``day`` + ``minute`` minutes (1440 = next midnight) as a UTC instant."""
    if minute >= 1440:
        day, minute = day + timedelta(days=1), minute - 1440
    local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=tz)
    return local.astimezone(UTC)


def opening_windows(
    ranges: Iterable[WeeklyRange], tz_name: str, start: datetime, end: datetime
) -> list[Interval]:
    """The instrument's opening windows that touch [start, end), in UTC, sorted and merged where they
    meet (so 22:00–24:00 and 00:00–02:00 the next day are one window)."""
    tz = zone(tz_name)
    by_weekday: dict[int, list[WeeklyRange]] = {}
    for r in ranges:
        by_weekday.setdefault(r.weekday, []).append(r)
    if not by_weekday:
        return []
    day = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date()
    windows: list[Interval] = []
    while day <= last:
        for r in by_weekday.get(day.weekday(), ()):
            opens, closes = _wall_to_utc(day, r.opens_minute, tz), _wall_to_utc(day, r.closes_minute, tz)
            if closes > start and opens < end and closes > opens:
                windows.append((opens, closes))
        day += timedelta(days=1)
    return merge(windows)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for s, e in sorted(intervals):
        if merged and s <= merged[-1][1]:
            if e > merged[-1][1]:
                merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


def subtract(windows: Sequence[Interval], taken: Iterable[Interval]) -> list[Interval]:
    """``windows`` minus every interval of ``taken`` (both sorted or not; result sorted)."""
    result: list[Interval] = []
    cuts = merge(taken)
    for ws, we in merge(windows):
        cursor = ws
        for ts, te in cuts:
            if te <= cursor or ts >= we:
                continue
            if ts > cursor:
                result.append((cursor, ts))
            cursor = max(cursor, te)
            if cursor >= we:
                break
        if cursor < we:
            result.append((cursor, we))
    return result


# --- the slot grid: multiples of slot_minutes from local midnight --------------------------------------


def _local_minute(t: datetime, tz: ZoneInfo) -> tuple[datetime, int]:
    local = t.astimezone(tz)
    return local, local.hour * 60 + local.minute


def on_grid(t: datetime, tz_name: str, slot_minutes: int) -> bool:
    local, minute = _local_minute(t, zone(tz_name))
    return local.second == 0 and local.microsecond == 0 and minute % slot_minutes == 0


# --- validation of one requested booking --------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """The time rules of one instrument (a plain value, so availability can work without the ORM)."""

    timezone: str
    slot_minutes: int
    min_minutes: int
    max_minutes: int
    lead_minutes: int
    horizon_days: int
    ranges: tuple[WeeklyRange, ...]

    @classmethod
    def of(cls, instrument) -> Policy:
        return cls(
            timezone=instrument.timezone,
            slot_minutes=instrument.slot_minutes,
            min_minutes=instrument.min_minutes,
            max_minutes=instrument.max_minutes,
            lead_minutes=instrument.lead_minutes,
            horizon_days=instrument.horizon_days,
            ranges=tuple(
                WeeklyRange(r.weekday, r.opens_minute, r.closes_minute) for r in instrument.opening_hours
            ),
        )

    def earliest_start(self, now: datetime) -> datetime:
        return now + timedelta(minutes=self.lead_minutes)

    def latest_end(self, now: datetime) -> datetime:
        return now + timedelta(days=self.horizon_days)


def _refuse(code: str, message: str, field: str = "starts_at") -> Invalid:
    return Invalid(message, code=code, details={field: [message]})


def check_times(
    policy: Policy, starts_at: datetime, ends_at: datetime, now: datetime, blackouts: Iterable[Interval]
):
    """Raise ``Invalid`` with the API's code for the first rule the requested range breaks."""
    for problem in time_problems(policy, starts_at, ends_at, now, blackouts):
        raise problem


def time_problems(
    policy: Policy, starts_at: datetime, ends_at: datetime, now: datetime, blackouts: Iterable[Interval]
) -> Iterator[Invalid]:
    """Every rule the requested range breaks, in the order ``check_times`` refuses them (so a form
    can show them all at once, and booking refuses with the first)."""
    if ends_at <= starts_at:
        yield _refuse("invalid", "The booking must end after it starts.", "ends_at")
        return  # the other rules measure a range that does not exist
    if not (
        on_grid(starts_at, policy.timezone, policy.slot_minutes)
        and on_grid(ends_at, policy.timezone, policy.slot_minutes)
    ):
        yield _refuse("off_grid", f"Bookings start and end on the {policy.slot_minutes}-minute grid.")
    minutes = (ends_at - starts_at).total_seconds() / 60
    if minutes < policy.min_minutes:
        yield _refuse("too_short", f"Book at least {policy.min_minutes} minutes.", "ends_at")
    if minutes > policy.max_minutes:
        yield _refuse("too_long", f"Book at most {policy.max_minutes} minutes.", "ends_at")
    if starts_at < policy.earliest_start(now):
        yield _refuse("inside_lead_time", f"Book at least {policy.lead_minutes} minutes ahead.")
    if ends_at > policy.latest_end(now):
        yield _refuse("beyond_horizon", f"Book at most {policy.horizon_days} days ahead.", "ends_at")
    windows = opening_windows(policy.ranges, policy.timezone, starts_at, ends_at)
    if not any(ws <= starts_at and ends_at <= we for ws, we in windows):
        yield _refuse("outside_opening_hours", "The instrument is not open for the whole booking.")
    if any(bs < ends_at and starts_at < be for bs, be in blackouts):
        yield _refuse("blackout", "The instrument is unavailable (maintenance or closure) then.")
