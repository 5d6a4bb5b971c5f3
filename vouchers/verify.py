"""``ledger verify``: every invariant of the ledger, checked with set-based SQL over all postings."""

from __future__ import annotations

from sqlalchemy import case, func, select

from booking.core.db import db
from booking.models import Booking
from vouchers.models import (
    JournalTransaction,
    LedgerAccount,
    PeriodTotal,
    Posting,
    Program,
    Settlement,
    SettlementTotal,
    SubsidyLine,
    Voucher,
)


def ledger_breaches() -> list[str]:
    """Human-readable descriptions of every broken invariant (empty when the ledger is sound)."""
    breaches: list[str] = []

    unbalanced = db.session.execute(
        select(Posting.transaction_id, func.sum(Posting.amount_fen))
        .group_by(Posting.transaction_id)
        .having(func.sum(Posting.amount_fen) != 0)
    ).all()
    breaches += [f"transaction {tid} does not sum to zero (sum {total})" for tid, total in unbalanced]

    empty = db.session.scalars(
        select(JournalTransaction.id)
        .where(~JournalTransaction.postings.any())
        .order_by(JournalTransaction.id)
    ).all()
    breaches += [f"transaction {tid} has no postings" for tid in empty]

    posted = (
        select(Posting.account_id, func.sum(Posting.amount_fen).label("total"))
        .group_by(Posting.account_id)
        .subquery()
    )
    accounts = db.session.execute(
        select(
            LedgerAccount.key, LedgerAccount.kind, LedgerAccount.balance_fen, func.coalesce(posted.c.total, 0)
        )
        .outerjoin(posted, posted.c.account_id == LedgerAccount.id)
        .order_by(LedgerAccount.id)
    ).all()
    for key, kind, maintained, total in accounts:
        if maintained != total:
            breaches.append(f"account {key}: maintained balance {maintained} != postings {total}")
        if kind != "funding" and total < 0:
            breaches.append(f"account {key} is negative ({total})")

    breaches += _period_total_breaches()
    breaches += _settlement_total_breaches()

    program_rows = db.session.execute(
        select(
            Program.id,
            Program.budget_fen,
            func.coalesce(
                func.sum(case((LedgerAccount.kind == "funding", LedgerAccount.balance_fen), else_=0)), 0
            ),
            func.coalesce(
                func.sum(case((LedgerAccount.kind != "funding", LedgerAccount.balance_fen), else_=0)), 0
            ),
        )
        .outerjoin(LedgerAccount, LedgerAccount.program_id == Program.id)
        .group_by(Program.id, Program.budget_fen)
        .order_by(Program.id)
    ).all()
    for program_id, budget, funding, held in program_rows:
        if funding != -budget:
            breaches.append(f"programme {program_id}: funded {-funding}, budget {budget}")
        if held != budget:
            breaches.append(
                f"programme {program_id}: unissued + available + committed + spent + paid = {held} != budget {budget}"
            )

    voucher_balance = (
        select(
            LedgerAccount.voucher_id,
            func.sum(case((LedgerAccount.kind == "available", LedgerAccount.balance_fen), else_=0)).label(
                "available"
            ),
            func.sum(case((LedgerAccount.kind == "committed", LedgerAccount.balance_fen), else_=0)).label(
                "committed"
            ),
        )
        .where(LedgerAccount.voucher_id.is_not(None))
        .group_by(LedgerAccount.voucher_id)
        .subquery()
    )
    lines = (
        select(
            SubsidyLine.voucher_id,
            func.sum(SubsidyLine.settled_fen).label("spent"),
            func.sum(SubsidyLine.committed_fen - SubsidyLine.released_fen - SubsidyLine.settled_fen).label(
                "outstanding"
            ),
        )
        .group_by(SubsidyLine.voucher_id)
        .subquery()
    )
    voucher_rows = db.session.execute(
        select(
            Voucher.id,
            Voucher.face_value_fen,
            func.coalesce(voucher_balance.c.available, 0),
            func.coalesce(voucher_balance.c.committed, 0),
            func.coalesce(lines.c.spent, 0),
            func.coalesce(lines.c.outstanding, 0),
        )
        .outerjoin(voucher_balance, voucher_balance.c.voucher_id == Voucher.id)
        .outerjoin(lines, lines.c.voucher_id == Voucher.id)
        .order_by(Voucher.id)
    ).all()
    for voucher_id, face, available, committed, spent, outstanding in voucher_rows:
        if available + committed + spent > face:
            breaches.append(
                f"voucher {voucher_id}: available {available} + committed {committed} + spent {spent} > face {face}"
            )
        if committed != outstanding:
            breaches.append(
                f"voucher {voucher_id}: committed {committed} != bookings' outstanding holds {outstanding}"
            )
    return breaches


def _period_total_breaches() -> list[str]:
    """The maintained running totals per (account, period, transaction kind) equal their postings."""
    posted = {
        (account_id, period, kind): int(total)
        for account_id, period, kind, total in db.session.execute(
            select(
                Posting.account_id,
                JournalTransaction.period,
                JournalTransaction.kind,
                func.sum(Posting.amount_fen),
            )
            .join(JournalTransaction, JournalTransaction.id == Posting.transaction_id)
            .group_by(Posting.account_id, JournalTransaction.period, JournalTransaction.kind)
        )
    }
    maintained = {
        (row.account_id, row.period, row.kind): row.amount_fen
        for row in db.session.execute(
            select(PeriodTotal.account_id, PeriodTotal.period, PeriodTotal.kind, PeriodTotal.amount_fen)
        )
    }
    return [
        f"account {key[0]}: {key[2]} total for {key[1]} is {kept}, postings say {actual}"
        for key, kept, actual in _disagreements(maintained, posted, nothing=0)
    ]


def _settlement_total_breaches() -> list[str]:
    """The maintained settlement totals per (period, team, payee) equal the settlements."""
    key = (Settlement.period, Booking.team_id, Settlement.payee_kind, Settlement.payee_id)
    settled = {
        tuple(row[:4]): tuple(int(x) for x in row[4:])
        for row in db.session.execute(
            select(
                *key,
                func.count(),
                func.sum(Settlement.municipal_fen),
                func.sum(Settlement.district_fen),
                func.sum(Settlement.subsidy_fen),
            )
            .join(Booking, Booking.id == Settlement.booking_id)
            .group_by(*key)
        )
    }
    maintained = {
        (t.period, t.team_id, t.payee_kind, t.payee_id): (
            t.bookings,
            t.municipal_fen,
            t.district_fen,
            t.subsidy_fen,
        )
        for t in db.session.scalars(select(SettlementTotal))
    }
    return [
        f"settlement totals {key} are {kept}, settlements say {actual}"
        for key, kept, actual in _disagreements(maintained, settled, nothing=(0, 0, 0, 0))
    ]


def _disagreements(maintained: dict, actual: dict, nothing) -> list[tuple]:
    """(key, maintained, actual) wherever a maintained total differs from what it sums (a missing row
    counts as ``nothing``), in key order."""
    return [
        (key, maintained.get(key, nothing), actual.get(key, nothing))
        for key in sorted(maintained.keys() | actual.keys())
        if maintained.get(key, nothing) != actual.get(key, nothing)
    ]


def ledger_size() -> tuple[int, int, int]:
    return (
        db.session.scalar(select(func.count()).select_from(JournalTransaction)),
        db.session.scalar(select(func.count()).select_from(Posting)),
        db.session.scalar(select(func.count()).select_from(LedgerAccount)),
    )
