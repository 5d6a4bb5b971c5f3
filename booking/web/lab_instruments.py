"""The lab managers' console for one instrument: publishing a new instrument, editing its details and
booking policy, its weekly opening hours, the closures (blackouts) when nothing can be booked, and
the training records of the people qualified to book it.

Thin views over ``instruments.catalogue``: they read forms, turn a closure's local wall-clock times
into UTC instants, flash the outcome and never commit.
"""

from __future__ import annotations

from datetime import UTC

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from wtforms import SelectChoice

from booking.core import clock
from booking.core.db import db
from booking.core.errors import DomainError
from booking.flow import closures as closing
from booking.models import User
from booking.people import accounts
from booking.web.access import page
from booking.web.blueprint import blp
from booking.web.errors import flash_refusal
from booking.web.forms import ActionForm
from booking.web.instrument_forms import BlackoutForm, InstrumentForm, QualificationForm, opening_hours_form
from booking.web.lab_closures import preview_page
from instruments import catalogue
from instruments.labs import labs_managed_by
from instruments.models import Instrument, Lab
from instruments.rules import zone


def managed_labs(user: User) -> list[Lab]:
    if user.role == "admin":
        return list(db.session.scalars(select(Lab).order_by(Lab.id)))
    return labs_managed_by(user)


def _managed(instrument_id: int) -> Instrument:
    return catalogue.managed_instrument_for(current_user, instrument_id)


def _ranges_per_day(instrument: Instrument) -> int:
    counts = [0] * 7
    for r in instrument.opening_hours:
        counts[r.weekday] += 1
    return max(3, *counts)


def _manage_page(instrument: Instrument, status: int = 200, confirm_no_hours: bool = False, **forms):
    """The console page of one instrument; ``forms`` are submitted forms to show with their errors."""
    details = forms.get("details")
    if details is None:
        details = InstrumentForm.of(instrument)
        del details.lab_id
    hours = forms.get("hours") or opening_hours_form(_ranges_per_day(instrument)).of(instrument.opening_hours)
    qualifications = {q.user_id: q for q in catalogue.qualifications_of(instrument)}
    qualified = (
        [
            (user, qualifications[user.id])
            for user in db.session.scalars(
                select(User).where(User.id.in_(qualifications)).order_by(User.name)
            )
        ]
        if qualifications
        else []
    )
    return render_template(
        "lab/instrument.html",
        instrument=instrument,
        details=details,
        hours_form=hours,
        confirm_no_hours=confirm_no_hours,
        blackout_form=forms.get("blackout") or BlackoutForm(),
        qualification_form=forms.get("qualification") or QualificationForm(),
        action_form=ActionForm(),
        blackouts=catalogue.blackouts_of(instrument, clock.now()),
        qualified=qualified,
        now=clock.now(),
    ), status


def _manage_url(instrument: Instrument, section: str) -> str:
    return url_for("web.lab_instrument", instrument_id=instrument.id, _anchor=section)


INSTRUMENT_WORDS = {
    "overlapping_opening_hours": _l("Two opening ranges of one weekday overlap."),
    "not_found": _l("It no longer exists; reload the page."),
}


def _domain_error(error: DomainError) -> None:
    flash_refusal(error, INSTRUMENT_WORDS)


@blp.route("/lab/instruments/new", methods=["GET", "POST"])
@page("lab_manager", "admin")
def lab_instrument_new():
    form = InstrumentForm(lab_id=request.args.get("lab", type=int))
    del form.active  # a new instrument is published; withdraw it from its edit page
    form.lab_id.choices = [
        SelectChoice(lab.id, f"{lab.name} · {lab.university.name}") for lab in managed_labs(current_user)
    ]
    status = 200
    if form.validate_on_submit():
        try:
            lab = catalogue.managed_lab_for(current_user, form.lab_id.data)
            instrument = catalogue.create_instrument(lab, **form.to_fields())
        except DomainError as error:
            _domain_error(error)
            status = error.status
        else:
            flash(_("Instrument published. Now set its opening hours."), "success")
            return redirect(_manage_url(instrument, "hours"))
    elif form.errors:
        status = 422
    return render_template("lab/instrument_new.html", form=form), status


@blp.route("/lab/instruments/<int:instrument_id>", methods=["GET", "POST"])
@page("lab_manager", "admin")
def lab_instrument(instrument_id: int):
    instrument = _managed(instrument_id)
    if request.method == "GET":
        return _manage_page(instrument)
    form = InstrumentForm()
    del form.lab_id
    if not form.validate_on_submit():
        return _manage_page(instrument, 422, details=form)
    try:
        catalogue.update_instrument(instrument, **form.to_fields(), active=form.active.data)
    except DomainError as error:
        _domain_error(error)
        return _manage_page(instrument, error.status, details=form)
    flash(_("Instrument saved."), "success")
    return redirect(_manage_url(instrument, "details"))


@blp.route("/lab/instruments/<int:instrument_id>/hours", methods=["POST"])
@page("lab_manager", "admin")
def lab_instrument_hours(instrument_id: int):
    instrument = _managed(instrument_id)
    form = opening_hours_form(_ranges_per_day(instrument))()
    if not form.validate_on_submit():
        return _manage_page(instrument, 422, hours=form)
    ranges = form.ranges()
    if not ranges and form.close_all.data != "yes":
        # An empty grid closes the instrument to every booking: ask before doing that.
        return _manage_page(instrument, 200, hours=form, confirm_no_hours=True)
    try:
        catalogue.set_opening_hours(instrument, ranges)
    except DomainError as error:
        _domain_error(error)
        return _manage_page(instrument, error.status, hours=form)
    if ranges:
        flash(_("Opening hours saved."), "success")
    else:
        flash(
            _(
                "Opening hours cleared: %(name)s has no bookable hours now, so nobody can book it "
                "until you add some.",
                name=instrument.name,
            ),
            "warning",
        )
    return redirect(_manage_url(instrument, "hours"))


@blp.route("/lab/instruments/<int:instrument_id>/blackouts", methods=["POST"])
@page("lab_manager", "admin")
def lab_blackout_add(instrument_id: int):
    instrument = _managed(instrument_id)
    form = BlackoutForm()
    if not form.validate_on_submit():
        return _manage_page(instrument, 422, blackout=form)
    tz = zone(instrument.timezone)
    starts_at = form.starts_at.data.replace(tzinfo=tz).astimezone(UTC)
    ends_at = form.ends_at.data.replace(tzinfo=tz).astimezone(UTC)
    if form.confirmed.data != "yes":
        hit = closing.preview_closure([instrument.id], starts_at, ends_at)
        if hit:  # show what it cancels before cancelling anything
            here = url_for("web.lab_blackout_add", instrument_id=instrument.id)
            return preview_page(
                heading=_("Close %(instrument)s?", instrument=instrument.name),
                subject=instrument.name,
                form=form,
                hit=hit,
                action=here,
                back=_manage_url(instrument, "blackouts"),
                button=_("Add the closure and cancel these bookings"),
            )
    try:
        _blackout, cancelled = closing.add_blackout(
            current_user,
            instrument,
            starts_at=starts_at,
            ends_at=ends_at,
            reason=(form.reason.data or "").strip(),
        )
    except DomainError as error:
        _domain_error(error)
        return _manage_page(instrument, error.status, blackout=form)
    flash(_("Closure added: nothing can be booked across it."), "success")
    if cancelled:
        flash(
            _("%(count)d bookings were cancelled free of charge and their teams told.", count=len(cancelled)),
            "success",
        )
    return redirect(_manage_url(instrument, "blackouts"))


@blp.route("/lab/instruments/<int:instrument_id>/blackouts/<int:blackout_id>/remove", methods=["POST"])
@page("lab_manager", "admin")
def lab_blackout_remove(instrument_id: int, blackout_id: int):
    instrument = _managed(instrument_id)
    if ActionForm().validate_on_submit():
        closing.remove_blackout(instrument, blackout_id)
        flash(_("Closure removed."), "success")
    return redirect(_manage_url(instrument, "blackouts"))


@blp.route("/lab/instruments/<int:instrument_id>/qualifications", methods=["POST"])
@page("lab_manager", "admin")
def lab_qualification_grant(instrument_id: int):
    instrument = _managed(instrument_id)
    form = QualificationForm()
    if not form.validate_on_submit():
        return _manage_page(instrument, 422, qualification=form)
    user = accounts.find_user_by_email(form.email.data)
    if user is None:
        form.email.errors.append(_("No user with this e-mail."))
        return _manage_page(instrument, 422, qualification=form)
    catalogue.grant_qualification(instrument, user.id, current_user)
    flash(_("%(name)s may now book this instrument.", name=user.name), "success")
    return redirect(_manage_url(instrument, "training"))


@blp.route("/lab/instruments/<int:instrument_id>/qualifications/<int:user_id>/revoke", methods=["POST"])
@page("lab_manager", "admin")
def lab_qualification_revoke(instrument_id: int, user_id: int):
    instrument = _managed(instrument_id)
    if ActionForm().validate_on_submit():
        catalogue.revoke_qualification(instrument, user_id)
        flash(_("Training record withdrawn."), "success")
    return redirect(_manage_url(instrument, "training"))
