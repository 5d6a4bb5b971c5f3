"""The lab manager's instrument forms: details and booking policy, opening hours, blackouts and
qualifications (flask-wtf: every POST carries a CSRF token)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    DecimalField,
    EmailField,
    HiddenField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
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
from booking.web.fields import PercentField
from booking.web.form_base import PlatformForm
from booking.web.forms import HHMM, HHMM_OR_MIDNIGHT, OPERATION_MODE_LABELS, minutes_of
from instruments.rules import zone


def _valid_timezone(form, field) -> None:
    try:
        zone(field.data)
    except Invalid:
        raise ValidationError(_l("Not a timezone name (e.g. Asia/Shanghai)."))


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
