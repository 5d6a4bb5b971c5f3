"""The booking and payment statuses are declared once (``booking.models.booking``): the sets, the model's
predicates that the operations and the pages both ask, and the CHECK constraints built from them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from booking.models import (
    CANCELLABLE_STATUSES,
    COMPUTE_HOLDING_STATUSES,
    HOLDING_STATUSES,
    SERVED_STATUSES,
    STATUSES,
    Booking,
    BookingStatus,
    PaymentStatus,
    Team,
    TeamMember,
    User,
)
from booking.web.bookings import STATUS_LABELS
from instruments.models import Instrument, Lab, LabManager

CST = timezone(timedelta(hours=8))
START = datetime(2026, 12, 2, 10, 0, tzinfo=CST)
END = START + timedelta(hours=1)


# --- the declared sets ------------------------------------------------------------------------------------


def test_booking_statuses_are_the_stored_texts():
    assert tuple(BookingStatus) == STATUSES
    assert [str(s) for s in STATUSES] == [
        "pending_approval",
        "confirmed",
        "rejected",
        "cancelled",
        "checked_in",
        "completed",
        "no_show",
        "settled",
    ]
    assert BookingStatus.CONFIRMED == "confirmed" and f"{BookingStatus.NO_SHOW}" == "no_show"
    assert set(STATUS_LABELS) == set(BookingStatus)


def test_the_subsets_are_subsets_of_the_statuses():
    assert set(HOLDING_STATUSES) == set(BookingStatus) - {
        BookingStatus.REJECTED,
        BookingStatus.CANCELLED,
        BookingStatus.NO_SHOW,
    }
    assert set(COMPUTE_HOLDING_STATUSES) < set(HOLDING_STATUSES)
    assert set(CANCELLABLE_STATUSES) == {BookingStatus.PENDING_APPROVAL, BookingStatus.CONFIRMED}
    assert set(SERVED_STATUSES) == set(HOLDING_STATUSES) - {BookingStatus.PENDING_APPROVAL} | {
        BookingStatus.NO_SHOW
    }


def test_payment_statuses_keep_the_providers_spelling():
    """The API's ``payment.status`` says "canceled" (Stripe's word); the booking says "cancelled"."""
    assert len(PaymentStatus) == 12
    assert PaymentStatus.CANCELED == "canceled" and "cancelled" not in set(PaymentStatus)
    assert "canceled" not in set(BookingStatus)


def test_the_check_constraints_are_built_from_the_declared_sets():
    checks = {
        c.name: str(c.sqltext) for c in Booking.__table__.constraints if isinstance(c, sa.CheckConstraint)
    }
    assert checks["ck_bookings_status"] == (
        "status IN ('pending_approval', 'confirmed', 'rejected', 'cancelled', 'checked_in', "
        "'completed', 'no_show', 'settled')"
    )


# --- the model's predicates (no database: transient objects) ---------------------------------------------

MEMBER, MANAGER, ADMIN, STRANGER = (
    User(id=1, role="founder"),
    User(id=2, role="lab_manager"),
    User(id=3, role="admin"),
    User(id=4, role="founder"),
)


def _booking(status: BookingStatus, with_instrument: bool = True) -> Booking:
    team = Team(memberships=[TeamMember(user_id=MEMBER.id)])
    instrument = Instrument(lab=Lab(managers=[LabManager(user_id=MANAGER.id)])) if with_instrument else None
    return Booking(team=team, instrument=instrument, status=status, starts_at=START, ends_at=END)


LAB_PREDICATES = {
    "can_approve": {BookingStatus.PENDING_APPROVAL},
    "can_reject": {BookingStatus.PENDING_APPROVAL},
    "can_check_in": {BookingStatus.CONFIRMED},
    "can_check_out": {BookingStatus.CHECKED_IN},
    "can_undo_check_in": {BookingStatus.CHECKED_IN},
}


@pytest.mark.parametrize("predicate", sorted(LAB_PREDICATES))
@pytest.mark.parametrize("status", STATUSES)
def test_lab_actions_need_a_manager_and_the_right_status(predicate, status):
    booking = _booking(status)
    allowed = status in LAB_PREDICATES[predicate]
    assert getattr(booking, predicate)(MANAGER) is allowed
    assert getattr(booking, predicate)(ADMIN) is allowed
    assert getattr(booking, predicate)(MEMBER) is False
    assert getattr(booking, predicate)(STRANGER) is False
    assert getattr(_booking(status, with_instrument=False), predicate)(ADMIN) is False  # compute: no lab


@pytest.mark.parametrize("status", STATUSES)
def test_cancel_needs_a_member_or_manager_a_cancellable_status_and_time_left(status):
    booking = _booking(status)
    before_end, at_end = END - timedelta(minutes=1), END
    allowed = status in (BookingStatus.PENDING_APPROVAL, BookingStatus.CONFIRMED)
    for user in (MEMBER, MANAGER, ADMIN):
        assert booking.can_cancel(user, before_end) is allowed
        assert booking.can_cancel(user, at_end) is False
    assert booking.can_cancel(STRANGER, before_end) is False
    assert booking.may_cancel(MEMBER) and not booking.may_cancel(STRANGER)
