"""Words for the codes finance pages show: one mapping per vocabulary (exception kinds and their
detail fields, audit actions, audited objects and fields, the values those fields take), used
wherever such a code reaches a person, and one renderer that turns a stored dict (exception
details, audit before/after) into labelled, readable facts: money as ¥, rates as %, instants in
Chongqing time, programmes and payees by name. The JSON API keeps the codes."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from booking.core.db import db
from booking.core.i18n import format_yuan
from booking.models import Provider, Team
from instruments.models import Lab
from instruments.rules import zone
from vouchers import ledger
from vouchers.models import Program

# what a voucher programme may cover (its resource kinds); the programme form's checkboxes too
RESOURCE_KINDS = {
    "compute": _l("compute"),
    "instrument": _l("lab instruments"),
    "service": _l("testing services"),
}

# finance's queue and the provider's usage page name them alike
EXCEPTION_KINDS = {
    "unknown_booking": _l("unknown booking"),
    "usage_outside_window": _l("usage outside the booked time"),
    "over_tolerance": _l("usage more than 20% above the estimate"),
    "after_expiry": _l("usage after the voucher expired"),
    "capture_failed": _l("card charge failed"),
    "after_settlement": _l("usage reported after the booking was settled"),
}

# the fields of exception details (reconciliation, usage intake, payments, settling)
EXCEPTION_FIELDS = {
    "external_id": _l("Provider's record id"),
    "reported_booking_id": _l("Booking named by the provider"),
    "booking_id": _l("Booking"),
    "gpu_hours": _l("GPU-hours"),
    "records": _l("Usage records"),
    "actual_cost_fen": _l("Actual cost"),
    "estimated_cost_fen": _l("Estimated cost"),
    "first_usage": _l("First use"),
    "last_usage": _l("Last use"),
    "started_at": _l("Started"),
    "ended_at": _l("Ended"),
    "tolerance_bp": _l("Tolerance"),
    "voucher_id": _l("Voucher"),
    "action": _l("Card operation"),
    "due_fen": _l("Amount due"),
    "error": _l("Error"),
    "period": _l("Month"),
    "settled_at": _l("Settled at"),
    "settlement_period": _l("Settled in month"),
    "usage_record_id": _l("Usage record"),
    "settled_period": _l("Settled in month"),
}

AUDIT_ACTIONS = {
    "approve_application": _l("Approved a voucher application"),
    "reject_application": _l("Rejected a voucher application"),
    "revoke_voucher": _l("Revoked a voucher"),
    "verify_team": _l("Verified a team"),
    "resolve_exception": _l("Resolved an exception"),
    "close_period": _l("Closed a period"),
    "payout": _l("Marked a payee paid"),
    "undo_check_in": _l("Undid a check-in"),
    "update_user": _l("Changed a user"),
    "deactivate_user": _l("Deactivated a user"),
    "reactivate_user": _l("Reactivated a user"),
    "send_password_reset": _l("Sent a password reset link"),
    "sso_sign_up": _l("Joined by single sign-on"),
    "sso_link": _l("Linked to single sign-on"),
    "grant_training": _l("Granted a training request"),
    "decline_training": _l("Declined a training request"),
    "update_program": _l("Changed a programme"),
    "file_claim": _l("Filed a redemption claim"),
    "claim_attachment": _l("Attached a file to a claim"),
    "approve_claim": _l("Approved a claim share"),
    "reject_claim": _l("Rejected a claim share"),
    "pay_claim": _l("Paid a claim share"),
}

AUDIT_OBJECTS = {
    "training_requests": _l("Training request"),
    "voucher_applications": _l("Application"),
    "vouchers": _l("Voucher"),
    "teams": _l("Team"),
    "finance_exceptions": _l("Exception"),
    "accounting_periods": _l("Period"),
    "payee": _l("Payee"),
    "bookings": _l("Booking"),
    "users": _l("User"),
    "programs": _l("Programme"),
    "claims": _l("Redemption claim"),
}

# the fields audit entries record before and after an action
AUDIT_FIELDS = {
    "status": _l("Status"),
    "amount_fen": _l("Amount"),
    "voucher_id": _l("Voucher"),
    "reason": _l("Reason"),
    "returned_fen": _l("Returned to the programme"),
    "resolution": _l("Resolution"),
    "closed": _l("Closed"),
    "verified": _l("Verified"),
    "period": _l("Month"),
    "payee_kind": _l("Payee kind"),
    "payee_id": _l("Payee"),
    "reference": _l("Payment reference"),
    "paid_fen": _l("Paid"),
    "programs": _l("Programmes"),
    # a redemption claim (vouchers.claims.summary) and its attachments
    "payee": _l("Payee"),
    "invoice_number": _l("Invoice number"),
    "level": _l("Level"),
    "filename": _l("File"),
    "size": _l("Size"),
    "sha256": _l("SHA-256"),
    "actual_starts_at": _l("Actual start"),
    # a user's record (booking.people.user_admin.snapshot)
    "name": _l("Name"),
    "role": _l("Role"),
    "district_code": _l("District"),
    "provider_id": _l("Compute provider"),
    "lab_ids": _l("Managed labs"),
    "active": _l("Active"),
    "email": _l("E-mail"),
    "oidc_subject": _l("Single sign-on identity"),
    # a training decision (instruments.training)
    "user_id": _l("User"),
    "instrument_id": _l("Instrument"),
    "expires_at": _l("Qualified until"),
    # a programme's change (vouchers.program_changes)
    "budget_fen": _l("Total budget"),
    "valid_to": _l("Last day"),
    "eligible_payees": _l("Eligible labs and providers"),
    "rate_bp_by_kind": _l("Rate per resource kind"),
    "annual_team_cap_fen": _l("Annual cap per team"),
    "vouchers_extended": _l("Vouchers extended"),
}

# the values of coded fields (statuses, kinds, card operations)
VALUES = {
    "pending": _l("Pending"),
    "approved": _l("Approved"),
    "rejected": _l("Rejected"),
    "active": _l("Active"),
    "revoked": _l("Revoked"),
    "expired": _l("Expired"),
    "open": _l("Open"),
    "resolved": _l("Resolved"),
    "lab": _l("Lab"),
    "provider": _l("Provider"),
    "capture": _l("Charge the held amount"),
    "cancel": _l("Release the card hold"),
    "confirmed": _l("Confirmed"),
    "checked_in": _l("Checked in"),
}


def _instant(text: str) -> str | None:
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        return None
    return finance_time(instant)


def finance_time(instant: datetime | None) -> str:
    """An instant in Chongqing time, to the minute (finance works on Asia/Shanghai months)."""
    if instant is None:
        return "—"
    if instant.tzinfo is None:  # SQLite hands back naive UTC
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(zone(ledger.PERIOD_ZONE)).strftime("%Y-%m-%d %H:%M")


def _percent(bp: int) -> str:
    whole, rest = divmod(int(bp), 100)
    return f"{whole}%" if not rest else f"{whole}.{rest:02d}".rstrip("0") + "%"


def _program_names(ids) -> dict[int, str]:
    wanted = [int(i) for i in ids if isinstance(i, int)]
    if not wanted:
        return {}
    return dict(db.session.execute(select(Program.id, Program.name).where(Program.id.in_(wanted))).all())


def readable_value(field: str, value) -> str:
    """One stored value as a person reads it, chosen by its field's name and type."""
    if field == "eligible_payees":  # a programme's rule: None is any payee
        if not isinstance(value, list):
            return _("Any lab or provider")
        named = [payee_name(p.get("kind"), p.get("id")) for p in value if isinstance(p, dict)]
        return "; ".join(named) or _("None")
    if field == "rate_bp_by_kind" and isinstance(value, dict):
        return "; ".join(f"{RESOURCE_KINDS.get(k, k)} {_percent(v)}" for k, v in value.items()) or "—"
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if field.endswith("_fen") and isinstance(value, int):
        return format_yuan(value)
    if field.endswith("_bp") and isinstance(value, int):
        return _percent(value)
    if field == "programs" and isinstance(value, list):
        names = _program_names(line.get("program_id") for line in value if isinstance(line, dict))
        return "; ".join(
            f"{names.get(line.get('program_id'), '#' + str(line.get('program_id')))} {format_yuan(int(line.get('amount_fen') or 0))}"
            for line in value
            if isinstance(line, dict)
        )
    if field.endswith("_id") and isinstance(value, int):
        return f"#{value}"
    if isinstance(value, str):
        if value in VALUES and field in ("status", "payee_kind", "action"):
            return str(VALUES[value])
        if field.endswith(("_at", "_usage")) and (shown := _instant(value)):
            return shown
        return value
    if isinstance(value, list | dict):
        return _("(%(count)d entries)", count=len(value))
    return str(value)


def readable_facts(data: dict | None, labels: dict) -> list[tuple[str, str]]:
    """(label, value) pairs for a stored dict; a field no vocabulary names is shown as "Other"
    rather than by its code."""
    if not data:
        return []
    facts = []
    for field, value in data.items():
        if field == "payee_id" and data.get("payee_kind") in ("lab", "provider"):
            shown = payee_name(data["payee_kind"], value)  # a payee by name, not its number
        else:
            shown = readable_value(field, value)
        facts.append((str(labels.get(field, _("Other"))), shown))
    return facts


def exception_kind(kind: str) -> str:
    return str(EXCEPTION_KINDS.get(kind, _("Other exception")))


def audit_action(action: str) -> str:
    return str(AUDIT_ACTIONS.get(action, _("Other action")))


def payee_name(kind: str, payee_id) -> str:
    model = {"lab": Lab, "provider": Provider}.get(kind)
    found = db.session.get(model, int(payee_id)) if model and str(payee_id).isdigit() else None
    return found.name if found is not None else f"#{payee_id}"


def audit_object(object_type: str, object_id: str) -> str:
    """'Application #12', 'Period 2026-11', a payee by kind and name."""
    label = str(AUDIT_OBJECTS.get(object_type, _("Object")))
    if object_type == "payee" and ":" in (object_id or ""):
        kind, _sep, number = object_id.partition(":")
        return f"{VALUES.get(kind, label)} {payee_name(kind, number)}"
    if object_type == "accounting_periods":
        return f"{label} {object_id}"
    if object_type == "teams" and str(object_id).isdigit():
        team = db.session.get(Team, int(object_id))
        return f"{label} {team.name}" if team is not None else f"{label} #{object_id}"
    return f"{label} #{object_id}"
