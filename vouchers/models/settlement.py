from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Integer, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from booking.core import clock
from booking.core.db import Base


class Settlement(Base):
    """A finished booking settled on its actual cost (one per booking: the settlement key)."""

    __tablename__ = "settlements"
    __table_args__ = (
        CheckConstraint(
            "actual_cost_fen >= 0 AND subsidy_fen >= 0 AND team_fen >= 0 AND fee_fen >= 0 "
            "AND subsidy_fen <= actual_cost_fen",
            name="amounts",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"), unique=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("reconciliation_runs.id"))
    settled_at: Mapped[datetime] = mapped_column(default=clock.now)
    period: Mapped[str] = mapped_column(String(7), index=True)
    payee_kind: Mapped[str] = mapped_column(String(10))
    payee_id: Mapped[int] = mapped_column(Integer)
    actual_cost_fen: Mapped[int] = mapped_column(BigInteger)
    municipal_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    district_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    subsidy_fen: Mapped[int] = mapped_column(BigInteger)
    # the team's share of the actual cost (fees are separate: fee_fen, never paid by vouchers)
    team_fen: Mapped[int] = mapped_column(BigInteger)
    fee_fen: Mapped[int] = mapped_column(BigInteger, default=0)


class SettlementTotal(Base):
    """Settlements summed per period, team and payee, maintained in the same transaction as the
    settlements (``ledger verify`` checks it): the dashboard's top teams, top payees and municipal vs
    district shares read a few thousand of these rows instead of every settlement."""

    __tablename__ = "settlement_totals"
    __table_args__ = (PrimaryKeyConstraint("period", "team_id", "payee_kind", "payee_id"),)

    period: Mapped[str] = mapped_column(String(7))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    payee_kind: Mapped[str] = mapped_column(String(10))
    payee_id: Mapped[int] = mapped_column(Integer)
    bookings: Mapped[int] = mapped_column(Integer, default=0)
    municipal_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    district_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    subsidy_fen: Mapped[int] = mapped_column(BigInteger, default=0)


class FinanceException(Base):
    """Something reconciliation or payments would not charge silently: finance decides."""

    __tablename__ = "finance_exceptions"
    __table_args__ = (CheckConstraint("status IN ('open', 'resolved')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30), index=True)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"), index=True)
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id"))
    district_code: Mapped[str | None] = mapped_column(ForeignKey("districts.code"), index=True)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    # a booking blocked by an open exception of a blocking kind stays unsettled until it is resolved
    blocking: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(10), default="open")
    # raises each distinct problem once, however often reconciliation runs
    unique_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    resolved_at: Mapped[datetime | None]
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolution: Mapped[str | None] = mapped_column(String(2000))


class AccountingPeriod(Base):
    """A closed month: no journal entry may be dated in it; late corrections go to the next open one."""

    __tablename__ = "accounting_periods"

    period: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    closed_at: Mapped[datetime] = mapped_column(default=clock.now)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class ReconciliationRun(Base):
    __tablename__ = "reconciliation_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=clock.now)
    finished_at: Mapped[datetime | None]
    as_of: Mapped[datetime]
    settled: Mapped[int] = mapped_column(Integer, default=0)
    exceptions: Mapped[int] = mapped_column(Integer, default=0)
    triggered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
