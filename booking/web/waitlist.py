"""The waitlist in HTML: "tell me when it frees up" next to a refused booking of a taken slot, and the
founder's list of their teams' entries, each with a remove button.

Thin views over ``booking.flow.waitlist`` (the same functions as the JSON API); nothing commits here.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import joinedload

from booking.core.db import db
from booking.core.errors import DomainError, NotFound
from booking.flow import waitlist
from booking.web.access import page
from booking.web.blueprint import blp
from booking.web.bookings import booking_error_message
from booking.web.closure_forms import WaitlistForm
from booking.web.forms import ActionForm
from booking.web.instruments import local_instant
from instruments import catalogue
from instruments.models import WaitlistEntry

WAITLIST_STATUS_LABELS = {"waiting": _l("Waiting"), "notified": _l("Told it is free")}


@blp.route("/instruments/<int:instrument_id>/waitlist", methods=["POST"])
@page("founder")
def instrument_waitlist_join(instrument_id: int):
    instrument = catalogue.instrument_for(current_user, instrument_id)
    back = url_for("web.instrument_detail", instrument_id=instrument.id)
    form = WaitlistForm()
    if not form.validate_on_submit():
        flash(_("Choose the time on the booking form first."), "error")
        return redirect(back)
    tz_name = instrument.timezone
    starts_at = local_instant(form.date.data, form.starts.data.hour * 60 + form.starts.data.minute, tz_name)
    end_minute = form.ends.data.hour * 60 + form.ends.data.minute
    ends_at = local_instant(form.date.data, end_minute or 1440, tz_name)  # 00:00: the following midnight
    try:
        waitlist.join(
            current_user, instrument.id, team_id=form.team_id.data, starts_at=starts_at, ends_at=ends_at
        )
    except NotFound:
        raise  # another team's, or no such instrument: the 404 page
    except DomainError as error:
        if error.code == "already_waiting":
            flash(_("Your team is already on the waitlist for this time."), "info")
            return redirect(url_for("web.waitlist_list"))
        flash(booking_error_message(error, instrument), "error")
        return redirect(back)
    flash(_("You are on the waitlist: your team gets an e-mail when this time frees up."), "success")
    return redirect(url_for("web.waitlist_list"))


@blp.route("/waitlist")
@page("founder")
def waitlist_list():
    entries = db.session.scalars(
        waitlist.entries_of(current_user)
        .options(joinedload(WaitlistEntry.instrument), joinedload(WaitlistEntry.team))
        .order_by(WaitlistEntry.starts_at.desc(), WaitlistEntry.id)
        .limit(200)
    ).all()
    return render_template(
        "bookings/waitlist.html",
        entries=entries,
        labels=WAITLIST_STATUS_LABELS,
        action_form=ActionForm(),
    )


@blp.route("/waitlist/<int:entry_id>/remove", methods=["POST"])
@page("founder")
def waitlist_remove(entry_id: int):
    if ActionForm().validate_on_submit():
        waitlist.leave(current_user, entry_id)  # another team's entry: 404
        flash(_("Removed from the waitlist."), "success")
    return redirect(url_for("web.waitlist_list"))
