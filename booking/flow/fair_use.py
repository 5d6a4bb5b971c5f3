"""Fair use of an instrument by one team: quotas and the no-show suspension.

- ``max_future_bookings_per_team``: the team's holding bookings (pending approval, confirmed, checked
  in) of the instrument that start in the future, plus the new one, may not exceed it.
- ``max_hours_per_team_per_week``: the team's booked hours on the instrument in one Monday–Sunday week
  of the instrument's timezone (pending approval, confirmed, checked in, completed), plus the new
  booking's, may not exceed it. A booking spanning two weeks (Sunday night into Monday) counts each of
  its parts in its own week — old bookings as well as the new one — so every week the new booking
  touches is checked.
- ``no_show_limit``: a team with at least that many no-shows on any instrument of the same lab, starting
  in the last 90 days, is refused until the oldest counted no-show's start + 90 days.

Both quotas take ``excluding_booking_id``: a rescheduled booking does not count its own old time.

Under concurrency: counting and then inserting is a check-then-act race. Every booking or move of an
instrument first takes that instrument's row lock (``booking.flow.slots.lock_instrument``, PostgreSQL
``FOR NO KEY UPDATE``), and the quotas are per instrument, so the counts of one booking include every
booking of the instrument committed before it and none can be inserted meanwhile. SQLite serialises
every writing request with ``BEGIN IMMEDIATE`` already. ``check_fair_use`` must therefore run after
that lock, in the same transaction.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import func, select

from booking.core.db import db
from booking.core.errors import DomainError, Invalid
from booking.models import Booking, BookingStatus
from instruments.models import Instrument
from instruments.rules import zone

FUTURE_COUNTED = (BookingStatus.PENDING_APPROVAL, BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN)
WEEK_COUNTED = (*FUTURE_COUNTED, BookingStatus.COMPLETED)
SUSPENSION_WINDOW = timedelta(days=90)


def _excluding(query, excluding_booking_id: int | None):
    return query if excluding_booking_id is None else query.where(Booking.id != excluding_booking_id)


def week_start(at: datetime, tz_name: str) -> datetime:
    """Monday 00:00 (in ``tz_name``) of the week ``at`` falls in, as an aware instant."""
    local = at.astimezone(zone(tz_name))
    monday = local.date() - timedelta(days=local.weekday())
    return datetime.combine(monday, time(0), tzinfo=zone(tz_name))


def _weeks(starts_at: datetime, ends_at: datetime, tz_name: str) -> list[tuple[datetime, datetime]]:
    """The Monday–Sunday weeks [start, end) that the range touches."""
    weeks = []
    begin = week_start(starts_at, tz_name)
    while begin < ends_at:
        end = datetime.combine(begin.date() + timedelta(days=7), time(0), tzinfo=begin.tzinfo)
        weeks.append((begin, end))
        begin = end
    return weeks


def _overlap(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> timedelta:
    return max(timedelta(0), min(a[1], b[1]) - max(a[0], b[0]))


def _hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600, 2)


def quota_problems(
    team_id: int,
    instrument: Instrument,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
    excluding_booking_id: int | None = None,
) -> list[DomainError]:
    """Each quota of the instrument that booking [starts_at, ends_at) for the team would break
    (422 ``quota_exceeded``; ``details.limit`` names it, with the figures)."""
    problems: list[DomainError] = []
    limit = instrument.max_future_bookings_per_team
    if limit is not None:
        held = db.session.scalar(
            _excluding(
                select(func.count(Booking.id)).where(
                    Booking.team_id == team_id,
                    Booking.instrument_id == instrument.id,
                    Booking.status.in_(FUTURE_COUNTED),
                    Booking.starts_at > now,
                ),
                excluding_booking_id,
            )
        )
        if held + 1 > limit:
            problems.append(
                Invalid(
                    f"The team already holds {held} future bookings of this instrument (at most {limit}).",
                    code="quota_exceeded",
                    details={"limit": "max_future_bookings_per_team", "maximum": limit, "current": held},
                )
            )
    limit = instrument.max_hours_per_team_per_week
    if limit is not None and ends_at > starts_at:
        problems += _weekly_problems(team_id, instrument, starts_at, ends_at, limit, excluding_booking_id)
    return problems


def _weekly_problems(
    team_id: int,
    instrument: Instrument,
    starts_at: datetime,
    ends_at: datetime,
    limit: int,
    excluding_booking_id: int | None,
) -> list[DomainError]:
    weeks = _weeks(starts_at, ends_at, instrument.timezone)
    booked = list(
        db.session.execute(
            _excluding(
                select(Booking.starts_at, Booking.ends_at).where(
                    Booking.team_id == team_id,
                    Booking.instrument_id == instrument.id,
                    Booking.status.in_(WEEK_COUNTED),
                    Booking.starts_at < weeks[-1][1],
                    Booking.ends_at > weeks[0][0],
                ),
                excluding_booking_id,
            )
        )
    )
    for week in weeks:
        already = sum((_overlap(week, (b.starts_at, b.ends_at)) for b in booked), timedelta(0))
        asked = _overlap(week, (starts_at, ends_at))
        if already + asked > timedelta(hours=limit):
            return [
                Invalid(
                    f"The team would book {_hours(already + asked)} hours of this instrument in the week "
                    f"of {week[0].date().isoformat()} (at most {limit}).",
                    code="quota_exceeded",
                    details={
                        "limit": "max_hours_per_team_per_week",
                        "maximum": limit,
                        "current": _hours(already),
                        "requested": _hours(asked),
                        "week_of": week[0].date().isoformat(),
                    },
                )
            ]
    return []


def suspended_until(team_id: int, instrument: Instrument, now: datetime) -> datetime | None:
    """Until when the team may not book this instrument for its no-shows (None: it may)."""
    limit = instrument.no_show_limit
    if limit is None:
        return None
    starts = list(
        db.session.scalars(
            select(Booking.starts_at)
            .join(Instrument, Booking.instrument_id == Instrument.id)
            .where(
                Booking.team_id == team_id,
                Instrument.lab_id == instrument.lab_id,
                Booking.status == BookingStatus.NO_SHOW,
                Booking.starts_at > now - SUSPENSION_WINDOW,
                Booking.starts_at <= now,
            )
            .order_by(Booking.starts_at)
        )
    )
    if len(starts) < limit:
        return None
    return starts[0] + SUSPENSION_WINDOW


def suspension_problem(team_id: int, instrument: Instrument, now: datetime) -> DomainError | None:
    until = suspended_until(team_id, instrument, now)
    if until is None:
        return None
    return Invalid(
        "The team missed too many bookings of this lab and may not book it for now.",
        code="booking_suspended",
        details={"until": until.isoformat(), "no_show_limit": instrument.no_show_limit},
    )


def fair_use_problems(
    team_id: int,
    instrument: Instrument,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
    excluding_booking_id: int | None = None,
) -> list[DomainError]:
    """The suspension, then the quotas: every fair-use rule that refuses this booking (a form shows
    them all, booking refuses with the first)."""
    suspension = suspension_problem(team_id, instrument, now)
    problems = [suspension] if suspension is not None else []
    return problems + quota_problems(team_id, instrument, starts_at, ends_at, now, excluding_booking_id)


def check_fair_use(
    team_id: int,
    instrument: Instrument,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
    excluding_booking_id: int | None = None,
) -> None:
    """Raise the first fair-use refusal. Call it with the instrument locked, just before inserting (or
    moving) the booking, in the same transaction."""
    if (
        instrument.max_future_bookings_per_team is None
        and instrument.max_hours_per_team_per_week is None
        and instrument.no_show_limit is None
    ):
        return
    for problem in fair_use_problems(team_id, instrument, starts_at, ends_at, now, excluding_booking_id):
        raise problem
