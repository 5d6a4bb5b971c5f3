"""Attendance at a booked instrument: the lab checks a team in and out (or undoes a mistaken
check-in), the no-show job marks confirmed bookings nobody turned up for, and the billed time follows
from what was booked and what was actually used.

Like ``booking.flow.bookings`` (whose state-change rules these share), each function only flushes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Invalid
from booking.core.money import share_fen, time_cost_fen
from booking.flow import notifications, waitlist
from booking.flow.bookings import invalid_status, managed_booking
from booking.flow.payments import capture
from booking.models import Booking, BookingStatus, User
from booking.people import audit
from instruments.models import Instrument
from vouchers import commitments


def check_in(actor: User, booking_id: int, at: datetime | None = None) -> Booking:
    booking = managed_booking(actor, booking_id)
    if not booking.can_check_in(actor):
        raise invalid_status(booking, "checked in")
    at = at or clock.now()
    if at >= booking.ends_at:
        raise Invalid(
            "Check-in must be before the booking ends.", details={"at": ["After the booking's end."]}
        )
    booking.actual_starts_at = at
    booking.status = BookingStatus.CHECKED_IN
    db.session.flush()
    return booking


def check_out(actor: User, booking_id: int, at: datetime | None = None) -> Booking:
    booking = managed_booking(actor, booking_id)
    if not booking.can_check_out(actor):
        raise invalid_status(booking, "checked out")
    at = at or clock.now()
    if at < booking.actual_starts_at:
        raise Invalid("Check-out must be after check-in.", details={"at": ["Before check-in."]})
    booking.actual_ends_at = at
    booking.status = BookingStatus.COMPLETED
    db.session.flush()
    return booking


def undo_check_in(actor: User, booking_id: int) -> Booking:
    """Correct a mistaken check-in (until check-out): confirmed again, no actual start; audited,
    since the actual start decides the billed time."""
    booking = managed_booking(actor, booking_id)
    if not booking.can_undo_check_in(actor):
        raise invalid_status(booking, "un-checked-in")
    before = {"status": booking.status, "actual_starts_at": booking.actual_starts_at}
    booking.status, booking.actual_starts_at = BookingStatus.CONFIRMED, None
    db.session.flush()
    after = {"status": booking.status, "actual_starts_at": None}
    audit.record(
        actor, "undo_check_in", booking, before=before, after=after, district_code=booking.team.district_code
    )
    return booking


def billed_cost_fen(booking: Booking) -> int:
    return time_cost_fen(booking.instrument.hourly_rate_fen, booking.billed_duration)


def mark_no_shows(now: datetime | None = None) -> int:
    """Job: confirmed instrument bookings not checked in within the grace period become no-shows,
    with the no-show fee; this frees the rest of their slot. Returns how many were marked."""
    now = now or clock.now()
    candidates = db.session.scalars(
        select(Booking)
        .join(Instrument, Booking.instrument_id == Instrument.id)
        .where(
            Booking.kind == "instrument", Booking.status == BookingStatus.CONFIRMED, Booking.starts_at <= now
        )
        .order_by(Booking.id)
        .with_for_update(of=Booking, skip_locked=True)  # being checked in or cancelled: next run
    )
    marked = 0
    for booking in candidates:
        grace = timedelta(minutes=booking.instrument.no_show_grace_minutes)
        if booking.starts_at + grace > now:
            continue
        booking.status = BookingStatus.NO_SHOW
        booking.fee_fen = share_fen(booking.estimated_cost_fen, booking.instrument.no_show_fee_bp)
        commitments.release_booking(booking)
        capture.mark_fee(booking)  # captured by the capture_payments job
        notifications.booking_event(booking, "no_show")
        waitlist.time_freed(booking.instrument_id, max(now, booking.starts_at), booking.ends_at, now)
        marked += 1
    db.session.flush()
    return marked
