"""Free intervals of one instrument and "which instruments are free": opening hours, blackouts, bookings,
lead time, horizon, the slot grid, minimum duration, DST zones, and agreement with ``check_times``."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from booking.core.db import db
from booking.core.errors import Invalid
from booking.models.booking import HOLDING_STATUSES, STATUSES
from instruments.availability import ceil_grid, floor_grid, free_instrument_ids, free_time
from instruments.models import Instrument
from instruments.rules import Policy, WeeklyRange, check_times, on_grid, zone
from tests.support.rows import (
    SPLIT_DAY,
    WEEKDAYS_8_TO_18,
    add_blackout,
    add_booking,
    add_instrument,
    every_day,
    free_of,
    hhmm,
)

CST = timezone(timedelta(hours=8))
NY = zone("America/New_York")
RELEASED_STATUSES = tuple(s for s in STATUSES if s not in HOLDING_STATUSES)


def cst(day: int, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in Chongqing in March 2026 (Monday 2 March .. Sunday 8 March)."""
    return datetime(2026, 3, day, hour, minute, tzinfo=CST)


SUNDAY_NOON = cst(1, 12)  # "now" for most tests: the day before the test week


def ny(month: int, day: int, hour: int, minute: int = 0, fold: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=NY, fold=fold)


@pytest.fixture
def lab(make):
    return make.lab()


@pytest.fixture
def team(make):
    return make.team(verified=True)


# --- opening hours ---------------------------------------------------------------------------------------


def test_several_ranges_per_weekday_closed_at_weekends(app, lab):
    instrument = add_instrument(app, lab, SPLIT_DAY)
    free = free_of(app, instrument, cst(2, 0), cst(9, 0), SUNDAY_NOON)
    expected = []
    for day in range(2, 7):  # Monday .. Friday
        expected += [(cst(day, 8), cst(day, 12)), (cst(day, 13, 30), cst(day, 21))]
    assert free == expected
    assert all(s.tzinfo is not None and s.utcoffset() == timedelta(0) for s, _ in free)


def test_ranges_meeting_at_midnight_are_one_window(app, lab):
    hours = [(0, hhmm("22:00"), 1440), (1, 0, hhmm("02:00"))]
    instrument = add_instrument(app, lab, hours, max_minutes=240)
    assert free_of(app, instrument, cst(2, 0), cst(4, 0), SUNDAY_NOON) == [(cst(2, 22), cst(3, 2))]
    # and booking accepts a range across midnight, as the calendar promises
    with app.app_context():
        policy = Policy.of(db.session.get(Instrument, instrument.id))
    check_times(policy, cst(2, 23), cst(3, 1), SUNDAY_NOON, [])


def test_sunday_night_runs_into_monday_morning(app, lab):
    hours = [(6, hhmm("22:00"), 1440), (0, 0, hhmm("02:00"))]
    instrument = add_instrument(app, lab, hours, lead_minutes=0)
    free = free_of(app, instrument, cst(1, 0), cst(3, 0), SUNDAY_NOON)
    assert free == [(cst(1, 22), cst(2, 2))]


def test_no_opening_hours_means_nothing_free(app, lab):
    instrument = add_instrument(app, lab, [])
    assert free_of(app, instrument, cst(2, 0), cst(9, 0), SUNDAY_NOON) == []


def test_opening_off_the_grid_is_trimmed_to_it(app, lab):
    instrument = add_instrument(
        app, lab, [(0, hhmm("08:20"), hhmm("11:50"))], slot_minutes=60, min_minutes=60
    )
    assert free_of(app, instrument, cst(2, 0), cst(3, 0), SUNDAY_NOON) == [(cst(2, 9), cst(2, 11))]


def test_the_requested_range_clips_and_is_trimmed_to_the_grid(app, lab):
    instrument = add_instrument(app, lab, SPLIT_DAY)
    free = free_of(app, instrument, cst(2, 9, 15), cst(2, 13, 45), SUNDAY_NOON)
    assert free == [(cst(2, 9, 30), cst(2, 12))]  # 13:30–13:45 is shorter than a slot


# --- blackouts and bookings -------------------------------------------------------------------------------


def test_blackouts_cut_and_the_rest_is_trimmed_to_the_grid(app, lab):
    instrument = add_instrument(app, lab, SPLIT_DAY)
    add_blackout(app, instrument, cst(2, 10, 10), cst(2, 10, 40))
    add_blackout(app, instrument, cst(2, 11, 30), cst(2, 14))
    add_blackout(app, instrument, cst(3, 0), cst(4, 0))  # all of Tuesday
    free = free_of(app, instrument, cst(2, 0), cst(5, 0), SUNDAY_NOON)
    assert free == [
        (cst(2, 8), cst(2, 10)),
        (cst(2, 11), cst(2, 11, 30)),
        (cst(2, 14), cst(2, 21)),
        (cst(4, 8), cst(4, 12)),
        (cst(4, 13, 30), cst(4, 21)),
    ]


@pytest.mark.parametrize("status", HOLDING_STATUSES)
def test_bookings_that_hold_time_take_it(app, lab, team, status):
    instrument = add_instrument(app, lab, SPLIT_DAY)
    add_booking(app, team, instrument, cst(2, 9), cst(2, 10, 30), status=status)
    free = free_of(app, instrument, cst(2, 0), cst(2, 12), SUNDAY_NOON)
    assert free == [(cst(2, 8), cst(2, 9)), (cst(2, 10, 30), cst(2, 12))]


@pytest.mark.parametrize("status", RELEASED_STATUSES)
def test_cancelled_rejected_and_no_show_bookings_free_the_slot(app, lab, team, status):
    assert status in {"cancelled", "rejected", "no_show"}
    instrument = add_instrument(app, lab, SPLIT_DAY)
    add_booking(app, team, instrument, cst(2, 9), cst(2, 10, 30), status=status)
    assert free_of(app, instrument, cst(2, 0), cst(2, 12), SUNDAY_NOON) == [(cst(2, 8), cst(2, 12))]


def test_other_instruments_bookings_and_blackouts_do_not_count(app, lab, team):
    instrument = add_instrument(app, lab, SPLIT_DAY)
    other = add_instrument(app, lab, SPLIT_DAY)
    add_booking(app, team, other, cst(2, 9), cst(2, 10))
    add_blackout(app, other, cst(2, 10), cst(2, 11))
    assert free_of(app, instrument, cst(2, 0), cst(2, 12), SUNDAY_NOON) == [(cst(2, 8), cst(2, 12))]


def test_back_to_back_bookings_leave_no_gap(app, lab, team):
    instrument = add_instrument(app, lab, SPLIT_DAY)
    add_booking(app, team, instrument, cst(2, 8), cst(2, 9))
    add_booking(app, team, instrument, cst(2, 9), cst(2, 12))
    add_booking(app, team, instrument, cst(2, 13, 30), cst(2, 20, 30))
    assert free_of(app, instrument, cst(2, 0), cst(3, 0), SUNDAY_NOON) == [(cst(2, 20, 30), cst(2, 21))]


# --- lead time, horizon, duration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lead_minutes", "first_start"),
    [(0, cst(2, 9, 30)), (60, cst(2, 10, 30)), (170, cst(2, 13, 30)), (24 * 60, cst(3, 9, 30))],
)
def test_lead_time_moves_the_first_start_up_to_the_grid(app, lab, lead_minutes, first_start):
    instrument = add_instrument(app, lab, SPLIT_DAY, lead_minutes=lead_minutes)
    now = cst(2, 9, 10) + timedelta(seconds=7)
    free = free_of(app, instrument, cst(2, 0), cst(4, 0), now)
    assert free[0][0] == first_start


def test_horizon_cuts_the_end(app, lab):
    instrument = add_instrument(app, lab, SPLIT_DAY, horizon_days=1)
    now = cst(2, 9)
    free = free_of(app, instrument, cst(2, 0), cst(6, 0), now)
    assert free == [(cst(2, 10), cst(2, 12)), (cst(2, 13, 30), cst(2, 21)), (cst(3, 8), cst(3, 9))]


def test_nothing_free_in_the_past_or_beyond_the_horizon(app, lab):
    instrument = add_instrument(app, lab, SPLIT_DAY, horizon_days=7)
    assert free_of(app, instrument, cst(2, 0), cst(3, 0), cst(5, 12)) == []
    assert free_of(app, instrument, cst(20, 0), cst(21, 0), SUNDAY_NOON) == []


def test_gaps_shorter_than_min_minutes_are_dropped(app, lab, team):
    instrument = add_instrument(app, lab, SPLIT_DAY, min_minutes=90)
    add_booking(app, team, instrument, cst(2, 8), cst(2, 9))
    add_booking(app, team, instrument, cst(2, 10), cst(2, 11))
    add_booking(app, team, instrument, cst(2, 15), cst(2, 16))
    free = free_of(app, instrument, cst(2, 0), cst(3, 0), SUNDAY_NOON)
    assert free == [(cst(2, 13, 30), cst(2, 15)), (cst(2, 16), cst(2, 21))]


def test_min_minutes_off_the_grid_needs_the_next_grid_point(app, lab, team):
    # 30-minute slots, at least 45 minutes: the shortest booking is 60 minutes.
    instrument = add_instrument(app, lab, SPLIT_DAY, min_minutes=45)
    add_booking(app, team, instrument, cst(2, 8, 30), cst(2, 9))
    add_booking(app, team, instrument, cst(2, 10), cst(2, 10, 30))
    add_booking(app, team, instrument, cst(2, 11), cst(2, 12))
    free = free_of(app, instrument, cst(2, 0), cst(2, 12), SUNDAY_NOON)
    assert free == [(cst(2, 9), cst(2, 10))]


def test_policy_with_no_bookable_duration_offers_nothing(app, lab):
    # 30-minute slots but exactly 45 minutes: no booking can ever pass check_times.
    instrument = add_instrument(app, lab, SPLIT_DAY, min_minutes=45, max_minutes=45)
    assert free_of(app, instrument, cst(2, 0), cst(9, 0), SUNDAY_NOON) == []


# --- DST zones ----------------------------------------------------------------------------------------------


def test_new_york_spring_forward_day_is_an_hour_shorter(app, lab):
    instrument = add_instrument(
        app, lab, every_day("01:00", "04:00"), timezone="America/New_York", slot_minutes=60, min_minutes=60
    )
    now = datetime(2026, 3, 1, tzinfo=UTC)
    free = free_of(app, instrument, ny(3, 7, 0), ny(3, 10, 0), now)
    assert free == [
        (ny(3, 7, 1), ny(3, 7, 4)),  # EST
        (ny(3, 8, 1), ny(3, 8, 4)),  # 01:00 EST .. 04:00 EDT: two real hours
        (ny(3, 9, 1), ny(3, 9, 4)),  # EDT
    ]
    assert [e - s for s, e in free] == [timedelta(hours=3), timedelta(hours=2), timedelta(hours=3)]


def test_new_york_spring_forward_with_a_grid_not_dividing_the_hour(app, lab):
    # 90-minute slots: local grid 00:00, 01:30, 03:00, 04:30, 06:00; 01:30 EST .. 03:00 EDT is 30 minutes.
    instrument = add_instrument(
        app,
        lab,
        [(6, 0, hhmm("06:00"))],
        timezone="America/New_York",
        slot_minutes=90,
        min_minutes=30,
        lead_minutes=0,
    )
    add_blackout(
        app, instrument, datetime(2026, 3, 8, 6, 40, tzinfo=UTC), datetime(2026, 3, 8, 6, 50, tzinfo=UTC)
    )
    now = datetime(2026, 3, 1, tzinfo=UTC)
    free = free_of(app, instrument, ny(3, 8, 0), ny(3, 9, 0), now)
    assert free == [(ny(3, 8, 0), ny(3, 8, 1, 30)), (ny(3, 8, 3), ny(3, 8, 6))]
    with app.app_context():
        policy = Policy.of(db.session.get(Instrument, instrument.id))
    check_times(policy, ny(3, 8, 1, 30), ny(3, 8, 3), now, [])  # a 30-minute booking, on the grid


def test_new_york_fall_back_day_has_the_repeated_hour(app, lab, team):
    instrument = add_instrument(
        app, lab, [(6, 0, hhmm("03:00"))], timezone="America/New_York", horizon_days=365
    )
    now = datetime(2026, 10, 1, tzinfo=UTC)
    # 01:00–02:00 EST is the *second* 01:00; the first (EDT) stays free.
    add_booking(app, team, instrument, ny(11, 1, 1, fold=1), ny(11, 1, 2))
    free = free_of(app, instrument, ny(11, 1, 0), ny(11, 2, 0), now)
    # (compared in UTC: Python never finds a time in the fold equal to one in another zone)
    expected = [(ny(11, 1, 0), ny(11, 1, 1, fold=1)), (ny(11, 1, 2), ny(11, 1, 3))]
    assert free == [(s.astimezone(UTC), e.astimezone(UTC)) for s, e in expected]
    assert free[0][1] - free[0][0] == timedelta(hours=2)


def test_new_york_fall_back_rounds_up_within_the_repeated_hour(app, lab):
    instrument = add_instrument(
        app, lab, [(6, 0, hhmm("03:00"))], timezone="America/New_York", horizon_days=365
    )
    now = datetime(2026, 10, 1, tzinfo=UTC)
    # from 01:00 EDT to 01:15 EST (05:00Z .. 06:15Z): the next grid point is 01:30 EST (06:30Z)
    add_blackout(
        app, instrument, datetime(2026, 11, 1, 5, tzinfo=UTC), datetime(2026, 11, 1, 6, 15, tzinfo=UTC)
    )
    free = free_of(app, instrument, ny(11, 1, 0), ny(11, 2, 0), now)
    assert free == [
        (datetime(2026, 11, 1, 4, tzinfo=UTC), datetime(2026, 11, 1, 5, tzinfo=UTC)),
        (datetime(2026, 11, 1, 6, 30, tzinfo=UTC), datetime(2026, 11, 1, 8, tzinfo=UTC)),
    ]


@pytest.mark.parametrize(
    "zone_name", ["America/New_York", "Asia/Shanghai", "Australia/Lord_Howe", "Asia/Kolkata"]
)
@pytest.mark.parametrize("slot", [1, 7, 30, 45, 60, 90, 1440])
def test_grid_rounding_matches_on_grid_across_offset_changes(zone_name, slot):
    tz = zone(zone_name)
    days = [
        datetime(2026, 3, 8, tzinfo=UTC),
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 4, 5, tzinfo=UTC),
    ]
    for day in days:
        points = [
            t for t in (day + timedelta(minutes=m) for m in range(-1500, 3000)) if on_grid(t, zone_name, slot)
        ]
        for minute in range(0, 1440, 11):
            t = day + timedelta(minutes=minute, seconds=minute % 3 * 20)
            assert ceil_grid(t, tz, slot) == min(p for p in points if p >= t)
            assert floor_grid(t, tz, slot) == max(p for p in points if p <= t)


# --- which instruments are free for a whole range -------------------------------------------------------------


def test_free_instruments_respect_every_rule(app, make, team):
    lab = make.lab(district_code="500106")
    other_lab = make.lab(district_code="500103", name="Materials Lab")

    def build(hours=WEEKDAYS_8_TO_18, at=lab, **policy):
        return add_instrument(app, at, hours, **policy)

    free = build()
    booked = build()
    add_booking(app, team, booked, cst(2, 10, 30), cst(2, 11, 30))
    released = build()
    add_booking(app, team, released, cst(2, 10), cst(2, 11), status="cancelled")
    touching = build()
    add_booking(app, team, touching, cst(2, 9), cst(2, 10))  # ends where the range starts
    add_booking(app, team, touching, cst(2, 11), cst(2, 12))  # starts where it ends
    blacked_out = build()
    add_blackout(app, blacked_out, cst(2, 10, 59), cst(2, 12))
    closed = build(hours=every_day("13:00", "18:00"))
    split = build(hours=[(0, hhmm("08:00"), hhmm("10:30")), (0, hhmm("10:30"), hhmm("18:00"))])
    gap = build(hours=[(0, hhmm("08:00"), hhmm("10:30")), (0, hhmm("10:45"), hhmm("18:00"))])
    hourly_grid = build(slot_minutes=60, min_minutes=60)
    too_short = build(max_minutes=30)
    too_long = build(min_minutes=120)
    lead = build(lead_minutes=24 * 60)
    horizon = build(horizon_days=2)  # Sunday noon + 2 days: bookable until Tuesday noon
    inactive = build(active=False)
    elsewhere = build(at=other_lab)

    def ids(start=None, end=None, now=SUNDAY_NOON, **filters):
        start, end = start or cst(2, 10), end or cst(2, 11)
        with app.app_context():
            return free_instrument_ids(start, end, now, **filters)

    expected = [free, released, touching, split, hourly_grid, horizon, elsewhere]
    assert ids() == sorted(i.id for i in expected)
    refused = {booked, blacked_out, closed, gap, too_short, too_long, lead, inactive}
    assert {i.id for i in refused} & set(ids()) == set()
    assert ids(district_code="500106") == sorted(i.id for i in expected if i is not elsewhere)
    assert ids(q="materials") == [elsewhere.id]
    assert ids(category="spectroscopy") == []
    assert gap.id in ids(start=cst(2, 11), end=cst(2, 12))
    assert hourly_grid.id not in ids(start=cst(2, 10, 30), end=cst(2, 11, 30))
    assert free.id in ids(start=cst(2, 10, 30), end=cst(2, 11, 30))
    assert ids(start=cst(2, 11), end=cst(2, 10)) == []
    assert ids(start=cst(2, 10) + timedelta(seconds=1), end=cst(2, 11)) == []
    assert horizon.id in ids(start=cst(3, 11), end=cst(3, 12))
    assert horizon.id not in ids(start=cst(3, 11, 30), end=cst(3, 12, 30))
    assert lead.id in ids(start=cst(2, 12), end=cst(2, 13))  # exactly 24 hours ahead


def test_free_instruments_agree_with_free_intervals(app, lab, team):
    instruments = [
        add_instrument(app, lab, SPLIT_DAY),
        add_instrument(app, lab, every_day("22:00", "24:00") + every_day("00:00", "02:00"), max_minutes=600),
        add_instrument(app, lab, every_day("00:00", "24:00"), timezone="America/New_York", slot_minutes=60),
    ]
    add_booking(app, team, instruments[0], cst(2, 14), cst(2, 15))
    add_blackout(app, instruments[1], cst(2, 23), cst(2, 23, 30))
    for start in (cst(2, 10), cst(2, 13, 30), cst(2, 22), cst(2, 23, 30), cst(3, 1)):
        end = start + timedelta(hours=2)
        with app.app_context():
            found = set(free_instrument_ids(start, end, SUNDAY_NOON))
        for instrument in instruments:
            free = free_of(app, instrument, start, end, SUNDAY_NOON)
            assert (instrument.id in found) == (free == [(start, end)]), (instrument.timezone, start)


# --- properties -------------------------------------------------------------------------------------------


def _check_free(policy: Policy, free, start, end, now, blackouts, holding):
    """(a) nothing free overlaps a blackout or holding booking, (b) check_times accepts the shortest
    booking at either end of every interval, (c) sorted, disjoint, inside [start, end)."""
    for (_, e), (next_s, _) in pairwise(free):
        assert e < next_s
    length = timedelta(minutes=policy.min_minutes)
    for s, e in free:
        assert start <= s < e <= end
        assert on_grid(s, policy.timezone, policy.slot_minutes)
        assert on_grid(e, policy.timezone, policy.slot_minutes)
        for a, b in [*blackouts, *holding]:
            assert not (a < e and s < b), ((s, e), (a, b))
        assert e - s >= length
        check_times(policy, s, s + length, now, blackouts)
        check_times(policy, e - length, e, now, blackouts)
        if e - s <= timedelta(minutes=policy.max_minutes):
            check_times(policy, s, e, now, blackouts)


def _check_nothing_missed(policy: Policy, free, start, end, now, blackouts, holding):
    """Every shortest booking that check_times accepts and no booking holds is inside a free interval."""
    tz, slot = zone(policy.timezone), policy.slot_minutes
    length = timedelta(minutes=policy.min_minutes)
    t = ceil_grid(max(start, policy.earliest_start(now)), tz, slot)
    while t + length <= end:
        try:
            check_times(policy, t, t + length, now, blackouts)
            bookable = not any(a < t + length and t < b for a, b in holding)
        except Invalid:
            bookable = False
        if bookable:
            assert any(s <= t and t + length <= e for s, e in free), t
        t = ceil_grid(t + timedelta(minutes=1), tz, slot)


ZONES = ["Asia/Shanghai", "America/New_York"]
# "now" is drawn from the days before New York's 2026 DST changes (8 March 07:00Z, 1 November 06:00Z)
# and a quiet week; taken intervals cluster around those changes, where wall-clock hours repeat or vanish.
BASES = [
    datetime(2026, 3, 6, tzinfo=UTC),
    datetime(2026, 10, 30, tzinfo=UTC),
    datetime(2026, 6, 10, tzinfo=UTC),
]
DST_CHANGES = [datetime(2026, 3, 8, 7, tzinfo=UTC), datetime(2026, 11, 1, 6, tzinfo=UTC)]


# Opening times on a 5-minute step (often off the slot grid), half of them in the small hours when
# DST changes happen; ranges 15 minutes .. 24 hours long.
_OPENS = st.one_of(st.integers(0, 287), st.integers(0, 36)).map(lambda step: step * 5)
_HOURS = st.tuples(_OPENS, st.integers(1, 96)).map(lambda r: (r[0], min(1440, r[0] + r[1] * 15)))


@st.composite
def policies(draw) -> Policy:
    slot = draw(st.sampled_from([15, 30, 60]))
    min_minutes = slot * draw(st.integers(1, 4))
    ranges = [WeeklyRange(day, *draw(_HOURS)) for day in draw(st.lists(st.integers(0, 6), max_size=10))]
    daily = draw(st.none() | _HOURS)  # the same hours every day
    if daily is not None or not ranges:
        daily = daily or draw(_HOURS)
        ranges += [WeeklyRange(day, *daily) for day in range(7)]
    return Policy(
        timezone=draw(st.sampled_from(ZONES)),
        slot_minutes=slot,
        min_minutes=min_minutes,
        max_minutes=min_minutes + slot * draw(st.integers(0, 16)),
        lead_minutes=draw(st.sampled_from([0, 10, 60, 24 * 60])),
        horizon_days=draw(st.integers(2, 12)),
        ranges=tuple(ranges),
    )


def _spans(now: datetime, count: int):
    """Intervals 1 minute .. 10 hours long, starting at any second within days of ``now`` or within
    three hours of a DST change."""
    starts = st.one_of(
        st.integers(-86400, 10 * 86400).map(lambda s: now + timedelta(seconds=s)),
        st.tuples(st.sampled_from(DST_CHANGES), st.integers(-3 * 3600, 3 * 3600)).map(
            lambda r: r[0] + timedelta(seconds=r[1])
        ),
    )
    return st.lists(
        st.tuples(starts, st.integers(1, 600)).map(lambda r: (r[0], r[0] + timedelta(minutes=r[1]))),
        max_size=count,
    )


@st.composite
def scenarios(draw):
    policy = draw(policies())
    now = draw(st.sampled_from(BASES)) + timedelta(seconds=draw(st.integers(0, 3 * 86400)))
    start = now + timedelta(minutes=draw(st.integers(-1440, 3 * 1440)))
    end = start + timedelta(minutes=draw(st.integers(1, 8 * 1440)))
    return policy, now, start, end, draw(_spans(now, 6)), draw(_spans(now, 12))


@settings(max_examples=100, deadline=None)
@given(scenarios())
def test_free_time_is_bookable_and_complete(scenario):
    policy, now, start, end, blackouts, holding = scenario
    free = free_time(policy, start, end, now, blackouts + holding)
    _check_free(policy, free, start, end, now, blackouts, holding)
    _check_nothing_missed(policy, free, start, end, now, blackouts, holding)


def _non_overlapping(bookings):
    """Holding bookings never overlap (the database refuses it): keep the first of any overlap."""
    kept = []
    for s, e, status in sorted(bookings):
        if not kept or s >= kept[-1][1]:
            kept.append((s, e, status))
    return kept


_probe_names = itertools.count(1)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    scenario=scenarios(),
    statuses=st.lists(st.sampled_from(STATUSES), min_size=12, max_size=12),
    data=st.data(),
)
def test_free_intervals_from_the_database_are_bookable(app, lab, team, scenario, statuses, data):
    """The same properties through the database: a fresh instrument per example, bookings of every
    status (only the holding ones may take time). And "which instruments are free" says yes for a
    range exactly when check_times accepts it and no holding booking overlaps it."""
    policy, now, start, end, blackouts, bookings = scenario
    name = f"Probe {next(_probe_names)}"
    instrument = add_instrument(
        app,
        lab,
        [(r.weekday, r.opens_minute, r.closes_minute) for r in policy.ranges],
        name=name,
        timezone=policy.timezone,
        slot_minutes=policy.slot_minutes,
        min_minutes=policy.min_minutes,
        max_minutes=policy.max_minutes,
        lead_minutes=policy.lead_minutes,
        horizon_days=policy.horizon_days,
    )
    for s, e in blackouts:
        add_blackout(app, instrument, s, e)
    drawn = [(s, e, status) for (s, e), status in zip(bookings, statuses, strict=False)]
    holding = _non_overlapping(b for b in drawn if b[2] in HOLDING_STATUSES)
    for s, e, status in holding + [b for b in drawn if b[2] not in HOLDING_STATUSES]:
        add_booking(app, team, instrument, s, e, status=status)
    holding_spans = [(s, e) for s, e, _ in holding]

    free = free_of(app, instrument, start, end, now)
    _check_free(policy, free, start, end, now, blackouts, holding_spans)
    _check_nothing_missed(policy, free, start, end, now, blackouts, holding_spans)

    # Probes: ranges at the start of the free intervals, after the taken ones, and anywhere; some off
    # the grid. Lengths around min_minutes.
    tz, slot = zone(policy.timezone), policy.slot_minutes
    anchors = [s for s, _ in free] * 3 + [e for _, e in blackouts + holding_spans]
    anchors += [now + timedelta(minutes=15 * data.draw(st.integers(0, 8 * 96))) for _ in range(2)]
    for _ in range(data.draw(st.integers(0, 8))):
        probe_start = ceil_grid(data.draw(st.sampled_from(anchors)), tz, slot)
        probe_start += timedelta(minutes=slot * data.draw(st.integers(0, 2)))
        if data.draw(st.integers(0, 4)) == 0:
            probe_start += timedelta(minutes=5)  # off the grid
        length = policy.min_minutes + slot * data.draw(st.integers(-1, 3))
        probe_end = probe_start + timedelta(minutes=max(slot, length))
        try:
            check_times(policy, probe_start, probe_end, now, blackouts)
            bookable = not any(a < probe_end and probe_start < b for a, b in holding_spans)
        except Invalid:
            bookable = False
        with app.app_context():
            found = free_instrument_ids(probe_start, probe_end, now, q=name)
        assert (instrument.id in found) == bookable, (probe_start, probe_end)
