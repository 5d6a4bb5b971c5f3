"""Changing a programme in the browser: its name, budget, last day and rules (the programme's finance
office or an admin), through ``vouchers.program_changes`` like PATCH /api/v1/programs/{id}."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from booking.core.errors import DomainError
from booking.web.access import page
from booking.web.blueprint import blp
from booking.web.errors import refusal_message, show_refusal
from booking.web.voucher_forms import ProgramEditForm
from booking.web.vouchers import ERROR_CODE_MESSAGES, INVALID_MESSAGES, render_page
from vouchers import program_changes, programs

EDIT_MESSAGES = {
    **ERROR_CODE_MESSAGES,
    "below_issued": _l("The budget cannot fall below what is already issued as vouchers."),
    "unknown_reference": _l("A lab or provider ticked no longer exists; reload the page."),
}
EDIT_INVALID_MESSAGES = {
    **INVALID_MESSAGES,
    "A programme's last day can only move later.": _l("The last day can only move later."),
    "The budget would fall below the cap per team.": _l("The budget may not fall below the cap per team."),
}


@blp.route("/programs/<int:program_id>/edit", methods=["GET", "POST"])
@page("finance", "admin")
def program_edit(program_id: int):
    program = programs.program_for(current_user, program_id)
    if current_user.role != "admin" and not programs.is_officer(current_user, program):
        abort(403)
    form = ProgramEditForm()
    form.offer_payees()
    if request.method == "GET":
        form.name.data, form.budget_yuan.data, form.valid_to.data = (
            program.name,
            program.budget_fen,
            program.valid_to,
        )
        form.fill_rules(program)
        return render_page("vouchers/program_edit.html", program=program, form=form)
    if not form.validate_on_submit():
        return render_page("vouchers/program_edit.html", 422, program=program, form=form)
    try:
        program_changes.update_program(current_user, program.id, form.changes())
    except DomainError as error:
        message = refusal_message(error, EDIT_MESSAGES, by_text=EDIT_INVALID_MESSAGES)
        fields = {
            "name": form.name,
            "budget_fen": form.budget_yuan,
            "valid_to": form.valid_to,
        } | form.rule_fields()
        show_refusal(form, error, fields, message)
        return render_page("vouchers/program_edit.html", error.status, program=program, form=form)
    flash(_("Programme changed."), "success")
    return redirect(url_for("web.program_detail", program_id=program.id))
