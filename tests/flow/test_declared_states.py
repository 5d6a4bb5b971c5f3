"""The booking and payment statuses are declared once (``booking.models.booking``): the sets, the model's
predicates that the operations and the pages both ask, and the CHECK constraints built from them."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import flask_migrate
import pytest
import sqlalchemy as sa

from booking.core.config import TestConfig
from booking.core.db import db, write_intent
from booking.factory import create_app
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
from booking.models.booking import NO_OVERLAP_CONSTRAINT
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
    assert checks["ck_bookings_payment_status"] == (
        "payment_status IN ('none', 'invoice', 'authorized', 'capture_pending', 'cancel_pending', "
        "'captured', 'canceled', 'capture_failed', 'cancel_failed', 'failed', 'refunded', "
        "'partially_refunded')"
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


# --- the database refuses an unknown status (both engines: the suite runs on each) -----------------------


@pytest.mark.parametrize(
    ("column", "value"), [("status", "unknown"), ("status", "canceled"), ("payment_status", "cancelled")]
)
def test_check_constraints_refuse_an_unknown_status(make, app, column, value):
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True)
    instrument = make.instrument(make.lab(), hourly_rate_fen=0)
    booking = make.booking(team, instrument, START, END)
    with app.app_context(), write_intent():
        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(sa.update(Booking).where(Booking.id == booking.id).values({column: value}))
        db.session.rollback()
        stored = db.session.get(Booking, booking.id)
        assert (stored.status, stored.payment_status) == ("confirmed", "none")


def test_the_no_overlap_constraint_covers_exactly_the_holding_statuses(app):
    """PostgreSQL's exclusion constraint (migration 0002) spells the holding statuses in SQL."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL exclusion constraint")
        definition = db.session.execute(
            sa.text("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = :name"),
            {"name": NO_OVERLAP_CONSTRAINT},
        ).scalar_one()
    spelt = [status for status in STATUSES if f"'{status}'" in definition]
    assert spelt == list(HOLDING_STATUSES)


# --- migration 0014 on existing SQLite data ---------------------------------------------------------------

BOOKING_ROW = (
    "INSERT INTO bookings (id, team_id, kind, instrument_id, starts_at, ends_at, status, use_vouchers, "
    "estimated_cost_fen, fee_fen, created_by_id, created_at, payment_status) VALUES (1, 1, 'instrument', 1, "
    "'2026-12-01 00:00:00', '2026-12-01 01:00:00', 'confirmed', 1, 0, 0, 1, '2026-12-01 00:00:00', 'canceled')"
)
PAYMENT_ROW = (
    "INSERT INTO booking_payments (booking_id, payment_method, hold_key, authorized_fen, captured_fen, "
    "refunded_fen, attempts, updated_at) VALUES (1, 'pm_card_visa', 'k', 0, 0, 0, 0, '2026-12-01 00:00:00')"
)


def test_payment_status_migration_keeps_rows_and_the_rows_referring_to_them(tmp_path):
    """SQLite rebuilds ``bookings`` to add the CHECK; rows other tables refer to survive (foreign keys
    are off for the migration run, on again after), and the downgrade drops the CHECK again."""
    path = tmp_path / "m.sqlite3"
    app = create_app(
        {
            **{k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()},
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
            "SECRET_KEY": "test-secret",
        }
    )
    with app.app_context():
        flask_migrate.upgrade(revision="0013")
        with sqlite3.connect(path) as raw:  # foreign keys off here: the parents do not matter
            raw.execute(BOOKING_ROW)
            raw.execute(PAYMENT_ROW)
        raw.close()
        flask_migrate.upgrade()
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT payment_status FROM bookings")).scalar() == "canceled"
            assert conn.execute(sa.text("SELECT count(*) FROM booking_payments")).scalar() == 1
            assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1
        with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
            conn.execute(sa.text("UPDATE bookings SET payment_status = 'cancelled'"))
        flask_migrate.downgrade(revision="0013")
        with db.engine.begin() as conn:
            conn.execute(sa.text("UPDATE bookings SET payment_status = 'cancelled'"))
        db.engine.dispose()
