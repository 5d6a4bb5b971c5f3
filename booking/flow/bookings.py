"""The booking flow: create, approve/reject, cancel (attendance — check in/out, no-shows — is in
``booking.flow.attendance``).

One function per state change, shared by the JSON API and the HTML views; each only flushes.

No overlap, guaranteed by the database (``booking.flow.slots``: the instrument's row lock, the
overlap check, the exclusion constraint on PostgreSQL, serialised writers on SQLite).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import Select, bindparam, select
from sqlalchemy.exc import IntegrityError

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Conflict, Forbidden, Invalid, NotFound, unknown_reference
from booking.core.money import share_fen, time_cost_fen
from booking.flow import fair_use, notifications, waitlist
from booking.flow.payments import capture, holds
from booking.flow.slots import insert_holding, lock_instrument, slot_problems, slot_taken
from booking.models import (
    CANCELLABLE_STATUSES,
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
from instruments.models import Instrument, Lab, LabManager
from vouchers import commitments


def request_digest(body: dict) -> str:
    """A stable digest of a request body, to tell a replay from a reused Idempotency-Key."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


# The booking path's reads are built once (on first use, never at import), with bound parameters: SQLAlchemy keeps the ORM's compiled
# state of a statement object it has seen, which is about 40 % of a read's CPU (bench/statement_cost.py)
@cache
def _earlier():
    return select(Booking).where(
        Booking.created_by_id == bindparam("actor_id"), Booking.idempotency_key == bindparam("key")
    )


def replay(actor: User, idempotency_key: str | None, digest: str | None) -> Booking | None:
    if not idempotency_key:
        return None
    earlier = db.session.scalar(_earlier(), {"actor_id": actor.id, "key": idempotency_key})
    if earlier is not None and earlier.request_digest != digest:
        raise Invalid(
            "This Idempotency-Key was used with a different request.",
            code="idempotency_key_reused",
            details={"Idempotency-Key": ["Used before with another body."]},
        )
    return earlier


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
    notify: bool = True,
) -> tuple[Booking, bool]:
    """Book an instrument for a team. Returns (booking, created); created is False on a replay.
    ``notify=False``: no mail for this booking (a series mails once for all its occurrences)."""
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
        insert_holding(booking)
    except IntegrityError as error:
        # A concurrent request committed first: either it holds the slot (exclusion constraint) or it
        # was this very request sent twice with the same Idempotency-Key.
        earlier = replay(actor, idempotency_key, digest)
        if earlier is not None:
            return earlier, False
        if NO_OVERLAP_CONSTRAINT in str(error.orig):
            raise slot_taken()
        raise
    commitments.commit_subsidy(booking, payee_organization_id=instrument.lab.organization_id)
    holds.authorize_booking(booking, payment_method, idempotency_key)  # declined: nothing is booked
    if notify:
        pending = booking.status == BookingStatus.PENDING_APPROVAL
        notifications.booking_event(booking, "requested" if pending else "confirmed")
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


def cancel(actor: User, booking_id: int, reason: str | None = None, *, notify: bool = True) -> Booking:
    """Cancel a booking (``notify=False``: no mail; a series mails once for all it cancels)."""
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
    if notify:
        notifications.booking_event(booking, "cancelled")
    waitlist.time_freed(booking.instrument_id, booking.starts_at, booking.ends_at, now)
    return booking
