"""Signing up and verifying the e-mail address, as pages (``booking.people.onboarding``, the same
operations as ``/api/v1/auth/sign-up`` and ``/api/v1/auth/verify-email``).

After signing up the person sees the same "check your e-mail" page whether or not the address had an
account. A new account is signed in at once (to register a team while the mail travels); a known
address signs in nobody. The link in the mail opens a page with a button: only its POST spends the
token, so mail scanners that open links do not use it up.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user
from wtforms import EmailField, HiddenField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from booking.core.errors import Conflict, DomainError
from booking.core.i18n import current_language
from booking.core.ratelimit import limiter, resend_limit, sign_up_limited
from booking.people import accounts, onboarding
from booking.web.access import page, public_page
from booking.web.blueprint import blp
from booking.web.form_base import PlatformForm, an_email_address
from booking.web.forms import StrongPassword
from booking.web.home import fresh_session, safe_next


class SignUpForm(PlatformForm):
    name = StringField(_l("Your name"), validators=[DataRequired(), Length(max=100)])
    email = EmailField(
        _l("E-mail"),
        validators=[
            DataRequired(),
            Length(max=254),
            an_email_address(),
        ],
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(), Length(max=1024), StrongPassword()],
        description=_l(
            "At least 10 characters, not all letters or all digits, not the e-mail, not a common password."
        ),
    )
    submit = SubmitField(_l("Sign up"))


class VerifyEmailForm(PlatformForm):
    token = HiddenField(validators=[DataRequired(), Length(max=200)])
    submit = SubmitField(_l("Confirm my e-mail"))


class ResendVerificationForm(PlatformForm):
    submit = SubmitField(_l("Send the mail again"))


@blp.app_context_processor
def verification_banner() -> dict:
    """The resend button of the banner every page shows a signed-in user whose address is unverified."""
    if getattr(current_user, "is_authenticated", False) and not current_user.email_verified:
        return {"resend_verification_form": ResendVerificationForm()}
    return {}


@blp.route("/sign-up", methods=["GET", "POST"])
@public_page
@sign_up_limited
def sign_up():
    form = SignUpForm()
    if form.validate_on_submit():
        email = form.email.data
        user = onboarding.sign_up(email, form.password.data, form.name.data, current_language())
        if user is not None:  # a new account: signed in to register a team while the mail travels
            fresh_session()
            login_user(user)
        session["signed_up_email"] = accounts.normalise_email(email)
        return redirect(url_for("web.check_your_email"))
    return render_template("auth/sign_up.html", form=form), 200 if not form.errors else 422


@blp.route("/sign-up/check-your-email")
@public_page
def check_your_email():
    return render_template("auth/check_email.html", email=session.get("signed_up_email"))


@blp.route("/verify-email", methods=["GET", "POST"])
@public_page
def verify_email():
    form = VerifyEmailForm(token=request.args.get("token", ""))
    if request.method == "GET":
        if not form.token.data:
            return render_template("auth/verify_email.html", form=None, invalid=True), 422
        return render_template("auth/verify_email.html", form=form, invalid=False)
    if not form.validate_on_submit():
        if form.token.data and len(form.token.data) <= 200:  # an expired form: the link may still work
            flash(_("The form has expired; please try again."), "error")
            return render_template("auth/verify_email.html", form=form, invalid=False), 422
        return render_template("auth/verify_email.html", form=None, invalid=True), 422
    try:
        onboarding.verify_email(form.token.data)
    except DomainError:
        return render_template("auth/verify_email.html", form=None, invalid=True), 422
    flash(
        _("Thank you: your e-mail address is verified. You may book and apply for vouchers now."), "success"
    )
    return redirect(url_for("web.home") if current_user.is_authenticated else url_for("web.sign_in"))


@blp.route("/verify-email/resend", methods=["POST"])
@page()
@limiter.limit(resend_limit)
def verify_email_resend():
    if not ResendVerificationForm().validate_on_submit():
        flash(_("The form has expired; please try again."), "error")
    else:
        try:
            onboarding.resend_verification(current_user)
        except Conflict:
            flash(_("Your e-mail address is verified already."), "success")
        else:
            flash(_("We sent a new verification mail to %(email)s.", email=current_user.email), "success")
    return redirect(safe_next(request.form.get("next")))
