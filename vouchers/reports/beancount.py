"""A ledger period as a beancount file (``flask --app wsgi ledger export --period YYYY-MM --format
beancount``): the same transactions and postings as the journal (``vouchers.reports.journal``), for
auditors' tools (bean-check, fava).

- ``open`` directives for every account the period's postings use, dated the first day of the period
  (or the earliest transaction's day, if a late entry landed in it from an earlier, closed month);
- one transaction per journal transaction, dated by its China-time day, with ``journal-id``,
  ``kind`` and ``booking-id`` metadata; amounts in CNY with two decimals, exactly the fen / 100;
- a ``balance`` assertion per account on the first day of the next month: the sum of the period's
  postings on it (the file holds one period, so every account starts at zero), so bean-check itself
  proves the file adds up to what ``ledger verify`` checks.

Account names: each ledger account kind has one root, so signs read naturally (beancount keeps our
signs as they are):

    funding    Equity:Programs:P<program>:Funding          (−budget: where the money comes from)
    unissued   Assets:Programs:P<program>:Unissued
    available  Assets:Programs:P<program>:Vouchers:V<voucher>:Available
    committed  Assets:Programs:P<program>:Vouchers:V<voucher>:Committed
    payable    Expenses:Programs:P<program>:Payable:Lab<id> | :Provider<id>   (spent, owed to the payee)
    paid       Expenses:Programs:P<program>:Paid:Lab<id> | :Provider<id>      (spent and paid out)

so Assets + Expenses = −Equity = the budget, as ``ledger verify`` demands. A kind added later without
a root of its own is booked under Assets.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date

from sqlalchemy import func, select

from booking.core.db import db
from instruments.rules import zone
from vouchers.ledger import PERIOD_ZONE, next_period
from vouchers.models import JournalTransaction, LedgerAccount, Posting
from vouchers.reports.journal import transactions
from vouchers.scope import check_period

ROOTS = {
    "funding": "Equity",
    "unissued": "Assets",
    "available": "Assets",
    "committed": "Assets",
    "payable": "Expenses",
    "paid": "Expenses",
}
CURRENCY = "CNY"


def account_name(
    kind: str, program_id: int, voucher_id: int | None = None, payee_kind: str | None = None, payee_id=None
) -> str:
    """The beancount account of a ledger account (capitalised components, one root per kind)."""
    parts = [ROOTS.get(kind, "Assets"), "Programs", f"P{program_id}"]
    if voucher_id is not None:
        parts += ["Vouchers", f"V{voucher_id}"]
    parts.append(kind.capitalize())
    if payee_kind is not None:
        parts.append(f"{payee_kind.capitalize()}{payee_id}")
    return ":".join(parts)


def cny(fen: int) -> str:
    """Fen as CNY with two decimals, exactly: 12345 → '123.45', -5 → '-0.05'."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{whole}.{cents:02d}"


def _quoted(text: str) -> str:
    cleaned = " ".join(str(text).split())  # no line breaks inside a string
    return '"' + cleaned.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _first_day(period: str) -> date:
    return date(int(period[:4]), int(period[5:]), 1)


def period_balances(period: str) -> dict[tuple, int]:
    """Σ postings of ``period`` per ledger account, keyed by (kind, program, voucher, payee kind,
    payee id)."""
    rows = db.session.execute(
        select(
            LedgerAccount.kind,
            LedgerAccount.program_id,
            LedgerAccount.voucher_id,
            LedgerAccount.payee_kind,
            LedgerAccount.payee_id,
            func.sum(Posting.amount_fen),
        )
        .join(Posting, Posting.account_id == LedgerAccount.id)
        .join(JournalTransaction, JournalTransaction.id == Posting.transaction_id)
        .where(JournalTransaction.period == period)
        .group_by(
            LedgerAccount.id,
            LedgerAccount.kind,
            LedgerAccount.program_id,
            LedgerAccount.voucher_id,
            LedgerAccount.payee_kind,
            LedgerAccount.payee_id,
        )
    )
    return {tuple(row[:5]): int(row[5] or 0) for row in rows}


def beancount_lines(period: str) -> Iterator[str]:
    """The file, a line at a time (transactions streamed in the journal's keyset pages)."""
    check_period(period)
    balances = period_balances(period)
    earliest = db.session.scalar(
        select(func.min(JournalTransaction.occurred_at)).where(JournalTransaction.period == period)
    )
    opened = _first_day(period)
    if earliest is not None:
        opened = min(opened, _local_day(earliest))
    yield f'option "title" "Voucher ledger {period}"\n'
    yield f'option "operating_currency" "{CURRENCY}"\n\n'
    names = sorted({account_name(*key) for key in balances})
    for name in names:
        yield f"{opened.isoformat()} open {name} {CURRENCY}\n"
    yield "\n"
    for t in transactions(period):
        day = t["created_at"].astimezone(zone(PERIOD_ZONE)).date()
        narration = t["kind"] + (f": {t['memo']}" if t["memo"] else "")
        yield f"{day.isoformat()} * {_quoted(narration)}\n"
        yield f"  journal-id: {t['id']}\n"
        yield f"  kind: {_quoted(t['kind'])}\n"
        if t["booking_id"] is not None:
            yield f"  booking-id: {t['booking_id']}\n"
        for p in t["postings"]:
            name = account_name(
                p["account_kind"], p["program_id"], p["voucher_id"], p["payee_kind"], p["payee_id"]
            )
            yield f"  {name}  {cny(p['amount_fen'])} {CURRENCY}\n"
        yield "\n"
    closing = _first_day(next_period(period)).isoformat()
    totals: dict[str, int] = {}
    for key, amount in balances.items():
        totals[account_name(*key)] = totals.get(account_name(*key), 0) + amount
    for name in names:
        yield f"{closing} balance {name}  {cny(totals[name])} {CURRENCY}\n"


def _local_day(instant) -> date:
    if instant.tzinfo is None:  # SQLite hands back naive UTC
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(zone(PERIOD_ZONE)).date()
