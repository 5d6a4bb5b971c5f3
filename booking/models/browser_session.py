from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column

from booking.core import clock
from booking.core.db import Base


class BrowserSession(Base):
    """One signed-in browser. The signed cookie names it by a random key (only its SHA-256 is stored);
    sign-out deletes the row, and a cookie whose row is gone is not signed in, whatever its signature."""

    __tablename__ = "browser_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())
