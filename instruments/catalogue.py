"""Lab managers' side of the catalogue: instruments, opening hours, blackouts, qualifications."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

from sqlalchemy import Select, delete, select

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Forbidden, Invalid, NotFound
from booking.models import User
from booking.people.accounts import require_user_reference
from instruments.closures import close_new_instrument
from instruments.labs import lab_for
from instruments.models import Blackout, Instrument, Lab, LabManager, OpeningHours, Qualification
from instruments.rules import zone


def managed_lab_for(user: User, lab_id: int) -> Lab:
    """A lab the user manages (admins manage all). Another lab's manager gets 404, other roles 403."""
    lab = lab_for(user, lab_id)
    if user.role == "admin" or lab.is_managed_by(user):
        return lab
    if user.role == "lab_manager":
        raise NotFound("No such lab.")
    raise Forbidden("Only the lab's managers may do this.")


def instrument_for(user: User, instrument_id: int) -> Instrument:
    """An instrument anyone signed in may see: active ones, and inactive ones to their managers."""
    instrument = db.session.get(Instrument, instrument_id)
    if instrument is None or (not instrument.active and not manages(user, instrument)):
        raise NotFound("No such instrument.")
    return instrument


def manages(user: User, instrument: Instrument) -> bool:
    return user.role == "admin" or instrument.lab.is_managed_by(user)


def managed_instrument_for(user: User, instrument_id: int) -> Instrument:
    instrument = instrument_for(user, instrument_id)
    if manages(user, instrument):
        return instrument
    if user.role == "lab_manager":
        raise NotFound("No such instrument.")
    raise Forbidden("Only the lab's managers may do this.")


def managed_instruments(user: User) -> Select[tuple[Instrument]]:
    query = select(Instrument)
    if user.role == "admin":
        return query
    return query.join(Lab).join(LabManager).where(LabManager.user_id == user.id)


def _check_policy(fields: dict) -> None:
    if "timezone" in fields:
        zone(fields["timezone"])
    if fields.get("min_minutes", 0) > fields.get("max_minutes", 10**9):
        raise Invalid(
            "max_minutes must be at least min_minutes.", details={"max_minutes": ["Below min_minutes."]}
        )


def create_instrument(lab: Lab, **fields) -> Instrument:
    _check_policy(fields)
    instrument = Instrument(lab=lab, **fields)
    db.session.add(instrument)
    db.session.flush()
    close_new_instrument(instrument)
    return instrument


def update_instrument(instrument: Instrument, **fields) -> Instrument:
    merged = {
        "min_minutes": instrument.min_minutes,
        "max_minutes": instrument.max_minutes,
        "timezone": instrument.timezone,
        **fields,
    }
    _check_policy(merged)
    for name, value in fields.items():
        setattr(instrument, name, value)
    db.session.flush()
    return instrument


def set_opening_hours(instrument: Instrument, ranges: list[tuple[int, int, int]]) -> Instrument:
    """Replace the weekly opening hours: (weekday, opens_minute, closes_minute) ranges, which may
    not overlap within a weekday."""
    by_day: dict[int, list[tuple[int, int]]] = {}
    for weekday, opens, closes in ranges:
        by_day.setdefault(weekday, []).append((opens, closes))
    for weekday, spans in by_day.items():
        spans.sort()
        for (_, first_closes), (second_opens, _) in pairwise(spans):
            if second_opens < first_closes:
                raise Invalid(
                    "Opening ranges of one weekday overlap.",
                    code="overlapping_opening_hours",
                    details={"weekday": [f"Ranges overlap on weekday {weekday}."]},
                )
    instrument.opening_hours.clear()
    db.session.flush()
    for weekday, opens, closes in sorted(ranges):
        instrument.opening_hours.append(
            OpeningHours(weekday=weekday, opens_minute=opens, closes_minute=closes)
        )
    db.session.flush()
    return instrument


def add_blackout(
    instrument: Instrument, *, starts_at: datetime, ends_at: datetime, reason: str, by: User
) -> Blackout:
    if ends_at <= starts_at:
        raise Invalid(
            "A blackout must end after it starts.", details={"ends_at": ["Must be after starts_at."]}
        )
    blackout = Blackout(
        instrument_id=instrument.id,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason,
        created_by_id=by.id if by else None,
    )
    db.session.add(blackout)
    db.session.flush()
    return blackout


def blackouts_of(
    instrument: Instrument, start: datetime | None = None, end: datetime | None = None
) -> list[Blackout]:
    query = select(Blackout).where(Blackout.instrument_id == instrument.id)
    if start is not None:
        query = query.where(Blackout.ends_at > start)
    if end is not None:
        query = query.where(Blackout.starts_at < end)
    return list(db.session.scalars(query.order_by(Blackout.starts_at)))


def remove_blackout(instrument: Instrument, blackout_id: int) -> tuple[datetime, datetime]:
    """Delete one of the instrument's blackouts; returns the time it blocked."""
    removed = db.session.execute(
        delete(Blackout)
        .where(Blackout.id == blackout_id, Blackout.instrument_id == instrument.id)
        .returning(Blackout.starts_at, Blackout.ends_at)
    ).first()
    if removed is None:
        raise NotFound("No such blackout.")
    return removed[0], removed[1]


def grant_qualification(instrument: Instrument, user_id: int, by: User) -> Qualification:
    """Record that a user is trained on this instrument, from now until now plus the instrument's
    ``qualification_valid_days`` (for good when it has none); granting again renews it."""
    user = require_user_reference(user_id)
    granted_at = clock.now()
    days = instrument.qualification_valid_days
    expires_at = granted_at + timedelta(days=days) if days else None
    qualification = db.session.get(Qualification, (instrument.id, user.id))
    if qualification is None:
        qualification = Qualification(instrument_id=instrument.id, user_id=user.id)
        db.session.add(qualification)
    qualification.granted_by_id = by.id if by is not None else None
    qualification.granted_at = granted_at
    qualification.expires_at = expires_at
    db.session.flush()
    return qualification


def revoke_qualification(instrument: Instrument, user_id: int) -> None:
    db.session.execute(
        delete(Qualification).where(
            Qualification.instrument_id == instrument.id, Qualification.user_id == user_id
        )
    )


def qualification_of(instrument: Instrument, user: User) -> Qualification | None:
    """The user's qualification on this instrument, lapsed or not."""
    return db.session.get(Qualification, (instrument.id, user.id))


def is_qualified(instrument: Instrument, user: User, at: datetime | None = None) -> bool:
    """Whether the user holds a qualification on this instrument that has not lapsed at ``at``
    (the moment of booking; now by default)."""
    qualification = qualification_of(instrument, user)
    return qualification is not None and qualification.valid_at(at or clock.now())


def qualifications_of(instrument: Instrument) -> list[Qualification]:
    """Every qualification on this instrument, lapsed ones included, by user id."""
    return list(
        db.session.scalars(
            select(Qualification)
            .where(Qualification.instrument_id == instrument.id)
            .order_by(Qualification.user_id)
        )
    )


def qualified_user_ids(instrument: Instrument) -> list[int]:
    return [q.user_id for q in qualifications_of(instrument)]
