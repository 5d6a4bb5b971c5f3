"""A programme's rules (2026-12): which payees its vouchers subsidise, a rate per resource kind, and
an annual cap per team. Checked here once for creation and for changes; applied by the split
(``vouchers.split``) at booking and at settlement."""

from __future__ import annotations

from sqlalchemy import select

from booking.core.db import db
from booking.core.errors import Invalid
from booking.models import Provider
from instruments.models import Lab
from vouchers.models import RESOURCE_KINDS, Program

PAYEE_KINDS = ("lab", "provider")


def clean_payees(payees: list[dict] | None) -> list[dict] | None:
    """The eligible payees as stored: None (any lab or provider) or ``[{kind, id}]``, each once,
    sorted; every one must exist (422 ``unknown_reference``)."""
    if payees is None:
        return None
    wanted = sorted({(p["kind"], int(p["id"])) for p in payees})
    for kind, model in (("lab", Lab), ("provider", Provider)):
        ids = {payee_id for payee_kind, payee_id in wanted if payee_kind == kind}
        found = set(db.session.scalars(select(model.id).where(model.id.in_(ids)))) if ids else set()
        missing = sorted(ids - found)
        if missing:
            raise Invalid(
                "Unknown payee.",
                code="unknown_reference",
                details={"eligible_payees": [f"Unknown {kind}: {', '.join(map(str, missing))}."]},
            )
    return [{"kind": kind, "id": payee_id} for kind, payee_id in wanted]


def check_rates(rates: dict[str, int] | None, kinds: list[str]) -> dict[str, int]:
    """A rate may be set only for a kind the programme covers."""
    rates = rates or {}
    stray = sorted(kind for kind in rates if kind not in kinds)
    if stray:
        raise Invalid(
            "A rate for a kind the programme does not cover.",
            details={"rate_bp_by_kind": [f"Not covered: {', '.join(stray)}."]},
        )
    return rates


def apply_rules(program: Program, rules: dict) -> None:
    """Set the rules given in ``rules`` (keys ``eligible_payees``, ``rate_bp_by_kind``,
    ``annual_team_cap_fen``; absent: unchanged). ``rate_bp_by_kind`` replaces the whole map."""
    if "eligible_payees" in rules:
        program.eligible_payees = clean_payees(rules["eligible_payees"])
    if "rate_bp_by_kind" in rules:
        rates = check_rates(rules["rate_bp_by_kind"], program.resource_kinds)
        for kind in RESOURCE_KINDS:
            setattr(program, f"rate_bp_{kind}", rates.get(kind))
    if "annual_team_cap_fen" in rules:
        program.annual_team_cap_fen = rules["annual_team_cap_fen"]


def rules_of(program: Program) -> dict:
    return {
        "eligible_payees": program.eligible_payees,
        "rate_bp_by_kind": program.rate_bp_by_kind,
        "annual_team_cap_fen": program.annual_team_cap_fen,
    }
