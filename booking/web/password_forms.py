"""Forms for forgotten and changed passwords, and for signing out everywhere.

A new password is judged by ``booking.people.passwords`` against the account's e-mail, which the view
hands over as ``account_email`` (these forms have no e-mail field of their own); the problems are
shown beside the field, translated (``booking.web.forms.PASSWORD_PROBLEMS``).
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, EmailField, PasswordField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from booking.people.passwords import password_problems
from booking.web.form_base import PlatformForm
from booking.web.forms import PASSWORD_PROBLEMS

NEW_PASSWORD = {"autocomplete": "new-password"}


class ResetRequestForm(PlatformForm):
    email = EmailField(
        _l("E-mail"), validators=[DataRequired(), Length(max=254)], render_kw={"autocomplete": "email"}
    )
    submit = SubmitField(_l("Send me a reset link"))


class _NewPasswordForm(PlatformForm):
    """A new password typed twice; ``account_email`` is set by the view."""

    account_email = ""
    new_password = PasswordField(
        _l("New password"), validators=[DataRequired(), Length(max=1024)], render_kw=NEW_PASSWORD
    )
    new_password_again = PasswordField(
        _l("New password again"),
        validators=[DataRequired(), EqualTo("new_password", message=_l("The two passwords differ."))],
        render_kw=NEW_PASSWORD,
    )

    def validate_new_password(self, field) -> None:
        problems = password_problems(field.data or "", self.account_email)
        if problems:
            raise ValidationError(" ".join(str(PASSWORD_PROBLEMS[p]) for p in problems))


class ResetPasswordForm(_NewPasswordForm):
    submit = SubmitField(_l("Set the new password"))


class ChangePasswordForm(_NewPasswordForm):
    current_password = PasswordField(
        _l("Current password"),
        validators=[DataRequired(), Length(max=1024)],
        render_kw={"autocomplete": "current-password"},
    )
    submit = SubmitField(_l("Change password"))


class SignOutEverywhereForm(PlatformForm):
    confirm = BooleanField(
        _l("Yes, sign me out on every device, this one too, and revoke every API token."),
        validators=[DataRequired(message=_l("Tick this box to confirm."))],
    )
    submit = SubmitField(_l("Sign out everywhere"))
