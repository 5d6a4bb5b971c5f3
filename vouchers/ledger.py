"""The double-entry ledger: every movement of voucher money is a journal transaction whose postings
sum to zero. Account balances are maintained in the same transaction (and checked against the
postings by ``ledger verify``); the database refuses a negative balance on any account but funding.

Accounts (per programme unless noted):
    funding             −budget: where the programme's money comes from
    unissued            budget not yet promised to any team
    available (voucher) a voucher's money that can still be used
    committed (voucher) held by bookings at their estimate
    payable (payee)     spent: settled use, owed to a lab or provider
    paid (payee)        paid out
so that unissued + Σ available + Σ committed + Σ payable + Σ paid = budget, always.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from booking.core import clock
from booking.core.db import add_to_totals, db
from instruments.rules import zone
from vouchers.models import AccountingPeriod, JournalTransaction, LedgerAccount, Posting

PERIOD_ZONE = "Asia/Shanghai"


def account_key(
    kind: str, program_id: int, voucher_id: int | None = None, payee: tuple[str, int] | None = None
) -> str:
    if voucher_id is not None:
        return f"{kind}:voucher:{voucher_id}"
    if payee is not None:
        return f"{kind}:program:{program_id}:{payee[0]}:{payee[1]}"
    return f"{kind}:program:{program_id}"


def account(
    kind: str, program_id: int, voucher_id: int | None = None, payee: tuple[str, int] | None = None
) -> LedgerAccount:
    """The account, opened on first use (a concurrent first use is absorbed by a SAVEPOINT)."""
    key = account_key(kind, program_id, voucher_id, payee)
    found = db.session.scalar(select(LedgerAccount).where(LedgerAccount.key == key))
    if found is not None:
        return found
    opened = LedgerAccount(
        key=key,
        kind=kind,
        program_id=program_id,
        voucher_id=voucher_id,
        payee_kind=payee[0] if payee else None,
        payee_id=payee[1] if payee else None,
        balance_fen=0,
    )
    try:
        with db.session.begin_nested():
            db.session.add(opened)
    except IntegrityError:
        return db.session.scalars(select(LedgerAccount).where(LedgerAccount.key == key)).one()
    return opened


def lock(accounts: Iterable[LedgerAccount]) -> list[LedgerAccount]:
    """Lock these accounts' rows (PostgreSQL: SELECT … FOR UPDATE, in id order so two transactions
    never deadlock) and reload their balances; returned in the order given. SQLite serialises
    writers, so there it only reloads."""
    wanted = list(accounts)
    ids = sorted({a.id for a in wanted})
    if not ids:
        return []
    locked = {
        a.id: a
        for a in db.session.scalars(
            select(LedgerAccount)
            .where(LedgerAccount.id.in_(ids))
            .order_by(LedgerAccount.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    return [locked[a.id] for a in wanted]


def period_of(at: datetime) -> str:
    local = at.astimezone(zone(PERIOD_ZONE))
    return f"{local.year:04d}-{local.month:02d}"


def next_period(period: str) -> str:
    year, month = int(period[:4]), int(period[5:])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def open_period_for(at: datetime) -> str:
    """The period an entry made at ``at`` belongs to: its month, or, if that month is closed, the
    next open one (a closed period is immutable; late corrections land after it)."""
    period = period_of(at)
    closed = set(db.session.scalars(select(AccountingPeriod.period).where(AccountingPeriod.period >= period)))
    while period in closed:
        period = next_period(period)
    return period


def post(
    kind: str,
    entries: Iterable[tuple[LedgerAccount, int]],
    *,
    program_id: int | None,
    voucher_id: int | None = None,
    booking_id: int | None = None,
    unique_key: str | None = None,
    memo: str = "",
    by_id: int | None = None,
    at: datetime | None = None,
) -> JournalTransaction | None:
    """Record one balanced movement. Zero amounts are dropped; nothing at all → no transaction."""
    entries = [(acct, amount) for acct, amount in entries if amount != 0]
    if not entries:
        return None
    if sum(amount for _, amount in entries) != 0:
        raise ValueError(f"unbalanced {kind} transaction: {[(a.key, x) for a, x in entries]}")
    at = at or clock.now()
    transaction = JournalTransaction(
        kind=kind,
        occurred_at=at,
        period=open_period_for(at),
        program_id=program_id,
        voucher_id=voucher_id,
        booking_id=booking_id,
        unique_key=unique_key,
        memo=memo[:500],
        created_by_id=by_id,
    )
    db.session.add(transaction)
    for acct, amount in entries:
        transaction.postings.append(Posting(account=acct, amount_fen=amount))
    db.session.flush()
    for acct, amount in entries:
        # an atomic increment: never a lost update, and the CHECK refuses a negative balance
        db.session.execute(
            update(LedgerAccount)
            .where(LedgerAccount.id == acct.id)
            .values(balance_fen=LedgerAccount.balance_fen + amount)
            .execution_options(synchronize_session=False)
        )
        db.session.expire(acct, ["balance_fen"])
    totals: dict[tuple[int, str, str], int] = {}
    for acct, amount in entries:
        key = (acct.id, transaction.period, kind)
        totals[key] = totals.get(key, 0) + amount
    add_period_totals(totals)
    return transaction


def add_period_totals(amounts: dict[tuple[int, str, str], int]) -> None:
    """Add postings' amounts, keyed by (account id, period, transaction kind), to the running totals
    (after the accounts' balance updates, so writers meet on the account rows first)."""
    add_to_totals(
        "ledger_period_totals",
        ("account_id", "period", "kind"),
        ("amount_fen",),
        {key: (amount,) for key, amount in amounts.items()},
    )


def transfer(
    kind: str, source: LedgerAccount, target: LedgerAccount, amount_fen: int, **kw
) -> JournalTransaction | None:
    """Move ``amount_fen`` from ``source`` to ``target`` (a two-posting transaction)."""
    if amount_fen < 0:
        raise ValueError("transfer amounts are positive; swap source and target instead")
    return post(kind, [(source, -amount_fen), (target, amount_fen)], **kw)
