"""The journal for auditors: every journal transaction of a ledger period with its postings, read in
keyset pages (a month of many thousands of transactions never sits in memory), as JSON, as a file
(one row per posting, CSV or XLSX through ``booking.core.sheets``) or as a beancount file
(``vouchers.reports.beancount``).

Scope: admins and municipal finance see every transaction; a district finance office sees the
transactions touching its district's programmes (any posting on an account of one of them).

A posting names its account readably: ``<kind>:program <id>`` then ``:voucher <id>`` for a voucher's
accounts and ``:<lab|provider> <id>`` for a payee's, e.g. ``available:program 3:voucher 17``,
``payable:program 3:lab 7``, ``funding:program 3``. ``team_id`` is the team holding the voucher (on a
voucher's accounts; null elsewhere).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from sqlalchemy import exists, select

from booking.core.db import db
from booking.models import User
from vouchers.models import JournalTransaction, LedgerAccount, Posting, Program, Voucher
from vouchers.reports import files
from vouchers.scope import check_period, scope_district

PAGE_TRANSACTIONS = 500
POSTING_COLUMNS = (
    "transaction_id",
    "transaction_kind",
    "created_at",
    "booking_id",
    "account",
    "account_kind",
    "program_id",
    "voucher_id",
    "team_id",
    "payee_kind",
    "payee_id",
    "amount_fen",
    "memo",
)


def account_name(kind: str, program_id: int, voucher_id: int | None, payee_kind: str | None, payee_id) -> str:
    name = f"{kind}:program {program_id}"
    if voucher_id is not None:
        name += f":voucher {voucher_id}"
    if payee_kind is not None:
        name += f":{payee_kind} {payee_id}"
    return name


def journal_district(user: User) -> str | None:
    """The district whose programmes' transactions ``user`` sees, None for all (403 for non-finance)."""
    return scope_district(user, None)


def _conditions(period: str, district: str | None) -> list:
    conditions = [JournalTransaction.period == check_period(period)]
    if district is not None:
        touching = (
            select(Posting.id)
            .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
            .join(Program, Program.id == LedgerAccount.program_id)
            .where(
                Posting.transaction_id == JournalTransaction.id,
                Program.level == "district",
                Program.district_code == district,
            )
        )
        conditions.append(exists(touching))
    return conditions


def _utc(instant: datetime) -> datetime:
    if instant.tzinfo is None:  # SQLite hands back naive UTC
        return instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


def transactions(period: str, district: str | None = None) -> Iterator[dict]:
    """One dict per journal transaction of ``period`` (``{id, kind, created_at, booking_id, period,
    memo, postings}``), in id order; two queries per page of ``PAGE_TRANSACTIONS``."""
    conditions = _conditions(period, district)
    last_id = 0
    while True:
        page = db.session.execute(
            select(
                JournalTransaction.id,
                JournalTransaction.kind,
                JournalTransaction.occurred_at,
                JournalTransaction.booking_id,
                JournalTransaction.period,
                JournalTransaction.memo,
            )
            .where(*conditions, JournalTransaction.id > last_id)
            .order_by(JournalTransaction.id)
            .limit(PAGE_TRANSACTIONS)
        ).all()
        if not page:
            return
        postings: dict[int, list[dict]] = {row.id: [] for row in page}
        for p in db.session.execute(
            select(
                Posting.transaction_id,
                Posting.amount_fen,
                LedgerAccount.key,
                LedgerAccount.kind,
                LedgerAccount.program_id,
                LedgerAccount.voucher_id,
                LedgerAccount.payee_kind,
                LedgerAccount.payee_id,
                Voucher.team_id,
            )
            .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
            .outerjoin(Voucher, Voucher.id == LedgerAccount.voucher_id)
            .where(Posting.transaction_id.in_(list(postings)))
            .order_by(Posting.transaction_id, Posting.id)
        ):
            postings[p.transaction_id].append(
                {
                    "account": account_name(p.kind, p.program_id, p.voucher_id, p.payee_kind, p.payee_id),
                    "account_key": p.key,
                    "account_kind": p.kind,
                    "program_id": p.program_id,
                    "voucher_id": p.voucher_id,
                    "team_id": p.team_id,
                    "payee_kind": p.payee_kind,
                    "payee_id": p.payee_id,
                    "amount_fen": int(p.amount_fen),
                }
            )
        for row in page:
            yield {
                "id": row.id,
                "kind": row.kind,
                "created_at": _utc(row.occurred_at),
                "booking_id": row.booking_id,
                "period": row.period,
                "memo": row.memo or "",
                "postings": postings[row.id],
            }
        last_id = page[-1].id


def posting_values(period: str, district: str | None = None) -> Iterator[list]:
    """One value list per posting (``POSTING_COLUMNS``)."""
    for t in transactions(period, district):
        for p in t["postings"]:
            yield [
                t["id"],
                t["kind"],
                t["created_at"].isoformat(),
                t["booking_id"],
                p["account"],
                p["account_kind"],
                p["program_id"],
                p["voucher_id"],
                p["team_id"],
                p["payee_kind"],
                p["payee_id"],
                p["amount_fen"],
                t["memo"],
            ]


def journal_table(user: User, period: str, layout: str = "machine") -> files.Table:
    """The journal as a file: one row per posting, a header always (no totals row: they sum to 0)."""
    check_period(period)
    district = journal_district(user)
    return files.table(layout, POSTING_COLUMNS, posting_values(period, district), totals_row=False)


def filename(period: str, fmt: str) -> str:
    return f"journal-{period}.{fmt}"
