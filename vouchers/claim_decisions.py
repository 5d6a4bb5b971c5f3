"""Deciding and paying claims: each finance office approves or rejects its own share of a claim (the
municipal office the municipal share, a district office its district's) and, once the whole claim is
approved, pays it (payable → paid through the ledger, as payouts do).

A claim is ``approved`` when every share is approved; any share rejected → the claim is ``rejected``
(the payee may file again). Payment waits for the whole claim's approval, so a paid share never sits in a
rejected claim. Decisions on one claim queue on its row (SELECT … FOR UPDATE), so two offices deciding
at once still leave the right claim status.
"""

from __future__ import annotations

from sqlalchemy import select

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Conflict, Forbidden, Invalid
from booking.models import User
from vouchers import ledger
from vouchers.claims import claim_for, record, share_of, summary
from vouchers.models import Claim, ClaimShare, JournalTransaction


def claim_status(shares: list[ClaimShare]) -> str:
    """What a claim's shares make of it."""
    statuses = [s.status for s in shares]
    if "rejected" in statuses:
        return "rejected"
    if all(s == "paid" for s in statuses):
        return "paid"
    if "paid" in statuses:
        return "partly_paid"
    if all(s == "approved" for s in statuses):
        return "approved"
    if "approved" in statuses:
        return "partly_approved"
    return "submitted"


def _my_share(officer: User, claim_id: int) -> tuple[Claim, ClaimShare]:
    claim = claim_for(officer, claim_id, lock=True)
    share = share_of(officer, claim)
    if share is None:
        raise Forbidden("Your office has no share of this claim to decide.", code="no_share")
    return claim, share


def _settle_status(claim: Claim) -> None:
    claim.status = claim_status(claim.shares)
    claim.updated_at = clock.now()
    db.session.flush()


def approve(officer: User, claim_id: int, reason: str = "") -> Claim:
    """Approve the officer's office's share (409 ``already_decided`` the second time)."""
    return _decide(officer, claim_id, "approved", reason or "")


def reject(officer: User, claim_id: int, reason: str) -> Claim:
    """Reject the officer's share, and with it the claim (the payee may file again)."""
    if not (reason or "").strip():
        raise Invalid("Say why the claim is rejected.", details={"reason": ["Required."]})
    return _decide(officer, claim_id, "rejected", reason.strip())


def _decide(officer: User, claim_id: int, outcome: str, reason: str) -> Claim:
    claim, share = _my_share(officer, claim_id)
    if share.status != "pending":
        raise Conflict("Your office has already decided its share of this claim.", code="already_decided")
    if claim.status == "rejected":
        raise Conflict("The claim was rejected by another office.", code="claim_rejected")
    before = summary(claim)
    share.status = outcome
    share.reason = reason
    share.decided_by_id = officer.id
    share.decided_at = clock.now()
    if outcome == "rejected":
        claim.reason = reason
    _settle_status(claim)
    after = {**summary(claim), "level": share.level, "district_code": share.district_code, "reason": reason}
    action = "approve_claim" if outcome == "approved" else "reject_claim"
    record(officer, action, claim, district_code=share.district_code, before=before, after=after)
    return claim


def pay(officer: User, claim_id: int, reference: str) -> Claim:
    """Pay the officer's share of an approved claim: for each programme of the share, what it owes
    moves payable → paid (409 ``already_paid`` the second time, ``not_approved`` before approval)."""
    claim, share = _my_share(officer, claim_id)
    if share.status == "paid":
        raise Conflict("Your office has already paid its share of this claim.", code="already_paid")
    if share.status != "approved" or claim.status not in ("approved", "partly_paid"):
        raise Conflict("The claim is not approved by every office yet.", code="not_approved")
    payee = (claim.payee_kind, claim.payee_id)
    for program_id, amount in sorted((int(p), int(a)) for p, a in share.programs.items()):
        if amount <= 0 or _paid_by_payout(claim, program_id):
            continue  # already paid through POST /finance/payouts before claims existed
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
            unique_key=claim_payment_key(claim, program_id),
            memo=f"claim {claim.id} {claim.period} {reference}",
            by_id=officer.id,
        )
    before = summary(claim)
    share.status = "paid"
    share.reference = reference
    share.paid_by_id = officer.id
    share.paid_at = clock.now()
    _settle_status(claim)
    after = {**summary(claim), "level": share.level, "district_code": share.district_code}
    record(officer, "pay_claim", claim, district_code=share.district_code, before=before, after={**after, "reference": reference, "paid_fen": share.amount_fen})  # fmt: skip
    return claim


def claim_payment_key(claim: Claim, program_id: int) -> str:
    """One payment per (period, payee, programme): a claim filed again after a rejection can never pay
    the same programme's debt twice."""
    return f"claim:{claim.period}:{claim.payee_kind}:{claim.payee_id}:{program_id}"


def _paid_by_payout(claim: Claim, program_id: int) -> bool:
    from_payouts = f"payout:{claim.period}:{claim.payee_kind}:{claim.payee_id}:{program_id}"
    return db.session.scalar(select(JournalTransaction.id).where(JournalTransaction.unique_key == from_payouts)) is not None  # fmt: skip


def paid_through_claim(period: str, payee_kind: str, payee_id: int, program_id: int) -> bool:
    """Whether a claim already paid this programme's debt to the payee for the period (payouts then
    pay nothing more)."""
    key = f"claim:{period}:{payee_kind}:{payee_id}:{program_id}"
    return db.session.scalar(select(JournalTransaction.id).where(JournalTransaction.unique_key == key)) is not None  # fmt: skip
