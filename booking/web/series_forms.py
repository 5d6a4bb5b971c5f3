"""Forms of booking series and of moving a booking (flask-wtf, CSRF on every POST), and what the
booking page shows of them."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import DateField, IntegerField, SelectChoice, SelectField, TimeField
from wtforms.validators import DataRequired, NumberRange, Optional, ValidationError

from booking.core.db import db
from booking.flow import reschedule, series
from booking.models import Booking, BookingSeries
from booking.models.booking_series import SERIES_MAX_COUNT, SERIES_MIN_COUNT
from booking.web.form_base import PlatformForm
from instruments.rules import zone


def _plausible_date(form, field) -> None:
    if field.data is not None and not 2000 <= field.data.year <= 2100:
        raise ValidationError(_l("Choose a date within the booking horizon."))


def _count_when_repeating(form, field) -> None:
    if form.repeat.data and field.data is None:
        raise ValidationError(_l("How many times? From 2 to 52."))


class RepeatFields:
    """The booking form's repeat option (mixed into ``BookingForm``): none, daily or weekly, how many
    occurrences, and what to do with one that cannot be booked."""

    repeat = SelectField(
        _l("Repeat"),
        choices=[
            SelectChoice("", _l("Does not repeat")),
            SelectChoice("day", _l("Every day")),
            SelectChoice("week", _l("Every week")),
        ],
        default="",
        validators=[Optional()],
    )
    repeat_count = IntegerField(
        _l("Number of occurrences"),
        default=4,
        validators=[
            _count_when_repeating,
            Optional(),
            NumberRange(min=SERIES_MIN_COUNT, max=SERIES_MAX_COUNT),
        ],
        description=_l("From 2 to 52, the first one included."),
    )
    on_conflict = SelectField(
        _l("If an occurrence cannot be booked"),
        choices=[
            SelectChoice("skip", _l("Skip it and book the others")),
            SelectChoice("fail", _l("Book none of them")),
        ],
        default="skip",
    )


class SeriesCancelForm(PlatformForm):
    """Cancel the rest of a series: only the CSRF token (the confirmation is on the page)."""


class RescheduleForm(PlatformForm):
    """Move a booking: the new local date and times (as the booking form)."""

    date = DateField(_l("New date"), validators=[DataRequired(), _plausible_date])
    starts = TimeField(_l("Start time"), validators=[DataRequired()])
    ends = TimeField(
        _l("End time"),
        validators=[DataRequired()],
        description=_l("00:00 means midnight at the end of the day."),
    )


def series_and_move_panels(
    booking: Booking, now: datetime, by_team: bool, move_form: RescheduleForm | None
) -> dict:
    """The booking page's series panel (what cancelling the rest would cancel and cost) and its move
    form, pre-filled with the booking's own local times."""
    part_of = db.session.get(BookingSeries, booking.series_id) if booking.series_id else None
    rest = series.cancel_preview(part_of, current_user, now) if part_of is not None and by_team else (0, 0)
    can_move = reschedule.can_reschedule(booking, current_user, now)
    if move_form is None and can_move:
        tz = zone(booking.instrument.timezone)
        starts, ends = booking.starts_at.astimezone(tz), booking.ends_at.astimezone(tz)
        move_form = RescheduleForm(prefix="move", date=starts.date(), starts=starts.time(), ends=ends.time())
    if move_form is not None and booking.instrument is not None:
        for field in (move_form.starts, move_form.ends):  # the time picker steps along the slot grid
            field.render_kw = {"step": booking.instrument.slot_minutes * 60}
    return {
        "series": part_of,
        "series_rest": {"count": rest[0], "fee_fen": rest[1]},
        "can_move": can_move,
        "move_form": move_form,
        "series_action_form": SeriesCancelForm(prefix="series"),
    }
