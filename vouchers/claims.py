"""Redemption claims (兑付): after a period closes, a lab or provider claims the subsidy settled to it
in that period, with its invoice number and scans; each finance office with a share decides and pays
its own (``vouchers.claim_decisions``).

What a claim covers is computed, never typed: the period's settlements of the payee (count, municipal
and district fen), split into one share per level that owes it — the municipal programmes' share and
one share per district whose programmes subsidised the payee's teams — read from the settle postings
to the payee's payable accounts, programme by programme. A closed period never changes, so the
figures stay true. Adjustments settled later (late usage, refunds) are dated in the period open when
they were settled and belong to that period's claim.

A payee has at most one live claim per period (the database's partial unique index ``uq_claims_live``
decides between concurrent filings); a rejected claim may be filed again.
"""

from __future__ import annotations

from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, unknown_reference
from booking.core.storage import storage
from booking.models import Provider, User
from booking.people import audit
from instruments.models import Lab, LabManager
from vouchers.models import (
    AccountingPeriod,
    Claim,
    ClaimAttachment,
    ClaimShare,
    JournalTransaction,
    LedgerAccount,
    Posting,
    Program,
    Settlement,
)
from vouchers.scope import check_period, is_municipal

MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
ATTACHMENT_TYPES = ("application/pdf", "image/jpeg", "image/png", "image/gif", "image/webp", "image/tiff")
PAYEE_KINDS = ("lab", "provider")


class AttachmentTooLarge(DomainError):
    status = 413
    code = "payload_too_large"


# --- who is who ------------------------------------------------------------------------------------------


def payees_of(user: User) -> list[tuple[str, int]]:
    """The payees a user files claims for: the labs they manage, their provider."""
    if user.role == "lab_manager":
        lab_ids = db.session.scalars(select(LabManager.lab_id).where(LabManager.user_id == user.id))
        return [("lab", lab_id) for lab_id in sorted(lab_ids)]
    if user.role == "provider" and user.provider_id is not None:
        return [("provider", user.provider_id)]
    return []


def payee_name(payee_kind: str, payee_id: int) -> str:
    found = db.session.get(Lab if payee_kind == "lab" else Provider, payee_id)
    return found.name if found is not None else ""


def check_payee(user: User, payee_kind: str, payee_id: int) -> tuple[str, int]:
    """The payee named in a body, if the user claims for it: unknown → 422, another's → 403."""
    if payee_kind not in PAYEE_KINDS:
        raise Invalid("Unknown payee kind.", details={"payee_kind": ["lab or provider."]})
    if db.session.get(Lab if payee_kind == "lab" else Provider, payee_id) is None:
        raise unknown_reference("payee_id", payee_kind)
    if (payee_kind, payee_id) not in payees_of(user):
        raise Forbidden("You may claim only for your own lab or provider.", code="not_your_payee")
    return payee_kind, payee_id


def is_closed(period: str) -> bool:
    return db.session.get(AccountingPeriod, period) is not None


# --- what a payee may claim ------------------------------------------------------------------------------


def claimable(payee_kind: str, payee_id: int, period: str) -> dict:
    """The subsidy settled to the payee in ``period``: totals from the settlements, and one share per
    level (municipal; each district) with the programmes that owe it (``{program id: fen}``)."""
    count, municipal, district = db.session.execute(
        select(
            func.count(Settlement.id),
            func.coalesce(func.sum(Settlement.municipal_fen), 0),
            func.coalesce(func.sum(Settlement.district_fen), 0),
        ).where(
            Settlement.period == period,
            Settlement.payee_kind == payee_kind,
            Settlement.payee_id == payee_id,
        )
    ).one()
    owed = db.session.execute(
        select(Program.id, Program.level, Program.district_code, func.sum(Posting.amount_fen))
        .join(LedgerAccount, LedgerAccount.program_id == Program.id)
        .join(Posting, Posting.account_id == LedgerAccount.id)
        .join(JournalTransaction, JournalTransaction.id == Posting.transaction_id)
        .where(
            JournalTransaction.kind == "settle",
            JournalTransaction.period == period,
            LedgerAccount.kind == "payable",
            LedgerAccount.payee_kind == payee_kind,
            LedgerAccount.payee_id == payee_id,
        )
        .group_by(Program.id, Program.level, Program.district_code)
        .order_by(Program.id)
    )
    shares: dict[tuple[str, str | None], dict] = {}
    for program_id, level, district_code, amount in owed:
        if not amount:
            continue
        share = shares.setdefault(
            (level, district_code),
            {"level": level, "district_code": district_code, "amount_fen": 0, "programs": {}},
        )
        share["amount_fen"] += int(amount)
        share["programs"][str(program_id)] = int(amount)
    ordered = sorted(
        (s for s in shares.values() if s["amount_fen"] > 0),
        key=lambda s: (s["level"] != "municipal", s["district_code"] or ""),
    )
    return {
        "period": period,
        "bookings": int(count),
        "municipal_fen": int(municipal),
        "district_fen": int(district),
        "amount_fen": int(municipal) + int(district),
        "shares": ordered,
    }


def live_claim(payee_kind: str, payee_id: int, period: str) -> Claim | None:
    return db.session.scalar(
        select(Claim).where(
            Claim.payee_kind == payee_kind,
            Claim.payee_id == payee_id,
            Claim.period == period,
            Claim.status != "rejected",
        )
    )


def claimable_periods(payee_kind: str, payee_id: int) -> list[dict]:
    """The closed periods in which something was settled to the payee, newest first: the amount it
    may claim and its live claim there, if any (the payee's claims page)."""
    closed = set(db.session.scalars(select(AccountingPeriod.period)))
    periods = db.session.scalars(
        select(Settlement.period)
        .where(Settlement.payee_kind == payee_kind, Settlement.payee_id == payee_id)
        .group_by(Settlement.period)
        .order_by(Settlement.period.desc())
    )
    rows = []
    for period in periods:
        if period not in closed:
            continue
        figures = claimable(payee_kind, payee_id, period)
        if figures["amount_fen"] > 0:
            rows.append({**figures, "claim": live_claim(payee_kind, payee_id, period)})
    return rows


# --- filing ----------------------------------------------------------------------------------------------


def file_claim(
    user: User, *, payee_kind: str, payee_id: int, period: str, invoice_number: str, note: str = ""
) -> Claim:
    """File the payee's claim for a closed period (409 ``period_open``, ``already_claimed``; 422
    ``nothing_to_claim`` when no subsidy was settled to it there)."""
    payee_kind, payee_id = check_payee(user, payee_kind, payee_id)
    check_period(period)
    if not is_closed(period):
        raise Conflict("The period is still open: claims are filed once it is closed.", code="period_open")
    if live_claim(payee_kind, payee_id, period) is not None:
        raise _already_claimed()
    figures = claimable(payee_kind, payee_id, period)
    if figures["amount_fen"] <= 0 or not figures["shares"]:
        raise Invalid(
            "No subsidy was settled to this payee in this period.",
            code="nothing_to_claim",
            details={"period": ["Nothing to claim in this period."]},
        )
    now = clock.now()
    claim = Claim(
        payee_kind=payee_kind,
        payee_id=payee_id,
        period=period,
        invoice_number=invoice_number,
        note=note or "",
        status="submitted",
        amount_fen=figures["amount_fen"],
        municipal_fen=figures["municipal_fen"],
        district_fen=figures["district_fen"],
        bookings=figures["bookings"],
        reason="",
        created_by_id=user.id,
        created_at=now,
        updated_at=now,
    )
    try:
        with db.session.begin_nested():  # a concurrent filing wins the live-claim index: 409, not 500
            db.session.add(claim)
            db.session.flush()
    except IntegrityError:
        raise _already_claimed() from None
    for share in figures["shares"]:
        db.session.add(
            ClaimShare(
                claim_id=claim.id,
                level=share["level"],
                district_code=share["district_code"],
                amount_fen=share["amount_fen"],
                programs=share["programs"],
                status="pending",
                reason="",
                reference="",
            )
        )
    db.session.flush()
    db.session.refresh(claim)
    record(user, "file_claim", claim, after=summary(claim))
    return claim


def file_claim_with_scans(user: User, scans: list[tuple], **fields) -> Claim:
    """File a claim with its scans (``(stream, filename, content type)``), all or nothing: a refused
    scan leaves no claim behind, even for the page drawn in the same request."""
    with db.session.begin_nested():
        claim = file_claim(user, **fields)
        for stream, filename, content_type in scans:
            attach(user, claim.id, stream, filename=filename, content_type=content_type)
    return claim


def _already_claimed() -> Conflict:
    return Conflict("This payee already has a claim for this period.", code="already_claimed")


def summary(claim: Claim) -> dict:
    """What the audit log keeps of a claim."""
    return {
        "payee": f"{claim.payee_kind}:{claim.payee_id}",
        "period": claim.period,
        "status": claim.status,
        "invoice_number": claim.invoice_number,
        "amount_fen": claim.amount_fen,
    }


def record(actor: User, action: str, claim: Claim, *, district_code: str | None = None, **kw) -> None:
    audit.record(actor, action, claim, object_type="claims", object_id=claim.id, district_code=district_code, **kw)  # fmt: skip


# --- who sees which claim --------------------------------------------------------------------------------


def visible_claims(user: User, filters: dict | None = None) -> Select[tuple[Claim]]:
    """Payee users: their payees' claims; municipal finance and admins: all; district finance: the
    claims with a share of its district."""
    query = select(Claim)
    if user.role == "admin" or (user.role == "finance" and is_municipal(user)):
        pass
    elif user.role == "finance":
        query = query.where(
            Claim.id.in_(select(ClaimShare.claim_id).where(ClaimShare.district_code == user.district_code))
        )
    else:
        payees = payees_of(user)
        if not payees:
            return query.where(False)
        query = query.where(
            or_(*[(Claim.payee_kind == kind) & (Claim.payee_id == payee_id) for kind, payee_id in payees])
        )
    for name in ("status", "period", "payee_kind", "payee_id"):
        if (filters or {}).get(name) is not None:
            query = query.where(getattr(Claim, name) == filters[name])
    return query


def claim_for(user: User, claim_id: int, *, lock: bool = False) -> Claim:
    """A claim the user may see: another payee's → 403; a district office's outside its district,
    or none at all → 404. ``lock`` takes its row for a decision (decisions on one claim queue)."""
    query = select(Claim).where(Claim.id == claim_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    claim = db.session.scalar(query)
    if claim is None:
        raise NotFound("No such claim.")
    if user.role in ("lab_manager", "provider"):
        if (claim.payee_kind, claim.payee_id) not in payees_of(user):
            raise Forbidden("This is another payee's claim.", code="not_your_payee")
        return claim
    if user.role == "admin" or (user.role == "finance" and is_municipal(user)):
        return claim
    if user.role == "finance" and any(s.district_code == user.district_code for s in claim.shares):
        return claim
    if user.role == "finance":
        raise NotFound("No such claim.")
    raise Forbidden("Your role may not see claims.")


def share_of(officer: User, claim: Claim) -> ClaimShare | None:
    """The share a finance officer decides and pays: municipal finance the municipal share, a district
    office its district's."""
    if officer.role != "finance":
        return None
    for share in claim.shares:
        if share.district_code == officer.district_code:
            return share
    return None


# --- attachments -----------------------------------------------------------------------------------------


def attach(user: User, claim_id: int, stream, *, filename: str, content_type: str) -> ClaimAttachment:
    """Keep an invoice or contract scan (PDF or image, at most 20 MB) with the claim: its payee's
    users only."""
    claim = check_claimant(user, claim_for(user, claim_id))
    content_type = (content_type or "").split(";")[0].strip().lower()
    if content_type not in ATTACHMENT_TYPES:
        raise Invalid(
            "Attach a PDF or an image.",
            code="unsupported_file_type",
            details={"file": ["PDF, JPEG, PNG, GIF, WebP or TIFF."]},
        )
    filename = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()[:255] or "attachment"
    stored = storage.put(stream, filename=filename, content_type=content_type)
    try:
        if stored.size > MAX_ATTACHMENT_BYTES:
            raise AttachmentTooLarge("An attachment is at most 20 MB.")
        if stored.size == 0:
            raise Invalid("The file is empty.", code="empty_file", details={"file": ["The file is empty."]})
        attachment = ClaimAttachment(
            claim_id=claim.id,
            key=stored.key,
            filename=stored.filename,
            size=stored.size,
            sha256=stored.sha256,
            content_type=stored.content_type,
            uploaded_by_id=user.id,
            created_at=clock.now(),
        )
        db.session.add(attachment)
        db.session.flush()
        record(user, "claim_attachment", claim, after={"filename": attachment.filename, "size": attachment.size, "sha256": attachment.sha256})  # fmt: skip
    except Exception:
        storage.delete(stored.key)
        raise
    return attachment


def check_claimant(user: User, claim: Claim) -> Claim:
    """The claim, if the user files for its payee (finance reads attachments but adds none)."""
    if (claim.payee_kind, claim.payee_id) not in payees_of(user):
        raise Forbidden("Only the claimant adds attachments.", code="not_your_payee")
    return claim


def attachment_for(user: User, claim_id: int, attachment_id: int) -> ClaimAttachment:
    claim = claim_for(user, claim_id)
    attachment = db.session.get(ClaimAttachment, attachment_id)
    if attachment is None or attachment.claim_id != claim.id:
        raise NotFound("No such attachment.")
    return attachment
