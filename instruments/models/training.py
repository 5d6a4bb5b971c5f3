"""Training requests: a founder asks a lab to train them on an instrument that requires training."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from booking.core import clock
from booking.core.db import Base
from booking.models import User
from instruments.models.instrument import Instrument

TRAINING_REQUEST_STATUSES = ("pending", "granted", "declined")
OPEN = "status = 'pending'"


class TrainingRequest(Base):
    """One person's request to be trained on one instrument. It is ``pending`` until a manager of
    the lab grants it (the person is then qualified) or declines it (with an optional reason); a
    person has at most one pending request per instrument (a partial unique index)."""

    __tablename__ = "training_requests"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'granted', 'declined')", name="status"),
        CheckConstraint("(status = 'pending') = (decided_at IS NULL)", name="decided_when_closed"),
        Index(
            "uq_training_requests_open",
            "instrument_id",
            "user_id",
            unique=True,
            sqlite_where=text(OPEN),
            postgresql_where=text(OPEN),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    note: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())
    decided_at: Mapped[datetime | None] = mapped_column()
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decline_reason: Mapped[str] = mapped_column(String(500), default="")

    instrument: Mapped[Instrument] = relationship(lazy="joined")
    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")
