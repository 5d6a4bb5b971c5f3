"""Service orders (送样检测): a team orders a lab's testing service; the lab accepts or rejects it,
receives the samples, uploads results (``booking.flow.service_results``) and completes it; the team
may cancel before the samples arrive and rates the service afterwards (``booking.flow.service_ratings``).

One function per state change, shared by the JSON API and the HTML views; each only flushes. Each
order is backed by a ``Booking`` of kind ``service`` (see ``instruments.models.service_order``), so
its money takes the same road as a booking's: the voucher split is committed at ordering
(``vouchers.commitments.commit_subsidy``), released when the order is cancelled or rejected,
settled by reconciliation on ``samples_processed × price_per_sample_fen``; the card hold too.

Status machine::

    submitted ─accept→ accepted ─receive→ in_progress ─complete→ completed ─(reconcile)→ settled
        │ reject/cancel     │ reject/cancel
        ▼                   ▼
    rejected / cancelled
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, select
from sqlalchemy.exc import IntegrityError

from booking.core import clock
from booking.core.db import among, db
from booking.core.errors import Conflict, Forbidden, Invalid, NotFound, unknown_reference
from booking.flow import service_mail
from booking.flow.bookings import replay
from booking.flow.payments import capture, holds
from booking.models import Booking, BookingStatus, PaymentStatus, Team, TeamMember, User
from booking.people.accounts import require_verified_email
from booking.people.teams import booking_team
from instruments.models import (
    ORDER_CANCELLABLE_STATUSES,
    LabManager,
    Service,
    ServiceOrder,
    ServiceOrderStatus,
)
from instruments.services import answer_problems
from vouchers import commitments
from vouchers.split import Split

LAB_ZONE = ZoneInfo("Asia/Shanghai")  # labs keep Chongqing dates (due_on)


def lab_today(now: datetime | None = None) -> date:
    """Today's date in the labs' timezone."""
    return (now or clock.now()).astimezone(LAB_ZONE).date()


def is_overdue(order: ServiceOrder, today: date | None = None) -> bool:
    """In progress past its due date (lab-local)."""
    today = today or lab_today()
    return (
        order.status == ServiceOrderStatus.IN_PROGRESS and order.due_on is not None and order.due_on < today
    )


# --- quoting and ordering -------------------------------------------------------------------------------


def order_cost_fen(service: Service, samples: int) -> int:
    return samples * service.price_per_sample_fen


def quote_order(team: Team, service: Service, samples: int, use_vouchers: bool = True) -> Split:
    """The split an order would get now, committing nothing (the confirm step of the order form)."""
    return commitments.preview_split(
        team,
        kind="service",
        cost_fen=order_cost_fen(service, samples),
        payee_organization_id=service.lab.organization_id,
        until=clock.now() + timedelta(days=service.turnaround_days),
        use_vouchers=use_vouchers,
        payee=("lab", service.lab_id),
        starts_at=clock.now(),
    )


def _orderable_service(service_id: int) -> Service:
    service = db.session.get(Service, service_id)
    if service is None or not service.active:
        raise unknown_reference("service_id", "service")
    return service


def _check_samples(service: Service, samples: int) -> None:
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise Invalid("At least one sample.", details={"samples": ["At least 1."]})
    if samples > service.max_samples:
        raise Invalid(
            f"This service takes at most {service.max_samples} samples an order.",
            code="too_many_samples",
            details={"samples": [f"At most {service.max_samples}."]},
        )


def _check_answers(service: Service, answers) -> None:
    if problems := answer_problems(service.sample_fields, answers):
        raise Invalid("Some answers about the samples are missing or not valid.", details=problems)


def _replayed_order(actor: User, idempotency_key: str | None, digest: str | None) -> ServiceOrder | None:
    earlier = replay(actor, idempotency_key, digest)
    if earlier is None:
        return None
    order = db.session.scalar(select(ServiceOrder).where(ServiceOrder.booking_id == earlier.id))
    if order is None:  # the key was a booking's, with the same digest: cannot happen, but never mix them
        raise Invalid(
            "This Idempotency-Key was used with a different request.",
            code="idempotency_key_reused",
            details={"Idempotency-Key": ["Used before with another body."]},
        )
    return order


def submit_order(
    actor: User,
    *,
    team_id: int,
    service_id: int,
    samples: int,
    answers: dict,
    use_vouchers: bool = True,
    payment_method: str | None = None,
    idempotency_key: str | None = None,
    digest: str | None = None,
) -> ServiceOrder:
    """Order ``samples`` samples of a service for a team: its split is committed now, as a booking's."""
    require_verified_email(actor)
    earlier = _replayed_order(actor, idempotency_key, digest)
    if earlier is not None:
        return earlier
    team = booking_team(actor, team_id)
    service = _orderable_service(service_id)
    _check_samples(service, samples)
    _check_answers(service, answers)
    now = clock.now()
    cost = order_cost_fen(service, samples)
    booking = Booking(
        team=team,
        kind="service",
        starts_at=now,
        ends_at=now + timedelta(days=service.turnaround_days),
        status=BookingStatus.CONFIRMED,
        use_vouchers=use_vouchers,
        estimated_cost_fen=cost,
        fee_fen=0,
        created_by_id=actor.id,
        payment_status=PaymentStatus.NONE if cost == 0 else PaymentStatus.INVOICE,
        idempotency_key=idempotency_key,
        request_digest=digest,
    )
    try:
        with db.session.begin_nested():
            db.session.add(booking)
    except IntegrityError:
        # this very request (same Idempotency-Key) committed meanwhile by a concurrent twin
        earlier = _replayed_order(actor, idempotency_key, digest)
        if earlier is not None:
            return earlier
        raise
    commitments.commit_subsidy(
        booking, payee_organization_id=service.lab.organization_id, payee=("lab", service.lab_id)
    )
    holds.authorize_booking(booking, payment_method, idempotency_key)  # declined: nothing is ordered
    order = ServiceOrder(
        team=team,
        service=service,
        booking=booking,
        samples=samples,
        answers=dict(answers),
        price_per_sample_fen=service.price_per_sample_fen,
        status=ServiceOrderStatus.SUBMITTED,
        created_by_id=actor.id,
        created_at=now,
    )
    db.session.add(order)
    db.session.flush()
    service_mail.order_event(order, "submitted")
    return order


# --- who sees which orders ------------------------------------------------------------------------------


def _managed_lab_ids(user: User):
    return select(LabManager.lab_id).where(LabManager.user_id == user.id)


def visible_orders(
    actor: User,
    *,
    team_id: int | None = None,
    lab_id: int | None = None,
    status: str | None = None,
    overdue: bool | None = None,
) -> Select[tuple[ServiceOrder]]:
    """Orders this user may see — team members their teams', lab managers their labs', finance its
    district's teams' (municipal finance and admins all) — with the list's filters."""
    query = select(ServiceOrder).join(Service, ServiceOrder.service_id == Service.id)
    if actor.role == "admin" or actor.is_municipal_finance:
        pass
    elif actor.role == "finance":
        query = query.join(Team, ServiceOrder.team_id == Team.id).where(
            Team.district_code == actor.district_code
        )
    elif actor.role == "founder":
        query = query.where(
            ServiceOrder.team_id.in_(select(TeamMember.team_id).where(TeamMember.user_id == actor.id))
        )
    elif actor.role == "lab_manager":
        query = query.where(Service.lab_id.in_(_managed_lab_ids(actor)))
    else:
        query = query.where(False)
    if team_id is not None:
        query = query.where(ServiceOrder.team_id == team_id)
    if lab_id is not None:
        query = query.where(Service.lab_id == lab_id)
    if status:
        query = query.where(ServiceOrder.status == status)
    if overdue is not None:
        late = and_(ServiceOrder.status == ServiceOrderStatus.IN_PROGRESS, ServiceOrder.due_on < lab_today())
        query = query.where(late if overdue else ~late)
    return query


def get_order(actor: User, order_id: int) -> ServiceOrder:
    """The order, if this user may see it; otherwise 404."""
    order = db.session.scalar(visible_orders(actor).where(ServiceOrder.id == order_id))
    if order is None:
        raise NotFound("No such order.")
    return order


def manages_order(actor: User, order: ServiceOrder) -> bool:
    """An admin, or a manager of the service's lab."""
    return actor.role == "admin" or order.service.lab.is_managed_by(actor)


def locked_order(order: ServiceOrder) -> ServiceOrder:
    """Lock the order's row and reload it, so two changes of one order run one after the other and
    the second sees the first's outcome (PostgreSQL; SQLite serialises writers anyway)."""
    db.session.execute(
        select(ServiceOrder.id).where(ServiceOrder.id == order.id).with_for_update(key_share=True)
    )
    db.session.refresh(order)
    return order


def managed_order(actor: User, order: ServiceOrder) -> ServiceOrder:
    if not manages_order(actor, order):
        raise Forbidden("Only the lab's managers may do this.")
    return locked_order(order)


def invalid_status(order: ServiceOrder, action: str) -> Conflict:
    return Conflict(
        f"An order that is {order.status} cannot be {action}.",
        code="invalid_status",
        details={"status": [order.status]},
    )


def _require(order: ServiceOrder, statuses, action: str) -> None:
    if order.status not in statuses:
        raise invalid_status(order, action)


# --- the lab's steps ------------------------------------------------------------------------------------


def accept(actor: User, order: ServiceOrder) -> ServiceOrder:
    managed_order(actor, order)
    _require(order, (ServiceOrderStatus.SUBMITTED,), "accepted")
    order.status = ServiceOrderStatus.ACCEPTED
    order.decided_by_id, order.accepted_at = actor.id, clock.now()
    db.session.flush()
    service_mail.order_event(order, "accepted")
    return order


def _end_backing_booking(order: ServiceOrder, status: BookingStatus, actor: User) -> None:
    """Release the order's commitments and card hold, exactly as a cancelled booking's."""
    booking = order.booking
    booking.status = status
    booking.fee_fen = 0
    booking.reason = order.reason
    if status == BookingStatus.CANCELLED:
        booking.cancelled_by_id, booking.cancelled_at = actor.id, clock.now()
    else:
        booking.decided_by_id, booking.decided_at = actor.id, clock.now()
    commitments.release_booking(booking)
    db.session.flush()
    capture.on_cancel(booking)  # fee 0: the hold is released


def reject(actor: User, order: ServiceOrder, reason: str | None = None) -> ServiceOrder:
    """The lab declines the order; every commitment and hold is released."""
    managed_order(actor, order)
    _require(order, ORDER_CANCELLABLE_STATUSES, "rejected")
    order.status = ServiceOrderStatus.REJECTED
    order.reason = reason
    order.decided_by_id, order.rejected_at = actor.id, clock.now()
    _end_backing_booking(order, BookingStatus.REJECTED, actor)
    service_mail.order_event(order, "rejected")
    return order


def receive(actor: User, order: ServiceOrder) -> ServiceOrder:
    """The samples arrived: the order is in progress, due ``turnaround_days`` after today (lab-local)."""
    managed_order(actor, order)
    _require(order, (ServiceOrderStatus.ACCEPTED,), "received")
    now = clock.now()
    order.status = ServiceOrderStatus.IN_PROGRESS
    order.received_at = now
    order.due_on = lab_today(now) + timedelta(days=order.service.turnaround_days)
    db.session.flush()
    service_mail.order_event(order, "received")
    return order


def complete(actor: User, order: ServiceOrder, samples_processed: int) -> ServiceOrder:
    """The lab is done: ``samples_processed`` (1..samples) are billed at settlement; at least one
    result file must be there."""
    managed_order(actor, order)
    _require(order, (ServiceOrderStatus.IN_PROGRESS,), "completed")
    if (
        not isinstance(samples_processed, int)
        or isinstance(samples_processed, bool)
        or not 1 <= samples_processed <= order.samples
    ):
        raise Invalid(
            f"Between 1 and {order.samples} samples.",
            details={"samples_processed": [f"Between 1 and {order.samples}."]},
        )
    if not order.results:
        raise Invalid(
            "Upload at least one result file first.",
            code="no_results",
            details={"results": ["At least one result file."]},
        )
    now = clock.now()
    order.status = ServiceOrderStatus.COMPLETED
    order.samples_processed = samples_processed
    order.completed_at = now
    order.booking.status = BookingStatus.COMPLETED
    db.session.flush()
    service_mail.order_event(order, "completed")
    return order


# --- the team's steps -----------------------------------------------------------------------------------


def cancel(actor: User, order: ServiceOrder) -> ServiceOrder:
    """The team withdraws the order, free while the lab has not received the samples."""
    if not order.team.has_member(actor):
        raise Forbidden("Only the team's members cancel an order.")
    locked_order(order)
    _require(order, ORDER_CANCELLABLE_STATUSES, "cancelled")
    order.status = ServiceOrderStatus.CANCELLED
    order.cancelled_by_id, order.cancelled_at = actor.id, clock.now()
    _end_backing_booking(order, BookingStatus.CANCELLED, actor)
    service_mail.order_event(order, "cancelled")
    return order


def orders_settled(sender, *, booking_ids: list[int]) -> None:
    """Receiver of ``vouchers.settling.bookings_settled``: the team hears of each order settled in
    the batch (the batch itself marked them settled, in its transaction)."""
    if not booking_ids:
        return
    orders = db.session.scalars(
        select(ServiceOrder)
        .where(among(ServiceOrder.booking_id, booking_ids), ServiceOrder.status == ServiceOrderStatus.SETTLED)
        .order_by(ServiceOrder.id)
    ).all()
    for order in orders:
        service_mail.order_event(order, "settled")
