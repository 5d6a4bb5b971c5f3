"""Lab closures: a whole lab closed for a while. Each instrument of the lab gets a blackout over the
closure (``Blackout.closure_id``), so booking and the calendars refuse the time exactly as for a
maintenance blackout (code ``blackout``); an instrument published during a closure gets its part too.

Cancelling the bookings a closure (or a blackout) hits is the booking flow's job
(``booking.flow.closures``); this module only finds them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, delete, select

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Forbidden, Invalid, NotFound
from booking.models import Booking, BookingStatus, User
from instruments.models import Blackout, Instrument, Lab, LabClosure

# A closure cancels the bookings that still wait for their time. A checked-in booking is in progress:
# the team is at the instrument, so it is left alone (the lab checks it out as usual).
CANCELLED_BY_CLOSURE = (BookingStatus.PENDING_APPROVAL, BookingStatus.CONFIRMED)


def hit_bookings(
    instrument_ids: list[int], starts_at: datetime, ends_at: datetime, now: datetime
) -> Select[tuple[Booking]]:
    """The bookings of these instruments that a closure over [starts_at, ends_at) cancels: pending
    or confirmed ones holding time in it that have not ended by ``now``, in time order."""
    return (
        select(Booking)
        .where(
            Booking.instrument_id.in_(instrument_ids),
            Booking.status.in_(CANCELLED_BY_CLOSURE),
            Booking.starts_at < ends_at,
            Booking.ends_at > max(starts_at, now),
        )
        .order_by(Booking.starts_at, Booking.id)
    )


def lab_instrument_ids(lab: Lab) -> list[int]:
    return list(db.session.scalars(select(Instrument.id).where(Instrument.lab_id == lab.id)))


def _check_range(starts_at: datetime, ends_at: datetime) -> None:
    if ends_at <= starts_at:
        raise Invalid(
            "A closure must end after it starts.", details={"ends_at": ["Must be after starts_at."]}
        )


def add_closure(
    lab: Lab, *, starts_at: datetime, ends_at: datetime, reason: str, by: User | None
) -> LabClosure:
    """Close every instrument of the lab over [starts_at, ends_at) (only flushes)."""
    _check_range(starts_at, ends_at)
    closure = LabClosure(
        lab_id=lab.id,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason,
        created_by_id=by.id if by is not None else None,
    )
    db.session.add(closure)
    db.session.flush()
    for instrument_id in lab_instrument_ids(lab):
        db.session.add(_blackout_of(closure, instrument_id))
    db.session.flush()
    return closure


def _blackout_of(closure: LabClosure, instrument_id: int) -> Blackout:
    return Blackout(
        instrument_id=instrument_id,
        starts_at=closure.starts_at,
        ends_at=closure.ends_at,
        reason=closure.reason,
        created_by_id=closure.created_by_id,
        closure_id=closure.id,
    )


def close_new_instrument(instrument: Instrument) -> None:
    """A newly published instrument is closed by its lab's closures that have not ended yet."""
    for closure in db.session.scalars(
        select(LabClosure).where(LabClosure.lab_id == instrument.lab_id, LabClosure.ends_at > clock.now())
    ):
        db.session.add(_blackout_of(closure, instrument.id))
    db.session.flush()


def closures_of(lab: Lab) -> Select[tuple[LabClosure]]:
    return select(LabClosure).where(LabClosure.lab_id == lab.id)


def closure_for(user: User, closure_id: int) -> LabClosure:
    """A closure of a lab the user manages (admins: any). Another lab's manager gets 404, other
    roles 403."""
    closure = db.session.get(LabClosure, closure_id)
    lab = db.session.get(Lab, closure.lab_id) if closure is not None else None
    if lab is not None and (user.role == "admin" or lab.is_managed_by(user)):
        return closure
    if user.role in ("lab_manager", "admin"):
        raise NotFound("No such closure.")
    raise Forbidden("Only the lab's managers may do this.")


def remove_closure(closure: LabClosure) -> None:
    """Reopen the lab: the closure and its blackouts go; the bookings it cancelled stay cancelled."""
    db.session.execute(delete(Blackout).where(Blackout.closure_id == closure.id))
    db.session.delete(closure)
    db.session.flush()
