"""HTML forms (flask-wtf: every POST carries a CSRF token).

E-mail fields only look up existing accounts, so they check presence and length, not syntax: a malformed
address simply matches nobody. (wtforms' ``Email`` validator would also need the email_validator package.)
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from uuid import uuid4

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    DecimalField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SearchField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from booking.core.errors import Invalid
from booking.people.passwords import password_problems
from booking.web.fields import PercentField
from booking.web.form_base import PlatformForm
from booking.web.series_forms import RepeatFields
from instruments.rules import zone


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


def _valid_timezone(form, field) -> None:
    try:
        zone(field.data)
    except Invalid:
        raise ValidationError(_l("Not a timezone name (e.g. Asia/Shanghai)."))


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


class InstrumentForm(PlatformForm):
    """An instrument's details and booking policy, as a lab manager enters them (money in yuan, fees
    in per cent of the cost); ``to_fields`` gives what the catalogue operations take."""

    lab_id = SelectField(_l("Lab"), coerce=int)
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    category = StringField(
        _l("Category"), validators=[DataRequired(), Length(max=100)], description=_l("e.g. microscopy")
    )
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=5000)])
    location = StringField(_l("Location (building, room)"), validators=[Optional(), Length(max=200)])
    hourly_rate_yuan = DecimalField(
        _l("Hourly rate (yuan)"), places=2, validators=[InputRequired(), NumberRange(0, 1_000_000)]
    )
    operation_mode = SelectField(
        _l("Operation mode"),
        choices=[SelectChoice(code, label) for code, label in OPERATION_MODE_LABELS.items()],
    )
    slot_minutes = IntegerField(
        _l("Slot size (minutes)"), default=30, validators=[InputRequired(), NumberRange(1, 1440)]
    )
    min_minutes = IntegerField(
        _l("Shortest booking (minutes)"), default=30, validators=[InputRequired(), NumberRange(1, 10080)]
    )
    max_minutes = IntegerField(
        _l("Longest booking (minutes)"), default=480, validators=[InputRequired(), NumberRange(1, 10080)]
    )
    lead_minutes = IntegerField(
        _l("Book at least this many minutes ahead"),
        default=60,
        validators=[InputRequired(), NumberRange(0, 525600)],
    )
    horizon_days = IntegerField(
        _l("Book at most this many days ahead"), default=90, validators=[InputRequired(), NumberRange(1, 730)]
    )
    requires_approval = BooleanField(_l("Bookings need the lab's approval"))
    requires_training = BooleanField(_l("Only trained (qualified) users may book"))
    qualification_valid_days = IntegerField(
        _l("Qualification valid for (days); leave empty for no expiry"),
        validators=[Optional(), NumberRange(1, 3650)],
    )
    free_cancel_hours = IntegerField(
        _l("Free cancellation until this many hours before the start"),
        default=24,
        validators=[InputRequired(), NumberRange(0, 8760)],
    )
    late_cancel_fee_percent = PercentField(
        _l("Late cancellation fee (% of the cost)"), min_bp=0, default=0, validators=[InputRequired()]
    )
    no_show_grace_minutes = IntegerField(
        _l("Check-in grace period (minutes)"), default=15, validators=[InputRequired(), NumberRange(0, 1440)]
    )
    no_show_fee_percent = PercentField(
        _l("No-show fee (% of the cost)"), min_bp=0, default=0, validators=[InputRequired()]
    )
    timezone = StringField(
        _l("Timezone"), default="Asia/Shanghai", validators=[DataRequired(), Length(max=64), _valid_timezone]
    )
    max_future_bookings_per_team = IntegerField(
        _l("Future bookings per team at once (at most)"),
        validators=[Optional(), NumberRange(1, 10000)],
        description=_l("Leave empty for no limit."),
    )
    max_hours_per_team_per_week = IntegerField(
        _l("Hours per team per week (at most)"),
        validators=[Optional(), NumberRange(1, 168)],
        description=_l("Monday to Sunday, local time; leave empty for no limit."),
    )
    no_show_limit = IntegerField(
        _l("No-shows before booking is suspended"),
        validators=[Optional(), NumberRange(1, 1000)],
        description=_l(
            "A team with this many no-shows on this lab's instruments in the last 90 days may not book "
            "this instrument; leave empty to never suspend."
        ),
    )
    self_check_in = BooleanField(
        _l("Team members check themselves in and out"),
        description=_l("From 15 minutes before the start until the grace period ends, e.g. at the kiosk."),
    )
    active = BooleanField(_l("Published (bookable)"), default=True)
    submit = SubmitField(_l("Save instrument"))

    POLICY_FIELDS = (
        "name",
        "category",
        "location",
        "operation_mode",
        "slot_minutes",
        "min_minutes",
        "max_minutes",
        "lead_minutes",
        "horizon_days",
        "requires_approval",
        "requires_training",
        "qualification_valid_days",
        "free_cancel_hours",
        "no_show_grace_minutes",
        "timezone",
        "max_future_bookings_per_team",
        "max_hours_per_team_per_week",
        "no_show_limit",
        "self_check_in",
    )

    def validate_max_minutes(self, field) -> None:
        if (
            self.min_minutes.data is not None
            and field.data is not None
            and field.data < self.min_minutes.data
        ):
            raise ValidationError(_l("Must be at least the shortest booking."))

    @classmethod
    def of(cls, instrument) -> InstrumentForm:
        """The form filled in from an instrument (for editing)."""
        return cls(
            obj=instrument,
            hourly_rate_yuan=Decimal(instrument.hourly_rate_fen) / 100,
            late_cancel_fee_percent=instrument.late_cancel_fee_bp,  # PercentField holds basis points
            no_show_fee_percent=instrument.no_show_fee_bp,
        )

    def to_fields(self) -> dict:
        fields = {name: getattr(self, name).data for name in self.POLICY_FIELDS}
        fields["name"] = fields["name"].strip()
        fields["category"] = fields["category"].strip()
        fields["location"] = (fields["location"] or "").strip()
        fields["description"] = (self.description.data or "").strip()
        fields["hourly_rate_fen"] = int((self.hourly_rate_yuan.data * 100).to_integral_value(ROUND_HALF_UP))
        fields["late_cancel_fee_bp"] = self.late_cancel_fee_percent.data  # exact basis points
        fields["no_show_fee_bp"] = self.no_show_fee_percent.data
        return fields


class _OpeningHoursBase(PlatformForm):
    """Per weekday, up to ``per_day`` opening ranges as HH:MM (24:00 closes at midnight)."""

    per_day = 3
    # "yes" once the manager confirmed saving no range at all (the instrument can then not be booked)
    close_all = HiddenField(validators=[Optional(), Length(max=3)])
    submit = SubmitField(_l("Save opening hours"))

    def pair(self, weekday: int, index: int):
        return self[f"d{weekday}_{index}_opens"], self[f"d{weekday}_{index}_closes"]

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for weekday in range(7):
            for index in range(self.per_day):
                opens, closes = self.pair(weekday, index)
                if opens.errors or closes.errors:
                    continue
                if bool(opens.data) != bool(closes.data):
                    (closes if opens.data else opens).errors.append(_l("Give both times, or neither."))
                    valid = False
                elif opens.data and minutes_of(closes.data) <= minutes_of(opens.data):
                    closes.errors.append(_l("Must be after the opening time."))
                    valid = False
        return valid

    def ranges(self) -> list[tuple[int, int, int]]:
        found = []
        for weekday in range(7):
            for index in range(self.per_day):
                opens, closes = self.pair(weekday, index)
                if opens.data and closes.data:
                    found.append((weekday, minutes_of(opens.data), minutes_of(closes.data)))
        return found

    @classmethod
    def of(cls, opening_hours) -> _OpeningHoursBase:
        data: dict[str, str] = {}
        used = [0] * 7
        for r in opening_hours:
            index = used[r.weekday]
            used[r.weekday] += 1
            data[f"d{r.weekday}_{index}_opens"] = f"{r.opens_minute // 60:02d}:{r.opens_minute % 60:02d}"
            data[f"d{r.weekday}_{index}_closes"] = f"{r.closes_minute // 60:02d}:{r.closes_minute % 60:02d}"
        return cls(data=data)


@lru_cache(maxsize=8)
def opening_hours_form(per_day: int = 3) -> type[_OpeningHoursBase]:
    """The opening-hours form class with ``per_day`` ranges per weekday (more when an instrument
    already has more, so that editing never drops one)."""
    fields: dict = {"per_day": per_day}
    for weekday in range(7):
        for index in range(per_day):
            fields[f"d{weekday}_{index}_opens"] = StringField(
                validators=[Optional(), Regexp(HHMM, message=_l("Use HH:MM, e.g. 08:30."))]
            )
            fields[f"d{weekday}_{index}_closes"] = StringField(
                validators=[
                    Optional(),
                    Regexp(HHMM_OR_MIDNIGHT, message=_l("Use HH:MM, e.g. 18:00 or 24:00.")),
                ]
            )
    return type(f"OpeningHoursForm{per_day}", (_OpeningHoursBase,), fields)


class BlackoutForm(PlatformForm):
    starts_at = DateTimeLocalField(_l("From"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()])
    ends_at = DateTimeLocalField(_l("Until"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()])
    reason = StringField(
        _l("Reason"), validators=[Optional(), Length(max=500)], description=_l("e.g. maintenance")
    )
    confirmed = HiddenField(default="")  # "yes" once the bookings it cancels have been shown
    submit = SubmitField(_l("Add closure"))

    def validate_ends_at(self, field) -> None:
        if self.starts_at.data and field.data and field.data <= self.starts_at.data:
            raise ValidationError(_l("Must be after the start."))


class QualificationForm(PlatformForm):
    email = EmailField(_l("User's e-mail"), validators=[DataRequired(), Length(max=254)])
    submit = SubmitField(_l("Record training"))
