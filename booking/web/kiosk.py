"""At the instrument: the kiosk (a tablet beside it shows the booking under way, the next one and a QR
code), the check-in page that QR code opens, and a team member checking in and out by themselves.

Self check-in goes through ``booking.flow.attendance`` (the same functions as the JSON API): only on
instruments with ``self_check_in``, from 15 minutes before the start until the no-show grace ends.
"""

from __future__ import annotations

import segno
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from booking.core import clock
from booking.core.errors import Conflict, Invalid
from booking.flow import attendance, bookings
from booking.web.access import page
from booking.web.blueprint import blp
from booking.web.bookings import action_error_message
from booking.web.forms import ActionForm
from booking.web.home import safe_next
from instruments import catalogue

REFRESH_SECONDS = 60


def check_in_url(instrument_id: int) -> str:
    """The absolute address of the instrument's check-in page (what the kiosk's QR code holds)."""
    return url_for("web.instrument_check_in", instrument_id=instrument_id, _external=True)


def qr_svg(data: str) -> Markup:
    """``data`` as a QR code, an inline SVG element (no script, no external image)."""
    return Markup(segno.make(data, error="m").svg_inline(scale=8, border=2, title=data))


@blp.route("/instruments/<int:instrument_id>/kiosk")
@page("lab_manager", "admin")
def instrument_kiosk(instrument_id: int):
    instrument = catalogue.managed_instrument_for(current_user, instrument_id)
    now = clock.now()
    current, upcoming = attendance.kiosk_bookings(instrument, now)
    url = check_in_url(instrument.id)
    return render_template(
        "instruments/kiosk.html",
        instrument=instrument,
        current=current,
        upcoming=upcoming,
        now=now,
        check_in_url=url,
        qr=qr_svg(url),
        refresh_seconds=REFRESH_SECONDS,
    )


@blp.route("/instruments/<int:instrument_id>/check-in")
@page("founder")
def instrument_check_in(instrument_id: int):
    """The page the kiosk's QR code opens: the signed-in member's booking to check in to (or out of)."""
    instrument = catalogue.instrument_for(current_user, instrument_id)
    now = clock.now()
    booking = attendance.self_attendable_booking(current_user, instrument, now)
    return render_template(
        "instruments/check_in.html",
        instrument=instrument,
        booking=booking,
        checking_out=booking is not None and booking.can_self_check_out(current_user),
        action_form=ActionForm(),
        here=url_for("web.instrument_check_in", instrument_id=instrument.id),
    )


def _back(booking_id: int) -> str:
    target = request.args.get("next")
    return safe_next(target) if target else url_for("web.booking_detail", booking_id=booking_id)


def _self_action(booking_id: int, change, done: str):
    if ActionForm().validate_on_submit():
        try:
            change(current_user, booking_id)
        except (Invalid, Conflict) as error:  # 403/404 go to the error pages
            flash(action_error_message(error, bookings.booking_for(current_user, booking_id)), "error")
        else:
            flash(done, "success")
    return redirect(_back(booking_id))


@blp.route("/bookings/<int:booking_id>/check-in", methods=["POST"])
@page("founder")
def booking_self_check_in(booking_id: int):
    return _self_action(booking_id, attendance.check_in, _("Checked in. Enjoy your session!"))


@blp.route("/bookings/<int:booking_id>/check-out", methods=["POST"])
@page("founder")
def booking_self_check_out(booking_id: int):
    return _self_action(booking_id, attendance.check_out, _("Checked out. Thank you!"))
