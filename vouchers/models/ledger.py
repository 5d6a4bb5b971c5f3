from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from booking.core import clock
from booking.core.db import Base

# funding is the programme's source (negative: −budget); every other kind can never go below zero.
ACCOUNT_KINDS = ("funding", "unissued", "available", "committed", "payable", "paid")
TRANSACTION_KINDS = (
    "fund",
    "issue",
    "commit",
    "release",
    "settle",
    "payout",
    "expire",
    "revoke",
    "refund",
    "adjust",
)


class LedgerAccount(Base):
    """A ledger account. ``balance_fen`` is maintained in the same transaction as every posting and
    ``ledger verify`` checks it against the sum of the postings; the CHECK keeps it from going
    negative in the database itself."""

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('funding', 'unissued', 'available', 'committed', 'payable', 'paid')", name="kind"
        ),
        CheckConstraint("kind = 'funding' OR balance_fen >= 0", name="not_negative"),
        CheckConstraint("payee_kind IS NULL OR payee_kind IN ('lab', 'provider')", name="payee_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # e.g. "available:voucher:12", "payable:program:3:lab:7"
    key: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    voucher_id: Mapped[int | None] = mapped_column(ForeignKey("vouchers.id"), index=True)
    payee_kind: Mapped[str | None] = mapped_column(String(10))
    payee_id: Mapped[int | None] = mapped_column(Integer)
    balance_fen: Mapped[int] = mapped_column(BigInteger, default=0)


class JournalTransaction(Base):
    """One movement of money: its postings sum to zero. Append-only."""

    __tablename__ = "journal_transactions"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('fund', 'issue', 'commit', 'release', 'settle', 'payout', 'expire', 'revoke', "
            "'refund', 'adjust')",
            name="kind",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), index=True)
    occurred_at: Mapped[datetime] = mapped_column(default=clock.now)
    period: Mapped[str] = mapped_column(String(7), index=True)  # YYYY-MM in Asia/Shanghai
    program_id: Mapped[int | None] = mapped_column(ForeignKey("programs.id"), index=True)
    voucher_id: Mapped[int | None] = mapped_column(ForeignKey("vouchers.id"), index=True)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"), index=True)
    # makes a movement idempotent: a rerun finds the key taken and does nothing (settlements)
    unique_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    memo: Mapped[str] = mapped_column(String(500), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    postings: Mapped[list[Posting]] = relationship(back_populates="transaction")


class Posting(Base):
    __tablename__ = "postings"
    __table_args__ = (CheckConstraint("amount_fen != 0", name="not_zero"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("journal_transactions.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)

    transaction: Mapped[JournalTransaction] = relationship(back_populates="postings")
    account: Mapped[LedgerAccount] = relationship()


class PeriodTotal(Base):
    """The sum of one account's postings in one period from one kind of transaction, maintained in the
    same database transaction as the postings (``ledger verify`` checks it against them). The finance
    dashboard reads its monthly figures here instead of summing every posting on each call."""

    __tablename__ = "ledger_period_totals"
    __table_args__ = (PrimaryKeyConstraint("account_id", "period", "kind"),)

    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    period: Mapped[str] = mapped_column(String(7))
    kind: Mapped[str] = mapped_column(String(10))
    amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
