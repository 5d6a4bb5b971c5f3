from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from booking.core import clock
from booking.core.db import Base
from booking.models.provider import Provider


class ComputeOffer(Base):
    """A provider's GPU offer: a model, a capacity and a price per GPU-hour."""

    __tablename__ = "compute_offers"
    __table_args__ = (
        CheckConstraint("gpus_total >= 1", name="capacity"),
        CheckConstraint("price_per_gpu_hour_fen >= 0", name="price_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    gpu_model: Mapped[str] = mapped_column(String(100))
    gpus_total: Mapped[int] = mapped_column(Integer)
    price_per_gpu_hour_fen: Mapped[int] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    created_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())

    provider: Mapped[Provider] = relationship(lazy="joined")
