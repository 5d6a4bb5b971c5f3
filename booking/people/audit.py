"""The audit log of officer actions: who did what to which object, before and after.

Each operation records itself with one line, inside its own transaction, so an action and its
entry are committed (or rolled back) together::

    audit.record(officer, "approve_application", application, before=..., after=...)
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Select, select

from booking.core import clock
from booking.core.db import db
from booking.models import User
from vouchers.models import AuditEntry

ACTIONS = (
    "approve_application",
    "reject_application",
    "revoke_voucher",
    "verify_team",
    "resolve_exception",
    "close_period",
    "payout",
    "undo_check_in",  # a lab manager's correction of a mistaken check-in (it decides the billed time)
    "update_user",  # an admin's change of a user (booking.people.user_admin)
    "deactivate_user",
    "reactivate_user",
    "send_password_reset",  # an admin mailed a user a reset link
    "grant_training",  # a lab manager granted a training request (instruments.training)
    "decline_training",
    "update_program",  # a programme's finance office changed its budget, last day or rules
    "file_claim",  # a lab or provider filed a redemption claim (vouchers.claims)
    "claim_attachment",
    "approve_claim",  # a finance office approved / rejected / paid its share of a claim
    "reject_claim",
    "pay_claim",
)


def _plain(value):
    """JSON-safe copy: instants as ISO 8601, decimals as strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _district_of(obj) -> str | None:
    if getattr(obj, "district_code", None) is not None:
        return obj.district_code
    program = getattr(obj, "program", None)
    return getattr(program, "district_code", None)


def record(
    actor: User | None,
    action: str,
    obj,
    *,
    before: dict | None = None,
    after: dict | None = None,
    object_type: str | None = None,
    object_id=None,
    district_code: str | None = None,
) -> AuditEntry:
    """Append one entry (flushed, never committed: the caller's transaction decides)."""
    entry = AuditEntry(
        at=clock.now(),
        actor_id=actor.id if actor is not None else None,
        action=action,
        object_type=object_type or getattr(obj, "__tablename__", type(obj).__name__.lower()),
        object_id=str(object_id if object_id is not None else obj.id),
        district_code=district_code if district_code is not None else _district_of(obj),
        before=_plain(before),
        after=_plain(after),
    )
    db.session.add(entry)
    db.session.flush()
    return entry


FILTERED_FIELDS = ("action", "actor_id", "object_type", "object_id", "district_code")


def filtered_entries(user: User, filters: dict) -> Select[tuple[AuditEntry]]:
    """The entries the user may see, narrowed by each field given (``None`` means any) and by the
    instants ``since`` (inclusive) and ``until`` (exclusive): the API's list and the audit page."""
    query = visible_entries(user)
    for name in FILTERED_FIELDS:
        if filters.get(name) is not None:
            query = query.where(getattr(AuditEntry, name) == filters[name])
    if filters.get("since"):
        query = query.where(AuditEntry.at >= filters["since"])
    if filters.get("until"):
        query = query.where(AuditEntry.at < filters["until"])
    return query


def visible_entries(user: User) -> Select[tuple[AuditEntry]]:
    """A district finance office sees its district's entries; municipal finance and admins all."""
    query = select(AuditEntry)
    if user.role == "admin" or (user.role == "finance" and user.district_code is None):
        return query
    if user.role == "finance":
        return query.where(AuditEntry.district_code == user.district_code)
    return query.where(False)
