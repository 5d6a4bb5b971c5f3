from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from booking.core import clock
from booking.core.db import Base
from booking.models import Team
from instruments.models.instrument import Instrument

WAITLIST_STATUSES = ("waiting", "notified")


class WaitlistEntry(Base):
    """A team waiting for a taken range of an instrument: when the whole range becomes bookable
    again the team is mailed once (``notified``); nothing is booked for it."""

    __tablename__ = "waitlist_entries"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("status IN ('waiting', 'notified')", name="status"),
        Index("ix_waitlist_entries_instrument_status", "instrument_id", "status", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id", ondelete="CASCADE"))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())
    status: Mapped[str] = mapped_column(String(20), default="waiting", server_default="waiting")
    notified_at: Mapped[datetime | None] = mapped_column()

    instrument: Mapped[Instrument] = relationship()
    team: Mapped[Team] = relationship()
