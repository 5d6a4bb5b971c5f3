"""Forms of the administration pages: users, labs and their managers, compute providers.

They take what ``POST /api/v1/users``, ``/labs``, ``/labs/{id}/managers`` and ``/providers`` take. The
role-dependent rules of a new user (a district only for finance, a provider for provider users, a lab
only for lab managers) are checked here too, so that the refusal is shown, translated, next to the
field; the domain functions check them again.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import EmailField, PasswordField, SelectChoice, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, NumberRange

from booking.core.db import MAX_ID
from booking.web.blueprint import ROLE_LABELS
from booking.web.form_base import PlatformForm, an_email_address
from booking.web.forms import StrongPassword


class UserForm(PlatformForm):
    email = EmailField(
        _l("E-mail"),
        validators=[
            DataRequired(),
            Length(max=254),
            an_email_address(),
        ],
    )
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    role = SelectField(
        _l("Role"),
        choices=[SelectChoice(code, label) for code, label in ROLE_LABELS.items()],
        validators=[DataRequired()],
    )
    password = PasswordField(
        _l("Initial password"),
        validators=[DataRequired(), Length(max=1024), StrongPassword()],
        description=_l(
            "At least 10 characters, not all letters or all digits, not the e-mail, not a common password. "
            "Tell it to the user on a safe channel."
        ),
    )
    # "" = none; otherwise the code or id as a string (choices are filled in by the view)
    district_code = SelectField(
        _l("District (finance officers)"),
        description=_l("Finance officers without a district are municipal finance."),
    )
    provider_id = SelectField(_l("Compute provider (provider users)"))
    lab_id = SelectField(_l("Lab to manage (lab managers, optional)"))
    submit = SubmitField(_l("Create user"))

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        return _role_fields_fit(self) and valid


def _role_fields_fit(form) -> bool:
    """The role-dependent rules of a user (the user table's): said beside the field that breaks one."""
    role = form.role.data
    if role not in ROLE_LABELS:
        return False
    valid = True
    if form.district_code.data and role != "finance":
        form.district_code.errors.append(_l("Only finance officers belong to a district."))
        valid = False
    if role == "provider" and not form.provider_id.data:
        form.provider_id.errors.append(_l("Provider users need a compute provider."))
        valid = False
    if form.provider_id.data and role != "provider":
        form.provider_id.errors.append(_l("Only provider users belong to a compute provider."))
        valid = False
    if form.lab_id.data and role != "lab_manager":
        form.lab_id.errors.append(_l("Only lab managers can manage a lab."))
        valid = False
    return valid


class UserEditForm(PlatformForm):
    """A user's page: what ``PATCH /api/v1/users/{id}`` changes besides ``active``."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    role = SelectField(
        _l("Role"),
        choices=[SelectChoice(code, label) for code, label in ROLE_LABELS.items()],
        validators=[DataRequired()],
    )
    district_code = SelectField(
        _l("District (finance officers)"),
        description=_l("Finance officers without a district are municipal finance."),
    )
    provider_id = SelectField(_l("Compute provider (provider users)"))
    lab_id = SelectField(
        _l("Also manage this lab (lab managers, optional)"),
        description=_l("A user who stops being a lab manager no longer manages any lab."),
    )
    submit = SubmitField(_l("Save changes"))

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        return _role_fields_fit(self) and valid


USER_STATUSES = {"active": _l("Active"), "disabled": _l("Deactivated")}


class UserFilterForm(PlatformForm):
    """The users list's filter (a GET form: no CSRF token, nothing changes)."""

    class Meta:
        csrf = False

    role = SelectField(_l("Role"), default="")
    status = SelectField(
        _l("Status"),
        default="",
        choices=[SelectChoice("", _l("Any status"))]
        + [SelectChoice(code, label) for code, label in USER_STATUSES.items()],
    )


class LabForm(PlatformForm):
    name = StringField(_l("Lab name"), validators=[DataRequired(), Length(max=200)])
    university = StringField(_l("University"), validators=[DataRequired(), Length(max=200)])
    district_code = SelectField(_l("District"), validators=[DataRequired()])
    organization = StringField(
        _l("Organisation (operator of the lab)"),
        validators=[DataRequired(), Length(max=200)],
    )
    submit = SubmitField(_l("Create lab"))


class LabManagerForm(PlatformForm):
    # Any id is accepted here: the domain function refuses unknown users and users of other roles.
    user_id = SelectField(
        _l("Lab manager"),
        coerce=int,
        validate_choice=False,
        validators=[DataRequired(), NumberRange(1, MAX_ID)],
    )
    submit = SubmitField(_l("Add manager"))


class ProviderForm(PlatformForm):
    name = StringField(_l("Provider name"), validators=[DataRequired(), Length(max=200)])
    organization = StringField(_l("Organisation (company)"), validators=[DataRequired(), Length(max=200)])
    submit = SubmitField(_l("Create provider"))
