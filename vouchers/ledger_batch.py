"""A batch's ledger, written in bulk: reconciliation's settle transactions (one per booking) are
collected as plain tuples and written with one statement per table (``vouchers.settling``)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, select

from booking.core.db import db, execute_many, insert_rows
from vouchers import ledger
from vouchers.models import JournalTransaction, LedgerAccount, Posting

JOURNAL_COLUMNS = (
    "kind",
    "occurred_at",
    "period",
    "program_id",
    "voucher_id",
    "booking_id",
    "unique_key",
    "memo",
)


class LedgerWriter:
    """Collects a batch's journal transactions and postings (one settle transaction per booking) and
    writes them in bulk, with the accounts' balances and the period totals."""

    def __init__(self, period: str, now: datetime):
        self.period, self.now = period, now
        self.transactions: list[tuple] = []  # in the order of JOURNAL_COLUMNS
        self.postings: list[tuple[int, int, str]] = []  # (account id, amount, transaction key)
        self.deltas: dict[int, int] = defaultdict(int)
        self.totals: dict[tuple[int, str, str], int] = defaultdict(int)  # (account, period, kind)
        self.accounts: dict[tuple, LedgerAccount] = {}  # programme accounts, opened on first use
        self.account_ids: dict[tuple, int] = {}

    def account(self, kind: str, program_id: int, payee: tuple[str, int] | None = None) -> int:
        """A programme account's id (unissued, or payable to a payee)."""
        key = (kind, program_id, payee)
        if key not in self.account_ids:
            self.accounts[key] = ledger.account(kind, program_id, payee=payee)
            self.account_ids[key] = self.accounts[key].id
        return self.account_ids[key]

    def add(self, kind: str, entries: list[tuple[int, int]], *, program_id, voucher_id, booking_id, key):
        """One balanced transaction of (account id, amount) entries; postings to the same account
        are merged."""
        merged: dict[int, int] = {}
        for account_id, amount in entries:
            if amount:
                merged[account_id] = merged.get(account_id, 0) + amount
        if 0 in merged.values():
            merged = {account_id: amount for account_id, amount in merged.items() if amount}
        if not merged:
            return
        assert sum(merged.values()) == 0, merged
        self.transactions.append(
            (kind, self.now, self.period, program_id, voucher_id, booking_id, key, "reconciliation")
        )
        for account_id, amount in merged.items():
            self.postings.append((account_id, amount, key))
            self.deltas[account_id] += amount
            self.totals[(account_id, self.period, kind)] += amount

    def flush(self) -> None:
        """Bulk inserts throughout. The postings need their transaction's id: the batch's
        transactions are the rows above the highest id seen before inserting them (ids only grow),
        found again by their unique settlement keys. No RETURNING, which SQLite's executemany lacks."""
        if not self.transactions:
            return
        journal = JournalTransaction.__table__
        before = db.session.scalar(select(func.coalesce(func.max(JournalTransaction.id), 0)))
        insert_rows(journal, JOURNAL_COLUMNS, self.transactions)
        ids = dict(
            db.session.execute(
                select(JournalTransaction.unique_key, JournalTransaction.id).where(
                    JournalTransaction.id > before
                )
            ).all()
        )
        insert_rows(
            Posting.__table__,
            ("transaction_id", "account_id", "amount_fen"),
            [(ids[key], account_id, amount) for account_id, amount, key in self.postings],
        )
        execute_many(
            "UPDATE ledger_accounts SET balance_fen = balance_fen + ? WHERE id = ?",
            [(delta, account_id) for account_id, delta in sorted(self.deltas.items()) if delta],
            postgresql="UPDATE ledger_accounts AS a SET balance_fen = a.balance_fen + x.delta "
            "FROM unnest(%b::bigint[], %b::bigint[]) AS x(delta, id) WHERE a.id = x.id",
        )
        ledger.add_period_totals(self.totals)
        for account in self.accounts.values():
            db.session.expire(account, ["balance_fen"])
