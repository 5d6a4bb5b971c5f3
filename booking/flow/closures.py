"""Closures that hit bookings: a lab closure (``instruments.closures``) or an instrument blackout
declared over time that bookings already hold cancels those bookings, BY THE LAB: no fee, the
vouchers committed to them released, card holds released, each team mailed with the reason; the time
they free is offered to the waitlist. Pending and confirmed bookings are cancelled; checked-in ones
are in progress and left alone (the lab checks them out as usual), and so are bookings that have
already ended (the no-show job and check-out deal with those).

A closure or blackout first takes the lock of every instrument it closes (in id order), the lock a
new booking or a move takes before checking blackouts: a booking made at the same instant either
commits first (and is then cancelled here) or waits and finds the time closed.

Shared by the JSON API and the HTML console; each function only flushes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from booking.core import clock
from booking.core.db import db
from booking.flow import notifications, waitlist
from booking.flow.payments import capture
from booking.flow.slots import lock_instrument
from booking.models import Booking, BookingStatus, User
from instruments import catalogue, closures
from instruments.models import Blackout, Instrument, LabClosure
from vouchers import commitments


def cancel_by_lab(actor: User, booking: Booking, reason: str, now: datetime) -> bool:
    """Cancel one booking for the lab, free. False when it no longer waits for its time (someone
    cancelled it or checked it in meanwhile: left as it is)."""
    db.session.execute(select(Booking.id).where(Booking.id == booking.id).with_for_update(key_share=True))
    db.session.refresh(booking)
    if booking.status not in closures.CANCELLED_BY_CLOSURE:
        return False
    booking.fee_fen = 0
    booking.status = BookingStatus.CANCELLED
    commitments.release_booking(booking)
    booking.reason = reason
    booking.cancelled_by_id, booking.cancelled_at = actor.id, now
    db.session.flush()
    capture.on_cancel(booking)  # fee 0: the card hold is released
    notifications.booking_event(booking, "cancelled_by_lab")
    return True


def _cancel_all(actor: User, instrument_ids: list[int], starts_at, ends_at, reason: str) -> list[int]:
    now = clock.now()
    hit = list(db.session.scalars(closures.hit_bookings(instrument_ids, starts_at, ends_at, now)))
    cancelled = [b for b in hit if cancel_by_lab(actor, b, reason, now)]
    for booking in cancelled:  # after all of them: a waiting range may span two cancelled bookings
        waitlist.time_freed(booking.instrument_id, booking.starts_at, booking.ends_at, now)
    return [b.id for b in cancelled]


def preview_closure(lab_instrument_ids: list[int], starts_at: datetime, ends_at: datetime) -> list[Booking]:
    """The bookings a closure (or blackout) over this range would cancel, for the confirm page."""
    if ends_at <= starts_at:
        return []
    return list(
        db.session.scalars(closures.hit_bookings(lab_instrument_ids, starts_at, ends_at, clock.now()))
    )


def close_lab(
    actor: User, lab_id: int, *, starts_at: datetime, ends_at: datetime, reason: str
) -> tuple[LabClosure, list[int]]:
    """Close every instrument of the lab over the range and cancel the bookings holding time in it.
    Returns the closure and the ids of the cancelled bookings."""
    lab = catalogue.managed_lab_for(actor, lab_id)
    for instrument_id in sorted(closures.lab_instrument_ids(lab)):
        lock_instrument(instrument_id)
    closure = closures.add_closure(lab, starts_at=starts_at, ends_at=ends_at, reason=reason, by=actor)
    cancelled = _cancel_all(actor, closures.lab_instrument_ids(lab), starts_at, ends_at, reason)
    return closure, cancelled


def add_blackout(
    actor: User, instrument: Instrument, *, starts_at: datetime, ends_at: datetime, reason: str
) -> tuple[Blackout, list[int]]:
    """An instrument blackout (the caller checked the actor manages it) that cancels the bookings
    holding time in it. Returns the blackout and the ids of the cancelled bookings."""
    lock_instrument(instrument.id)
    blackout = catalogue.add_blackout(
        instrument, starts_at=starts_at, ends_at=ends_at, reason=reason, by=actor
    )
    return blackout, _cancel_all(actor, [instrument.id], starts_at, ends_at, reason)


def remove_blackout(instrument: Instrument, blackout_id: int) -> None:
    """Remove an instrument blackout (the caller checked the actor manages it); the bookings it
    cancelled stay cancelled, and the time it blocked is offered to the waitlist."""
    lock_instrument(instrument.id)
    starts_at, ends_at = catalogue.remove_blackout(instrument, blackout_id)
    waitlist.time_freed(instrument.id, starts_at, ends_at)


def reopen(actor: User, closure_id: int) -> None:
    """Remove a lab closure (its blackouts go with it); the bookings it cancelled stay cancelled, and
    the reopened time is offered to the waitlist."""
    closure = closures.closure_for(actor, closure_id)
    lab = catalogue.managed_lab_for(actor, closure.lab_id)
    starts_at, ends_at = closure.starts_at, closure.ends_at
    closures.remove_closure(closure)
    for instrument_id in closures.lab_instrument_ids(lab):
        waitlist.time_freed(instrument_id, starts_at, ends_at)
