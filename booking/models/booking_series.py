"""A booking series: one request that booked the same local time every day or week (each occurrence
is an ordinary booking with ``series_id``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from booking.core import clock
from booking.core.db import Base
from booking.models.team import Team

SERIES_EVERY = ("day", "week")
ON_CONFLICT = ("skip", "fail")
SERIES_MIN_COUNT, SERIES_MAX_COUNT = 2, 52


class BookingSeries(Base):
    __tablename__ = "booking_series"
    __table_args__ = (
        CheckConstraint("every IN ('day', 'week')", name="every"),
        CheckConstraint(f"count BETWEEN {SERIES_MIN_COUNT} AND {SERIES_MAX_COUNT}", name="count"),
        CheckConstraint("on_conflict IN ('skip', 'fail')", name="on_conflict"),
        UniqueConstraint("created_by_id", "idempotency_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id"))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    every: Mapped[str] = mapped_column(String(4))
    count: Mapped[int] = mapped_column(Integer)
    on_conflict: Mapped[str] = mapped_column(String(4))
    created_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())
    # the occurrences refused when the series was booked ``skip``: [{starts_at, ends_at, code}]
    skipped: Mapped[list] = mapped_column(JSON, default=list)
    # Idempotency-Key of the creating request, per user, and a digest of its body
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_digest: Mapped[str | None] = mapped_column(String(64))

    team: Mapped[Team] = relationship(lazy="joined")
