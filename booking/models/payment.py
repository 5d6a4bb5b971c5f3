"""The card side of a booking: the manual-capture hold, the pending action for the capture job, and
webhook events already processed (each Stripe event id once)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from booking.core import clock
from booking.core.db import Base


class BookingPayment(Base):
    """One row per booking whose team share is charged by card (payments API configured, share > 0).

    ``action`` is what the ``capture_payments`` job still owes the payments API: ``capture`` (``due_fen``,
    or the settlement's team share when null) or ``cancel``; null when nothing is pending.
    """

    __tablename__ = "booking_payments"
    __table_args__ = (
        CheckConstraint("action IS NULL OR action IN ('capture', 'cancel')", name="action"),
        CheckConstraint(
            "authorized_fen >= 0 AND captured_fen >= 0 AND refunded_fen >= 0 AND refunded_fen <= captured_fen",
            name="money",
        ),
    )

    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"), primary_key=True)
    payment_method: Mapped[str] = mapped_column(String(200))
    # Idempotency-Key of the hold's creation (also in the intent's metadata, to find it again)
    hold_key: Mapped[str] = mapped_column(String(200), unique=True)
    hold_intent_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    authorized_fen: Mapped[int] = mapped_column(BigInteger)
    extra_intent_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    action: Mapped[str | None] = mapped_column(String(10), index=True)
    due_fen: Mapped[int | None] = mapped_column(BigInteger)
    captured_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class PaymentEvent(Base):
    """A webhook event processed once (its id is the primary key)."""

    __tablename__ = "payment_events"

    event_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    type: Mapped[str] = mapped_column(String(60))
    received_at: Mapped[datetime] = mapped_column(default=clock.now)
