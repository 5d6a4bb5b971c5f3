"""Forms of lab closures and the waitlist (flask-wtf: CSRF on every POST)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    DateField,
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    StringField,
    SubmitField,
    TimeField,
)
from wtforms.validators import DataRequired, Length, ValidationError

from booking.web.form_base import PlatformForm


class ClosureForm(PlatformForm):
    """Close a whole lab; the first submit previews the bookings it cancels, the second (confirmed)
    closes."""

    starts_at = DateTimeLocalField(_l("From"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()])
    ends_at = DateTimeLocalField(_l("Until"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()])
    reason = StringField(
        _l("Reason"),
        validators=[DataRequired(), Length(max=500)],
        description=_l("Told to the teams whose bookings are cancelled, e.g. power maintenance"),
    )
    confirmed = HiddenField(default="")
    submit = SubmitField(_l("Review closure"))

    def validate_ends_at(self, field) -> None:
        if self.starts_at.data and field.data and field.data <= self.starts_at.data:
            raise ValidationError(_l("Must be after the start."))


class WaitlistForm(PlatformForm):
    """Join the waitlist for the range the booking form asked for (sent as hidden fields)."""

    team_id = IntegerField(validators=[DataRequired()])
    date = DateField(validators=[DataRequired()])
    starts = TimeField(validators=[DataRequired()])
    ends = TimeField(validators=[DataRequired()])
