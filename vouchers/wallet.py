"""Vouchers held by teams: balances, revocation (clawback) and expiry."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Conflict, Forbidden, NotFound
from booking.models import User
from booking.people import audit
from booking.people.teams import team_for
from vouchers import ledger
from vouchers.models import LedgerAccount, Program, SubsidyLine, Voucher
from vouchers.programs import is_officer, visible_programs


def accounts_of(voucher: Voucher) -> tuple[LedgerAccount, LedgerAccount, LedgerAccount]:
    return (
        ledger.account("available", voucher.program_id, voucher.id),
        ledger.account("committed", voucher.program_id, voucher.id),
        ledger.account("unissued", voucher.program_id),
    )


def spent_fen(voucher_ids: list[int]) -> dict[int, int]:
    rows = db.session.execute(
        select(SubsidyLine.voucher_id, func.sum(SubsidyLine.settled_fen))
        .where(SubsidyLine.voucher_id.in_(voucher_ids))
        .group_by(SubsidyLine.voucher_id)
    )
    return {voucher_id: int(total or 0) for voucher_id, total in rows}


def balances(vouchers: list[Voucher]) -> list[dict]:
    """The API's view of vouchers: ``balance_fen`` is what can still be used."""
    ids = [v.id for v in vouchers]
    if not ids:
        return []
    by_account = {
        (row.voucher_id, row.kind): row.balance_fen
        for row in db.session.execute(
            select(LedgerAccount.voucher_id, LedgerAccount.kind, LedgerAccount.balance_fen).where(
                LedgerAccount.voucher_id.in_(ids)
            )
        )
    }
    spent = spent_fen(ids)
    return [
        {
            "id": v.id,
            "program_id": v.program_id,
            "program_name": v.program.name,
            "level": v.program.level,
            "face_value_fen": v.face_value_fen,
            "balance_fen": by_account.get((v.id, "available"), 0),
            "committed_fen": by_account.get((v.id, "committed"), 0),
            "spent_fen": spent.get(v.id, 0),
            "issued_at": v.issued_at,
            "expires_at": v.expires_at,
            "status": v.status,
        }
        for v in vouchers
    ]


def team_vouchers(user: User, team_id: int) -> list[dict]:
    team = team_for(user, team_id)  # members, their district's finance, municipal finance, admins
    vouchers = db.session.scalars(
        select(Voucher).where(Voucher.team_id == team.id).order_by(Voucher.expires_at, Voucher.id)
    )
    return balances(list(vouchers))


def voucher_for_officer(user: User, voucher_id: int) -> Voucher:
    visible = visible_programs(user).with_only_columns(Program.id)
    voucher = db.session.scalar(
        select(Voucher).where(Voucher.id == voucher_id, Voucher.program_id.in_(visible))
    )
    if voucher is None:
        raise NotFound("No such voucher.")
    if not is_officer(user, voucher.program):
        raise Forbidden("Only the programme's finance office may do this.")
    return voucher


def _return_to_programme(kind: str, voucher: Voucher, *, by_id: int | None, memo: str) -> int:
    """Move the voucher's available money (and, for revocation, its outstanding commitments) back to
    the programme's unissued budget. Returns the amount returned."""
    available, committed, unissued = ledger.lock(accounts_of(voucher))
    returned = available.balance_fen
    ledger.transfer(
        kind,
        available,
        unissued,
        returned,
        program_id=voucher.program_id,
        voucher_id=voucher.id,
        by_id=by_id,
        memo=memo,
    )
    if kind == "revoke":
        lines = db.session.scalars(
            select(SubsidyLine).where(SubsidyLine.voucher_id == voucher.id).with_for_update()
        )
        for line in lines:
            outstanding = line.outstanding_fen
            if outstanding > 0:
                ledger.transfer(
                    "revoke",
                    committed,
                    unissued,
                    outstanding,
                    program_id=voucher.program_id,
                    voucher_id=voucher.id,
                    booking_id=line.booking_id,
                    by_id=by_id,
                    memo=memo,
                )
                line.released_fen += outstanding
                returned += outstanding
    return returned


def revoke(officer: User, voucher_id: int, reason: str) -> Voucher:
    """Claw back what is not yet spent: available money and outstanding commitments return to the
    programme with explicit ledger entries; bookings that relied on it pay the difference at settlement."""
    voucher = voucher_for_officer(officer, voucher_id)
    if voucher.status != "active":
        raise Conflict(f"The voucher is already {voucher.status}.", code="invalid_status")
    returned = _return_to_programme("revoke", voucher, by_id=officer.id, memo=reason)
    voucher.status, voucher.ended_at, voucher.revoke_reason = "revoked", clock.now(), reason
    db.session.flush()
    audit.record(officer, "revoke_voucher", voucher, before={"status": "active"}, after={"status": "revoked", "reason": reason, "returned_fen": returned})  # fmt: skip
    return voucher


def expire_vouchers(now: datetime | None = None) -> int:
    """Job: vouchers past their expiry return their unused, uncommitted balance to the programme.
    Commitments of bookings made while they were valid stay, to settle or be released later."""
    now = now or clock.now()
    due = db.session.scalars(
        select(Voucher).where(Voucher.status == "active", Voucher.expires_at <= now).order_by(Voucher.id)
    )
    count = 0
    for voucher in due:
        _return_to_programme("expire", voucher, by_id=None, memo=f"voucher {voucher.id} expired")
        voucher.status, voucher.ended_at = "expired", now
        count += 1
    db.session.flush()
    return count
