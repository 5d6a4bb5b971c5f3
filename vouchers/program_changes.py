"""Changing a programme after it runs (PATCH /programs/{id}): its name, budget, last day and rules.

The budget may rise (a ``fund`` top-up, funding → unissued) or fall to no less than what is already
issued (unissued → funding; 422 ``below_issued``), so ``ledger verify`` (funding = −budget) holds.
Its last day may only move later: each active voucher's expiry is recomputed as at issue — the
earlier of issue + validity days and the programme's new end — so vouchers that the old end cut
short run on; expired and revoked vouchers stay as they are. Every change is audited (before → after).
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from booking.core.db import db
from booking.core.errors import Forbidden, Invalid
from booking.models import User
from booking.people import audit
from vouchers import ledger, program_rules
from vouchers.models import Program, Voucher
from vouchers.programs import end_of, is_officer, program_for, today

RULES = ("eligible_payees", "rate_bp_by_kind", "annual_team_cap_fen")


def update_program(actor: User, program_id: int, changes: dict) -> Program:
    """Change the fields given in ``changes`` (``name``, ``budget_fen``, ``valid_to`` and the rules);
    the programme's finance office or an admin. Refused as a whole when one change is refused."""
    program = program_for(actor, program_id)
    if actor.role != "admin" and not is_officer(actor, program):
        raise Forbidden("Only the programme's finance office may change it.")
    # one change at a time per programme (a second waits, then sees the first)
    db.session.execute(select(Program.id).where(Program.id == program.id).with_for_update())
    db.session.refresh(program)
    before = {"name": program.name, "budget_fen": program.budget_fen, "valid_to": program.valid_to}
    before.update(program_rules.rules_of(program))
    if "name" in changes:
        program.name = " ".join(changes["name"].split())
    program_rules.apply_rules(program, {k: v for k, v in changes.items() if k in RULES})
    extended = 0
    if "valid_to" in changes:
        extended = _extend(program, changes["valid_to"])
    if "budget_fen" in changes:
        _rebudget(actor, program, changes["budget_fen"])
    db.session.flush()
    after = {"name": program.name, "budget_fen": program.budget_fen, "valid_to": program.valid_to}
    after.update(program_rules.rules_of(program))
    changed = [field for field in after if after[field] != before[field]]
    if changed:
        entry_after = {field: after[field] for field in changed}
        if extended:
            entry_after["vouchers_extended"] = extended
        audit.record(actor, "update_program", program, before={f: before[f] for f in changed}, after=entry_after)  # fmt: skip
    return program


def _rebudget(actor: User, program: Program, budget_fen: int) -> None:
    difference = budget_fen - program.budget_fen
    if difference == 0:
        return
    # the unissued account serialises this with approvals, which issue from it
    (unissued,) = ledger.lock([ledger.account("unissued", program.id)])
    funding = ledger.account("funding", program.id)
    if difference > 0:
        ledger.transfer("fund", funding, unissued, difference, program_id=program.id, by_id=actor.id, memo=f"top-up of programme {program.id}")  # fmt: skip
    else:
        if unissued.balance_fen < -difference:
            issued = program.budget_fen - unissued.balance_fen
            raise Invalid(
                "The budget cannot fall below what is already issued.",
                code="below_issued",
                details={"budget_fen": [f"At least {issued} (issued)."]},
            )
        if budget_fen < program.per_team_cap_fen:
            raise Invalid(
                "The budget would fall below the cap per team.",
                details={"budget_fen": ["Must not be below per_team_cap_fen."]},
            )
        ledger.transfer("fund", unissued, funding, -difference, program_id=program.id, by_id=actor.id, memo=f"budget of programme {program.id} lowered")  # fmt: skip
    program.budget_fen = budget_fen


def _extend(program: Program, valid_to: date) -> int:
    """Move the last day later; returns how many active vouchers now expire later."""
    if valid_to < program.valid_to:
        raise Invalid("A programme's last day can only move later.", details={"valid_to": ["Before the current last day."]})  # fmt: skip
    if valid_to < today():
        raise Invalid("The window is already over.", details={"valid_to": ["In the past."]})
    if valid_to == program.valid_to:
        return 0
    program.valid_to = valid_to
    extended = 0
    for voucher in db.session.scalars(
        select(Voucher).where(Voucher.program_id == program.id, Voucher.status == "active")
    ):
        expires = min(voucher.issued_at + timedelta(days=program.voucher_validity_days), end_of(valid_to))
        if expires > voucher.expires_at:
            voucher.expires_at = expires
            extended += 1
    return extended
