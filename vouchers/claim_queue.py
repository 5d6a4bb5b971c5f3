"""What finance sees of claims: an office's queue (waiting for its decision, approved and waiting for
its payment, paid by it) and the dashboard's figures (shares waiting per level, paid per month)."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from booking.core.db import db
from booking.models import User
from vouchers import ledger
from vouchers.claims import visible_claims
from vouchers.models import Claim, ClaimShare

QUEUE_LIMIT = 200


def _mine(user: User, share: ClaimShare) -> bool:
    return user.role == "finance" and share.district_code == user.district_code


def finance_queue(user: User) -> dict[str, list[tuple[Claim, ClaimShare | None]]]:
    """The office's claims in three lists, oldest first: ``decide`` (its share pending, the claim
    not rejected), ``waiting`` (approved by it, not yet by every office), ``pay`` (its share approved,
    the whole claim approved) and ``paid`` (its share
    paid, newest first). Admins, who decide nothing, see every claim by where it stands."""
    claims = db.session.scalars(
        visible_claims(user).where(Claim.status != "rejected").order_by(Claim.id).limit(QUEUE_LIMIT * 3)
    )
    queue: dict[str, list] = {"decide": [], "waiting": [], "pay": [], "paid": []}
    for claim in claims:
        mine = next((s for s in claim.shares if _mine(user, s)), None)
        if user.role == "admin":
            kind = {"submitted": "decide", "partly_approved": "decide", "paid": "paid"}.get(
                claim.status, "pay"
            )
        elif mine is None:
            continue
        elif mine.status == "pending":
            kind = "decide"
        elif mine.status == "approved":
            kind = "pay" if claim.status in ("approved", "partly_paid") else "waiting"
        else:
            kind = "paid"
        if kind in queue and len(queue[kind]) < QUEUE_LIMIT:
            queue[kind].append((claim, mine))
    queue["paid"].reverse()
    return queue


def claims_overview(user: User, district_code: str | None = None) -> dict:
    """For the dashboard: shares still waiting for a decision or a payment per level (count and fen),
    and shares paid per month (Asia/Shanghai), of the claims the user sees."""
    query = (
        select(ClaimShare)
        .join(Claim, Claim.id == ClaimShare.claim_id)
        .where(Claim.id.in_(visible_claims(user).with_only_columns(Claim.id)), Claim.status != "rejected")
    )
    if user.role == "finance" and user.district_code is not None:
        query = query.where(ClaimShare.district_code == user.district_code)
    elif district_code is not None:
        query = query.where(ClaimShare.district_code == district_code)
    waiting: dict[tuple[str, str | None], dict] = {}
    paid: dict[str, int] = defaultdict(int)
    for share in db.session.scalars(query):
        if share.status == "paid":
            paid[ledger.period_of(share.paid_at)] += share.amount_fen
            continue
        row = waiting.setdefault(
            (share.level, share.district_code),
            {
                "level": share.level,
                "district_code": share.district_code,
                "to_decide": 0,
                "to_pay": 0,
                "fen": 0,
            },
        )
        row["to_decide" if share.status == "pending" else "to_pay"] += 1
        row["fen"] += share.amount_fen
    levels = sorted(waiting.values(), key=lambda r: (r["level"] != "municipal", r["district_code"] or ""))
    months = [{"period": p, "paid_fen": paid[p]} for p in sorted(paid)[-12:]]
    return {"waiting": levels, "paid_by_month": months}
