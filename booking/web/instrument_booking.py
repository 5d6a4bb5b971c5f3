"""Booking an instrument from its page: the booking form's two steps (the price and how vouchers split
it, to confirm; then the booking), a single booking or, with the form's repeat option, a series (whose
page is ``booking.web.booking_series``).

Every booking goes through ``booking.flow.bookings`` and ``booking.flow.series`` (the same functions as
the JSON API); a refused booking rolls back and is shown in the page's language.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from flask import flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user

from booking.core import clock
from booking.core.errors import DomainError
from booking.core.money import time_cost_fen
from booking.flow import bookings, fair_use, series, slots
from booking.models import BookingStatus
from booking.people.accounts import require_verified_email
from booking.web.access import page
from booking.web.blueprint import blp
from booking.web.bookings import booking_error_message, split_review
from booking.web.errors import show_refusal
from booking.web.forms import BookingForm
from booking.web.instruments import bookable_teams, render_instrument_page, team_choices
from instruments import catalogue
from instruments.models import Instrument
from instruments.rules import zone


def booked_range(form, tz_name: str) -> tuple[datetime, datetime]:
    """The form's local date and times (its ``date``, ``starts`` and ``ends`` fields) as UTC instants;
    an end of 00:00 is the following midnight."""
    tz = zone(tz_name)
    starts = datetime.combine(form.date.data, form.starts.data, tzinfo=tz)
    end_day = form.date.data + timedelta(days=1) if form.ends.data == time(0) else form.date.data
    ends = datetime.combine(end_day, form.ends.data, tzinfo=tz)
    return starts.astimezone(UTC), ends.astimezone(UTC)


def _form_digest(form: BookingForm, instrument: Instrument, starts_at: datetime, ends_at: datetime, **extra):
    """The digest that tells a resubmitted form from another booking under the same request key."""
    return bookings.request_digest(
        {
            "team_id": form.team_id.data,
            "instrument_id": instrument.id,
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
            **extra,
            "use_vouchers": form.use_vouchers.data,
        }
    )


@blp.route("/instruments/<int:instrument_id>/book", methods=["POST"])
@page("founder")
def instrument_book(instrument_id: int):
    instrument = catalogue.instrument_for(current_user, instrument_id)
    form = BookingForm()
    form.team_id.choices = team_choices(bookable_teams(current_user))
    try:
        require_verified_email(current_user)  # before the other rules, as for the API
    except DomainError as error:
        _show_refusal(form, error, instrument)
        return render_instrument_page(instrument, form, error.status)
    if not form.validate_on_submit():
        return render_instrument_page(instrument, form, 422)
    starts_at, ends_at = booked_range(form, instrument.timezone)
    if form.repeat.data:
        return _book_series(instrument, form, starts_at, ends_at)
    if form.confirmed.data != "yes":
        now = clock.now()
        problems = slots.slot_problems(current_user, instrument, starts_at, ends_at, now)
        problems += fair_use.fair_use_problems(form.team_id.data, instrument, starts_at, ends_at, now)
        if problems:  # no price for a slot that cannot be booked: say everything that is wrong
            for problem in problems:
                _show_refusal(form, problem, instrument)
            taken = any(p.code == "slot_taken" for p in problems)
            return render_instrument_page(instrument, form, 422, offer_waitlist=taken)
        return _review(instrument, form, starts_at, ends_at)
    try:
        booking, _created = bookings.create_instrument_booking(
            current_user,
            team_id=form.team_id.data,
            instrument_id=instrument.id,
            starts_at=starts_at,
            ends_at=ends_at,
            use_vouchers=form.use_vouchers.data,
            payment_method=form.payment_method.data or None,
            idempotency_key=f"web-{form.request_key.data}",
            digest=_form_digest(form, instrument, starts_at, ends_at),
        )
    except DomainError as error:
        _show_refusal(form, error, instrument)
        taken = error.code == "slot_taken"
        return render_instrument_page(instrument, form, error.status, offer_waitlist=taken)
    if booking.status == BookingStatus.PENDING_APPROVAL:
        flash(_("Booking requested. The lab will approve or decline it."), "success")
    else:
        flash(_("Booked. See you at the lab!"), "success")
    return redirect(url_for("web.booking_detail", booking_id=booking.id))


def _show_refusal(form: BookingForm, error: DomainError, instrument: Instrument) -> None:
    fields = {"starts_at": form.starts, "ends_at": form.ends, "team_id": form.team_id}
    show_refusal(form, error, fields, booking_error_message(error, instrument))


def _book_series(instrument: Instrument, form: BookingForm, starts_at: datetime, ends_at: datetime):
    """A repeating booking: the price of one occurrence to confirm, then the series is booked by
    ``series.create_series`` (as the API) and its page lists what was booked and what was skipped."""
    if form.confirmed.data != "yes":
        return _review(instrument, form, starts_at, ends_at)
    try:
        outcome, _created = series.create_series(
            current_user,
            team_id=form.team_id.data,
            instrument_id=instrument.id,
            starts_at=starts_at,
            ends_at=ends_at,
            every=form.repeat.data,
            count=form.repeat_count.data,
            on_conflict=form.on_conflict.data,
            use_vouchers=form.use_vouchers.data,
            payment_method=form.payment_method.data or None,
            idempotency_key=f"web-{form.request_key.data}",
            digest=_form_digest(
                form,
                instrument,
                starts_at,
                ends_at,
                repeat=[form.repeat.data, form.repeat_count.data, form.on_conflict.data],
            ),
        )
    except DomainError as error:
        fields = {"starts_at": form.starts, "ends_at": form.ends, "team_id": form.team_id}
        message = booking_error_message(error, instrument)
        if error.details.get("starts_at") and error.code != "invalid":
            when = datetime.fromisoformat(error.details["starts_at"][0]).strftime("%Y-%m-%d %H:%M")
            message = _("Occurrence of %(when)s: %(reason)s", when=when, reason=message)
        show_refusal(form, error, fields, message)
        return render_instrument_page(instrument, form, error.status)
    flash(
        _(
            "Series booked: %(booked)s booked, %(skipped)s skipped.",
            booked=len(outcome.bookings),
            skipped=len(outcome.skipped),
        ),
        "success",
    )
    return redirect(url_for("web.booking_series_detail", series_id=outcome.id))


def _review(instrument: Instrument, form: BookingForm, starts_at: datetime, ends_at: datetime):
    """The confirm step: the cost and how vouchers would split it, before anything is booked."""
    cost = time_cost_fen(instrument.hourly_rate_fen, ends_at - starts_at)
    review = split_review(
        form,
        "instrument",
        cost,
        instrument.lab.organization_id,
        ends_at,
        payee=("lab", instrument.lab_id),
        starts_at=starts_at,
    )
    if form.repeat.data:  # a series: the price of each occurrence, and how many
        review["occurrences"] = form.repeat_count.data
    return render_instrument_page(instrument, form, 200, review=review)
