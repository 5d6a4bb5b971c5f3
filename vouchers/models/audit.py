from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from booking.core import clock
from booking.core.db import Base


class AuditEntry(Base):
    """One officer action, written in the same transaction as the action itself. Append-only (the
    database refuses updates and, on PostgreSQL, deletes)."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_district_id", "district_code", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    action: Mapped[str] = mapped_column(String(50), index=True)
    object_type: Mapped[str] = mapped_column(String(50))
    object_id: Mapped[str] = mapped_column(String(100))
    # whose business it is: a district office sees the entries of its district
    district_code: Mapped[str | None] = mapped_column(ForeignKey("districts.code"))
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
