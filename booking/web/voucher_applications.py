"""Voucher applications: the queue of applications a user may see, and the programme's finance office
approving one (issuing a voucher, perhaps for less than asked) or rejecting it with a reason.

A decision goes through ``vouchers.programs``; a refused one rolls back and is shown beside its form,
on the queue or on the programme's page, whichever it was sent from.
"""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from booking.core.db import db
from booking.core.errors import DomainError, Forbidden
from booking.core.i18n import format_yuan
from booking.web.access import page
from booking.web.blueprint import blp
from booking.web.voucher_forms import ApproveForm, RejectApplicationForm
from booking.web.vouchers import (
    approved_amounts,
    decision_forms,
    pending_and_decided,
    program_page,
    render_page,
    show_error,
)
from vouchers import programs
from vouchers.models import Application, Program


def _applications_page(overrides: dict | None = None, status: int = 200):
    pending, decided = pending_and_decided(programs.visible_applications(current_user))
    return render_page(
        "vouchers/applications.html",
        status,
        pending=pending,
        decided=decided,
        approved_amounts=approved_amounts(decided),
        decision_forms=decision_forms(pending, overrides),
    )


@blp.route("/applications")
@page()
def application_list():
    return _applications_page()


def _decidable(application_id: int) -> Application:
    """Permission first (404 unseen, 403 not its finance office), before any form is read."""
    application = programs.application_for(current_user, application_id)
    if not programs.is_officer(current_user, application.program):
        raise Forbidden("Only the programme's finance office decides applications.")
    return application


def _from_queue() -> bool:
    return request.args.get("from") == "queue"


def _decision_done(program_id: int):
    if _from_queue():
        return redirect(url_for("web.application_list"))
    return redirect(url_for("web.program_detail", program_id=program_id, _anchor="applications"))


def _decision_failed(application_id: int, program_id: int, forms: dict, status: int):
    overrides = {application_id: forms}
    if _from_queue():
        return _applications_page(overrides, status)
    return program_page(db.session.get(Program, program_id), overrides, status)


@blp.route("/applications/<int:application_id>/approve", methods=["POST"])
@page()
def application_approve(application_id: int):
    application = _decidable(application_id)
    program_id = application.program_id
    form = ApproveForm(prefix=f"approve-{application_id}")
    if not form.validate_on_submit():
        return _decision_failed(application_id, program_id, {"approve": form}, 422)
    try:
        voucher = programs.approve(current_user, application_id, form.amount_yuan.data)
    except DomainError as error:
        show_error(form, error, {"amount_fen": form.amount_yuan})
        return _decision_failed(application_id, program_id, {"approve": form}, error.status)
    flash(
        _(
            "Approved: a voucher of %(amount)s was issued to %(team)s.",
            amount=format_yuan(voucher.face_value_fen),
            team=application.team.name,
        ),
        "success",
    )
    return _decision_done(program_id)


@blp.route("/applications/<int:application_id>/reject", methods=["POST"])
@page()
def application_reject(application_id: int):
    application = _decidable(application_id)
    program_id = application.program_id
    form = RejectApplicationForm(prefix=f"reject-{application_id}")
    if not form.validate_on_submit():
        return _decision_failed(application_id, program_id, {"reject": form}, 422)
    try:
        programs.reject(current_user, application_id, " ".join(form.reason.data.split()))
    except DomainError as error:
        show_error(form, error, {"reason": form.reason})
        return _decision_failed(application_id, program_id, {"reject": form}, error.status)
    flash(_("Application of %(team)s rejected.", team=application.team.name), "success")
    return _decision_done(program_id)
