from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from booking.core import clock
from booking.core.db import Base
from booking.core.money import MICROHOURS_PER_HOUR


# GPU-hours are exact decimals with up to 6 places (a GPU-second is 0.000277…, so providers round
# their meters to the micro-GPU-hour). They are stored and summed as integer micro-GPU-hours: a
# NUMERIC column would be a floating-point REAL on SQLite. Never floats.
def to_microhours(gpu_hours: Decimal) -> int:
    """Exact for the six decimals the API accepts (checked before this is called)."""
    return int(gpu_hours * MICROHOURS_PER_HOUR)


def from_microhours(microhours: int) -> Decimal:
    """GPU-hours with their six decimals (1500000 → 1.500000)."""
    return Decimal(microhours).scaleb(-6)


class UsageRecord(Base):
    """Metered usage reported by a provider for one compute booking; idempotent per provider +
    external id."""

    __tablename__ = "usage_records"
    __table_args__ = (
        UniqueConstraint("provider_id", "external_id"),
        CheckConstraint("gpu_microhours >= 0", name="gpu_microhours_not_negative"),
        CheckConstraint("ended_at >= started_at", name="ends_after_start"),
        # covering: reconciliation aggregates a booking's usage from the index alone
        Index("ix_usage_records_booking_totals", "booking_id", "gpu_microhours", "started_at", "ended_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    external_id: Mapped[str] = mapped_column(String(200))
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime]
    gpu_microhours: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(default=clock.now)

    @property
    def gpu_hours(self) -> Decimal:
        return from_microhours(self.gpu_microhours)
