"""Booking pages: booking an instrument from its page, the founders' bookings with cancellation, and the
lab console (approval queue and today's check-in list).

Every change goes through ``booking.flow.bookings`` (the same functions as the JSON API); a refused change
rolls back and is shown in the page's language, falling back to the operation's own message.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Conflict, DomainError, Invalid
from booking.core.i18n import format_yuan
from booking.core.money import time_cost_fen
from booking.flow import booking_lists, bookings, fair_use, series
from booking.flow.payments import holds, webhooks
from booking.flow.payments.client import client as payments_client
from booking.models import STATUSES, Booking, BookingStatus
from booking.people.accounts import require_verified_email
from booking.web.access import page
from booking.web.blueprint import blp
from booking.web.errors import refusal_message, show_refusal
from booking.web.forms import ActionForm, BookingForm, ReasonForm
from booking.web.instruments import (
    bookable_teams,
    format_local,
    render_instrument_page,
    team_choices,
)
from booking.web.series_forms import RescheduleForm, series_and_move_panels
from booking.web.voucher_forms import RefundForm
from instruments import catalogue
from instruments.models import Instrument
from instruments.rules import zone
from vouchers import commitments, late_usage

STATUS_LABELS = {
    BookingStatus.PENDING_APPROVAL: _l("awaiting approval"),
    BookingStatus.CONFIRMED: _l("confirmed"),
    BookingStatus.REJECTED: _l("rejected"),
    BookingStatus.CANCELLED: _l("cancelled"),
    BookingStatus.CHECKED_IN: _l("checked in"),
    BookingStatus.COMPLETED: _l("completed"),
    BookingStatus.NO_SHOW: _l("no-show"),
    BookingStatus.SETTLED: _l("settled"),
}
VOUCHER_LEVEL_LABELS = {
    "municipal": _l("municipal compute voucher"),
    "district": _l("district compute voucher"),
}
LIST_LIMIT = 200


@blp.app_context_processor
def _booking_labels():
    return {"status_labels": STATUS_LABELS}


def booking_error_message(error: DomainError, instrument: Instrument) -> str:
    """The operation's refusal in the page's language (its ``code`` is the API's error code)."""
    messages = {
        "off_grid": lambda: _(
            "Start and end on the %(minutes)s-minute grid (for example on the hour).",
            minutes=instrument.slot_minutes,
        ),
        "too_short": lambda: _("Book at least %(minutes)s minutes.", minutes=instrument.min_minutes),
        "too_long": lambda: _("Book at most %(minutes)s minutes.", minutes=instrument.max_minutes),
        "inside_lead_time": lambda: _(
            "Book at least %(minutes)s minutes in advance.", minutes=instrument.lead_minutes
        ),
        "beyond_horizon": lambda: _("Book at most %(days)s days in advance.", days=instrument.horizon_days),
        "outside_opening_hours": lambda: _("The instrument is not open for the whole time you chose."),
        "blackout": lambda: _("The instrument is closed (maintenance) during that time."),
        "slot_taken": lambda: _("Someone else has booked (part of) this time. Choose another free time."),
        "not_qualified": lambda: _(
            "Only people trained on this instrument may book it. Ask the lab for training."
        ),
        "team_not_verified": lambda: _("The team is not verified yet."),
        "idempotency_key_reused": lambda: _("This form was already used for a booking; reload the page."),
        "forbidden": lambda: _("Only the team's members book for it."),
        "unknown_reference": lambda: _("This instrument cannot be booked at the moment."),
        "quota_exceeded": lambda: quota_message(error, instrument),
        "booking_suspended": lambda: suspension_message(error.details.get("until"), instrument),
    }
    invalid = {"ends_at": _l("The booking must end after it starts.")}
    return refusal_message(error, messages, invalid=invalid)


def quota_message(error: DomainError, instrument: Instrument) -> str:
    if error.details.get("limit") == "max_hours_per_team_per_week":
        return _(
            "Your team may book this instrument for at most %(hours)s hours a week (Monday to Sunday); "
            "it has %(booked)s hours booked in the week of %(week)s.",
            hours=instrument.max_hours_per_team_per_week,
            booked=f"{error.details.get('current', 0):g}",
            week=error.details.get("week_of", ""),
        )
    return _(
        "Your team may hold at most %(count)s future bookings of this instrument at once.",
        count=instrument.max_future_bookings_per_team,
    )


def suspension_message(until: str | datetime | None, instrument: Instrument) -> str:
    """Why the team may not book, with the (local) day it may again."""
    if isinstance(until, str):
        until = datetime.fromisoformat(until)
    return _(
        "Your team missed too many bookings of this lab (no-shows) and may not book its instruments "
        "until %(date)s.",
        date=format_local(until, instrument.timezone, "yyyy-MM-dd HH:mm"),
    )


def action_error_message(error: DomainError, booking: Booking | None = None) -> str:
    """A refused approval, rejection, cancellation or check-in/out in the page's language; the
    booking (reloaded after the rollback) names the status that stood in the way."""
    messages: dict[str, object] = {}
    if booking is not None:
        messages["invalid_status"] = lambda: _(
            "This booking is %(status)s and cannot be changed this way.",
            status=STATUS_LABELS.get(booking.status, booking.status),
        )
    invalid = {"at": _l("Check-in is only possible before the booking ends.")}
    if booking is not None and booking.may_attend_self(current_user):
        invalid = {"at": _l("You can check in from 15 minutes before the start until the grace period ends.")}
    return refusal_message(error, messages, invalid=invalid)


# --- booking an instrument ------------------------------------------------------------------------------


def _booked_range(form: BookingForm, tz_name: str) -> tuple[datetime, datetime]:
    """The form's local date and times as UTC instants; an end of 00:00 is the following midnight."""
    tz = zone(tz_name)
    starts = datetime.combine(form.date.data, form.starts.data, tzinfo=tz)
    end_day = form.date.data + timedelta(days=1) if form.ends.data == time(0) else form.date.data
    ends = datetime.combine(end_day, form.ends.data, tzinfo=tz)
    return starts.astimezone(UTC), ends.astimezone(UTC)


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
    starts_at, ends_at = _booked_range(form, instrument.timezone)
    if form.repeat.data:
        return _book_series(instrument, form, starts_at, ends_at)
    if form.confirmed.data != "yes":
        now = clock.now()
        problems = bookings.slot_problems(current_user, instrument, starts_at, ends_at, now)
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
            digest=bookings.request_digest(
                {
                    "team_id": form.team_id.data,
                    "instrument_id": instrument.id,
                    "starts_at": starts_at.isoformat(),
                    "ends_at": ends_at.isoformat(),
                    "use_vouchers": form.use_vouchers.data,
                }
            ),
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


# --- booking a series (the form's repeat option; the series' page is booking.web.booking_series) ---------


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
            digest=bookings.request_digest(
                {
                    "team_id": form.team_id.data,
                    "instrument_id": instrument.id,
                    "starts_at": starts_at.isoformat(),
                    "ends_at": ends_at.isoformat(),
                    "repeat": [form.repeat.data, form.repeat_count.data, form.on_conflict.data],
                    "use_vouchers": form.use_vouchers.data,
                }
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


def split_review(
    form,
    kind: str,
    cost_fen: int,
    payee_organization_id: int,
    until: datetime,
    payee: tuple[str, int] | None = None,
    starts_at: datetime | None = None,
) -> dict:
    """What the confirm step of a booking form shows: the cost, how the team's vouchers would split
    it (the same ``preview_split`` as the API's quote) and whether a card is needed."""
    team = next((t for t in bookable_teams(current_user) if t.id == form.team_id.data), None)
    split = commitments.preview_split(
        team,
        kind=kind,
        cost_fen=cost_fen,
        payee_organization_id=payee_organization_id,
        until=until,
        use_vouchers=form.use_vouchers.data,
        payee=payee,  # the programmes' eligible payees, rates per kind and annual caps apply here too
        starts_at=starts_at,
    )
    form.confirmed.data = "yes"
    return {
        "total_fen": cost_fen,
        "municipal_fen": split.by_level("municipal"),
        "district_fen": split.by_level("district"),
        "team_pays_fen": split.team_pays_fen,
        "needs_payment": payments_client() is not None and split.team_pays_fen > 0,
    }


# --- the founders' bookings -----------------------------------------------------------------------------


@blp.route("/bookings")
@page()
def booking_list():
    now = clock.now()
    status = request.args.get("status")
    query = booking_lists.filtered_bookings(current_user, {"status": status if status in STATUSES else None})
    upcoming = db.session.scalars(
        query.where(Booking.ends_at > now).order_by(Booking.starts_at).limit(LIST_LIMIT)
    )
    past = db.session.scalars(
        query.where(Booking.ends_at <= now).order_by(Booking.starts_at.desc()).limit(LIST_LIMIT)
    )
    upcoming, past = list(upcoming), list(past)
    commitments.preload(upcoming + past)  # the quotes and settlements shown, in two queries
    money = {
        b.id: (commitments.shares(commitments.quote(b)), commitments.shares(commitments.settlement(b)))
        for b in upcoming + past
    }
    return render_template("bookings/list.html", upcoming=upcoming, past=past, status=status, money=money)


def _detail_page(
    booking: Booking,
    cancel_form: ReasonForm | None = None,
    status: int = 200,
    refund_form: RefundForm | None = None,
    move_form: RescheduleForm | None = None,
):
    now = clock.now()
    paid = holds.payment_of(booking) if current_user.role == "admin" else None
    refundable_fen = paid.captured_fen - paid.refunded_fen if paid is not None else 0
    by_team = booking.team.has_member(current_user)
    instrument = booking.instrument
    manages = booking.is_managed_by(current_user)
    can_cancel = booking.can_cancel(current_user, now)
    return render_template(
        "bookings/detail.html",
        booking=booking,
        tz_name=instrument.timezone if instrument is not None else None,
        quote=commitments.quote(booking),
        estimate=commitments.shares(commitments.quote(booking)),
        actual=commitments.shares(commitments.settlement(booking)),
        exceptions=late_usage.exceptions_shown_with(booking.id, current_user),
        level_labels=VOUCHER_LEVEL_LABELS,
        billed_minutes=int(booking.billed_duration.total_seconds() // 60),
        can_cancel=can_cancel,
        by_team=by_team,
        self_check_in=booking.can_self_check_in(current_user, now),
        self_check_out=booking.can_self_check_out(current_user),
        cancel_fee=bookings.cancellation_fee_fen(booking, now, by_team) if can_cancel else 0,
        free_until=(
            booking.starts_at - timedelta(hours=instrument.free_cancel_hours)
            if instrument is not None
            else None
        ),
        cancel_form=cancel_form or ReasonForm(prefix="cancel"),
        manages=manages,
        action_form=ActionForm(),
        reject_form=ReasonForm(prefix=f"reject-{booking.id}"),
        refundable_fen=refundable_fen,
        refund_form=refund_form or RefundForm(prefix="refund"),
        **series_and_move_panels(booking, now, by_team, move_form),
    ), status


@blp.route("/bookings/<int:booking_id>")
@page()
def booking_detail(booking_id: int):
    return _detail_page(bookings.booking_for(current_user, booking_id))


REFUND_WORDS = {
    "nothing_captured": _l("Nothing was charged to a card for this booking."),
    "refund_exceeds_captured": _l("A refund cannot exceed what was charged and not yet refunded."),
    "payments_unavailable": _l(
        "The payment service cannot be reached; nothing was refunded. Try again later."
    ),
}


@blp.route("/bookings/<int:booking_id>/refund", methods=["POST"])
@page("admin")
def booking_refund(booking_id: int):
    """Refund (part of) what the card payment captured — never more (``webhooks.refund``, as the API)."""
    booking = bookings.booking_for(current_user, booking_id)
    form = RefundForm(prefix="refund")
    if not form.validate_on_submit():
        return _detail_page(booking, status=422, refund_form=form)
    try:
        webhooks.refund(booking, form.amount.data)
    except DomainError as error:
        form.amount.errors.append(refusal_message(error, REFUND_WORDS))
        return _detail_page(booking, status=error.status, refund_form=form)
    flash(_("Refunded %(amount)s to the card.", amount=format_yuan(form.amount.data)), "success")
    return redirect(url_for("web.booking_detail", booking_id=booking.id))


@blp.route("/bookings/<int:booking_id>/cancel", methods=["POST"])
@page()
def booking_cancel(booking_id: int):
    booking = bookings.booking_for(current_user, booking_id)
    form = ReasonForm(prefix="cancel")
    if not form.validate_on_submit():
        return _detail_page(booking, form, 422)
    try:
        booking = bookings.cancel(current_user, booking_id, (form.reason.data or "").strip() or None)
    except (Invalid, Conflict) as error:  # 403/404 go to the error pages
        flash(action_error_message(error, bookings.booking_for(current_user, booking_id)), "error")
    else:
        if booking.fee_fen:
            flash(
                _(
                    "Booking cancelled. A late-cancellation fee of %(fee)s is charged to the team.",
                    fee=format_yuan(booking.fee_fen),
                ),
                "success",
            )
        else:
            flash(_("Booking cancelled free of charge."), "success")
    return redirect(url_for("web.booking_detail", booking_id=booking_id))
