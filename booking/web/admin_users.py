"""A user's administration page (administrators only): edit name, role and what the role belongs to;
deactivate and reactivate, each after a confirmation step.

They call ``booking.people.user_admin`` like ``PATCH /api/v1/users/{id}``. A refused edit is shown again
with the reasons next to the fields (422) and changes nothing; a refused deactivation (yourself, the
last administrator) is flashed, and the flashed error rolls the request back.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from booking.core.errors import DomainError
from booking.people import accounts, user_admin
from booking.web.access import page
from booking.web.admin import FIELD_WORDS, fill_user_choices
from booking.web.admin_forms import UserEditForm
from booking.web.blueprint import blp
from booking.web.errors import flash_refusal, refusal_message, show_on_named_fields
from booking.web.forms import ActionForm
from instruments import labs

REFUSALS = {
    **FIELD_WORDS,
    "cannot_deactivate_self": _l("You cannot deactivate your own account."),
    "last_admin": _l("This is the last active administrator. Make another user an administrator first."),
    "account_disabled": _l("This account is deactivated: reactivate it before sending a reset link."),
}


def _edit_form(user, formdata=True) -> UserEditForm:
    if formdata:
        form = UserEditForm()
    else:
        form = UserEditForm(
            formdata=None,
            name=user.name,
            role=user.role,
            district_code=user.district_code or "",
            provider_id=str(user.provider_id) if user.provider_id else "",
            lab_id="",
        )
    return fill_user_choices(form)


def _user_page(user, form: UserEditForm, status: int = 200):
    return (
        render_template(
            "admin/user.html",
            user=user,
            form=form,
            managed_labs=labs.labs_managed_by(user) if user.role == "lab_manager" else [],
            action_form=ActionForm(formdata=None),
            is_self=user.id == current_user.id,
        ),
        status,
    )


@blp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@page("admin")
def admin_user(user_id: int):
    user = accounts.get_user(user_id)  # unknown: 404
    if request.method == "GET":
        return _user_page(user, _edit_form(user, formdata=False))
    form = _edit_form(user)
    if not form.validate_on_submit():
        return _user_page(user, form, 422)
    try:
        user_admin.update_user(
            current_user,
            user.id,
            name=form.name.data,
            role=form.role.data,
            district_code=form.district_code.data or None,
            provider_id=int(form.provider_id.data) if form.provider_id.data else None,
            lab_id=int(form.lab_id.data) if form.lab_id.data else None,
        )
    except DomainError as error:
        show_on_named_fields(form, error, {}, refusal_message(error, REFUSALS))
        return _user_page(user, form, error.status)
    flash(_("Changes to %(email)s saved.", email=user.email), "success")
    return redirect(url_for("web.admin_user", user_id=user.id))


def _status_change(user_id: int, active: bool):
    """Deactivate or reactivate after a confirmation page (without JavaScript: the confirmation page
    posts the same action again with ``confirmed=yes``)."""
    user = accounts.get_user(user_id)
    form = ActionForm()
    if not form.validate_on_submit():
        flash(_("The form has expired; please try again."), "error")
        return redirect(url_for("web.admin_user", user_id=user.id))
    if request.form.get("confirmed") != "yes":
        return render_template(
            "admin/confirm_user_status.html",
            user=user,
            active=active,
            action_form=form,
            action=url_for(request.endpoint, user_id=user.id),
        )
    try:
        user_admin.update_user(current_user, user.id, active=active)
    except DomainError as error:
        flash_refusal(error, REFUSALS)
        return redirect(url_for("web.admin_user", user_id=user.id))
    if active:
        flash(_("%(email)s can sign in again.", email=user.email), "success")
    else:
        flash(_("%(email)s is deactivated and signed out everywhere.", email=user.email), "success")
    return redirect(url_for("web.admin_user", user_id=user.id))


@blp.route("/admin/users/<int:user_id>/deactivate", methods=["POST"])
@page("admin")
def admin_user_deactivate(user_id: int):
    return _status_change(user_id, active=False)


@blp.route("/admin/users/<int:user_id>/reactivate", methods=["POST"])
@page("admin")
def admin_user_reactivate(user_id: int):
    return _status_change(user_id, active=True)


@blp.route("/admin/users/<int:user_id>/password-reset", methods=["POST"])
@page("admin")
def admin_user_password_reset(user_id: int):
    """Mail the user a password reset link (the person still chooses the password)."""
    if not ActionForm().validate_on_submit():
        flash(_("The form has expired; please try again."), "error")
        return redirect(url_for("web.admin_user", user_id=user_id))
    try:
        user = user_admin.send_password_reset(current_user, user_id)
    except DomainError as error:
        flash_refusal(error, REFUSALS)
        return redirect(url_for("web.admin_user", user_id=user_id))
    flash(
        _("A password reset link was sent to %(email)s; it works for one hour.", email=user.email), "success"
    )
    return redirect(url_for("web.admin_user", user_id=user.id))
