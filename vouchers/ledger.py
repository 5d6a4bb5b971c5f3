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
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from booking.core import clock
from booking.core.db import add_to_totals, db, execute_many
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


# Built once (every booking runs them; SQLAlchemy keeps the ORM's compiled state, bench/statement_cost.py)
@cache
def _voucher_accounts_locked():
    return (
        select(LedgerAccount)
        .where(
            LedgerAccount.voucher_id.in_(bindparam("voucher_ids", expanding=True)),
            LedgerAccount.kind.in_(bindparam("kinds", expanding=True)),
        )
        .order_by(LedgerAccount.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


@cache
def _closed_from():
    return select(AccountingPeriod.period).where(AccountingPeriod.period >= bindparam("period"))


_INSERT_TRANSACTIONS = insert(JournalTransaction.__table__).returning(
    JournalTransaction.__table__.c.id, sort_by_parameter_order=True
)
_INSERT_POSTINGS = insert(Posting.__table__)


def lock_voucher_accounts(programs: dict[int, int], kinds: tuple[str, ...]) -> dict[str, LedgerAccount]:
    """The accounts of these kinds of the vouchers ``programs`` ({voucher id: programme id}), by key,
    locked as ``lock`` locks them (id order) and read in one statement; one not opened yet is opened
    (a new row is this transaction's alone)."""
    ids = sorted(programs)
    found = {
        a.key: a
        for a in db.session.scalars(_voucher_accounts_locked(), {"voucher_ids": ids, "kinds": list(kinds)})
    }
    for voucher_id in ids:
        for kind in kinds:
            key = account_key(kind, 0, voucher_id)
            if key not in found:
                found[key] = account(kind, programs[voucher_id], voucher_id)
    return found


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
    closed = set(db.session.scalars(_closed_from(), {"period": period}))
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
) -> int | None:
    """Record one balanced movement; returns its journal transaction's id. Zero amounts are dropped;
    nothing at all → no transaction (None)."""
    movement = Movement(
        entries=entries,
        program_id=program_id,
        voucher_id=voucher_id,
        booking_id=booking_id,
        unique_key=unique_key,
        memo=memo,
        by_id=by_id,
    )
    return post_all(kind, [movement], at=at)[0]


@dataclass
class Movement:
    """One balanced journal transaction of ``post_all``."""

    entries: Iterable[tuple[LedgerAccount, int]]
    program_id: int | None
    voucher_id: int | None = None
    booking_id: int | None = None
    unique_key: str | None = None
    memo: str = ""
    by_id: int | None = None


def post_all(kind: str, movements: list[Movement], *, at: datetime | None = None) -> list[int | None]:
    """Record several balanced movements of one kind at once, each its own journal transaction;
    returns their ids (None for one with nothing to move). One period look-up, the transactions in
    one INSERT … RETURNING and their postings in another (plain rows: nothing reads them back in the
    request, so no ORM objects are made), every account's balance in one atomic increment (in
    account id order; the CHECK refuses a negative balance) and the period totals in one statement."""
    at = at or clock.now()
    period: str | None = None
    transactions: list[dict] = []
    entries_of: list[list[tuple[LedgerAccount, int]]] = []
    made: list[int | None] = []
    for movement in movements:
        entries = [(acct, amount) for acct, amount in movement.entries if amount != 0]
        if not entries:
            made.append(None)
            continue
        if sum(amount for _, amount in entries) != 0:
            raise ValueError(f"unbalanced {kind} transaction: {[(a.key, x) for a, x in entries]}")
        period = period or open_period_for(at)
        made.append(len(transactions))
        transactions.append(
            {
                "kind": kind,
                "occurred_at": at,
                "period": period,
                "program_id": movement.program_id,
                "voucher_id": movement.voucher_id,
                "booking_id": movement.booking_id,
                "unique_key": movement.unique_key,
                "memo": movement.memo[:500],
                "created_by_id": movement.by_id,
            }
        )
        entries_of.append(entries)
    if not transactions:
        return made
    ids = db.session.scalars(_INSERT_TRANSACTIONS, transactions).all()
    db.session.execute(
        _INSERT_POSTINGS,
        [
            {"transaction_id": transaction_id, "account_id": acct.id, "amount_fen": amount}
            for transaction_id, entries in zip(ids, entries_of, strict=True)
            for acct, amount in entries
        ],
    )
    moved = [entry for entries in entries_of for entry in entries]
    deltas: dict[int, int] = {}
    for acct, amount in moved:
        deltas[acct.id] = deltas.get(acct.id, 0) + amount
    execute_many(
        "UPDATE ledger_accounts SET balance_fen = balance_fen + ? WHERE id = ?",
        [(delta, account_id) for account_id, delta in sorted(deltas.items()) if delta],
        postgresql="UPDATE ledger_accounts AS a SET balance_fen = a.balance_fen + x.delta "
        "FROM unnest(%s::bigint[], %s::bigint[]) AS x(delta, id) WHERE a.id = x.id",
    )
    for acct, _amount in moved:
        db.session.expire(acct, ["balance_fen"])
    totals: dict[tuple[int, str, str], int] = {}
    for acct, amount in moved:
        key = (acct.id, period, kind)
        totals[key] = totals.get(key, 0) + amount
    add_period_totals(totals)
    return [None if index is None else ids[index] for index in made]


def add_period_totals(amounts: dict[tuple[int, str, str], int]) -> None:
    """Add postings' amounts, keyed by (account id, period, transaction kind), to the running totals
    (after the accounts' balance updates, so writers meet on the account rows first)."""
    add_to_totals(
        "ledger_period_totals",
        ("account_id", "period", "kind"),
        ("amount_fen",),
        {key: (amount,) for key, amount in amounts.items()},
    )


def transfer(kind: str, source: LedgerAccount, target: LedgerAccount, amount_fen: int, **kw) -> int | None:
    """Move ``amount_fen`` from ``source`` to ``target`` (a two-posting transaction); returns its id."""
    if amount_fen < 0:
        raise ValueError("transfer amounts are positive; swap source and target instead")
    return post(kind, [(source, -amount_fen), (target, amount_fen)], **kw)
