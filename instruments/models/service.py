"""A lab's testing service (送样检测): samples sent in, processed at a price per sample.

Orders (later) reference a service by id and copy what they need at ordering time; a service is never
deleted, only deactivated (``active = false``), so old orders keep their reference.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, ForeignKey, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from booking.core import clock
from booking.core.db import Base
from instruments.models.lab import Lab


class Service(Base):
    """A testing service of one lab: what a sample costs, how long the lab takes, how many samples one
    order may send, and the form (``sample_fields``) each order fills in about its samples."""

    __tablename__ = "services"
    __table_args__ = (
        CheckConstraint("price_per_sample_fen >= 0", name="price_not_negative"),
        CheckConstraint("turnaround_days >= 1", name="turnaround_days"),
        CheckConstraint("max_samples >= 1", name="max_samples"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lab_id: Mapped[int] = mapped_column(ForeignKey("labs.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(50), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    price_per_sample_fen: Mapped[int] = mapped_column(BigInteger)
    turnaround_days: Mapped[int] = mapped_column(Integer)
    max_samples: Mapped[int] = mapped_column(Integer)
    # [{key, label, type: text|number|choice, required, choices?}], checked by instruments.services
    sample_fields: Mapped[list] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    created_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())

    lab: Mapped[Lab] = relationship(lazy="joined")
