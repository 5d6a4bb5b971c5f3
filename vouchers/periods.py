"""Accounting periods: the platform's ledger months and their close. A period is shared by every
district, so closing one is the municipality's act (municipal finance or an admin); once closed, entries
dated in it go to the next open period. Also what a period's settlements posted to payable accounts
(the ledger side of the monthly statement).
"""

from __future__ import annotations

from sqlalchemy import func, select

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Conflict, Forbidden
from booking.models import User
from booking.people import audit
from vouchers import ledger
from vouchers.models import AccountingPeriod, JournalTransaction, LedgerAccount, Posting, Settlement
from vouchers.scope import check_period, is_municipal


def may_close_periods(user: User) -> bool:
    """A period is the platform's ledger month, shared by every district: closing it is the
    municipality's act (municipal finance or an admin), never one district's."""
    return user.role in ("finance", "admin") and is_municipal(user)


def closable_periods() -> list[str]:
    """The ended, still open months since the first settlement, newest first (before anything was
    settled there is nothing a close would freeze)."""
    first = db.session.scalar(select(func.min(Settlement.period)))
    if first is None:
        return []
    closed = set(db.session.scalars(select(AccountingPeriod.period)))
    current, periods, period = ledger.period_of(clock.now()), [], first
    while period < current:
        if period not in closed:
            periods.append(period)
        year, month = int(period[:4]), int(period[5:])
        period = f"{year + (month == 12):04d}-{month % 12 + 1:02d}"
    return periods[::-1]


def close_period(officer: User, period: str) -> AccountingPeriod:
    """Close a month that has ended, for the whole city: from now on entries dated in it go to the
    next open period."""
    if not may_close_periods(officer):
        raise Forbidden(
            "Closing a period applies city-wide: only municipal finance or an admin may close it.",
            code="wrong_level",
        )
    check_period(period)
    if period >= ledger.period_of(clock.now()):
        raise Conflict("The month has not ended yet.", code="period_not_ended")
    if db.session.get(AccountingPeriod, period) is not None:
        raise Conflict("The period is already closed.", code="period_closed")
    closed = AccountingPeriod(period=period, closed_at=clock.now(), closed_by_id=officer.id)
    db.session.add(closed)
    db.session.flush()
    audit.record(officer, "close_period", closed, object_type="accounting_periods", object_id=period, district_code=officer.district_code, after={"closed": True})  # fmt: skip
    return closed


def payable_settled_fen(period: str, program_ids: list[int] | None = None) -> int:
    """What settle transactions of ``period`` posted to payable accounts (the ledger side of the
    statement)."""
    query = (
        select(func.coalesce(func.sum(Posting.amount_fen), 0))
        .join(JournalTransaction, JournalTransaction.id == Posting.transaction_id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(
            JournalTransaction.kind == "settle",
            JournalTransaction.period == period,
            LedgerAccount.kind == "payable",
        )
    )
    if program_ids is not None:
        query = query.where(LedgerAccount.program_id.in_(program_ids))
    return int(db.session.scalar(query))
