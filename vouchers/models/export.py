from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from booking.core import clock
from booking.core.db import Base

EXPORT_STATUSES = ("pending", "running", "done", "failed")


class Export(Base):
    """A file (a statement as CSV or XLSX) written by a background job in chunks; ``rows_done`` of
    ``rows_total`` is its progress, committed per chunk. The finished file is kept in ``export_chunks``."""

    __tablename__ = "exports"
    __table_args__ = (CheckConstraint("status IN ('pending', 'running', 'done', 'failed')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    # {"period", "district_code", "format"}: what the job writes, in the requester's scope
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    district_code: Mapped[str | None] = mapped_column(ForeignKey("districts.code"))
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    rows_total: Mapped[int | None] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    started_at: Mapped[datetime | None]
    # real wall-clock time of the last chunk: a job that stopped beating is taken over by the scheduler
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    @property
    def percent(self) -> int:
        if self.status == "done":
            return 100
        if not self.rows_total:
            return 0
        return min(100, self.rows_done * 100 // self.rows_total)


class ExportChunk(Base):
    """One piece of a finished export's file, in order (``seq``): any web node can stream it."""

    __tablename__ = "export_chunks"

    export_id: Mapped[int] = mapped_column(ForeignKey("exports.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
