"""Redemption claims (兑付): a lab or provider asks to be paid the subsidy settled to it in a closed
period, with its invoice number and scans; each finance office with a share decides and pays it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from booking.core import clock
from booking.core.db import Base

CLAIM_STATUSES = ("submitted", "partly_approved", "approved", "partly_paid", "paid", "rejected")
SHARE_STATUSES = ("pending", "approved", "rejected", "paid")
# a payee has at most one claim per period that is not rejected (a rejected claim may be filed again)
LIVE = "status <> 'rejected'"


class Claim(Base):
    """One payee's claim for one closed period. Its amounts are computed from the period's
    settlements when it is filed (a closed period never changes); ``status`` follows its shares."""

    __tablename__ = "claims"
    __table_args__ = (
        CheckConstraint(
            "status IN ('submitted', 'partly_approved', 'approved', 'partly_paid', 'paid', 'rejected')",
            name="status",
        ),
        CheckConstraint("payee_kind IN ('lab', 'provider')", name="payee_kind"),
        CheckConstraint(
            "municipal_fen >= 0 AND district_fen >= 0 AND amount_fen = municipal_fen + district_fen "
            "AND amount_fen > 0",
            name="amounts",
        ),
        Index(
            "uq_claims_live",
            "payee_kind",
            "payee_id",
            "period",
            unique=True,
            sqlite_where=text(LIVE),
            postgresql_where=text(LIVE),
        ),
        Index("ix_claims_payee", "payee_kind", "payee_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payee_kind: Mapped[str] = mapped_column(String(10))
    payee_id: Mapped[int] = mapped_column(Integer)
    period: Mapped[str] = mapped_column(String(7), index=True)
    invoice_number: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(String(2000), default="")
    status: Mapped[str] = mapped_column(String(20), default="submitted", index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    municipal_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    district_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    bookings: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(String(2000), default="")  # why it was rejected
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())

    shares: Mapped[list[ClaimShare]] = relationship(
        back_populates="claim", order_by="ClaimShare.id", lazy="selectin"
    )
    attachments: Mapped[list[ClaimAttachment]] = relationship(
        back_populates="claim", order_by="ClaimAttachment.id", lazy="selectin"
    )


class ClaimShare(Base):
    """One level's part of a claim (municipal, or one district's), with the programmes it is owed by
    (``programs``: ``{program id: fen}``, what a payment moves payable → paid)."""

    __tablename__ = "claim_shares"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'rejected', 'paid')", name="status"),
        CheckConstraint(
            "(level = 'municipal' AND district_code IS NULL) OR "
            "(level = 'district' AND district_code IS NOT NULL)",
            name="level",
        ),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("(status = 'paid') = (paid_at IS NOT NULL)", name="paid_when_paid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), index=True)
    level: Mapped[str] = mapped_column(String(10))
    district_code: Mapped[str | None] = mapped_column(ForeignKey("districts.code"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    programs: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column()
    reason: Mapped[str] = mapped_column(String(2000), default="")
    reference: Mapped[str] = mapped_column(String(200), default="")
    paid_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    paid_at: Mapped[datetime | None] = mapped_column()

    claim: Mapped[Claim] = relationship(back_populates="shares")


class ClaimAttachment(Base):
    """An invoice or contract scan of a claim: the bytes live in the file storage under ``key``."""

    __tablename__ = "claim_attachments"
    __table_args__ = (CheckConstraint("size >= 0", name="size"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), index=True)
    key: Mapped[str] = mapped_column(String(32), unique=True)
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(100))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())

    claim: Mapped[Claim] = relationship(back_populates="attachments")
