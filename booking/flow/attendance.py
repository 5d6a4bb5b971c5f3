"""Attendance at a booked instrument: the lab checks a team in and out (or undoes a mistaken
check-in) — on an instrument with ``self_check_in`` the team's members check themselves in (from 15
minutes before the start until the no-show grace ends, at the moment they ask) and out —, the no-show job marks confirmed bookings nobody turned up for, and the billed time follows
from what was booked and what was actually used.

Like ``booking.flow.bookings`` (whose state-change rules these share), each function only flushes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Forbidden, Invalid
from booking.core.money import share_fen, time_cost_fen
from booking.flow import notifications, waitlist
from booking.flow.bookings import _locked, booking_for, invalid_status, managed_booking
from booking.flow.payments import capture
from booking.models import Booking, BookingStatus, TeamMember, User
from booking.models.booking import SELF_CHECK_IN_OPENS
from booking.people import audit
from instruments.models import Instrument
from vouchers import commitments


def _attended_booking(actor: User, booking_id: int) -> tuple[Booking, bool]:
    """The booking, locked, and whether the lab (rather than the team itself) acts on it."""
    booking = booking_for(actor, booking_id)
    if booking.is_managed_by(actor):
        return _locked(booking), True
    if booking.may_attend_self(actor):
        return _locked(booking), False
    raise Forbidden("Only the lab's managers may do this.")


def _outside_window(booking: Booking) -> Invalid:
    opens, closes = booking.self_check_in_window()
    return Invalid(
        "Check in from 15 minutes before the start until the grace period ends.",
        details={"at": [f"Check-in is open from {opens.isoformat()} until {closes.isoformat()}."]},
    )


def check_in(actor: User, booking_id: int, at: datetime | None = None) -> Booking:
    """The lab checks a team in (at ``at``, default now); a member of the team on an instrument with
    self check-in checks in now, inside the window (``at`` is the lab's only)."""
    booking, by_lab = _attended_booking(actor, booking_id)
    if booking.status != BookingStatus.CONFIRMED or (by_lab and not booking.can_check_in(actor)):
        raise invalid_status(booking, "checked in")
    if by_lab:
        at = at or clock.now()
        if at >= booking.ends_at:
            raise Invalid(
                "Check-in must be before the booking ends.", details={"at": ["After the booking's end."]}
            )
    else:
        at = clock.now()
        if not booking.can_self_check_in(actor, at):
            raise _outside_window(booking)
    booking.actual_starts_at = at
    booking.status = BookingStatus.CHECKED_IN
    db.session.flush()
    return booking


def check_out(actor: User, booking_id: int, at: datetime | None = None) -> Booking:
    booking, by_lab = _attended_booking(actor, booking_id)
    if booking.status != BookingStatus.CHECKED_IN:
        raise invalid_status(booking, "checked out")
    at = (at or clock.now()) if by_lab else clock.now()
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


# --- at the instrument: the kiosk and the check-in page its QR code opens -------------------------------


def kiosk_bookings(instrument: Instrument, now: datetime) -> tuple[Booking | None, Booking | None]:
    """The confirmed or checked-in booking of the instrument under way now, and the next one."""
    shown = select(Booking).where(
        Booking.instrument_id == instrument.id,
        Booking.status.in_((BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN)),
    )
    current = db.session.scalar(
        shown.where(Booking.starts_at <= now, Booking.ends_at > now).order_by(Booking.starts_at).limit(1)
    )
    upcoming = db.session.scalar(shown.where(Booking.starts_at > now).order_by(Booking.starts_at).limit(1))
    return current, upcoming


def self_attendable_booking(user: User, instrument: Instrument, now: datetime) -> Booking | None:
    """The user's team's booking of this instrument that the user may check out of now, else the one
    they may check in to now (None when there is neither, or the instrument has no self check-in)."""
    if not instrument.self_check_in:
        return None
    nearby = db.session.scalars(
        select(Booking)
        .where(
            Booking.instrument_id == instrument.id,
            Booking.team_id.in_(select(TeamMember.team_id).where(TeamMember.user_id == user.id)),
            Booking.status.in_((BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN)),
            Booking.starts_at <= now + SELF_CHECK_IN_OPENS,
            Booking.ends_at > now - timedelta(days=1),
        )
        .order_by(Booking.starts_at)
    )
    candidates = list(nearby)
    for booking in candidates:
        if booking.can_self_check_out(user):
            return booking
    return next((b for b in candidates if b.can_self_check_in(user, now)), None)
