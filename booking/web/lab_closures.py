"""Lab closures in the lab console: the closures of a lab, a form to close it, and — before anything
is cancelled — a preview of the bookings the closure (or an instrument blackout) would cancel, to
confirm.

Thin views over ``booking.flow.closures``; times are entered as local wall-clock time of the lab
(``DEFAULT_TIMEZONE``, Asia/Shanghai) and stored as UTC instants; nothing here commits.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from booking.core.db import db
from booking.core.errors import DomainError
from booking.flow import closures as closing
from booking.web.access import page
from booking.web.blueprint import blp
from booking.web.closure_forms import ClosureForm
from booking.web.errors import flash_refusal
from booking.web.forms import ActionForm
from instruments import catalogue, closures
from instruments.models import Lab, LabClosure
from instruments.rules import zone


def lab_timezone() -> str:
    return current_app.config.get("DEFAULT_TIMEZONE", "Asia/Shanghai")


def as_utc(local: datetime, tz_name: str) -> datetime:
    return local.replace(tzinfo=zone(tz_name)).astimezone(UTC)


def preview_page(*, heading: str, subject: str, form, hit: list, action: str, back: str, button: str):
    """The confirm step: which bookings will be cancelled (team, instrument, time), then confirm."""
    return render_template(
        "lab/closure_preview.html",
        heading=heading,
        subject=subject,
        form=form,
        hit=hit,
        action=action,
        back=back,
        button=button,
    )


def _closures_page(lab: Lab, form: ClosureForm, status: int = 200):
    listed = db.session.scalars(closures.closures_of(lab).order_by(LabClosure.starts_at.desc()).limit(100))
    return render_template(
        "lab/closures.html",
        lab=lab,
        form=form,
        closures=list(listed),
        tz=lab_timezone(),
        action_form=ActionForm(),
    ), status


@blp.route("/lab/labs/<int:lab_id>/closures", methods=["GET", "POST"])
@page("lab_manager", "admin")
def lab_closures(lab_id: int):
    lab = catalogue.managed_lab_for(current_user, lab_id)
    form = ClosureForm()
    if request.method == "GET":
        return _closures_page(lab, form)
    if not form.validate_on_submit():
        return _closures_page(lab, form, 422)
    tz = lab_timezone()
    starts_at, ends_at = as_utc(form.starts_at.data, tz), as_utc(form.ends_at.data, tz)
    reason = form.reason.data.strip()
    here = url_for("web.lab_closures", lab_id=lab.id)
    if form.confirmed.data != "yes":
        return preview_page(
            heading=_("Close %(lab)s?", lab=lab.name),
            subject=lab.name,
            form=form,
            hit=closing.preview_closure(closures.lab_instrument_ids(lab), starts_at, ends_at),
            action=here,
            back=here,
            button=_("Close the lab and cancel these bookings"),
        )
    try:
        _closure, cancelled = closing.close_lab(
            current_user, lab.id, starts_at=starts_at, ends_at=ends_at, reason=reason
        )
    except DomainError as error:
        flash_refusal(error)
        return _closures_page(lab, form, error.status)
    flash(
        _(
            "Lab closed: nothing can be booked then. %(count)d bookings were cancelled free of charge "
            "and their teams told.",
            count=len(cancelled),
        ),
        "success",
    )
    return redirect(here)


@blp.route("/lab/closures/<int:closure_id>/remove", methods=["POST"])
@page("lab_manager", "admin")
def lab_closure_remove(closure_id: int):
    closure = closures.closure_for(current_user, closure_id)
    lab_id = closure.lab_id
    if ActionForm().validate_on_submit():
        closing.reopen(current_user, closure.id)
        flash(
            _("Closure removed: the lab can be booked then again. Cancelled bookings stay cancelled."),
            "success",
        )
    return redirect(url_for("web.lab_closures", lab_id=lab_id))
