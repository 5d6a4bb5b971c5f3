"""Property: any sequence of book / move / cancel / book-series / cancel-series leaves no two holding
bookings overlapping on the instrument, no team over the instrument's fair-use quotas (future bookings,
hours per week), no commitment of a cancelled booking unreleased, every holding booking's commitment
equal to its quote, and the ledger sound (``ledger verify``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from booking.core import clock
from booking.core.db import db
from booking.core.errors import DomainError
from booking.flow import bookings, fair_use, reschedule, series
from booking.models import HOLDING_STATUSES, Booking, BookingSeries, User
from vouchers import commitments
from vouchers.models import SubsidyLine
from vouchers.verify import ledger_breaches

BASE = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)  # a Monday, 08:00 in Chongqing
NOW = BASE - timedelta(days=1)
ALWAYS_OPEN = tuple((day, 0, 1440) for day in range(7))

slot = st.integers(0, 40)
length = st.integers(1, 6)
who = st.integers(0, 1)
book = st.tuples(st.just("book"), slot, length, who, st.just(0))
move = st.tuples(st.just("move"), slot, length, who, st.integers(0, 30))
cancel = st.tuples(st.just("cancel"), st.just(0), st.just(0), who, st.integers(0, 30))
book_series = st.tuples(st.just("series"), slot, length, who, st.integers(2, 4))
cancel_series = st.tuples(st.just("cancel_series"), st.just(0), st.just(0), who, st.integers(0, 5))
EXPECTED = {
    "slot_taken",
    "invalid_status",
    "forbidden",
    "not_found",
    "off_grid",
    "too_long",
    "too_short",
    "beyond_horizon",
    "quota_exceeded",
}
MAX_FUTURE = 4
MAX_HOURS_PER_WEEK = 10


def _run(operation, owners, world, created: list[int]) -> None:
    kind, a, b, who_, n = operation
    owner = owners[who_]
    team = world["teams"][who_]
    starts_at = BASE + timedelta(minutes=30 * a)
    ends_at = starts_at + timedelta(minutes=30 * b)
    if kind == "book":
        booking, _ = bookings.create_instrument_booking(
            owner, team_id=team.id, instrument_id=world["instrument"].id, starts_at=starts_at, ends_at=ends_at
        )
        created.append(booking.id)
    elif kind == "series":
        outcome, _ = series.create_series(
            owner,
            team_id=team.id,
            instrument_id=world["instrument"].id,
            starts_at=starts_at,
            ends_at=ends_at,
            every="day",
            count=n,
            on_conflict="skip" if n % 2 else "fail",
        )
        created.extend(b.id for b in outcome.bookings)
    elif kind == "cancel_series":
        ids = list(db.session.scalars(select(BookingSeries.id).order_by(BookingSeries.id)))
        if ids:
            series.cancel_series(owner, ids[n % len(ids)])
    elif created:
        booking_id = created[n % len(created)]
        if kind == "move":
            reschedule.reschedule(owner, booking_id, starts_at=starts_at, ends_at=ends_at)
        else:
            bookings.cancel(owner, booking_id)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    operations=st.lists(
        st.one_of(book, book, move, move, cancel, book_series, cancel_series), min_size=1, max_size=20
    )
)
def test_random_series_and_moves_keep_every_invariant(app, make, operations):
    world = _world(make)
    with app.app_context(), clock.frozen_at(NOW):
        savepoint = db.session.begin_nested()
        try:
            owners = [db.session.get(User, team.owner_id) for team in world["teams"]]
            created: list[int] = []
            for operation in operations:
                try:
                    with db.session.begin_nested():  # the request's unit: refused → nothing of it stays
                        _run(operation, owners, world, created)
                except DomainError as error:
                    assert error.code in EXPECTED, (operation, error.code)
            _assert_invariants(world["instrument"].id)
            _assert_quotas(world["instrument"].id)
        finally:
            savepoint.rollback()


def _assert_invariants(instrument_id: int) -> None:
    holding = sorted(
        db.session.execute(
            select(Booking.starts_at, Booking.ends_at).where(
                Booking.instrument_id == instrument_id, Booking.status.in_(HOLDING_STATUSES)
            )
        ).all()
    )
    assert all(first.ends_at <= second.starts_at for first, second in pairwise(holding))
    for booking in db.session.scalars(select(Booking).where(Booking.instrument_id == instrument_id)):
        lines = db.session.scalars(select(SubsidyLine).where(SubsidyLine.booking_id == booking.id)).all()
        outstanding = sum(line.outstanding_fen for line in lines)
        if booking.holds_time:
            assert outstanding == booking.estimated_cost_fen - commitments.quote(booking)["team_pays_fen"]
            assert len({line.voucher_id for line in lines}) == len(lines)  # one line per voucher
        else:
            assert outstanding == 0, (booking.id, booking.status)
    assert ledger_breaches() == []


def _assert_quotas(instrument_id: int) -> None:
    """Every booking here starts after NOW, inside one Monday–Sunday week of Chongqing."""
    rows = db.session.execute(
        select(Booking.team_id, Booking.starts_at, Booking.ends_at).where(
            Booking.instrument_id == instrument_id, Booking.status.in_(fair_use.WEEK_COUNTED)
        )
    ).all()
    for team_id in {r.team_id for r in rows}:
        mine = [r for r in rows if r.team_id == team_id]
        assert len(mine) <= MAX_FUTURE, (team_id, len(mine))
        hours = sum((r.ends_at - r.starts_at).total_seconds() for r in mine) / 3600
        assert hours <= MAX_HOURS_PER_WEEK, (team_id, hours)


_WORLDS: dict[int, dict] = {}


def _world(make) -> dict:
    """One lab, instrument and two verified teams with vouchers per test run (kept by the test's SAVEPOINT)."""
    key = id(make)
    if key not in _WORLDS:
        lab = make.lab()
        instrument = make.instrument(
            lab,
            hours=ALWAYS_OPEN,
            lead_minutes=0,
            min_minutes=30,
            max_minutes=180,
            max_future_bookings_per_team=MAX_FUTURE,
            max_hours_per_team_per_week=MAX_HOURS_PER_WEEK,
        )
        teams = [make.team(owner=make.user("founder"), verified=True) for _ in range(2)]
        program = make.program(rate_bp=3000)
        for team in teams:
            make.voucher(team, program, 30_000)  # runs out: later bookings get less or no subsidy
        _WORLDS.clear()
        _WORLDS[key] = {"instrument": instrument, "teams": teams}
    return _WORLDS[key]
