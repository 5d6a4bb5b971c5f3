"""Property: for any sequence of create/cancel operations, no two bookings holding time on one
instrument overlap, and availability never offers time that a booking holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from booking.core import clock
from booking.core.db import db
from booking.core.errors import DomainError
from booking.flow import bookings
from booking.models import HOLDING_STATUSES, Booking, User
from instruments.models import Instrument

BASE = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)  # a Monday, 08:00 in Chongqing
NOW = BASE - timedelta(days=1)
ALWAYS_OPEN = tuple((day, 0, 1440) for day in range(7))

create = st.tuples(st.just("create"), st.integers(0, 40), st.integers(1, 6), st.integers(0, 1))
cancel = st.tuples(st.just("cancel"), st.integers(0, 30), st.just(0), st.integers(0, 1))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(st.one_of(create, create, cancel), min_size=1, max_size=30))
def test_random_create_cancel_sequences_never_overlap(app, make, operations):
    world = _world(make)
    with app.app_context(), clock.frozen_at(NOW):
        savepoint = db.session.begin_nested()
        try:
            owners = [db.session.get(User, team.owner_id) for team in world["teams"]]
            created: list[int] = []
            for kind, a, b, who in operations:
                try:
                    if kind == "create":
                        starts_at = BASE + timedelta(minutes=30 * a)
                        booking, _ = bookings.create_instrument_booking(
                            owners[who],
                            team_id=world["teams"][who].id,
                            instrument_id=world["instrument"].id,
                            starts_at=starts_at,
                            ends_at=starts_at + timedelta(minutes=30 * b),
                        )
                        created.append(booking.id)
                    elif created:
                        booking_id = created[a % len(created)]
                        owner = db.session.get(User, db.session.get(Booking, booking_id).team.owner_id)
                        bookings.cancel(owner, booking_id)
                except DomainError as error:
                    assert error.code in {"slot_taken", "invalid_status"}, error.code
            holding = sorted(
                db.session.execute(
                    select(Booking.starts_at, Booking.ends_at).where(
                        Booking.instrument_id == world["instrument"].id, Booking.status.in_(HOLDING_STATUSES)
                    )
                ).all()
            )
            assert all(first.ends_at <= second.starts_at for first, second in pairwise(holding))
            _assert_availability_offers_no_taken_time(world["instrument"].id, holding)
        finally:
            savepoint.rollback()


_WORLDS: dict[int, dict] = {}


def _world(make) -> dict:
    """One lab, instrument and two verified teams per test run (the SAVEPOINT of the test keeps them)."""
    key = id(make)
    if key not in _WORLDS:
        lab = make.lab()
        instrument = make.instrument(lab, hours=ALWAYS_OPEN, lead_minutes=0, min_minutes=30, max_minutes=600)
        teams = [make.team(owner=make.user("founder"), verified=True) for _ in range(2)]
        _WORLDS.clear()
        _WORLDS[key] = {"instrument": instrument, "teams": teams}
    return _WORLDS[key]


def _assert_availability_offers_no_taken_time(instrument_id: int, holding) -> None:
    try:
        from instruments.availability import free_intervals
    except ImportError:  # availability search lands separately; the overlap property stands alone
        return
    instrument = db.session.get(Instrument, instrument_id)
    free = free_intervals(instrument, BASE, BASE + timedelta(days=2), NOW)
    for free_start, free_end in free:
        for taken in holding:
            assert not (free_start < taken.ends_at and taken.starts_at < free_end), (
                free_start,
                free_end,
                taken,
            )
