"""The lab console: the approval queue and today's check-in list, with a confirm step before check-in
and check-out and an undo for a mistaken check-in.

Every change goes through ``booking.flow.bookings`` (the same functions as the JSON API).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import selectinload

from booking.core import clock
from booking.core.db import db
from booking.core.errors import Conflict, Invalid
from booking.flow import attendance, booking_lists, bookings
from booking.models import Booking, BookingStatus
from booking.web.access import page
from booking.web.blueprint import blp
from booking.web.bookings import LIST_LIMIT, action_error_message
from booking.web.forms import ActionForm, ReasonForm
from booking.web.home import safe_next
from booking.web.lab_instruments import managed_labs
from booking.web.lab_services import managed_services
from booking.web.training import decline_form
from instruments import catalogue, training
from instruments.models import Instrument
from instruments.rules import zone


def todays_bookings(now: datetime) -> list[Booking]:
    """Confirmed and checked-in bookings of the user's instruments that touch today, in each
    instrument's own timezone."""
    query = booking_lists.filtered_bookings(
        current_user, {"from": now - timedelta(days=1), "to": now + timedelta(days=1)}
    ).where(
        Booking.status.in_((BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN)), Booking.kind == "instrument"
    )
    found = []
    for booking in db.session.scalars(query.order_by(Booking.starts_at)):
        tz = zone(booking.instrument.timezone)
        midnight = datetime.combine(now.astimezone(tz).date(), time(0), tzinfo=tz)
        if booking.starts_at < midnight + timedelta(days=1) and booking.ends_at > midnight:
            found.append(booking)
    return found


@blp.route("/lab")
@page("lab_manager", "admin")
def lab_console():
    now = clock.now()
    instruments = db.session.scalars(
        catalogue.managed_instruments(current_user)
        .options(selectinload(Instrument.opening_hours))  # the "no opening hours" badge
        .order_by(Instrument.lab_id, Instrument.name)
    )
    pending = db.session.scalars(
        booking_lists.filtered_bookings(current_user, {"status": BookingStatus.PENDING_APPROVAL})
        .order_by(Booking.starts_at)
        .limit(LIST_LIMIT)
    )
    return render_template(
        "lab/console.html",
        labs=managed_labs(current_user),
        instruments=list(instruments),
        services=managed_services(current_user),
        pending=list(pending),
        today=todays_bookings(now),
        action_form=ActionForm(),
        reject_form=lambda booking: ReasonForm(prefix=f"reject-{booking.id}"),
        training_requests=training.pending_requests_for(current_user),
        decline_training_form=decline_form,
    )


def _back() -> str:
    return safe_next(request.args.get("next")) if request.args.get("next") else url_for("web.lab_console")


def _lab_action(booking_id: int, change, done: str, form: ActionForm | ReasonForm | None = None):
    """Run one lab-side state change (approve, check in...) and go back where the button was."""
    form = form or ActionForm()
    if not form.validate_on_submit():
        flash(_("The reason is too long (at most 500 characters)."), "error")
        return redirect(_back())
    try:
        change(current_user, booking_id)
    except (Invalid, Conflict) as error:  # 403/404 go to the error pages
        flash(action_error_message(error, bookings.booking_for(current_user, booking_id)), "error")
    else:
        flash(done, "success")
    return redirect(_back())


@blp.route("/lab/bookings/<int:booking_id>/approve", methods=["POST"])
@page("lab_manager", "admin")
def lab_booking_approve(booking_id: int):
    return _lab_action(booking_id, bookings.approve, _("Booking approved."))


@blp.route("/lab/bookings/<int:booking_id>/reject", methods=["POST"])
@page("lab_manager", "admin")
def lab_booking_reject(booking_id: int):
    form = ReasonForm(prefix=f"reject-{booking_id}")
    reason = (form.reason.data or "").strip() or None
    return _lab_action(
        booking_id, lambda actor, bid: bookings.reject(actor, bid, reason), _("Booking declined."), form
    )


def _confirm_first(booking_id: int, status: BookingStatus, question: str, button: str):
    """A confirm step before a lab action that a misplaced click would get wrong (it works without
    JavaScript: the page posts the same action again with ``confirmed=yes``). None once confirmed, or
    when the booking is no longer in ``status`` (the action then explains why it cannot run)."""
    form = ActionForm()
    if not form.validate_on_submit() or request.form.get("confirmed") == "yes":
        return None
    booking = bookings.booking_for(current_user, booking_id)
    if booking.status != status:
        return None
    action = url_for(request.endpoint, booking_id=booking_id, next=request.args.get("next"))
    return render_template(
        "lab/confirm_action.html",
        booking=booking,
        question=question,
        button=button,
        action=action,
        back=_back(),
        now=clock.now(),
        action_form=form,
    )


@blp.route("/lab/bookings/<int:booking_id>/check-in", methods=["POST"])
@page("lab_manager", "admin")
def lab_booking_check_in(booking_id: int):
    asked = _confirm_first(
        booking_id, BookingStatus.CONFIRMED, _("Check in this booking?"), _("Confirm check-in")
    )
    return asked or _lab_action(
        booking_id,
        attendance.check_in,
        _("Checked in. Wrong booking? Undo the check-in on this page until check-out."),
    )


@blp.route("/lab/bookings/<int:booking_id>/check-out", methods=["POST"])
@page("lab_manager", "admin")
def lab_booking_check_out(booking_id: int):
    asked = _confirm_first(
        booking_id, BookingStatus.CHECKED_IN, _("Check out this booking?"), _("Confirm check-out")
    )
    return asked or _lab_action(booking_id, attendance.check_out, _("Checked out."))


@blp.route("/lab/bookings/<int:booking_id>/undo-check-in", methods=["POST"])
@page("lab_manager", "admin")
def lab_booking_undo_check_in(booking_id: int):
    return _lab_action(
        booking_id,
        attendance.undo_check_in,
        _(
            "Check-in undone: the booking is confirmed again. If nobody checks in within the grace "
            "period, it becomes a no-show."
        ),
    )
