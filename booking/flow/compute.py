"""Compute as a bookable resource: providers' GPU offers, reservations of N GPUs over a time range,
and free-capacity segments.

Capacity is guaranteed under concurrency: the offer's row is locked (PostgreSQL: SELECT … FOR
UPDATE; SQLite: writers are serialised by BEGIN IMMEDIATE) before the GPUs reserved at every instant
of the requested range are summed inside the same transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

from sqlalchemy import Select, select

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Conflict, Forbidden, Invalid, NotFound, unknown_reference
from booking.core.money import round_half_up
from booking.flow import notifications
from booking.flow.bookings import replay
from booking.flow.payments import holds
from booking.models import (
    COMPUTE_HOLDING_STATUSES,
    Booking,
    BookingStatus,
    ComputeOffer,
    PaymentStatus,
    Provider,
    User,
)
from booking.people.accounts import require_verified_email
from booking.people.teams import booking_team
from vouchers import commitments

HORIZON = timedelta(days=90)


# --- offers ------------------------------------------------------------------------------------------------


def provider_for_user(user: User, provider_id: int) -> Provider:
    """The provider this user works for (admins: any); another provider's → 404."""
    provider = db.session.get(Provider, provider_id)
    if provider is None or (user.role != "admin" and user.provider_id != provider.id):
        raise NotFound("No such provider.")
    return provider


def create_offer(provider: Provider, **fields) -> ComputeOffer:
    offer = ComputeOffer(provider=provider, **fields)
    db.session.add(offer)
    db.session.flush()
    return offer


def visible_offers(user: User) -> Select[tuple[ComputeOffer]]:
    """Active offers are a public catalogue; a provider also sees its inactive ones."""
    query = select(ComputeOffer)
    if user.role == "admin":
        return query
    if user.role == "provider":
        return query.where((ComputeOffer.active.is_(True)) | (ComputeOffer.provider_id == user.provider_id))
    return query.where(ComputeOffer.active.is_(True))


def offer_for(user: User, offer_id: int) -> ComputeOffer:
    offer = db.session.scalar(visible_offers(user).where(ComputeOffer.id == offer_id))
    if offer is None:
        raise NotFound("No such compute offer.")
    return offer


def managed_offer_for(user: User, offer_id: int) -> ComputeOffer:
    offer = offer_for(user, offer_id)
    if user.role != "admin" and offer.provider_id != user.provider_id:
        raise Forbidden("Only the offer's provider may change it.")
    return offer


def update_offer(offer: ComputeOffer, **fields) -> ComputeOffer:
    for name, value in fields.items():
        setattr(offer, name, value)
    db.session.flush()
    return offer


# --- capacity -----------------------------------------------------------------------------------------------


def reserved_segments(offer_id: int, start: datetime, end: datetime) -> list[tuple[datetime, datetime, int]]:
    """GPUs reserved in [start, end), as maximal segments of constant use (zero-use gaps included)."""
    rows = db.session.execute(
        select(Booking.starts_at, Booking.ends_at, Booking.gpus).where(
            Booking.offer_id == offer_id,
            Booking.status.in_(COMPUTE_HOLDING_STATUSES),
            Booking.starts_at < end,
            Booking.ends_at > start,
        )
    ).all()
    changes: dict[datetime, int] = {start: 0, end: 0}
    for starts_at, ends_at, gpus in rows:
        changes[max(starts_at, start)] = changes.get(max(starts_at, start), 0) + gpus
        changes[min(ends_at, end)] = changes.get(min(ends_at, end), 0) - gpus
    segments: list[tuple[datetime, datetime, int]] = []
    in_use = 0
    instants = sorted(changes)
    for here, following in pairwise(instants):
        in_use += changes[here]
        if segments and segments[-1][2] == in_use:
            segments[-1] = (segments[-1][0], following, in_use)
        else:
            segments.append((here, following, in_use))
    return segments


def free_segments(
    offer: ComputeOffer, start: datetime, end: datetime
) -> list[tuple[datetime, datetime, int]]:
    return [(s, e, offer.gpus_total - used) for s, e, used in reserved_segments(offer.id, start, end)]


def peak_reserved(offer_id: int, start: datetime, end: datetime) -> int:
    return max((used for _, _, used in reserved_segments(offer_id, start, end)), default=0)


# --- booking GPUs ------------------------------------------------------------------------------------------


def estimated_cost_fen(offer: ComputeOffer, gpus: int, starts_at: datetime, ends_at: datetime) -> int:
    """gpus × hours × price, exactly, rounded half up to the fen once."""
    seconds = int((ends_at - starts_at).total_seconds())
    return round_half_up(gpus * offer.price_per_gpu_hour_fen * seconds, 3600)


def _check_times(starts_at: datetime, ends_at: datetime, now: datetime) -> None:
    for field, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if value.second or value.microsecond:
            raise Invalid(
                "Compute bookings start and end on whole minutes.",
                code="off_grid",
                details={field: ["Whole minutes only."]},
            )
    if ends_at - starts_at < timedelta(minutes=1):
        raise Invalid(
            "Book at least one minute.", code="too_short", details={"ends_at": ["At least 1 minute."]}
        )
    if starts_at < now.replace(second=0, microsecond=0):
        raise Invalid(
            "Compute bookings start no earlier than the current minute.",
            code="inside_lead_time",
            details={"starts_at": ["In the past."]},
        )
    if starts_at > now + HORIZON:
        raise Invalid(
            "Book at most 90 days ahead.", code="beyond_horizon", details={"starts_at": ["Beyond 90 days."]}
        )


def create_compute_booking(
    actor: User,
    *,
    team_id: int,
    offer_id: int,
    gpus: int,
    starts_at: datetime,
    ends_at: datetime,
    use_vouchers: bool = True,
    idempotency_key: str | None = None,
    digest: str | None = None,
    payment_method: str | None = None,
) -> tuple[Booking, bool]:
    require_verified_email(actor)
    earlier = replay(actor, idempotency_key, digest)
    if earlier is not None:
        return earlier, False
    team = booking_team(actor, team_id)
    offer = db.session.scalar(
        select(ComputeOffer)
        .where(ComputeOffer.id == offer_id, ComputeOffer.active.is_(True))
        .with_for_update(of=ComputeOffer, key_share=True)  # NO KEY UPDATE: foreign-key checks pass
    )
    if offer is None:
        raise unknown_reference("offer_id", "compute offer")
    # the same request sent twice at once: the copy that waited for the lock replays the first
    earlier = replay(actor, idempotency_key, digest)
    if earlier is not None:
        return earlier, False
    if not 1 <= gpus <= offer.gpus_total:
        raise Invalid(
            f"Book 1 to {offer.gpus_total} GPUs of this offer.", details={"gpus": ["Out of range."]}
        )
    now = clock.now()
    _check_times(starts_at, ends_at, now)
    # the offer row is locked: nobody else can reserve on it until this transaction ends
    if peak_reserved(offer.id, starts_at, ends_at) + gpus > offer.gpus_total:
        raise Conflict("Not enough free GPUs for the whole range.", code="capacity_exceeded")
    booking = Booking(
        team=team,
        kind="compute",
        offer=offer,
        gpus=gpus,
        starts_at=starts_at,
        ends_at=ends_at,
        status=BookingStatus.CONFIRMED,
        use_vouchers=use_vouchers,
        estimated_cost_fen=estimated_cost_fen(offer, gpus, starts_at, ends_at),
        fee_fen=0,
        created_by_id=actor.id,
        payment_status=PaymentStatus.NONE if offer.price_per_gpu_hour_fen == 0 else PaymentStatus.INVOICE,
        idempotency_key=idempotency_key,
        request_digest=digest,
    )
    db.session.add(booking)
    db.session.flush()
    commitments.commit_subsidy(booking, payee_organization_id=offer.provider.organization_id)
    holds.authorize_booking(booking, payment_method, idempotency_key)  # declined: nothing is booked
    notifications.booking_event(booking, "confirmed")
    return booking, True
