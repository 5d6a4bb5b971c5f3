"""Training on the HTML side: a founder asks for training from an instrument's page, and the lab
managers grant or decline the requests from the training queue of the lab console.

Thin views over ``instruments.training``; they flash the outcome and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import flash, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import StringField, SubmitField
from wtforms.validators import Length, Optional

from booking.core import clock
from booking.core.errors import DomainError
from booking.models import User
from booking.web.access import page
from booking.web.blueprint import blp
from booking.web.errors import flash_refusal
from booking.web.form_base import PlatformForm
from booking.web.forms import ActionForm, ReasonForm
from instruments import catalogue, training
from instruments.models import Instrument, TrainingRequest

TRAINING_WORDS = {
    "already_requested": _l("Your training request has been sent already; the lab will arrange it."),
    "already_qualified": _l("You are qualified on this instrument already."),
    "training_not_required": _l("This instrument needs no training."),
    "already_decided": _l("This training request has been decided already."),
}


class TrainingRequestForm(PlatformForm):
    note = StringField(
        _l("Note for the lab (optional)"),
        validators=[Optional(), Length(max=training.NOTE_MAX)],
        description=_l("e.g. when you are available, what you want to measure"),
    )
    submit = SubmitField(_l("Ask for training"))


@dataclass
class TrainingPanel:
    """What a founder sees about training on an instrument's page."""

    state: str  # qualified | pending | expired | declined | can_request
    expires_at: datetime | None = None
    request: TrainingRequest | None = None
    form: TrainingRequestForm | None = None

    @property
    def may_request(self) -> bool:
        return self.state in ("expired", "declined", "can_request")


def training_panel(instrument: Instrument, user: User) -> TrainingPanel | None:
    """The training box of an instrument's page: only for founders, on instruments requiring training."""
    if user.role != "founder" or not instrument.requires_training:
        return None
    qualification = catalogue.qualification_of(instrument, user)
    if qualification is not None and qualification.valid_at(clock.now()):
        return TrainingPanel("qualified", qualification.expires_at)
    pending = training.open_request_of(instrument, user)
    if pending is not None:
        return TrainingPanel("pending", request=pending)
    form = TrainingRequestForm()
    if qualification is not None:
        return TrainingPanel("expired", qualification.expires_at, form=form)
    latest = training.latest_request_of(instrument, user)
    if latest is not None and latest.status == "declined":
        return TrainingPanel("declined", request=latest, form=form)
    return TrainingPanel("can_request", form=form)


def _instrument_page(instrument: Instrument):
    return redirect(url_for("web.instrument_detail", instrument_id=instrument.id, _anchor="training"))


@blp.route("/instruments/<int:instrument_id>/training-request", methods=["POST"])
@page("founder")
def instrument_training_request(instrument_id: int):
    instrument = catalogue.instrument_for(current_user, instrument_id)
    form = TrainingRequestForm()
    if not form.validate_on_submit():
        flash(_("The note is too long (at most 500 characters)."), "error")
        return _instrument_page(instrument)
    try:
        training.request_training(current_user, instrument, form.note.data or "")
    except DomainError as error:
        flash_refusal(error, TRAINING_WORDS)
    else:
        flash(
            _("Training request sent. The lab will arrange the training and tell you by e-mail."), "success"
        )
    return _instrument_page(instrument)


def decline_form(request: TrainingRequest) -> ReasonForm:
    return ReasonForm(prefix=f"decline-training-{request.id}")


def _queue_page():
    return redirect(url_for("web.lab_console", _anchor="training"))


@blp.route("/lab/training/<int:request_id>/grant", methods=["POST"])
@page("lab_manager", "admin")
def lab_training_grant(request_id: int):
    request = training.managed_request_for(current_user, request_id)
    if ActionForm().validate_on_submit():
        try:
            training.grant_training(request, current_user)
        except DomainError as error:
            flash_refusal(error, TRAINING_WORDS)
        else:
            flash(
                _(
                    "%(name)s may now book %(instrument)s.",
                    name=request.user.name,
                    instrument=request.instrument.name,
                ),
                "success",
            )
    return _queue_page()


@blp.route("/lab/training/<int:request_id>/decline", methods=["POST"])
@page("lab_manager", "admin")
def lab_training_decline(request_id: int):
    request = training.managed_request_for(current_user, request_id)
    form = decline_form(request)
    if not form.validate_on_submit():
        flash(_("The reason is too long (at most 500 characters)."), "error")
        return _queue_page()
    try:
        training.decline_training(request, current_user, form.reason.data or "")
    except DomainError as error:
        flash_refusal(error, TRAINING_WORDS)
    else:
        flash(_("Training request declined; %(name)s is told by e-mail.", name=request.user.name), "success")
    return _queue_page()
