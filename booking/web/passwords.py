"""Forgotten passwords: ask for a reset link by e-mail, then choose a new password with it.

Asking always shows the same page, whether or not the address has an account. The link's page shows
the form while the link is usable (looking does not spend it) and a friendly page otherwise; setting
the password sends the person to sign in (never signs them in). The operations are
``booking.people.password_reset``'s, shared with the JSON API.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from booking.core.errors import Invalid
from booking.core.ratelimit import RateLimited
from booking.people import password_reset
from booking.web.access import public_page
from booking.web.blueprint import blp
from booking.web.password_forms import ResetPasswordForm, ResetRequestForm

NO_REFERRER = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}  # the URL holds the secret


@blp.route("/password-reset", methods=["GET", "POST"])
@public_page
def password_reset_request():
    form = ResetRequestForm()
    if form.validate_on_submit():
        try:  # one counter per client address, shared with the API
            password_reset.limit_requests_from(request.remote_addr)
        except RateLimited as error:
            wait = error.details["retry_after_seconds"]
            form.email.errors.append(
                _("Too many requests from here. Try again in %(minutes)d minutes.", minutes=-(-wait // 60))
            )
            return render_template("auth/password_reset.html", form=form), 429, {"Retry-After": str(wait)}
        password_reset.request_password_reset(form.email.data)
        return render_template("auth/password_reset_sent.html")
    return render_template("auth/password_reset.html", form=form), 200 if not form.errors else 422


def _invalid_link_page():
    return render_template("auth/password_reset_invalid.html"), 200, NO_REFERRER


@blp.route("/password-reset/confirm", methods=["GET", "POST"])
@public_page
def password_reset_confirm():
    token = request.args.get("token", "")
    user = password_reset.usable_reset_user(token)
    if user is None:
        return _invalid_link_page()
    form = ResetPasswordForm()
    form.account_email = user.email
    if form.validate_on_submit():
        try:
            password_reset.reset_password(token, form.new_password.data)
        except Invalid as error:
            if error.code != "weak_password":
                return _invalid_link_page()
            form.new_password.errors.append(_("This password is too weak; choose another."))
        else:
            flash(_("Your password was changed. Sign in with the new password."), "success")
            return redirect(url_for("web.sign_in"))
    status = 200 if not form.errors else 422
    return render_template("auth/password_reset_confirm.html", form=form, token=token), status, NO_REFERRER
