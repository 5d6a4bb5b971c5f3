"""Pages of booking series and moving a booking: a series' page (what was booked, what was skipped and
why), cancelling the rest of a series, and the booking page's "move this booking" form.

The operations are ``booking.flow.series`` and ``booking.flow.reschedule``, the same as the JSON API's.
"""

from __future__ import annotations

from datetime import datetime

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from booking.core import clock
from booking.core.db import db
from booking.core.errors import DomainError
from booking.core.i18n import format_yuan
from booking.flow import bookings, reschedule, series
from booking.web.access import page
from booking.web.blueprint import blp
from booking.web.bookings import _detail_page, booking_error_message
from booking.web.errors import show_refusal
from booking.web.instrument_booking import booked_range
from booking.web.series_forms import RescheduleForm, SeriesCancelForm
from instruments.models import Instrument
from vouchers import commitments


def skipped_reason(code: str, instrument: Instrument) -> str:
    """Why an occurrence was not booked, in the page's language (its code is the API's)."""
    return booking_error_message(DomainError("", code=code), instrument)


@blp.route("/booking-series/<int:series_id>")
@page()
def booking_series_detail(series_id: int):
    outcome = series.outcome_of(current_user, series_id)
    instrument = db.session.get(Instrument, outcome.series.instrument_id)
    now = clock.now()
    commitments.preload(outcome.bookings)
    by_team = outcome.series.team.has_member(current_user)
    count, fee_fen = series.cancel_preview(outcome.series, current_user, now) if by_team else (0, 0)
    skipped = [
        {
            "starts_at": datetime.fromisoformat(s["starts_at"]),
            "ends_at": datetime.fromisoformat(s["ends_at"]),
            "reason": skipped_reason(s["code"], instrument),
        }
        for s in outcome.skipped
    ]
    return render_template(
        "bookings/series.html",
        outcome=outcome,
        instrument=instrument,
        tz_name=instrument.timezone,
        quotes={b.id: commitments.shares(commitments.quote(b)) for b in outcome.bookings},
        skipped=skipped,
        series=outcome.series,
        series_rest={"count": count, "fee_fen": fee_fen},
        series_action_form=SeriesCancelForm(prefix="series"),
    )


@blp.route("/booking-series/<int:series_id>/cancel", methods=["POST"])
@page("founder")
def booking_series_cancel(series_id: int):
    form = SeriesCancelForm(prefix="series")
    if not form.validate_on_submit():
        flash(_("The form expired; please try again."), "error")
        return redirect(url_for("web.booking_series_detail", series_id=series_id))
    cancelled, fee_fen = series.cancel_series(current_user, series_id)
    if fee_fen:
        flash(
            _(
                "%(count)s bookings of the series cancelled; late-cancellation fees of %(fee)s are charged to the team.",
                count=cancelled,
                fee=format_yuan(fee_fen),
            ),
            "success",
        )
    else:
        flash(_("%(count)s bookings of the series cancelled free of charge.", count=cancelled), "success")
    return redirect(url_for("web.booking_series_detail", series_id=series_id))


@blp.route("/bookings/<int:booking_id>/reschedule", methods=["POST"])
@page("founder")
def booking_reschedule(booking_id: int):
    booking = bookings.booking_for(current_user, booking_id)
    form = RescheduleForm(prefix="move")
    if not form.validate_on_submit():
        return _detail_page(booking, status=422, move_form=form)
    starts_at, ends_at = booked_range(
        form, booking.instrument.timezone if booking.instrument else "Asia/Shanghai"
    )
    try:
        moved, _freed = reschedule.reschedule(current_user, booking_id, starts_at=starts_at, ends_at=ends_at)
    except DomainError as error:
        if error.status in (403, 404):
            raise
        fields = {"starts_at": form.starts, "ends_at": form.ends}
        show_refusal(form, error, fields, _move_refusal(error, booking))
        # the move's SAVEPOINT gave the booking back as it was; the 4xx rolls the request back
        return _detail_page(
            bookings.booking_for(current_user, booking_id), status=error.status, move_form=form
        )
    flash(_("Booking moved. The price was recalculated for the new time."), "success")
    return redirect(url_for("web.booking_detail", booking_id=moved.id))


def _move_refusal(error: DomainError, booking) -> str:
    if error.code == "invalid_status":
        return _("Only a booking that has not started yet can be moved.")
    return booking_error_message(error, booking.instrument)
