"""Free time of instruments: the bookable intervals of one instrument, and which instruments are free for
a whole range.

Both are built from the primitives of ``instruments.rules`` that booking validation uses
(``check_times``), so the calendar never offers time that booking would refuse:

- a free interval lies inside one (merged) opening window, after the lead time and before the horizon,
  outside every blackout and every booking that holds time, and starts and ends on the slot grid;
- it is only offered when at least one booking of an allowed duration fits in it from its start.

So any grid-aligned range inside a returned interval whose duration is within min/max is bookable.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, exists, or_, select, union_all
from sqlalchemy.orm import joinedload, selectinload

from booking.core.db import db
from booking.models.booking import HOLDING_STATUSES, Booking
from instruments.models import Blackout, Instrument, Lab, OpeningHours
from instruments.rules import Interval, Policy, WeeklyRange, on_grid, opening_windows, subtract, zone

_MINUTE = timedelta(minutes=1)
_MICROSECOND = timedelta(microseconds=1)


# --- the slot grid, exact across DST changes -------------------------------------------------------------
# Grid points are the instants whose local wall clock is a multiple of ``slot`` minutes after local
# midnight (``rules.on_grid``). Instants are handled as whole minutes since the epoch: within one UTC
# offset the grid is then integer arithmetic, and at an offset change the search continues from the
# change, so repeated (fall back) and skipped (spring forward) wall-clock hours come out right.

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY = 1440


def _offset(t: datetime, tz: ZoneInfo) -> timedelta:
    return t.astimezone(tz).utcoffset()


def _minutes(t: datetime, up: bool) -> int:
    """``t`` in whole minutes since the epoch, rounded up or down."""
    whole, rest = divmod(t - _EPOCH, _MINUTE)
    return whole + 1 if up and rest else whole


def _instant(minutes: int) -> datetime:
    return _EPOCH + timedelta(minutes=minutes)


class SlotGrid:
    """The slot grid of one zone over [start, end] (give or take a day).

    The zone's offset changes in that span are found once (zones change offset at most once a day,
    so a daily sample and a binary search find every change); rounding is then arithmetic.
    """

    def __init__(self, tz: ZoneInfo, slot: int, start: datetime, end: datetime):
        self.slot = slot
        t = start.astimezone(UTC).replace(second=0, microsecond=0) - timedelta(days=1)
        last = end.astimezone(UTC) + timedelta(days=1)
        offset = _offset(t, tz)
        self._changes: list[int] = []  # minute at which self._offsets[i + 1] starts
        self._offsets: list[int] = [offset // _MINUTE]
        while t < last:
            step = t + timedelta(days=1)
            step_offset = _offset(step, tz)
            if step_offset != offset:
                lo, hi = t, step  # the first whole minute in (lo, hi] with another offset
                while hi - lo > _MINUTE:
                    mid = (lo + (hi - lo) // 2).replace(second=0, microsecond=0)
                    if _offset(mid, tz) == offset:
                        lo = mid
                    else:
                        hi = mid
                self._changes.append(_minutes(hi, up=False))
                self._offsets.append(step_offset // _MINUTE)
                offset = step_offset
            t = step

    def ceil_minutes(self, m: int) -> int:
        """The first grid point at or after minute ``m``."""
        changes, slot = self._changes, self.slot
        while True:
            i = bisect_right(changes, m) if changes else 0
            offset = self._offsets[i]
            day, minute = divmod(m + offset, _DAY)
            candidate = day * _DAY + min(-(-minute // slot) * slot, _DAY) - offset
            if i == len(changes) or candidate < changes[i]:
                return candidate
            m = changes[i]  # the offset changes before that wall-clock time comes

    def floor_minutes(self, m: int) -> int:
        """The last grid point at or before minute ``m``."""
        changes, slot = self._changes, self.slot
        while True:
            i = bisect_right(changes, m) if changes else 0
            offset = self._offsets[i]
            day, minute = divmod(m + offset, _DAY)
            candidate = day * _DAY + minute // slot * slot - offset
            if i == 0 or candidate >= changes[i - 1]:
                return candidate
            m = changes[i - 1] - 1  # the offset changed since that wall-clock time

    def ceil(self, t: datetime) -> datetime:
        return _instant(self.ceil_minutes(_minutes(t, up=True)))

    def floor(self, t: datetime) -> datetime:
        return _instant(self.floor_minutes(_minutes(t, up=False)))


def ceil_grid(t: datetime, tz: ZoneInfo, slot: int) -> datetime:
    """The first grid point at or after ``t`` (in UTC)."""
    return SlotGrid(tz, slot, t, t).ceil(t)


def floor_grid(t: datetime, tz: ZoneInfo, slot: int) -> datetime:
    """The last grid point at or before ``t`` (in UTC)."""
    return SlotGrid(tz, slot, t, t).floor(t)


# --- free intervals of one instrument ------------------------------------------------------------------


def bookable_window(policy: Policy, start: datetime, end: datetime, now: datetime) -> Interval:
    """[start, end) narrowed to what the lead time and horizon allow (may come out empty)."""
    return max(start, policy.earliest_start(now)), min(end, policy.latest_end(now))


def free_time(
    policy: Policy, start: datetime, end: datetime, now: datetime, taken: Iterable[Interval]
) -> list[Interval]:
    """The bookable free intervals in [start, end), given the intervals ``taken`` (blackouts and
    bookings that hold time). Pure: no database; sorted and disjoint, UTC."""
    lo, hi = bookable_window(policy, start, end, now)
    if lo >= hi or not policy.ranges:
        return []
    windows = [
        (max(ws, lo), min(we, hi)) for ws, we in opening_windows(policy.ranges, policy.timezone, lo, hi)
    ]
    grid = SlotGrid(zone(policy.timezone), policy.slot_minutes, lo, hi)
    free: list[Interval] = []
    for s, e in subtract(windows, taken):
        start_m, end_m = grid.ceil_minutes(_minutes(s, up=True)), grid.floor_minutes(_minutes(e, up=False))
        if end_m - start_m < policy.min_minutes:
            continue
        # The shortest booking allowed from the start must fit (min_minutes need not be a multiple
        # of the slot, and across a DST change grid points need not be a slot apart).
        shortest_end = grid.ceil_minutes(start_m + policy.min_minutes)
        if shortest_end <= end_m and shortest_end - start_m <= policy.max_minutes:
            free.append((_instant(start_m), _instant(end_m)))
    return free


_BLACKOUTS, _BOOKINGS, _HOURS = Blackout.__table__.c, Booking.__table__.c, OpeningHours.__table__.c


def taken_intervals(instrument_id: int, start: datetime, end: datetime) -> list[Interval]:
    """Blackouts and holding bookings of the instrument that overlap [start, end).

    One statement, one round trip: a range scan of ix_blackouts_instrument_span and one of
    ix_bookings_instrument_span, glued by UNION ALL; plain Core rows, no ORM objects.
    """
    query = union_all(
        select(_BLACKOUTS.starts_at, _BLACKOUTS.ends_at).where(
            _BLACKOUTS.instrument_id == instrument_id, _BLACKOUTS.starts_at < end, _BLACKOUTS.ends_at > start
        ),
        select(_BOOKINGS.starts_at, _BOOKINGS.ends_at).where(
            _BOOKINGS.instrument_id == instrument_id,
            _BOOKINGS.starts_at < end,
            _BOOKINGS.ends_at > start,
            _BOOKINGS.status.in_(HOLDING_STATUSES),
        ),
    )
    return [(s, e) for s, e in db.session.execute(query)]


def instrument_with_hours(instrument_id: int) -> Instrument | None:
    """The instrument with its lab and opening hours, in one query (free_intervals needs the hours)."""
    return db.session.get(Instrument, instrument_id, options=[joinedload(Instrument.opening_hours)])


def free_intervals(instrument: Instrument, start: datetime, end: datetime, now: datetime) -> list[Interval]:
    """The instrument's bookable free intervals within [start, end), as UTC instants."""
    policy = Policy.of(instrument)
    lo, hi = bookable_window(policy, start, end, now)
    if lo >= hi or not policy.ranges:
        return []
    return free_time(policy, lo, hi, now, taken_intervals(instrument.id, lo, hi))


# --- which instruments are free for a whole range ------------------------------------------------------


def search_query(
    *, category: str | None = None, district_code: str | None = None, q: str | None = None
) -> Select[tuple[Instrument]]:
    """Active instruments matching the catalogue filters: exact category, the lab's district, and
    ``q`` as a case-insensitive substring of the name, category, description or lab name."""
    query = select(Instrument).join(Lab, Lab.id == Instrument.lab_id).where(Instrument.active.is_(True))
    if category:
        query = query.where(Instrument.category == category)
    if district_code:
        query = query.where(Lab.district_code == district_code)
    if q:
        query = query.where(
            or_(
                *(
                    column.icontains(q, autoescape=True)
                    for column in (Instrument.name, Instrument.category, Instrument.description, Lab.name)
                )
            )
        )
    return query


def found_instruments(filters: dict, now: datetime) -> Select[tuple[Instrument]]:
    """The catalogue search, as the API and the catalogue page ask it: ``q`` (trimmed; blank is
    any), ``category`` and ``district_code``; with ``free_from`` and ``free_to`` only the instruments
    bookable for that whole range. Opening hours are loaded with them (the schema, the page's badge)."""
    criteria = {
        "q": (filters.get("q") or "").strip() or None,
        "category": filters.get("category") or None,
        "district_code": filters.get("district_code") or None,
    }
    if filters.get("free_from") is not None:
        ids = free_instrument_ids(filters["free_from"], filters["free_to"], now, **criteria)
        query = search_query().where(Instrument.id.in_(ids))
    else:
        query = search_query(**criteria)
    return query.options(selectinload(Instrument.opening_hours))


def _whole_units(delta: timedelta, unit: timedelta, up: bool) -> int:
    """``delta`` in whole ``unit``s, rounded down or up (exact, in microseconds)."""
    micro, per_unit = delta // _MICROSECOND, unit // _MICROSECOND
    return -(-micro // per_unit) if up else micro // per_unit


def free_instrument_ids(
    free_from: datetime,
    free_to: datetime,
    now: datetime,
    *,
    category: str | None = None,
    district_code: str | None = None,
    q: str | None = None,
) -> list[int]:
    """Ids (ascending) of the active instruments matching the filters that can be booked for exactly
    [free_from, free_to): the rules of ``check_times``, and no holding booking overlapping.

    The database does everything that does not depend on the instrument's timezone: duration, lead
    time and horizon against the policy columns, and the absence of overlapping blackouts and holding
    bookings (NOT EXISTS on the indexed spans). Python then checks the slot grid (once per timezone and
    slot) and the opening hours of the remaining candidates, loaded in one query as plain rows;
    candidates with the same timezone and weekly hours share one check.
    """
    if free_to <= free_from:
        return []
    length, lead = free_to - free_from, free_from - now
    overlapping_booking = exists().where(
        Booking.instrument_id == Instrument.id,
        Booking.starts_at < free_to,
        Booking.ends_at > free_from,
        Booking.status.in_(HOLDING_STATUSES),
    )
    overlapping_blackout = exists().where(
        Blackout.instrument_id == Instrument.id,
        Blackout.starts_at < free_to,
        Blackout.ends_at > free_from,
    )
    # check_times compares real durations with whole minutes/days; rounding the constant to whole
    # units (down for "at least", up for "at most") keeps the comparison exact in integers.
    candidates = (
        search_query(category=category, district_code=district_code, q=q)
        .with_only_columns(Instrument.id, Instrument.timezone, Instrument.slot_minutes)
        .where(
            Instrument.min_minutes <= _whole_units(length, _MINUTE, up=False),
            Instrument.max_minutes >= _whole_units(length, _MINUTE, up=True),
            Instrument.lead_minutes <= _whole_units(lead, _MINUTE, up=False),
            Instrument.horizon_days >= _whole_units(free_to - now, timedelta(days=1), up=True),
            ~overlapping_booking,
            ~overlapping_blackout,
        )
    )
    on_grid_for: dict[tuple[str, int], bool] = {}
    zone_of: dict[int, str] = {}
    # Plain rows through the connection: ORM row processing would cost more than the query here.
    connection = db.session.connection()
    for instrument_id, timezone, slot in connection.execute(candidates).all():
        fits = on_grid_for.get((timezone, slot))
        if fits is None:
            fits = on_grid_for[timezone, slot] = on_grid(free_from, timezone, slot) and on_grid(
                free_to, timezone, slot
            )
        if fits:
            zone_of[instrument_id] = timezone
    if not zone_of:
        return []
    hours: dict[int, list[tuple[int, int, int]]] = {instrument_id: [] for instrument_id in zone_of}
    # Only the weekdays that opening_windows will look at (the local days of the range, and the one
    # before for ranges running past midnight): for a few hours that is 2 of 7.
    weekdays = set().union(*(_weekdays_touched(tz, free_from, free_to) for tz in set(zone_of.values())))
    rows = connection.execute(
        select(_HOURS.instrument_id, _HOURS.weekday, _HOURS.opens_minute, _HOURS.closes_minute).where(
            _HOURS.instrument_id.in_(list(zone_of)), _HOURS.weekday.in_(sorted(weekdays))
        )
    )
    for instrument_id, weekday, opens, closes in rows.all():
        hours[instrument_id].append((weekday, opens, closes))
    open_for: dict[tuple, bool] = {}
    ids = []
    for instrument_id in sorted(zone_of):
        key = (zone_of[instrument_id], tuple(sorted(hours[instrument_id])))
        is_open = open_for.get(key)
        if is_open is None:
            is_open = open_for[key] = _open_for(*key, free_from, free_to)
        if is_open:
            ids.append(instrument_id)
    return ids


def _weekdays_touched(timezone: str, start: datetime, end: datetime) -> set[int]:
    """The weekdays whose opening ranges ``opening_windows`` reads for [start, end)."""
    tz = zone(timezone)
    first, last = start.astimezone(tz).date() - timedelta(days=1), end.astimezone(tz).date()
    return {(first + timedelta(days=k)).weekday() for k in range(min((last - first).days + 1, 7))}


def _open_for(timezone: str, ranges: Sequence[tuple[int, int, int]], start: datetime, end: datetime) -> bool:
    """Whether [start, end) lies inside one opening window of these weekly hours."""
    windows = opening_windows((WeeklyRange(*r) for r in ranges), timezone, start, end)
    return any(ws <= start and end <= we for ws, we in windows)
