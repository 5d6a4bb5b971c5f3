from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from booking.core import clock
from booking.core.db import Base
from vouchers.models.program import Program


class Voucher(Base):
    """A voucher issued to one team (not transferable). Its money lives in ledger accounts:
    ``available`` (balance_fen in the API) and ``committed``; spent, expired and revoked amounts are
    derived from the journal."""

    __tablename__ = "vouchers"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'expired', 'revoked')", name="status"),
        CheckConstraint("face_value_fen > 0", name="face_value_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("voucher_applications.id"), unique=True)
    face_value_fen: Mapped[int] = mapped_column(BigInteger)
    issued_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(10), default="active")
    ended_at: Mapped[datetime | None]
    revoke_reason: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())

    program: Mapped[Program] = relationship(lazy="joined")

    @property
    def level(self) -> str:
        return self.program.level


class SubsidyLine(Base):
    """One voucher's share of one booking, in the order it was applied (municipal before district).

    ``quoted_fen`` is what the booking committed at its estimate (its quote; 0 for a voucher that
    only paid at settlement) and is never rewritten. ``committed_fen`` is everything that went
    through the commitment: the quoted amount, plus what settlement drew beyond it when the actual
    cost was higher; ``released_fen`` and ``settled_fen`` record what left it (never more).
    """

    __tablename__ = "subsidy_lines"
    __table_args__ = (
        CheckConstraint("committed_fen >= 0 AND released_fen >= 0 AND settled_fen >= 0", name="not_negative"),
        CheckConstraint("released_fen + settled_fen <= committed_fen", name="within_commitment"),
        CheckConstraint("level IN ('municipal', 'district')", name="level"),
        CheckConstraint("quoted_fen >= 0 AND quoted_fen <= committed_fen", name="quoted_within_commitment"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"), index=True)
    voucher_id: Mapped[int] = mapped_column(ForeignKey("vouchers.id"), index=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    level: Mapped[str] = mapped_column(String(10))
    position: Mapped[int] = mapped_column(Integer)
    committed_fen: Mapped[int] = mapped_column(BigInteger)
    released_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    settled_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    quoted_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    voucher: Mapped[Voucher] = relationship()

    @property
    def outstanding_fen(self) -> int:
        return self.committed_fen - self.released_fen - self.settled_fen
