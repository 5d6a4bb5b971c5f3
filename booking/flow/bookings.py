"""The booking flow: create, approve/reject, cancel (attendance — check in/out, no-shows — is in
``booking.flow.attendance``).

One function per state change, shared by the JSON API and the HTML views; each only flushes.

No overlap, guaranteed by the database: on PostgreSQL an exclusion constraint refuses two bookings
holding overlapping time on one instrument (requests for one instrument take turns on its row lock,
``lock_instrument``, so a loser finds the time held → 409 ``slot_taken``); on SQLite every writing request begins ``BEGIN IMMEDIATE``, so writers
are serialised and the overlap check below runs on the committed state.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

from sqlalchemy import Integer, Select, literal_column, select, union_all
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import joinedload

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, unknown_reference
from booking.core.money import share_fen, time_cost_fen
from booking.flow import fair_use, notifications, waitlist
from booking.flow.payments import capture, holds
from booking.models import (
    CANCELLABLE_STATUSES,
    HOLDING_STATUSES,
    Booking,
    BookingStatus,
    ComputeOffer,
    PaymentStatus,
    Team,
    TeamMember,
    User,
)
from booking.models.booking import NO_OVERLAP_CONSTRAINT
from booking.people.accounts import require_verified_email
from booking.people.teams import booking_team
from instruments.catalogue import blackouts_of, is_qualified
from instruments.models import Blackout, Instrument, Lab, LabManager
from instruments.rules import Policy, time_problems
from vouchers import commitments


def request_digest(body: dict) -> str:
    """A stable digest of a request body, to tell a replay from a reused Idempotency-Key."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def replay(actor: User, idempotency_key: str | None, digest: str | None) -> Booking | None:
    if not idempotency_key:
        return None
    earlier = db.session.scalar(
        select(Booking).where(Booking.created_by_id == actor.id, Booking.idempotency_key == idempotency_key)
    )
    if earlier is not None and earlier.request_digest != digest:
        raise Invalid(
            "This Idempotency-Key was used with a different request.",
            code="idempotency_key_reused",
            details={"Idempotency-Key": ["Used before with another body."]},
        )
    return earlier


def overlapping_holder(
    instrument_id: int, starts_at: datetime, ends_at: datetime, excluding_booking_id: int | None = None
) -> Booking | None:
    """A booking holding (part of) this time; ``excluding_booking_id``: one being moved, whose own old
    time does not stand in its way."""
    query = select(Booking).where(
        Booking.instrument_id == instrument_id,
        Booking.status.in_(HOLDING_STATUSES),
        Booking.starts_at < ends_at,
        Booking.ends_at > starts_at,
    )
    if excluding_booking_id is not None:
        query = query.where(Booking.id != excluding_booking_id)
    return db.session.scalar(query.limit(1))


def _blackouts_and_holder(
    instrument_id: int, starts_at: datetime, ends_at: datetime, excluding_booking_id: int | None
) -> tuple[list[tuple[datetime, datetime]], bool]:
    """The instrument's blackouts across this time (by start) and whether a booking holds (part of)
    it (``overlapping_holder``), in one statement: UNION ALL of the two."""
    holder = select(Booking.id).where(
        Booking.instrument_id == instrument_id,
        Booking.status.in_(HOLDING_STATUSES),
        Booking.starts_at < ends_at,
        Booking.ends_at > starts_at,
    )
    if excluding_booking_id is not None:
        holder = holder.where(Booking.id != excluding_booking_id)
    held = literal_column("1", Integer)
    rows = db.session.execute(
        union_all(
            select(literal_column("0", Integer).label("held"), Blackout.starts_at, Blackout.ends_at).where(
                Blackout.instrument_id == instrument_id,
                Blackout.ends_at > starts_at,
                Blackout.starts_at < ends_at,
            ),
            select(held, Booking.starts_at, Booking.ends_at).where(
                Booking.id == holder.limit(1).scalar_subquery()
            ),
        )
    ).all()
    blackouts = sorted((row[1], row[2]) for row in rows if not row[0])
    return blackouts, any(row[0] for row in rows)


def _slot_taken() -> Conflict:
    return Conflict("Someone else holds (part of) this time.", code="slot_taken")


DEADLOCK = "40P01"  # PostgreSQL's SQLSTATE for a deadlock it broke
INSERT_ATTEMPTS = 3


def _insert_holding(booking: Booking) -> None:
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
    raise _slot_taken()


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
    return (
        db.session.scalars(
            select(Instrument)
            .options(joinedload(Instrument.opening_hours))
            .where(Instrument.id == instrument_id)
            .with_for_update(of=Instrument, key_share=True)
        )
        .unique()
        .first()
    )


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
        blackouts, held = _blackouts_and_holder(instrument.id, starts_at, ends_at, excluding_booking_id)
    else:
        blackouts = [(b.starts_at, b.ends_at) for b in blackouts_of(instrument, starts_at, ends_at)]
        held = False
    problems += time_problems(Policy.of(instrument), starts_at, ends_at, now, blackouts)
    if held:
        problems.append(_slot_taken())
    return problems


def create_instrument_booking(
    actor: User,
    *,
    team_id: int,
    instrument_id: int,
    starts_at: datetime,
    ends_at: datetime,
    use_vouchers: bool = True,
    idempotency_key: str | None = None,
    digest: str | None = None,
    payment_method: str | None = None,
) -> tuple[Booking, bool]:
    """Book an instrument for a team. Returns (booking, created); created is False on a replay."""
    require_verified_email(actor)
    earlier = replay(actor, idempotency_key, digest)
    if earlier is not None:
        return earlier, False
    team = booking_team(actor, team_id)
    instrument = lock_instrument(instrument_id)
    if instrument is None or not instrument.active:
        raise unknown_reference("instrument_id", "instrument")
    # the same request sent twice at once: the copy that waited for the lock replays the first
    earlier = replay(actor, idempotency_key, digest)
    if earlier is not None:
        return earlier, False
    problems = slot_problems(actor, instrument, starts_at, ends_at, clock.now())
    if problems:
        if problems[0].code == "slot_taken":
            earlier = replay(actor, idempotency_key, digest)  # this very request, committed meanwhile
            if earlier is not None:
                return earlier, False
        raise problems[0]
    fair_use.check_fair_use(team.id, instrument, starts_at, ends_at, clock.now())  # quotas, suspension

    booking = Booking(
        team=team,
        kind="instrument",
        instrument=instrument,
        starts_at=starts_at,
        ends_at=ends_at,
        status=BookingStatus.PENDING_APPROVAL if instrument.requires_approval else BookingStatus.CONFIRMED,
        use_vouchers=use_vouchers,
        estimated_cost_fen=time_cost_fen(instrument.hourly_rate_fen, ends_at - starts_at),
        fee_fen=0,
        created_by_id=actor.id,
        payment_status=PaymentStatus.NONE if instrument.hourly_rate_fen == 0 else PaymentStatus.INVOICE,
        idempotency_key=idempotency_key,
        request_digest=digest,
    )
    try:
        _insert_holding(booking)
    except IntegrityError as error:
        # A concurrent request committed first: either it holds the slot (exclusion constraint) or it
        # was this very request sent twice with the same Idempotency-Key.
        earlier = replay(actor, idempotency_key, digest)
        if earlier is not None:
            return earlier, False
        if NO_OVERLAP_CONSTRAINT in str(error.orig):
            raise _slot_taken()
        raise
    commitments.commit_subsidy(booking, payee_organization_id=instrument.lab.organization_id)
    holds.authorize_booking(booking, payment_method, idempotency_key)  # declined: nothing is booked
    notifications.booking_event(
        booking, "requested" if booking.status == BookingStatus.PENDING_APPROVAL else "confirmed"
    )
    return booking, True


# --- who sees which bookings -------------------------------------------------------------------------


def visible_bookings(user: User) -> Select[tuple[Booking]]:
    """Team members see their teams' bookings, lab managers their labs', finance its district's
    teams' (municipal finance and admins all). Service orders' backing bookings (kind ``service``)
    are money, not time: they are orders (``booking.flow.service_orders``), never listed here."""
    query = select(Booking).where(Booking.kind != "service")
    if user.role == "admin" or user.is_municipal_finance:
        return query
    if user.role == "finance":
        return query.join(Team, Booking.team_id == Team.id).where(Team.district_code == user.district_code)
    if user.role == "founder":
        return query.where(
            Booking.team_id.in_(select(TeamMember.team_id).where(TeamMember.user_id == user.id))
        )
    if user.role == "provider":
        return query.where(
            Booking.offer_id.in_(select(ComputeOffer.id).where(ComputeOffer.provider_id == user.provider_id))
        )
    if user.role == "lab_manager":
        managed = (
            select(Instrument.id)
            .join(Lab, Instrument.lab_id == Lab.id)
            .join(LabManager, LabManager.lab_id == Lab.id)
            .where(LabManager.user_id == user.id)
        )
        return query.where(Booking.instrument_id.in_(managed))
    return query.where(False)


def booking_for(user: User, booking_id: int) -> Booking:
    booking = db.session.scalar(visible_bookings(user).where(Booking.id == booking_id))
    if booking is None:
        raise NotFound("No such booking.")
    return booking


def _locked(booking: Booking) -> Booking:
    """Lock the booking's row until the transaction ends and reload it, so two state changes of one
    booking (a double click, a team mate, the lab, a job) run one after the other and the second sees
    the first's outcome (PostgreSQL; SQLite serialises writers anyway). FOR NO KEY UPDATE, so
    foreign-key checks of rows that reference it (postings, messages) never wait for it."""
    db.session.execute(select(Booking.id).where(Booking.id == booking.id).with_for_update(key_share=True))
    db.session.refresh(booking)
    return booking


# --- state changes ---------------------------------------------------------------------------------------


def invalid_status(booking: Booking, action: str) -> Conflict:
    return Conflict(
        f"A booking that is {booking.status} cannot be {action}.",
        code="invalid_status",
        details={"status": [booking.status]},
    )


def managed_booking(actor: User, booking_id: int) -> Booking:
    booking = booking_for(actor, booking_id)
    if not booking.is_managed_by(actor):
        raise Forbidden("Only the lab's managers may do this.")
    return _locked(booking)


def approve(actor: User, booking_id: int) -> Booking:
    booking = managed_booking(actor, booking_id)
    if not booking.can_approve(actor):
        raise invalid_status(booking, "approved")
    booking.status = BookingStatus.CONFIRMED
    booking.decided_by_id, booking.decided_at = actor.id, clock.now()
    db.session.flush()
    notifications.booking_event(booking, "approved")
    return booking


def reject(actor: User, booking_id: int, reason: str | None = None) -> Booking:
    booking = managed_booking(actor, booking_id)
    if not booking.can_reject(actor):
        raise invalid_status(booking, "rejected")
    booking.status = BookingStatus.REJECTED
    commitments.release_booking(booking)
    booking.reason = reason
    booking.decided_by_id, booking.decided_at = actor.id, clock.now()
    db.session.flush()
    capture.on_cancel(booking)  # fee 0: the card hold is released
    notifications.booking_event(booking, "rejected")
    waitlist.time_freed(booking.instrument_id, booking.starts_at, booking.ends_at)
    return booking


def cancellation_fee_fen(booking: Booking, now: datetime, by_team: bool) -> int:
    """Free until ``free_cancel_hours`` before start; later, a team cancelling a confirmed booking
    pays ``late_cancel_fee_bp`` of its cost. A lab cancelling, or an unapproved request, is free."""
    instrument = booking.instrument
    if not by_team or booking.status != BookingStatus.CONFIRMED or instrument is None:
        return 0
    if now < booking.starts_at - timedelta(hours=instrument.free_cancel_hours):
        return 0
    return share_fen(booking.estimated_cost_fen, instrument.late_cancel_fee_bp)


def cancel(actor: User, booking_id: int, reason: str | None = None) -> Booking:
    booking = booking_for(actor, booking_id)
    if not booking.may_cancel(actor):
        raise Forbidden("Only the team's members or the lab's managers cancel a booking.")
    _locked(booking)
    now = clock.now()
    if not booking.can_cancel(actor, now):
        ended = booking.status in CANCELLABLE_STATUSES
        raise invalid_status(booking, "cancelled after it ended" if ended else "cancelled")
    by_team = booking.team.has_member(actor)
    booking.fee_fen = cancellation_fee_fen(booking, now, by_team)  # the team's, never the vouchers'
    booking.status = BookingStatus.CANCELLED
    commitments.release_booking(booking)
    booking.reason = reason
    booking.cancelled_by_id, booking.cancelled_at = actor.id, now
    db.session.flush()
    capture.on_cancel(booking)  # hold released (or the fee captured) before the response
    notifications.booking_event(booking, "cancelled")
    waitlist.time_freed(booking.instrument_id, booking.starts_at, booking.ends_at, now)
    return booking
