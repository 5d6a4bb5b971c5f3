from __future__ import annotations

from datetime import datetime
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

from booking import clock
from booking.db import Base
from booking.models.offer import ComputeOffer
from booking.models.team import Team

if TYPE_CHECKING:
    from instruments.models import Instrument

STATUSES = (
    "pending_approval",
    "confirmed",
    "rejected",
    "cancelled",
    "checked_in",
    "completed",
    "no_show",
    "settled",
)
# Statuses that hold the booked time: the database refuses two of these overlapping on one instrument.
HOLDING_STATUSES = ("pending_approval", "confirmed", "checked_in", "completed", "settled")
HOLDING_SQL = "status IN ('pending_approval', 'confirmed', 'checked_in', 'completed', 'settled')"
# PostgreSQL's exclusion constraint (created by the migration; SQLite serialises writers instead).
NO_OVERLAP_CONSTRAINT = "ex_bookings_instrument_no_overlap"


class Booking(Base):
    """A team's booking of an instrument (or, with the compute issue, of GPUs of an offer)."""

    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint("kind IN ('instrument', 'compute')", name="kind"),
        CheckConstraint(
            "status IN ('pending_approval', 'confirmed', 'rejected', 'cancelled', 'checked_in', "
            "'completed', 'no_show', 'settled')",
            name="status",
        ),
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
    payment_status: Mapped[str] = mapped_column(String(20), default="none")
    payment_intent_id: Mapped[str | None] = mapped_column(String(100))
    # Idempotency-Key of the creating request, per user, and a digest of its body
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_digest: Mapped[str | None] = mapped_column(String(64))

    team: Mapped[Team] = relationship(lazy="joined")
    instrument: Mapped[Instrument | None] = relationship(lazy="joined")
    offer: Mapped[ComputeOffer | None] = relationship(lazy="joined")

    @property
    def holds_time(self) -> bool:
        return self.status in HOLDING_STATUSES

    @property
    def booked_minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)
