"""Booking pages: the founders' bookings with cancellation and refunds, the words of a refused booking or
booking action, and the booking forms' confirm step (``split_review``). Booking an instrument from its
page is ``booking.web.instrument_booking``; the lab console is ``booking.web.lab_console``.

Every change goes through ``booking.flow.bookings`` (the same functions as the JSON API); a refused change
rolls back and is shown in the page's language, falling back to the operation's own message.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Conflict, DomainError, Invalid
from booking.core.i18n import format_yuan
from booking.flow import booking_lists, bookings
from booking.flow.payments import holds, webhooks
from booking.flow.payments.client import client as payments_client
from booking.models import STATUSES, Booking, BookingStatus
from booking.web.access import page
from booking.web.blueprint import blp
from booking.web.errors import refusal_message
from booking.web.forms import ActionForm, ReasonForm
from booking.web.instruments import bookable_teams, format_local
from booking.web.series_forms import RescheduleForm, series_and_move_panels
from booking.web.voucher_forms import RefundForm
from instruments.models import Instrument
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


# --- the booking forms' confirm step (instruments and compute) ------------------------------------------


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
