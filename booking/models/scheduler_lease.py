from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from booking.core.db import Base


class SchedulerLease(Base):
    """Which scheduler process is the leader, and until when (SQLite; PostgreSQL uses an advisory
    lock instead). A standby takes the row over once ``expires_at`` has passed; the leader renews it
    well before then. See ``booking.jobs.scheduler.LeaseLeadership``."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    holder: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime]
