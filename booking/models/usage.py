from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from booking import clock
from booking.db import Base

# GPU-hours are exact decimals with up to 6 places (a GPU-second is 0.000277…, so providers round
# their meters to the micro-GPU-hour); never floats.
GPU_HOURS = Numeric(18, 6, asdecimal=True)


class UsageRecord(Base):
    """Metered usage reported by a provider for one compute booking; idempotent per provider +
    external id."""

    __tablename__ = "usage_records"
    __table_args__ = (
        UniqueConstraint("provider_id", "external_id"),
        CheckConstraint("gpu_hours >= 0", name="gpu_hours_not_negative"),
        CheckConstraint("ended_at >= started_at", name="ends_after_start"),
        # covering: reconciliation aggregates a booking's usage from the index alone
        Index("ix_usage_records_booking_totals", "booking_id", "gpu_hours", "started_at", "ended_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    external_id: Mapped[str] = mapped_column(String(200))
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime]
    gpu_hours: Mapped[Decimal] = mapped_column(GPU_HOURS)
    received_at: Mapped[datetime] = mapped_column(default=clock.now)
