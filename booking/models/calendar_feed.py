from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column

from booking.core import clock
from booking.core.db import Base


class CalendarFeed(Base):
    """A private iCal feed URL: a user's team bookings, or (for its lab managers) one instrument's.

    The URL carries a random secret; only its SHA-256 is stored. Revoking it kills the URL.
    """

    __tablename__ = "calendar_feeds"
    __table_args__ = (CheckConstraint("scope IN ('user', 'instrument')", name="scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    scope: Mapped[str] = mapped_column(String(12))
    instrument_id: Mapped[int | None] = mapped_column(ForeignKey("instruments.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())
    revoked_at: Mapped[datetime | None]
