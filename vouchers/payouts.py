"""Payouts: each finance office pays a payee its own level's share of a month's settled subsidy.

A payee's subsidy for a month is owed by several programmes (the municipal ones and its teams'
districts'); each programme's office pays only what its programmes owe (payable → paid), so the
municipal and a district office see and pay different amounts for the same lab. Idempotent per
(period, payee, programme): the ledger's unique key ``payout:{period}:{kind}:{id}:{programme}``.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select

from booking.core.db import db
from booking.core.errors import Invalid, unknown_reference
from booking.models import Provider, User
from booking.people import audit
from instruments.models import Lab
from vouchers import ledger
from vouchers.claim_decisions import paid_through_claim
from vouchers.models import JournalTransaction, LedgerAccount, Posting, Program
from vouchers.programs import is_officer, visible_programs
from vouchers.reports.statements import payee_names
from vouchers.scope import check_period


def payout_key(period: str, payee_kind: str, payee_id: int, program_id: int) -> str:
    return f"payout:{period}:{payee_kind}:{payee_id}:{program_id}"


def reference_of(memo: str, period: str) -> str:
    """The bank reference a payout recorded (its memo is ``payout YYYY-MM <reference>``)."""
    prefix = f"payout {period} "
    return memo[len(prefix) :] if memo.startswith(prefix) else memo


def paying_programs(officer: User) -> list[Program]:
    """The programmes whose share this user pays: their finance office's (admins: none)."""
    return [p for p in db.session.scalars(visible_programs(officer)) if is_officer(officer, p)]


def _owed(period: str, program_ids: list[int], payee: tuple[str, int] | None = None):
    """(payee kind, payee id, programme, fen) settled to payable in ``period``."""
    query = (
        select(
            LedgerAccount.payee_kind,
            LedgerAccount.payee_id,
            LedgerAccount.program_id,
            func.sum(Posting.amount_fen),
        )
        .join(Posting, Posting.account_id == LedgerAccount.id)
        .join(JournalTransaction, JournalTransaction.id == Posting.transaction_id)
        .where(
            JournalTransaction.kind == "settle",
            JournalTransaction.period == period,
            LedgerAccount.kind == "payable",
            LedgerAccount.program_id.in_(program_ids),
        )
        .group_by(LedgerAccount.payee_kind, LedgerAccount.payee_id, LedgerAccount.program_id)
        .order_by(LedgerAccount.payee_kind, LedgerAccount.payee_id, LedgerAccount.program_id)
    )
    if payee is not None:
        query = query.where(LedgerAccount.payee_kind == payee[0], LedgerAccount.payee_id == payee[1])
    return [(kind, payee_id, program_id, int(amount or 0)) for kind, payee_id, program_id, amount in db.session.execute(query)]  # fmt: skip


def payout(
    officer: User, *, period: str, payee_kind: str, payee_id: int, reference: str
) -> tuple[dict, bool]:
    """Mark what the officer's programmes owe a payee for ``period`` as paid (payable → paid, one
    transaction per programme); the other level's share is left to its office. A repeat pays
    nothing more. Returns the payout and whether anything new was paid."""
    check_period(period)
    if payee_kind not in ("lab", "provider"):
        raise Invalid("Unknown payee kind.", details={"payee_kind": ["lab or provider."]})
    model = Lab if payee_kind == "lab" else Provider
    if db.session.get(model, payee_id) is None:
        raise unknown_reference("payee_id", payee_kind)
    program_ids = [p.id for p in paying_programs(officer)]
    lines, new = [], False
    for _kind, _id, program_id, amount in _owed(period, program_ids, (payee_kind, payee_id)):
        key = payout_key(period, payee_kind, payee_id, program_id)
        done = db.session.scalar(select(JournalTransaction.id).where(JournalTransaction.unique_key == key))
        if paid_through_claim(period, payee_kind, payee_id, program_id):
            done = True  # a claim (兑付) already paid this programme's share
        if done is None and amount > 0:
            payee = (payee_kind, payee_id)
            payable, paid = ledger.lock(
                [
                    ledger.account("payable", program_id, payee=payee),
                    ledger.account("paid", program_id, payee=payee),
                ]
            )
            ledger.transfer(
                "payout",
                payable,
                paid,
                amount,
                program_id=program_id,
                unique_key=key,
                memo=f"payout {period} {reference}",
                by_id=officer.id,
            )
            new = True
        lines.append({"program_id": program_id, "amount_fen": amount})
    result = {
        "period": period,
        "payee_kind": payee_kind,
        "payee_id": payee_id,
        "reference": reference,
        "paid_fen": sum(line["amount_fen"] for line in lines),
        "programs": lines,
    }
    if new:
        audit.record(officer, "payout", None, object_type="payee", object_id=f"{payee_kind}:{payee_id}", district_code=officer.district_code, after=result)  # fmt: skip
    return result, new


def payout_cards(user: User, period: str) -> list[dict]:
    """What each payee is owed for ``period``, one share per paying office (level and district):
    owed, paid, unpaid and the payouts made (reference, when, amount). A finance office sees only its
    own share; admins see every share (they pay none)."""
    check_period(period)
    programs = list(db.session.scalars(select(Program))) if user.role == "admin" else paying_programs(user)
    by_id = {p.id: p for p in programs}
    owed = _owed(period, list(by_id))
    payouts = defaultdict(list)  # (kind, payee id, programme) → [(reference, when, fen)]
    if owed:
        rows = db.session.execute(
            select(
                JournalTransaction.unique_key,
                JournalTransaction.memo,
                JournalTransaction.occurred_at,
                Posting.amount_fen,
            )
            .join(Posting, Posting.transaction_id == JournalTransaction.id)
            .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
            .where(
                JournalTransaction.kind == "payout",
                JournalTransaction.unique_key.startswith(f"payout:{period}:"),
                LedgerAccount.kind == "paid",
            )
        )
        for key, memo, when, amount in rows:
            _, _, kind, payee_id, program_id = key.split(":")
            payouts[(kind, int(payee_id), int(program_id))].append(
                {"reference": reference_of(memo or "", period), "paid_at": when, "amount_fen": int(amount)}
            )
    cards: dict[tuple[str, int], dict] = {}
    names = payee_names({(kind, payee_id) for kind, payee_id, _p, _a in owed})
    for kind, payee_id, program_id, amount in owed:
        program = by_id[program_id]
        card = cards.setdefault(
            (kind, payee_id),
            {
                "payee_kind": kind,
                "payee_id": payee_id,
                "payee_name": names.get((kind, payee_id), ("", ""))[0],
                "shares": {},
            },
        )
        share = card["shares"].setdefault(
            (program.level, program.district_code),
            {
                "level": program.level,
                "district_code": program.district_code,
                "owed_fen": 0,
                "paid_fen": 0,
                "payouts": [],
            },
        )
        made = payouts.get((kind, payee_id, program_id), [])
        share["owed_fen"] += amount
        share["paid_fen"] += sum(p["amount_fen"] for p in made)
        share["payouts"].extend(made)
    result = []
    for card in cards.values():
        shares = sorted(
            card["shares"].values(), key=lambda s: (s["level"] != "municipal", s["district_code"] or "")
        )
        for share in shares:
            share["unpaid_fen"] = share["owed_fen"] - share["paid_fen"]
            share["payouts"].sort(key=lambda p: p["paid_at"])
        card["shares"] = shares
        card["owed_fen"] = sum(s["owed_fen"] for s in shares)
        card["unpaid_fen"] = sum(s["unpaid_fen"] for s in shares)
        result.append(card)
    return [c for c in result if c["owed_fen"] > 0]
