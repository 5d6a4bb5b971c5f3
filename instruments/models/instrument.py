from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from booking.core import clock
from booking.core.db import Base
from instruments.models.lab import Lab

OPERATION_MODES = ("public_interest", "market", "project")


class Instrument(Base):
    """A lab instrument published for outside booking, with its booking policy."""

    __tablename__ = "instruments"
    __table_args__ = (
        CheckConstraint("operation_mode IN ('public_interest', 'market', 'project')", name="operation_mode"),
        CheckConstraint("hourly_rate_fen >= 0", name="rate_not_negative"),
        CheckConstraint("slot_minutes BETWEEN 1 AND 1440", name="slot_minutes"),
        CheckConstraint("min_minutes >= 1 AND max_minutes >= min_minutes", name="duration_bounds"),
        CheckConstraint("lead_minutes >= 0 AND horizon_days >= 1", name="booking_window"),
        CheckConstraint("free_cancel_hours >= 0 AND no_show_grace_minutes >= 0", name="policy_times"),
        CheckConstraint(
            "late_cancel_fee_bp BETWEEN 0 AND 10000 AND no_show_fee_bp BETWEEN 0 AND 10000", name="fee_rates"
        ),
        CheckConstraint(
            "qualification_valid_days IS NULL OR qualification_valid_days >= 1",
            name="qualification_valid_days",
        ),
        CheckConstraint(
            "(max_future_bookings_per_team IS NULL OR max_future_bookings_per_team >= 1)"
            " AND (max_hours_per_team_per_week IS NULL OR max_hours_per_team_per_week >= 1)"
            " AND (no_show_limit IS NULL OR no_show_limit >= 1)",
            name="fair_use_limits",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lab_id: Mapped[int] = mapped_column(ForeignKey("labs.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(100), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str] = mapped_column(String(200), default="")
    hourly_rate_fen: Mapped[int] = mapped_column(BigInteger)
    operation_mode: Mapped[str] = mapped_column(String(20))
    slot_minutes: Mapped[int] = mapped_column(Integer, default=30)
    min_minutes: Mapped[int] = mapped_column(Integer, default=30)
    max_minutes: Mapped[int] = mapped_column(Integer, default=480)
    lead_minutes: Mapped[int] = mapped_column(Integer, default=60)
    horizon_days: Mapped[int] = mapped_column(Integer, default=90)
    requires_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    requires_training: Mapped[bool] = mapped_column(Boolean, default=False)
    free_cancel_hours: Mapped[int] = mapped_column(Integer, default=24)
    late_cancel_fee_bp: Mapped[int] = mapped_column(Integer, default=0)
    no_show_grace_minutes: Mapped[int] = mapped_column(Integer, default=15)
    no_show_fee_bp: Mapped[int] = mapped_column(Integer, default=0)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    # how long a qualification lasts after it is granted; None: for good
    qualification_valid_days: Mapped[int | None] = mapped_column(Integer)
    # fair use (booking.flow.fair_use); None: no limit
    max_future_bookings_per_team: Mapped[int | None] = mapped_column(Integer)
    max_hours_per_team_per_week: Mapped[int | None] = mapped_column(Integer)
    no_show_limit: Mapped[int | None] = mapped_column(Integer)
    # team members check themselves in and out (from 15 minutes before the start to the grace's end)
    self_check_in: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    created_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())

    lab: Mapped[Lab] = relationship(lazy="joined")
    opening_hours: Mapped[list[OpeningHours]] = relationship(
        back_populates="instrument",
        cascade="all, delete-orphan",
        order_by="(OpeningHours.weekday, OpeningHours.opens_minute)",
    )


class OpeningHours(Base):
    """One weekly opening range in the instrument's own timezone; a weekday may have several.

    Minutes since local midnight: ``closes_minute`` may be 1440 (open until midnight).
    """

    __tablename__ = "opening_hours"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint(
            "opens_minute >= 0 AND closes_minute <= 1440 AND opens_minute < closes_minute", name="range"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(Integer)
    opens_minute: Mapped[int] = mapped_column(Integer)
    closes_minute: Mapped[int] = mapped_column(Integer)

    instrument: Mapped[Instrument] = relationship(back_populates="opening_hours")


class Blackout(Base):
    """A maintenance window or closure: nothing can be booked across it."""

    __tablename__ = "blackouts"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_blackouts_instrument_span", "instrument_id", "starts_at", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(500), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())
    # set when the blackout is this instrument's part of a lab closure (removed with the closure)
    closure_id: Mapped[int | None] = mapped_column(
        ForeignKey("lab_closures.id", ondelete="CASCADE"), index=True
    )


class Qualification(Base):
    """A user trained on an instrument (needed when the instrument requires training).

    ``expires_at`` is the grant time plus the instrument's ``qualification_valid_days`` (None: for
    good); a booking made after it is refused until the qualification is granted again."""

    __tablename__ = "qualifications"

    instrument_id: Mapped[int] = mapped_column(
        ForeignKey("instruments.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    granted_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())
    expires_at: Mapped[datetime | None] = mapped_column()

    def valid_at(self, at: datetime) -> bool:
        return self.expires_at is None or at <= self.expires_at
