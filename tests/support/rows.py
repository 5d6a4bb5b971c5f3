"""Rows written straight through the ORM, for tests that need what the operations would refuse:
instruments with any opening hours, blackouts, bookings in any status at any time (past, cancelled),
members added by hand. Committed inside the test's SAVEPOINT like ``tests.support.factories``, whose
instrument defaults they share; availability, calendar and notification tests use them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from booking.core.db import db, write_intent
from booking.core.money import time_cost_fen
from booking.models import Booking, Team, TeamMember, User
from instruments.availability import free_intervals
from instruments.models import Blackout, Instrument, Lab, OpeningHours
from tests.support.factories import INSTRUMENT_DEFAULTS, WEEKDAYS_8_TO_18

# the factories' defaults, without fees (availability does not charge)
POLICY = {"description": "", **INSTRUMENT_DEFAULTS, "late_cancel_fee_bp": 0, "no_show_fee_bp": 0}


def hhmm(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def every_day(opens: str, closes: str, days: Iterable[int] = range(7)) -> tuple[tuple[int, int, int], ...]:
    return tuple((day, hhmm(opens), hhmm(closes)) for day in days)


# Weekdays 08:00–12:00 and 13:30–21:00: two ranges a day, closed at weekends.
SPLIT_DAY = every_day("08:00", "12:00", range(5)) + every_day("13:30", "21:00", range(5))


def _commit(app, build):
    with app.app_context(), write_intent():
        obj = build()
        db.session.commit()
        return obj


def add_instrument(
    app,
    lab: Lab,
    hours: Iterable[tuple[int, int, int]] = WEEKDAYS_8_TO_18,
    name: str = "Microscope",
    **policy,
) -> Instrument:
    """An instrument with weekly hours given as (weekday, opens_minute, closes_minute)."""

    def build():
        instrument = Instrument(lab_id=lab.id, name=name, **{**POLICY, **policy})
        instrument.opening_hours = [
            OpeningHours(weekday=day, opens_minute=opens, closes_minute=closes)
            for day, opens, closes in sorted(hours)
        ]
        db.session.add(instrument)
        db.session.flush()
        return instrument

    return _commit(app, build)


def add_blackout(app, instrument: Instrument, starts_at: datetime, ends_at: datetime) -> Blackout:
    def build():
        blackout = Blackout(
            instrument_id=instrument.id, starts_at=starts_at, ends_at=ends_at, reason="service"
        )
        db.session.add(blackout)
        db.session.flush()
        return blackout

    return _commit(app, build)


def add_booking(
    app,
    team: Team,
    instrument: Instrument,
    starts_at: datetime,
    ends_at: datetime,
    status: str = "confirmed",
    **fields,
) -> Booking:
    """A booking row as it would be after any life cycle (no validation: that is the booking flow's job)."""

    def build():
        booking = Booking(
            team_id=team.id,
            kind="instrument",
            instrument_id=instrument.id,
            starts_at=starts_at,
            ends_at=ends_at,
            status=status,
            created_by_id=team.owner_id,
            **{
                "estimated_cost_fen": time_cost_fen(instrument.hourly_rate_fen, ends_at - starts_at),
                "fee_fen": 0,
                **fields,
            },
        )
        db.session.add(booking)
        db.session.flush()
        return booking

    return _commit(app, build)


def add_member(app, team: Team, user: User) -> None:
    _commit(app, lambda: db.session.add(TeamMember(team_id=team.id, user_id=user.id, role="member")))


def load(app, model, id_):
    """A fresh copy of a row, with its relationships loaded, for use outside an app context."""
    with app.app_context():
        return db.session.get(model, id_)


def free_of(app, instrument: Instrument, start: datetime, end: datetime, now: datetime):
    """``free_intervals`` of the instrument as stored, in a fresh app context."""
    with app.app_context():
        return free_intervals(db.session.get(Instrument, instrument.id), start, end, now)
