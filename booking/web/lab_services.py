"""The lab managers' testing services (送样检测): publishing a service, editing it with its sample form,
withdrawing it from the catalogue and putting it back.

Thin views over ``instruments.services`` (the same operations as the JSON API); they never commit.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from wtforms import SelectChoice

from booking.core.db import db
from booking.core.errors import DomainError
from booking.models import User
from booking.web.access import page
from booking.web.blueprint import blp
from booking.web.errors import flash_refusal
from booking.web.forms import ActionForm
from booking.web.lab_instruments import managed_labs
from booking.web.service_forms import FIELD_TYPE_LABELS, ServiceForm
from instruments import services
from instruments.catalogue import managed_lab_for
from instruments.models import Service


def managed_services(user: User) -> list[Service]:
    """The services of the labs the user manages (all labs for admins), withdrawn ones too."""
    lab_ids = [lab.id for lab in managed_labs(user)]
    if not lab_ids:
        return []
    return list(
        db.session.scalars(
            select(Service)
            .where(Service.lab_id.in_(lab_ids))
            .order_by(Service.lab_id, Service.name, Service.id)
        )
    )


def _refused(form: ServiceForm, error: DomainError) -> None:
    if error.code == "invalid" and form.show_problems(error.details):
        flash(_("Some questions of the sample form need fixing; see below."), "error")
    else:
        flash_refusal(error)


def _form_page(template: str, form: ServiceForm, status: int = 200, **context):
    return (
        render_template(
            template, form=form, type_labels=FIELD_TYPE_LABELS, action_form=ActionForm(), **context
        ),
        status,
    )


@blp.route("/lab/services/new", methods=["GET", "POST"])
@page("lab_manager", "admin")
def lab_service_new():
    form = ServiceForm(lab_id=request.args.get("lab", type=int))
    form.lab_id.choices = [
        SelectChoice(lab.id, f"{lab.name} · {lab.university.name}") for lab in managed_labs(current_user)
    ]
    if request.method == "POST" and form.adding_a_row():
        form.validate_on_submit()  # the CSRF check; a half-filled form is shown as typed
        return _form_page("lab/service_new.html", form)
    status = 200
    if form.validate_on_submit():
        try:
            lab = managed_lab_for(current_user, form.lab_id.data)
            service = services.create_service(lab, **form.to_fields())
        except DomainError as error:
            _refused(form, error)
            status = error.status
        else:
            flash(_("Service published: teams find it under testing services."), "success")
            return redirect(url_for("web.lab_service", service_id=service.id))
    elif form.errors:
        status = 422
    return _form_page("lab/service_new.html", form, status)


@blp.route("/lab/services/<int:service_id>", methods=["GET", "POST"])
@page("lab_manager", "admin")
def lab_service(service_id: int):
    service = services.managed_service_for(current_user, service_id)
    if request.method == "GET":
        form = ServiceForm.of(service)
        del form.lab_id
        return _form_page("lab/service.html", form, service=service)
    form = ServiceForm()
    del form.lab_id
    if form.adding_a_row():
        form.validate_on_submit()
        return _form_page("lab/service.html", form, service=service)
    if not form.validate_on_submit():
        return _form_page("lab/service.html", form, 422, service=service)
    try:
        services.update_service(service, **form.to_fields())
    except DomainError as error:
        _refused(form, error)
        return _form_page("lab/service.html", form, error.status, service=service)
    flash(_("Service saved."), "success")
    return redirect(url_for("web.lab_service", service_id=service.id))


def _set_active(service_id: int, active: bool, done: str):
    service = services.managed_service_for(current_user, service_id)
    if ActionForm().validate_on_submit():
        services.update_service(service, active=active)
        flash(done, "success")
    return redirect(url_for("web.lab_service", service_id=service.id))


@blp.route("/lab/services/<int:service_id>/deactivate", methods=["POST"])
@page("lab_manager", "admin")
def lab_service_deactivate(service_id: int):
    return _set_active(
        service_id, False, _("Service withdrawn: teams no longer see it. You can publish it again here.")
    )


@blp.route("/lab/services/<int:service_id>/reactivate", methods=["POST"])
@page("lab_manager", "admin")
def lab_service_reactivate(service_id: int):
    return _set_active(service_id, True, _("Service published again."))
