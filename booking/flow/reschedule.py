"""Moving a booking to another time: it keeps its id and moves whole or not at all.

Every rule of a new booking applies to the new time (``slots.slot_problems`` with the booking's own
old time excluded); the cost is re-quoted (old commitment released, new split committed), the card
hold follows the team's new share, and an instrument that needs approval asks for it again. The
whole move runs in one SAVEPOINT: a refusal leaves the booking exactly as it was. No overlap stays
the database's guarantee: the UPDATE of the times meets the same exclusion constraint as an insert
(PostgreSQL; SQLite serialises writers and the overlap check runs on the committed state).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError, OperationalError

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Conflict, Forbidden, Invalid
from booking.core.money import time_cost_fen
from booking.flow import fair_use, notifications, waitlist
from booking.flow.bookings import _locked as locked
from booking.flow.bookings import booking_for, invalid_status
from booking.flow.payments import holds
from booking.flow.slots import DEADLOCK, INSERT_ATTEMPTS, lock_instrument
from booking.flow.slots import slot_problems as rules_refusing
from booking.models import CANCELLABLE_STATUSES, Booking, BookingStatus, User
from booking.models.booking import NO_OVERLAP_CONSTRAINT
from booking.people.accounts import require_verified_email
from booking.people.teams import booking_team
from vouchers import commitments


@dataclass(frozen=True)
class Freed:
    """The time a moved booking gave up (what is not also inside its new time may be booked now)."""

    instrument_id: int
    starts_at: datetime
    ends_at: datetime


def _slot_taken() -> Conflict:
    return Conflict("Someone else holds (part of) this time.", code="slot_taken")


def can_reschedule(booking: Booking, user: User, now: datetime) -> bool:
    """A team member moves an instrument booking that still waits or is confirmed, before it starts."""
    return (
        booking.kind == "instrument"
        and booking.team.has_member(user)
        and booking.status in CANCELLABLE_STATUSES
        and now < booking.starts_at
    )


def _move_times(booking: Booking, starts_at: datetime, ends_at: datetime) -> None:
    """UPDATE the booking's times in a SAVEPOINT; a deadlock PostgreSQL broke is tried again (as
    ``slots.insert_holding``), an overlap the constraint refuses is ``slot_taken``."""
    for _attempt in range(INSERT_ATTEMPTS):
        try:
            with db.session.begin_nested():
                booking.starts_at, booking.ends_at = starts_at, ends_at
                db.session.flush()
            return
        except OperationalError as error:
            if getattr(error.orig, "sqlstate", None) != DEADLOCK:
                raise
        except IntegrityError as error:
            if NO_OVERLAP_CONSTRAINT in str(error.orig):
                raise _slot_taken() from None
            raise
    raise _slot_taken()


def reschedule(
    actor: User,
    booking_id: int,
    *,
    starts_at: datetime,
    ends_at: datetime,
    payment_method: str | None = None,
) -> tuple[Booking, Freed]:
    """Move the booking to ``starts_at``–``ends_at``. Returns the booking (same id, re-quoted) and
    the time it freed. Refused → the error is raised and nothing changed."""
    booking = booking_for(actor, booking_id)
    if not booking.team.has_member(actor):
        raise Forbidden("Only the team's members move its bookings.")
    if booking.kind != "instrument":
        raise Invalid(
            "Only instrument bookings are moved; cancel this one and book again.",
            code="not_movable",
            details={"booking_id": ["A compute booking."]},
        )
    require_verified_email(actor)
    lock_instrument(booking.instrument_id)  # moves and new bookings of it take turns
    locked(booking)
    now = clock.now()
    if not can_reschedule(booking, actor, now):
        raise invalid_status(booking, "moved")
    booking_team(actor, booking.team_id)  # the team must still be verified, as for a new booking
    if ends_at <= starts_at:
        raise Invalid(
            "The booking must end after it starts.", details={"ends_at": ["Must be after starts_at."]}
        )
    instrument = booking.instrument
    freed = Freed(instrument.id, booking.starts_at, booking.ends_at)
    with db.session.begin_nested():  # a refusal below rolls back to exactly the booking as it was
        problems = rules_refusing(actor, instrument, starts_at, ends_at, now, excluding_booking_id=booking.id)
        if problems:
            raise problems[0]
        fair_use.check_fair_use(
            booking.team_id, instrument, starts_at, ends_at, now, excluding_booking_id=booking.id
        )  # quotas and suspension, its own old time not counted
        _move_times(booking, starts_at, ends_at)
        booking.estimated_cost_fen = time_cost_fen(instrument.hourly_rate_fen, ends_at - starts_at)
        booking.reminder_sent_at = None
        if instrument.requires_approval:
            booking.status = BookingStatus.PENDING_APPROVAL
            booking.decided_by_id = booking.decided_at = None
        db.session.flush()
        commitments.requote(booking, payee_organization_id=instrument.lab.organization_id)
        replaced = holds.rehold_booking(booking, payment_method)  # declined: nothing moves
    holds.cancel_replaced_hold(replaced)
    notifications.booking_event(
        booking, "requested" if booking.status == BookingStatus.PENDING_APPROVAL else "confirmed"
    )
    waitlist.time_freed(freed.instrument_id, freed.starts_at, freed.ends_at)  # the old time, now free
    return booking, freed
