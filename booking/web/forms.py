"""HTML forms (flask-wtf: every POST carries a CSRF token).

E-mail fields only look up existing accounts, so they check presence and length, not syntax: a malformed
address simply matches nobody. (wtforms' ``Email`` validator would also need the email_validator package.)
"""

from __future__ import annotations

from uuid import uuid4

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    PasswordField,
    SearchField,
    SelectField,
    StringField,
    SubmitField,
    TimeField,
)
from wtforms.validators import (
    DataRequired,
    Length,
    Optional,
    ValidationError,
)

from booking.people.passwords import password_problems
from booking.web.form_base import PlatformForm
from booking.web.series_forms import RepeatFields


class SignInForm(PlatformForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])
    submit = SubmitField(_l("Sign in"))


class SignOutForm(PlatformForm):
    submit = SubmitField(_l("Sign out"))


# booking.people.passwords' problem codes, worded for people
PASSWORD_PROBLEMS = {
    "too_short": _l("Use at least 10 characters."),
    "one_class": _l(
        "Mix at least two kinds of character: lower-case letters, capitals, digits, symbols or spaces."
    ),
    "is_email": _l("Do not use the e-mail address or its name part."),
    "common": _l("This password is too common; choose another."),
    "control": _l("Do not use control characters (line breaks, tabs, invisible characters)."),
}


class StrongPassword:
    """The platform's password rules (``booking.people.passwords``) for a form field, next to the field and
    translated; ``email_field`` names the form's field with the account's e-mail."""

    def __init__(self, email_field: str = "email"):
        self.email_field = email_field

    def __call__(self, form, field) -> None:
        email = getattr(form, self.email_field).data or ""
        problems = password_problems(field.data or "", email)
        if problems:
            raise ValidationError(" ".join(str(PASSWORD_PROBLEMS[p]) for p in problems))


class TeamForm(PlatformForm):
    name = StringField(_l("Team name"), validators=[DataRequired(), Length(max=200)])
    university = StringField(_l("University"), validators=[DataRequired(), Length(max=200)])
    organization = StringField(
        _l("Organisation (company or institution)"), validators=[DataRequired(), Length(max=200)]
    )
    district_code = SelectField(_l("District"), validators=[DataRequired()])
    submit = SubmitField(_l("Register team"))


class AddMemberForm(PlatformForm):
    email = EmailField(_l("Member's e-mail"), validators=[DataRequired(), Length(max=254)])
    submit = SubmitField(_l("Add member"))


class VerifyTeamForm(PlatformForm):
    submit = SubmitField(_l("Verify team"))


# --- instruments and bookings ------------------------------------------------------------------------------

HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
HHMM_OR_MIDNIGHT = r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$"

OPERATION_MODE_LABELS = {
    "public_interest": _l("public interest"),
    "market": _l("market rate"),
    "project": _l("project based"),
}
WEEKDAY_LABELS = (
    _l("Monday"),
    _l("Tuesday"),
    _l("Wednesday"),
    _l("Thursday"),
    _l("Friday"),
    _l("Saturday"),
    _l("Sunday"),
)


def minutes_of(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _plausible_date(form, field) -> None:
    # Dates far from now cannot be booked anyway, and year 1 or 9999 overflow in timezone arithmetic.
    if field.data is not None and not 2000 <= field.data.year <= 2100:
        raise ValidationError(_l("Choose a date within the booking horizon."))


class InstrumentSearchForm(PlatformForm):
    """The catalogue's filters (a GET form: no CSRF token, nothing changes)."""

    class Meta:
        csrf = False

    q = SearchField(_l("Search"), validators=[Optional(), Length(max=200)])
    category = SelectField(_l("Category"), validate_choice=False)
    district_code = SelectField(_l("District"), validate_choice=False)
    date = DateField(_l("Free on"), validators=[Optional(), _plausible_date])
    free_from = TimeField(_l("from"), validators=[Optional()])
    free_to = TimeField(_l("to"), validators=[Optional()])

    def validate(self, extra_validators=None) -> bool:
        if not super().validate(extra_validators):
            return False
        given = [f.data is not None for f in (self.date, self.free_from, self.free_to)]
        if any(given) and not all(given):
            self.date.errors.append(_l("Give a date and both times to search by free time."))
            return False
        if all(given) and self.free_to.data <= self.free_from.data:
            self.free_to.errors.append(_l("Must be after the start time."))
            return False
        return True


class BookingForm(PlatformForm, RepeatFields):
    # Sent as the booking's Idempotency-Key: a double-clicked "Book" makes one booking, not a refusal.
    request_key = HiddenField(default=lambda: uuid4().hex, validators=[DataRequired(), Length(max=64)])
    team_id = SelectField(_l("Team"), coerce=int, validators=[DataRequired()])
    date = DateField(_l("Date"), validators=[DataRequired(), _plausible_date])
    starts = TimeField(_l("Start time"), validators=[DataRequired()])
    ends = TimeField(
        _l("End time"),
        validators=[DataRequired()],
        description=_l("00:00 means midnight at the end of the day."),
    )
    use_vouchers = BooleanField(_l("Pay with our compute vouchers where they apply"), default=True)
    # Set once the split has been shown: the second submit books.
    confirmed = HiddenField(default="")
    payment_method = StringField(
        _l("Payment method"),
        validators=[Optional(), Length(max=200)],
        description=_l("A card token from the payments provider, e.g. pm_card_visa (a test card)."),
    )
    submit = SubmitField(_l("Review price"))


class ActionForm(PlatformForm):
    """A button that changes one thing (approve, check in, remove...): only the CSRF token."""


class ReasonForm(PlatformForm):
    """Cancel or reject, with an optional reason shown to the other side."""

    reason = StringField(_l("Reason (optional)"), validators=[Optional(), Length(max=500)])
