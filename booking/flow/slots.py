"""Whether a slot can be held: the instrument's row lock, the overlap check and the time rules, and
the insert of a booking that holds time (its SAVEPOINT and deadlock retry). Shared by booking
(``booking.flow.bookings``), moving (``booking.flow.reschedule``), closures and the booking form.

No overlap, guaranteed by the database: on PostgreSQL an exclusion constraint refuses two bookings
holding overlapping time on one instrument (requests for one instrument take turns on its row lock,
``lock_instrument``, so a loser finds the time held → 409 ``slot_taken``); on SQLite every writing
request begins ``BEGIN IMMEDIATE``, so writers are serialised and the overlap check runs on the
committed state.

Its reads are built once (on first use, never at import), with bound parameters: SQLAlchemy keeps the ORM's compiled state of a
statement object it has seen, which is about 40 % of a read's CPU (bench/statement_cost.py).
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from sqlalchemy import Integer, bindparam, literal_column, select, union_all
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import joinedload

from booking.core.db import db
from booking.core.errors import Conflict, DomainError, Invalid
from booking.models import HOLDING_STATUSES, Booking, User
from instruments.catalogue import blackouts_of, is_qualified
from instruments.models import Blackout, Instrument
from instruments.rules import Policy, time_problems


@cache
def _blackouts_and_holder_query():
    instrument_id, starts_at, ends_at = (
        bindparam("instrument_id"),
        bindparam("starts_at"),
        bindparam("ends_at"),
    )
    holder = select(Booking.id).where(
        Booking.instrument_id == instrument_id,
        Booking.status.in_(HOLDING_STATUSES),
        Booking.starts_at < ends_at,
        Booking.ends_at > starts_at,
        Booking.id != bindparam("excluding"),  # 0 (no booking has it) when none is being moved
    )
    return union_all(
        select(literal_column("0", Integer).label("held"), Blackout.starts_at, Blackout.ends_at).where(
            Blackout.instrument_id == instrument_id,
            Blackout.ends_at > starts_at,
            Blackout.starts_at < ends_at,
        ),
        select(literal_column("1", Integer), Booking.starts_at, Booking.ends_at).where(
            Booking.id == holder.limit(1).scalar_subquery()
        ),
    )


def blackouts_and_holder(
    instrument_id: int, starts_at: datetime, ends_at: datetime, excluding_booking_id: int | None
) -> tuple[list[tuple[datetime, datetime]], bool]:
    """The instrument's blackouts across this time (by start) and whether a booking holds (part of)
    it, in one statement: UNION ALL of the two. (The concurrency tests switch the second off to
    prove that the exclusion constraint alone refuses an overlap.)"""
    rows = db.session.execute(
        _blackouts_and_holder_query(),
        {
            "instrument_id": instrument_id,
            "starts_at": starts_at,
            "ends_at": ends_at,
            "excluding": excluding_booking_id or 0,
        },
    ).all()
    blackouts = sorted((row[1], row[2]) for row in rows if not row[0])
    return blackouts, any(row[0] for row in rows)


def slot_taken() -> Conflict:
    return Conflict("Someone else holds (part of) this time.", code="slot_taken")


DEADLOCK = "40P01"  # PostgreSQL's SQLSTATE for a deadlock it broke
INSERT_ATTEMPTS = 3


def insert_holding(booking: Booking) -> None:
    """Insert a booking that holds time, in a SAVEPOINT.

    Two requests that insert overlapping bookings at the same instant each find the other's
    uncommitted row when checking the exclusion constraint and wait for each other; PostgreSQL
    breaks that deadlock by failing one of them. Only the SAVEPOINT is lost, so the loser inserts
    again: now it simply waits for the other request and then fails with the constraint (→ 409
    ``slot_taken``) or, if the other rolled back, holds the time itself. Should that keep
    deadlocking, others are racing for the same time right now: ``slot_taken``, nothing held.
    """
    for _attempt in range(INSERT_ATTEMPTS):
        try:
            with db.session.begin_nested():
                db.session.add(booking)
            return
        except OperationalError as error:
            if getattr(error.orig, "sqlstate", None) != DEADLOCK:
                raise
    raise slot_taken()


@cache
def _locked_instrument():
    return (
        select(Instrument)
        .options(joinedload(Instrument.opening_hours))
        .where(Instrument.id == bindparam("instrument_id"))
        .with_for_update(of=Instrument, key_share=True)
    )


def lock_instrument(instrument_id: int) -> Instrument | None:
    """The instrument, locked for this transaction (PostgreSQL: ``FOR NO KEY UPDATE``, so foreign-key
    checks of other writers pass): requests booking one instrument take turns here instead of racing
    to insert. Racing inserts that overlap wait for each other inside the exclusion constraint, which
    PostgreSQL resolves as deadlocks, one per second (``deadlock_timeout``): 32 such requests at once
    took long enough for waiting requests to run out of pool connections (503). Taking turns, each
    finds the time already held by the one before (409 ``slot_taken``) in a few milliseconds; the
    exclusion constraint still refuses any overlap that gets past this (tested with the check off).
    SQLite serialises every writer anyway. Its opening hours (the time rules need them) come in the
    same statement (only the instrument's row is locked)."""
    return db.session.scalars(_locked_instrument(), {"instrument_id": instrument_id}).unique().first()


def slot_problems(
    actor: User,
    instrument: Instrument,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
    *,
    excluding_booking_id: int | None = None,
) -> list[DomainError]:
    """Every rule that refuses ``actor`` this slot (training, the time rules, someone else holding
    it), in the order booking checks them: booking refuses with the first, a form shows them all.
    ``excluding_booking_id``: a booking being moved (``booking.flow.reschedule``); its own old time
    counts neither as taken nor against any per-team limit."""
    problems: list[DomainError] = []
    if instrument.requires_training and not is_qualified(instrument, actor, now):
        problems.append(
            Invalid(
                "You are not qualified on this instrument yet; ask the lab for training.",
                code="not_qualified",
                details={"instrument_id": ["Training required."]},
            )
        )
    if ends_at > starts_at:
        blackouts, held = blackouts_and_holder(instrument.id, starts_at, ends_at, excluding_booking_id)
    else:
        blackouts = [(b.starts_at, b.ends_at) for b in blackouts_of(instrument, starts_at, ends_at)]
        held = False
    problems += time_problems(Policy.of(instrument), starts_at, ends_at, now, blackouts)
    if held:
        problems.append(slot_taken())
    return problems
