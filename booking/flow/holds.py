"""Job: booking requests still waiting for approval when their time comes are released.

A pending request holds its slot and its voucher commitment; if the lab never decided by the start,
the slot goes back to the calendar and the money to the voucher, and the team is told.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from booking.core import clock
from booking.core.db import db
from booking.flow import notifications
from booking.models import Booking, BookingStatus
from vouchers import commitments

REASON = "Not approved before the booking's start; released automatically."


def release_unconfirmed(now: datetime | None = None) -> int:
    now = now or clock.now()
    due = db.session.scalars(
        select(Booking)
        .where(
            Booking.status == BookingStatus.PENDING_APPROVAL,
            Booking.kind != "service",  # orders wait for the lab without a start time
            Booking.starts_at <= now,
        )
        .order_by(Booking.id)
        .with_for_update(of=Booking, skip_locked=True)
    ).all()
    for booking in due:
        booking.status = BookingStatus.REJECTED
        booking.reason = REASON
        booking.decided_at = now
        commitments.release_booking(booking)
        notifications.booking_event(booking, "rejected")
    db.session.flush()
    return len(due)
