"""Search never offers what booking refuses, and booking accepts every boundary the rules allow.

Each boundary of ``check_times`` is tried on both sides, and three parties must agree on it: booking
(``check_times``), "which instruments are free for this range" (``free_instrument_ids``) and the
calendar's free intervals (``free_intervals``: a range on the grid, inside one free interval, lasting
min..max minutes is bookable). Clocks carry seconds and microseconds, as real ones do.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Invalid
from booking.flow.bookings import create_instrument_booking
from booking.models import User
from instruments.availability import free_instrument_ids, free_intervals, free_time
from instruments.models import Blackout, Instrument
from instruments.rules import Policy, WeeklyRange, check_times, merge, on_grid, opening_windows, subtract
from tests.support.rows import add_blackout, add_booking, add_instrument, every_day

CST = timezone(timedelta(hours=8))


def cst(day: int, hour: int, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    """Chongqing wall clock in March 2026 (Monday 2 March .. Friday 6 March are opening days)."""
    return datetime(2026, 3, day, hour, minute, second, micro, tzinfo=CST)


SUNDAY_NOON = cst(1, 12)
# 08:00–18:00 on weekdays, 30-minute grid, 30 minutes .. 2 hours, an hour ahead, 90 days out
POLICY = {"slot_minutes": 30, "min_minutes": 30, "max_minutes": 120, "lead_minutes": 60, "horizon_days": 90}


@pytest.fixture
def lab(make):
    return make.lab()


@pytest.fixture
def team(make):
    return make.team(verified=True)


def blackouts_of(instrument_id: int) -> list[tuple[datetime, datetime]]:
    rows = db.session.execute(
        select(Blackout.starts_at, Blackout.ends_at).where(Blackout.instrument_id == instrument_id)
    )
    return [(s, e) for s, e in rows]


def verdicts(app, instrument, start: datetime, end: datetime, now: datetime) -> tuple[str, bool, bool]:
    """(booking's verdict: "ok" or its refusal code, offered by the search, offered by the calendar)."""
    with app.app_context():
        stored = db.session.get(Instrument, instrument.id)
        policy = Policy.of(stored)
        blackouts = blackouts_of(stored.id)
        try:
            check_times(policy, start, end, now, blackouts)
            booking = "ok"
        except Invalid as refusal:
            booking = refusal.code
        search = instrument.id in free_instrument_ids(start, end, now, q=stored.name)
        free = free_intervals(stored, start - timedelta(days=1), end + timedelta(days=1), now)
        calendar = _calendar_offers(policy, free, start, end)
    return booking, search, calendar


def _calendar_offers(policy: Policy, free, start: datetime, end: datetime) -> bool:
    """What the availability endpoint promises: on the grid, inside one interval, min..max minutes."""
    return (
        on_grid(start, policy.timezone, policy.slot_minutes)
        and on_grid(end, policy.timezone, policy.slot_minutes)
        and timedelta(minutes=policy.min_minutes) <= end - start <= timedelta(minutes=policy.max_minutes)
        and any(s <= start and end <= e for s, e in free)
    )


def assert_bookable(app, instrument, start, end, now=SUNDAY_NOON):
    assert verdicts(app, instrument, start, end, now) == ("ok", True, True), (start, end, now)


def assert_refused(app, instrument, start, end, code, now=SUNDAY_NOON):
    assert verdicts(app, instrument, start, end, now) == (code, False, False), (start, end, now)


# --- duration ---------------------------------------------------------------------------------------------


def test_a_range_exactly_max_minutes_long(app, lab):
    instrument = add_instrument(app, lab, **POLICY)
    assert_bookable(app, instrument, cst(2, 10), cst(2, 12))
    assert_refused(app, instrument, cst(2, 10), cst(2, 12, 30), "too_long")


def test_a_range_exactly_min_minutes_long(app, lab):
    instrument = add_instrument(app, lab, **{**POLICY, "min_minutes": 60})
    assert_bookable(app, instrument, cst(2, 10), cst(2, 11))
    assert_refused(app, instrument, cst(2, 10), cst(2, 10, 30), "too_short")


# --- opening hours ----------------------------------------------------------------------------------------


def test_a_range_starting_exactly_at_opening_time(app, lab):
    instrument = add_instrument(app, lab, **POLICY)
    assert_bookable(app, instrument, cst(2, 8), cst(2, 9))
    assert_refused(app, instrument, cst(2, 7, 30), cst(2, 8, 30), "outside_opening_hours")


def test_a_range_ending_exactly_at_closing_time(app, lab):
    instrument = add_instrument(app, lab, **POLICY)
    assert_bookable(app, instrument, cst(2, 17), cst(2, 18))
    assert_refused(app, instrument, cst(2, 17, 30), cst(2, 18, 30), "outside_opening_hours")


def test_a_whole_opening_day(app, lab):
    instrument = add_instrument(app, lab, every_day("08:00", "10:00", range(5)), **POLICY)
    assert_bookable(app, instrument, cst(2, 8), cst(2, 10))


# --- the grid ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (cst(2, 10), cst(2, 10, 45)),  # the end alone off the grid
        (cst(2, 10), cst(2, 11, 0, 1)),  # by a second
        (cst(2, 10), cst(2, 11, 0, 0, 1)),  # by a microsecond
        (cst(2, 10, 15), cst(2, 11)),  # the start alone
        (cst(2, 10, 0, 30), cst(2, 11)),
        (cst(2, 10, 15), cst(2, 11, 15)),  # both
    ],
)
def test_a_range_off_the_grid_at_either_end(app, lab, start, end):
    instrument = add_instrument(app, lab, **POLICY)
    assert_refused(app, instrument, start, end, "off_grid")
    assert_bookable(app, instrument, cst(2, 10), cst(2, 11))


# --- blackouts --------------------------------------------------------------------------------------------


def test_a_blackout_starting_exactly_at_the_ranges_end(app, lab):
    instrument = add_instrument(app, lab, **POLICY)
    add_blackout(app, instrument, cst(2, 11), cst(2, 12))
    assert_bookable(app, instrument, cst(2, 10), cst(2, 11))
    assert_refused(app, instrument, cst(2, 10), cst(2, 11, 30), "blackout")


def test_a_blackout_ending_exactly_at_the_ranges_start(app, lab):
    instrument = add_instrument(app, lab, **POLICY)
    add_blackout(app, instrument, cst(2, 9), cst(2, 10))
    assert_bookable(app, instrument, cst(2, 10), cst(2, 11))
    assert_refused(app, instrument, cst(2, 9, 30), cst(2, 10, 30), "blackout")


def test_a_blackout_of_one_second_inside_the_range(app, lab):
    instrument = add_instrument(app, lab, **POLICY)
    add_blackout(app, instrument, cst(2, 10, 59, 59), cst(2, 11))
    assert_refused(app, instrument, cst(2, 10), cst(2, 11), "blackout")
    assert_bookable(app, instrument, cst(2, 11), cst(2, 12))


def test_a_booking_touching_another_is_offered(app, lab, team):
    instrument = add_instrument(app, lab, **POLICY)
    add_booking(app, team, instrument, cst(2, 9), cst(2, 10))
    add_booking(app, team, instrument, cst(2, 11), cst(2, 12))
    assert_bookable(app, instrument, cst(2, 10), cst(2, 11))
    with app.app_context():
        assert instrument.id not in free_instrument_ids(cst(2, 10), cst(2, 11, 30), SUNDAY_NOON)


# --- lead time and horizon, with clocks that carry seconds -------------------------------------------------


@pytest.mark.parametrize(
    ("now", "first_bookable"),
    [
        (cst(2, 9), cst(2, 10)),  # exactly the lead time ahead
        (cst(2, 8, 59, 59, 999_999), cst(2, 10)),
        (cst(2, 9, 0, 0, 1), cst(2, 10, 30)),  # a microsecond late
        (cst(2, 9, 0, 30), cst(2, 10, 30)),  # "free now" at half past the minute
        (cst(2, 9, 29, 59), cst(2, 10, 30)),
        (cst(2, 9, 30, 1), cst(2, 11)),
    ],
)
def test_the_lead_time_with_seconds_on_the_clock(app, lab, now, first_bookable):
    instrument = add_instrument(app, lab, **POLICY)
    before = first_bookable - timedelta(minutes=30)
    assert_refused(app, instrument, before, before + timedelta(hours=1), "inside_lead_time", now=now)
    assert_bookable(app, instrument, first_bookable, first_bookable + timedelta(hours=1), now=now)


@pytest.mark.parametrize(
    ("now", "last_end"),
    [
        (cst(1, 10), cst(3, 10)),  # a booking ending exactly at the horizon
        (cst(1, 10, 0, 0, 1), cst(3, 10)),
        (cst(1, 10, 29, 59), cst(3, 10)),
        (cst(1, 9, 59, 59), cst(3, 9, 30)),  # a second short of it
        (cst(1, 10, 30), cst(3, 10, 30)),
    ],
)
def test_the_horizon_with_seconds_on_the_clock(app, lab, now, last_end):
    instrument = add_instrument(app, lab, **{**POLICY, "horizon_days": 2})
    assert_bookable(app, instrument, last_end - timedelta(hours=1), last_end, now=now)
    later = last_end + timedelta(minutes=30)
    assert_refused(app, instrument, later - timedelta(hours=1), later, "beyond_horizon", now=now)


# --- booking itself accepts the boundaries ------------------------------------------------------------------


def test_booking_accepts_a_range_ending_at_the_horizon_and_touching_blackouts(app, lab, make, team):
    instrument = add_instrument(app, lab, **{**POLICY, "horizon_days": 2})
    add_blackout(app, instrument, cst(3, 8), cst(3, 9))  # ends where the booking starts
    add_blackout(app, instrument, cst(3, 10), cst(3, 11))  # starts where it ends
    now = cst(1, 10, 0, 0)
    with app.app_context(), clock.frozen_at(now):
        user = db.session.get(User, team.owner_id)
        booking, _ = create_instrument_booking(
            user, team_id=team.id, instrument_id=instrument.id, starts_at=cst(3, 9), ends_at=cst(3, 10)
        )
        db.session.flush()
        assert booking.id and booking.status in {"confirmed", "pending"}
        with pytest.raises(Invalid) as refused:
            create_instrument_booking(
                user,
                team_id=team.id,
                instrument_id=instrument.id,
                starts_at=cst(3, 9, 30),
                ends_at=cst(3, 10, 30),
            )
        assert refused.value.code == "beyond_horizon"


# --- property: search and booking agree on any range, clocks with seconds ------------------------------------

BASE = datetime(2026, 3, 2, 2, tzinfo=UTC)  # Monday 10:00 in Chongqing, Sunday 21:00 in New York
GRID_ORIGIN = datetime(2026, 3, 1, 16, tzinfo=UTC)  # Chongqing's midnight: on every probe's grid

PROBES = [
    # (hours, policy, blackouts as (start, end) offsets in minutes from BASE)
    (every_day("08:00", "18:00", range(5)), POLICY, []),
    (
        every_day("08:00", "18:00", range(5)),
        {"slot_minutes": 60, "min_minutes": 60, "max_minutes": 180, "lead_minutes": 0, "horizon_days": 1},
        [(120, 180), (1380, 1410)],
    ),
    (
        every_day("00:00", "24:00"),
        {
            "slot_minutes": 15,
            "min_minutes": 45,
            "max_minutes": 90,
            "lead_minutes": 24 * 60,
            "horizon_days": 3,
            "timezone": "America/New_York",
        },
        [(1500, 1530), (1800, 1801)],
    ),
    (
        every_day("09:30", "12:00", range(5)) + every_day("12:00", "17:15", range(5)),
        {"slot_minutes": 45, "min_minutes": 45, "max_minutes": 135, "lead_minutes": 10, "horizon_days": 2},
        [(60, 90)],
    ),
]


@st.composite
def probes(draw):
    """A clock anywhere within ±3 hours of BASE, to the microsecond (often on a whole minute or
    second), and a range within 3 days of it: grid-like starts and lengths, sometimes nudged off."""
    offset = draw(
        st.one_of(
            st.integers(-180, 180).map(lambda m: timedelta(minutes=m)),
            st.integers(-3 * 3600, 3 * 3600).map(lambda s: timedelta(seconds=s)),
            st.integers(-3 * 3600 * 10**6, 3 * 3600 * 10**6).map(lambda u: timedelta(microseconds=u)),
        )
    )
    now = BASE + offset
    # mostly a range on one probe's grid just after its lead time (where the rules meet), of about an
    # allowed length; sometimes a quarter-hour range anywhere in the next four days
    policy = draw(st.sampled_from([p[1] for p in PROBES]))
    slot = timedelta(minutes=policy["slot_minutes"])
    first = -(-(now + timedelta(minutes=policy["lead_minutes"]) - GRID_ORIGIN) // slot)
    shortest, longest = (
        policy["min_minutes"] // policy["slot_minutes"],
        policy["max_minutes"] // policy["slot_minutes"],
    )
    if draw(st.integers(0, 3)):
        start = GRID_ORIGIN + slot * draw(st.integers(first - 2, first + 30))
        length = slot * draw(st.integers(max(1, shortest - 1), longest + 1))
    else:
        start = BASE + timedelta(minutes=15 * draw(st.integers(-8, 4 * 96)))
        length = timedelta(minutes=15 * draw(st.integers(1, 14)))
    nudge = st.sampled_from(
        [timedelta(0)] * 9 + [timedelta(seconds=1), timedelta(minutes=-5), timedelta(seconds=-30)]
    )
    return now, start + draw(nudge), start + length + draw(nudge)


def test_search_offers_exactly_what_booking_accepts(app, lab):
    instruments = []
    for number, (hours, policy, blackouts) in enumerate(PROBES):
        instrument = add_instrument(app, lab, hours, name=f"Probe {number}", **policy)
        for a, b in blackouts:
            add_blackout(app, instrument, BASE + timedelta(minutes=a), BASE + timedelta(minutes=b))
        instruments.append(instrument)
    with app.app_context():
        stored = [db.session.get(Instrument, i.id) for i in instruments]
        policies = [Policy.of(i) for i in stored]
        blackouts = [blackouts_of(i.id) for i in stored]
    seen = {"ok": 0, "refused": 0}

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(probes())
    def agree(probe):
        now, start, end = probe
        with app.app_context():
            found = set(free_instrument_ids(start, end, now))
            for instrument, policy, taken in zip(instruments, policies, blackouts, strict=True):
                try:
                    check_times(policy, start, end, now, taken)
                    bookable = True
                except Invalid:
                    bookable = False
                assert (instrument.id in found) == bookable, (policy, now, start, end)
                free = free_time(policy, start - timedelta(hours=6), end + timedelta(hours=6), now, taken)
                assert _calendar_offers(policy, free, start, end) == bookable, (policy, now, start, end)
                seen["ok" if bookable else "refused"] += 1

    agree()
    assert seen["ok"] > 20 and seen["refused"] > 20, seen  # both sides really explored


# --- what booking says when it refuses ------------------------------------------------------------------------

PURE = Policy(
    timezone="Asia/Shanghai",
    slot_minutes=30,
    min_minutes=30,
    max_minutes=120,
    lead_minutes=60,
    horizon_days=90,
    ranges=tuple(WeeklyRange(day, 8 * 60, 18 * 60) for day in range(5)),
)


JUNE_1 = datetime(2026, 6, 1, tzinfo=CST)  # a Monday, more than 90 days after SUNDAY_NOON


@pytest.mark.parametrize(
    ("start", "end", "code", "field", "message"),
    [
        (cst(2, 10), cst(2, 10), "invalid", "ends_at", "The booking must end after it starts."),
        (cst(2, 11), cst(2, 10), "invalid", "ends_at", "The booking must end after it starts."),
        (
            cst(2, 10),
            cst(2, 10, 45),
            "off_grid",
            "starts_at",
            "Bookings start and end on the 30-minute grid.",
        ),
        (cst(2, 10), cst(2, 10, 30), None, None, None),
        (cst(2, 10), cst(2, 12, 30), "too_long", "ends_at", "Book at most 120 minutes."),
        (cst(1, 12), cst(1, 13), "inside_lead_time", "starts_at", "Book at least 60 minutes ahead."),
        (
            JUNE_1 + timedelta(hours=10),
            JUNE_1 + timedelta(hours=11),
            "beyond_horizon",
            "ends_at",
            "Book at most 90 days ahead.",
        ),
        (
            cst(7, 10),
            cst(7, 11),
            "outside_opening_hours",
            "starts_at",
            "The instrument is not open for the whole booking.",
        ),
        (
            cst(3, 10),
            cst(3, 11),
            "blackout",
            "starts_at",
            "The instrument is unavailable (maintenance or closure) then.",
        ),
    ],
)
def test_each_refusal_names_its_rule_and_field(start, end, code, field, message):
    blackouts = [(cst(3, 10, 30), cst(3, 12))]
    if code is None:
        check_times(PURE, start, end, SUNDAY_NOON, blackouts)  # the shortest booking is fine
        return
    with pytest.raises(Invalid) as refused:
        check_times(PURE, start, end, SUNDAY_NOON, blackouts)
    assert (refused.value.code, refused.value.message, refused.value.details) == (
        code,
        message,
        {field: [message]},
    )


def test_too_short_names_the_minimum():
    policy = Policy(**{**PURE.__dict__, "min_minutes": 60})
    with pytest.raises(Invalid) as refused:
        check_times(policy, cst(2, 10), cst(2, 10, 30), SUNDAY_NOON, [])
    message = "Book at least 60 minutes."
    assert (refused.value.code, refused.value.message, refused.value.details) == (
        "too_short",
        message,
        {"ends_at": [message]},
    )


# --- the interval primitives, at their edges ---------------------------------------------------------------


def test_opening_windows_touching_the_range_only():
    mondays = [WeeklyRange(0, 8 * 60, 10 * 60), WeeklyRange(0, 14 * 60, 16 * 60)]
    assert (
        opening_windows(mondays, "Asia/Shanghai", cst(2, 10), cst(2, 14)) == []
    )  # closes at start, opens at end
    assert opening_windows(mondays, "Asia/Shanghai", cst(2, 9, 59), cst(2, 14)) == [(cst(2, 8), cst(2, 10))]
    assert opening_windows(mondays, "Asia/Shanghai", cst(2, 10), cst(2, 14, 1)) == [(cst(2, 14), cst(2, 16))]
    assert opening_windows([WeeklyRange(0, 600, 600)], "Asia/Shanghai", cst(2, 0), cst(3, 0)) == []  # empty
    assert opening_windows([], "Asia/Shanghai", cst(2, 0), cst(3, 0)) == []


def test_opening_windows_are_utc_and_merge_across_midnight():
    nights = [WeeklyRange(6, 22 * 60, 1440), WeeklyRange(0, 0, 2 * 60)]  # Sunday 22:00 .. Monday 02:00
    windows = opening_windows(nights, "Asia/Shanghai", cst(1, 23), cst(2, 1))
    assert windows == [(cst(1, 22), cst(2, 2))]
    assert all(t.utcoffset() == timedelta(0) for window in windows for t in window)


def test_merge_joins_what_meets_and_keeps_the_longer_end():
    a, b, c, d = cst(2, 8), cst(2, 9), cst(2, 10), cst(2, 11)
    assert merge([(c, d), (a, b)]) == [(a, b), (c, d)]
    assert merge([(a, b), (b, c)]) == [(a, c)]  # meeting
    assert merge([(a, d), (b, c)]) == [(a, d)]  # inside
    assert merge([(a, c), (b, d)]) == [(a, d)]  # overlapping
    assert merge([]) == []


def test_subtract_leaves_no_empty_pieces():
    a, b, c, d = cst(2, 8), cst(2, 9), cst(2, 10), cst(2, 11)
    assert subtract([(a, d)], [(a, b)]) == [(b, d)]  # a cut at the window's start
    assert subtract([(a, d)], [(c, d)]) == [(a, c)]  # at its end
    assert subtract([(a, d)], [(b, c)]) == [(a, b), (c, d)]
    assert subtract([(a, d)], [(a, d)]) == []
    assert subtract([(a, b)], [(b, c), (cst(1, 0), a)]) == [(a, b)]  # touching cuts take nothing
    assert subtract([(a, b), (c, d)], [(cst(2, 8, 30), cst(2, 10, 30))]) == [
        (a, cst(2, 8, 30)),
        (cst(2, 10, 30), d),
    ]
