"""Claims pages (兑付): payees (``/lab/claims``, ``/provider/claims``) see their closed months with the
amount they may claim, file a claim with its invoice number and scans and follow each office's
decision; finance (``/finance/claims``) works through its queue and, on a claim's page, approves or
rejects its share and marks it paid, each after a ticked confirmation.

Every change goes through ``vouchers.claims`` and ``vouchers.claim_decisions``, as the JSON API does.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from booking.core.body_limits import MB, body_limit
from booking.core.db import db
from booking.core.errors import DomainError
from booking.core.i18n import current_language, format_yuan
from booking.core.storage import storage
from booking.web.access import page
from booking.web.blueprint import blp
from booking.web.claim_forms import (
    ApproveClaimForm,
    AttachmentForm,
    FileClaimForm,
    PayClaimForm,
    RejectClaimForm,
)
from booking.web.errors import refusal_message, show_refusal
from booking.web.finance import all_districts, user_names
from vouchers import claim_decisions, claim_queue, claims
from vouchers.claims import MAX_ATTACHMENT_BYTES
from vouchers.models import Claim

CLAIM_STATUS_WORDS = {
    "submitted": _l("Submitted"),
    "partly_approved": _l("Partly approved"),
    "approved": _l("Approved"),
    "partly_paid": _l("Partly paid"),
    "paid": _l("Paid"),
    "rejected": _l("Rejected"),
}
SHARE_STATUS_WORDS = {
    "pending": _l("Waiting for a decision"),
    "approved": _l("Approved"),
    "rejected": _l("Rejected"),
    "paid": _l("Paid"),
}
CLAIM_WORDS = {
    "period_open": _l("That month is not closed yet: claims are filed once it is closed."),
    "already_claimed": _l("There is already a claim for this month."),
    "nothing_to_claim": _l("Nothing was settled to you in that month."),
    "not_your_payee": _l("This is another payee's claim."),
    "already_decided": _l("Your office has already decided its share; reload the page."),
    "claim_rejected": _l("Another office rejected this claim."),
    "already_paid": _l("Your office has already paid its share."),
    "not_approved": _l("Every office must approve the claim before it is paid."),
    "no_share": _l("Your office has no share of this claim."),
    "unsupported_file_type": _l("Attach a PDF or an image."),
    "empty_file": _l("The file is empty."),
    "payload_too_large": _l("An attachment is at most 20 MB."),
}
# refusals about the month itself (its form is no longer shown: a claim exists, or nothing to claim)
MONTH_REFUSALS = ("already_claimed", "period_open", "nothing_to_claim", "not_your_payee")
UPLOAD_LIMIT = MAX_ATTACHMENT_BYTES + MB // 4  # the form's other fields and the multipart framing


@blp.app_context_processor
def _claim_words():
    return {"claim_status_words": CLAIM_STATUS_WORDS, "share_status_words": SHARE_STATUS_WORDS}


def district_names() -> dict[str, str]:
    return {d.code: d.display_name(current_language()) for d in all_districts()}


def _refused(form, error: DomainError, fields: dict) -> None:
    show_refusal(form, error, fields, refusal_message(error, CLAIM_WORDS))


# --- payees --------------------------------------------------------------------------------------------


def _payee_page(overrides: dict | None = None, status: int = 200):
    """One section per payee of the user: closed months to claim (a form each), then its claims."""
    sections = []
    for kind, payee_id in claims.payees_of(current_user):
        months = claims.claimable_periods(kind, payee_id)
        forms = {}
        for month in months:
            key = f"{kind}-{payee_id}-{month['period']}"
            if month["claim"] is None:
                forms[key] = (overrides or {}).get(key) or FileClaimForm(
                    prefix=f"claim-{key}", formdata=None, payee=f"{kind}-{payee_id}", period=month["period"]
                )
        filed = claims.visible_claims(current_user, {"payee_kind": kind, "payee_id": payee_id})
        sections.append(
            {
                "kind": kind,
                "id": payee_id,
                "name": claims.payee_name(kind, payee_id),
                "months": months,
                "forms": forms,
                "claims": list(db.session.scalars(filed.order_by(Claim.id.desc()).limit(100))),
            }
        )
    return render_template(
        "claims/payee.html", sections=sections, district_names=district_names(), back=_console()
    ), status


def _console() -> str:
    return "web.lab_console" if current_user.role == "lab_manager" else "web.provider_console"


@blp.route("/lab/claims")
@page("lab_manager")
def lab_claims():
    return _payee_page()


@blp.route("/provider/claims")
@page("provider")
def provider_claims():
    return _payee_page()


@blp.route("/claims", methods=["POST"])
@page("lab_manager", "provider")  # the same roles as POST /api/v1/claims
@body_limit(UPLOAD_LIMIT)
def claim_file():
    # each month's form is prefixed with its payee and month: find which one was sent
    sent = [n for n in request.form if n.startswith("claim-") and n.endswith("-payee")]
    if len(sent) != 1:
        abort(400)
    key = sent[0][len("claim-") : -len("-payee")]
    form = FileClaimForm(prefix=f"claim-{key}")
    if not form.validate_on_submit():
        return _payee_page({key: form}, 422)
    kind, payee_id = form.payee.data.split("-")
    try:
        upload = form.file.data
        scans = [(upload.stream, upload.filename, upload.mimetype)] if getattr(upload, "filename", "") else []
        claim = claims.file_claim_with_scans(
            current_user,
            scans,
            payee_kind=kind,
            payee_id=int(payee_id),
            period=form.period.data,
            invoice_number=" ".join(form.invoice_number.data.split()),
            note=(form.note.data or "").strip(),
        )
    except DomainError as error:
        if error.code in MONTH_REFUSALS:  # the month's form is gone from the page: say it atop
            flash(refusal_message(error, CLAIM_WORDS), "error")
        else:
            _refused(form, error, {"invoice_number": form.invoice_number, "file": form.file})
        return _payee_page({key: form}, error.status)
    flash(_("Claim filed: %(amount)s.", amount=format_yuan(claim.amount_fen)), "success")
    return redirect(url_for("web.claim_page", claim_id=claim.id))


# --- one claim (payees and finance) ------------------------------------------------------------------


def _claim_page(claim_id: int, forms: dict | None = None, status: int = 200):
    claim = claims.claim_for(current_user, claim_id)
    mine = claims.share_of(current_user, claim)
    forms = forms or {}
    if mine is not None and claim.status != "rejected":
        if mine.status == "pending":
            forms.setdefault("approve", ApproveClaimForm(prefix="approve", formdata=None))
            forms.setdefault("reject", RejectClaimForm(prefix="reject", formdata=None))
        elif mine.status == "approved" and claim.status in ("approved", "partly_paid"):
            forms.setdefault("pay", PayClaimForm(prefix="pay", formdata=None))
    if (claim.payee_kind, claim.payee_id) in claims.payees_of(current_user) and claim.status != "rejected":
        forms.setdefault("attach", AttachmentForm(prefix="attach", formdata=None))
    people = user_names({s.decided_by_id for s in claim.shares} | {s.paid_by_id for s in claim.shares})
    return render_template(
        "claims/claim.html",
        claim=claim,
        payee_name=claims.payee_name(claim.payee_kind, claim.payee_id),
        mine=mine,
        forms=forms,
        people=people,
        district_names=district_names(),
        is_payee=(claim.payee_kind, claim.payee_id) in claims.payees_of(current_user),
    ), status


@blp.route("/claims/<int:claim_id>")
@page("lab_manager", "provider", "finance", "admin")
def claim_page(claim_id: int):
    return _claim_page(claim_id)


@blp.route("/claims/<int:claim_id>/attachments", methods=["POST"])
@page("lab_manager", "provider")
@body_limit(UPLOAD_LIMIT)
def claim_attach(claim_id: int):
    claims.check_claimant(current_user, claims.claim_for(current_user, claim_id))
    form = AttachmentForm(prefix="attach")
    if not form.validate_on_submit():
        return _claim_page(claim_id, {"attach": form}, 422)
    upload = form.file.data
    try:
        claims.attach(
            current_user, claim_id, upload.stream, filename=upload.filename, content_type=upload.mimetype
        )
    except DomainError as error:
        _refused(form, error, {"file": form.file})
        return _claim_page(claim_id, {"attach": form}, error.status)
    flash(_("File attached."), "success")
    return redirect(url_for("web.claim_page", claim_id=claim_id))


@blp.route("/claims/<int:claim_id>/attachments/<int:attachment_id>")
@page("lab_manager", "provider", "finance", "admin")
def claim_attachment(claim_id: int, attachment_id: int):
    attachment = claims.attachment_for(current_user, claim_id, attachment_id)
    return storage.send(attachment.key, filename=attachment.filename, content_type=attachment.content_type)


def _decision(claim_id: int, name: str, form, act, fields: dict, done: str):
    if not form.validate_on_submit():
        return _claim_page(claim_id, {name: form}, 422)
    try:
        act()
    except DomainError as error:
        _refused(form, error, fields)
        return _claim_page(claim_id, {name: form}, error.status)
    flash(done, "success")
    return redirect(url_for("web.claim_page", claim_id=claim_id))


@blp.route("/claims/<int:claim_id>/approve", methods=["POST"])
@page("finance")  # the same role as POST /api/v1/claims/{id}/approve
def claim_approve(claim_id: int):
    claims.claim_for(current_user, claim_id)
    form = ApproveClaimForm(prefix="approve")
    act = lambda: claim_decisions.approve(current_user, claim_id)  # noqa: E731
    return _decision(claim_id, "approve", form, act, {}, _("Your office's share is approved."))


@blp.route("/claims/<int:claim_id>/reject", methods=["POST"])
@page("finance")
def claim_reject(claim_id: int):
    claims.claim_for(current_user, claim_id)
    form = RejectClaimForm(prefix="reject")
    act = lambda: claim_decisions.reject(current_user, claim_id, form.reason.data)  # noqa: E731
    return _decision(claim_id, "reject", form, act, {"reason": form.reason}, _("The claim is rejected."))


@blp.route("/claims/<int:claim_id>/pay", methods=["POST"])
@page("finance")
def claim_pay(claim_id: int):
    claims.claim_for(current_user, claim_id)
    form = PayClaimForm(prefix="pay")
    act = lambda: claim_decisions.pay(current_user, claim_id, " ".join((form.reference.data or "").split()))  # noqa: E731
    return _decision(
        claim_id, "pay", form, act, {"reference": form.reference}, _("Your office's share is marked paid.")
    )


# --- finance queue -----------------------------------------------------------------------------------


@blp.route("/finance/claims")
@page("finance", "admin")
def finance_claims():
    return render_template(
        "finance/claims.html",
        queue=claim_queue.finance_queue(current_user),
        district_names=district_names(),
        payee_name=claims.payee_name,
    )
