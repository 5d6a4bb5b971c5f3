from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from booking.core import clock
from booking.core.db import Base
from booking.models.offer import ComputeOffer
from booking.models.team import Team

if TYPE_CHECKING:
    from booking.models.user import User
    from instruments.models import Instrument


class BookingStatus(StrEnum):
    """A booking's status. A StrEnum (not bare strings): each member *is* its stored text, so it
    compares equal to what the database returns and renders unchanged in templates, JSON and SQL,
    while a misspelt member is an AttributeError instead of a silently empty query."""

    PENDING_APPROVAL = "pending_approval"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    CHECKED_IN = "checked_in"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    SETTLED = "settled"


class PaymentStatus(StrEnum):
    """The card side of a booking as exposed in the API (``payment.status``). ``CANCELED`` is spelt
    the American way on purpose: it is the payments provider's (Stripe's) PaymentIntent status, stored
    and shown as received; the *booking* status is ``cancelled``. Clients read these values, so the
    spelling stays."""

    NONE = "none"
    INVOICE = "invoice"
    AUTHORIZED = "authorized"
    CAPTURE_PENDING = "capture_pending"
    CANCEL_PENDING = "cancel_pending"
    CAPTURED = "captured"
    CANCELED = "canceled"
    CAPTURE_FAILED = "capture_failed"
    CANCEL_FAILED = "cancel_failed"
    FAILED = "failed"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"


STATUSES = tuple(BookingStatus)
# Statuses that hold the booked time: the database refuses two of these overlapping on one instrument.
HOLDING_STATUSES = (
    BookingStatus.PENDING_APPROVAL,
    BookingStatus.CONFIRMED,
    BookingStatus.CHECKED_IN,
    BookingStatus.COMPLETED,
    BookingStatus.SETTLED,
)
# Compute reservations hold GPUs in these (they are never pending approval nor checked in).
COMPUTE_HOLDING_STATUSES = (BookingStatus.CONFIRMED, BookingStatus.COMPLETED, BookingStatus.SETTLED)
# A booking may be cancelled in these (and only before it ends).
CANCELLABLE_STATUSES = (BookingStatus.PENDING_APPROVAL, BookingStatus.CONFIRMED)
# Statuses of bookings the lab served or kept the time for (the lab report counts them).
SERVED_STATUSES = (
    BookingStatus.CONFIRMED,
    BookingStatus.CHECKED_IN,
    BookingStatus.COMPLETED,
    BookingStatus.SETTLED,
    BookingStatus.NO_SHOW,
)


def sql_in(column: str, values) -> str:
    """``column IN ('a', 'b')`` for a CHECK constraint or a partial index, from a declared set."""
    return f"{column} IN (" + ", ".join(f"'{value}'" for value in values) + ")"


# A team checks itself in (instruments with ``self_check_in``) from this long before the start until
# the no-show grace ends.
SELF_CHECK_IN_OPENS = timedelta(minutes=15)

# PostgreSQL's exclusion constraint (created by the migration; SQLite serialises writers instead).
NO_OVERLAP_CONSTRAINT = "ex_bookings_instrument_no_overlap"


class Booking(Base):
    """A team's booking of an instrument, of GPUs of a compute offer, or the money side of a service
    order (kind ``service``: no instrument, no offer; see ``instruments.models.service_order``)."""

    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint("kind IN ('instrument', 'compute', 'service')", name="kind"),
        CheckConstraint(sql_in("status", BookingStatus), name="status"),
        CheckConstraint(sql_in("payment_status", PaymentStatus), name="payment_status"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint(
            "kind != 'instrument' OR instrument_id IS NOT NULL", name="instrument_booking_has_instrument"
        ),
        CheckConstraint(
            "kind != 'compute' OR (offer_id IS NOT NULL AND gpus >= 1)", name="compute_booking_has_gpus"
        ),
        CheckConstraint("estimated_cost_fen >= 0 AND fee_fen >= 0", name="money_not_negative"),
        CheckConstraint(
            "actual_ends_at IS NULL OR (actual_starts_at IS NOT NULL AND actual_ends_at >= actual_starts_at)",
            name="actual_times",
        ),
        UniqueConstraint("created_by_id", "idempotency_key"),
        Index("ix_bookings_instrument_span", "instrument_id", "starts_at", "ends_at"),
        Index("ix_bookings_status_starts_at", "status", "starts_at"),
        Index("ix_bookings_offer_span", "offer_id", "starts_at", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    instrument_id: Mapped[int | None] = mapped_column(ForeignKey("instruments.id"))
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("compute_offers.id"))
    gpus: Mapped[int | None] = mapped_column(Integer)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20))
    use_vouchers: Mapped[bool] = mapped_column(Boolean, default=True)
    # the cost of the booked time, computed once at booking (rounded half up to the fen)
    estimated_cost_fen: Mapped[int] = mapped_column(BigInteger)
    fee_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    actual_starts_at: Mapped[datetime | None]
    actual_ends_at: Mapped[datetime | None]
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    cancelled_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(String(500))
    reminder_sent_at: Mapped[datetime | None]
    payment_status: Mapped[str] = mapped_column(String(20), default=PaymentStatus.NONE)
    payment_intent_id: Mapped[str | None] = mapped_column(String(100))
    # Idempotency-Key of the creating request, per user, and a digest of its body
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_digest: Mapped[str | None] = mapped_column(String(64))
    # the series this booking is an occurrence of (booking.flow.series), if any
    series_id: Mapped[int | None] = mapped_column(ForeignKey("booking_series.id"), index=True)

    team: Mapped[Team] = relationship(lazy="joined")
    instrument: Mapped[Instrument | None] = relationship(lazy="joined")
    offer: Mapped[ComputeOffer | None] = relationship(lazy="joined")

    @property
    def holds_time(self) -> bool:
        return self.status in HOLDING_STATUSES

    # --- what may happen next: asked by the operations (booking.flow.bookings) and by the pages alike ---

    def is_managed_by(self, user: User) -> bool:
        """An admin, or a manager of the booked instrument's lab (a compute booking has none)."""
        return self.instrument is not None and (
            user.role == "admin" or self.instrument.lab.is_managed_by(user)
        )

    def may_cancel(self, user: User) -> bool:
        """Who cancels: the team's members or the lab's managers."""
        return self.team.has_member(user) or self.is_managed_by(user)

    def is_cancellable(self, now: datetime) -> bool:
        return self.status in CANCELLABLE_STATUSES and now < self.ends_at

    def can_cancel(self, user: User, now: datetime) -> bool:
        return self.may_cancel(user) and self.is_cancellable(now)

    def can_approve(self, user: User) -> bool:
        return self.is_managed_by(user) and self.status == BookingStatus.PENDING_APPROVAL

    def can_reject(self, user: User) -> bool:
        return self.can_approve(user)

    def can_check_in(self, user: User) -> bool:
        """Whether the check-in may be asked for; the moment given must still be before the end."""
        return self.is_managed_by(user) and self.status == BookingStatus.CONFIRMED

    def can_check_out(self, user: User) -> bool:
        return self.is_managed_by(user) and self.status == BookingStatus.CHECKED_IN

    def can_undo_check_in(self, user: User) -> bool:
        return self.can_check_out(user)

    # --- self check-in: the team's members, on an instrument with ``self_check_in`` ---

    def may_attend_self(self, user: User) -> bool:
        return self.instrument is not None and self.instrument.self_check_in and self.team.has_member(user)

    def self_check_in_window(self) -> tuple[datetime, datetime]:
        """[opens, closes): from 15 minutes before the start until the no-show grace ends (and never
        after the booking's end)."""
        grace = timedelta(minutes=self.instrument.no_show_grace_minutes if self.instrument else 0)
        return self.starts_at - SELF_CHECK_IN_OPENS, min(self.starts_at + grace, self.ends_at)

    def can_self_check_in(self, user: User, now: datetime) -> bool:
        opens, closes = self.self_check_in_window()
        return self.may_attend_self(user) and self.status == BookingStatus.CONFIRMED and opens <= now < closes

    def can_self_check_out(self, user: User) -> bool:
        return self.may_attend_self(user) and self.status == BookingStatus.CHECKED_IN

    @property
    def billed_duration(self) -> timedelta:
        """Billed time = max(booked, actual) duration."""
        booked = self.ends_at - self.starts_at
        if self.actual_starts_at is None or self.actual_ends_at is None:
            return booked
        return max(booked, self.actual_ends_at - self.actual_starts_at)

    @property
    def booked_minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)
