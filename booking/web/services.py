"""The testing service catalogue (送样检测) as teams see it: search by text, category, district and lab,
and one service's page with its price, turnaround, lab and the order form built from its sample form
(ordering itself is in ``booking.web.orders``).

Thin views over ``instruments.services``; they never commit.
"""

from __future__ import annotations

from flask import render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from wtforms import SelectChoice

from booking.core.db import db
from booking.core.i18n import current_language
from booking.models import District, Team
from booking.people import teams
from booking.web.access import page
from booking.web.blueprint import blp
from booking.web.instruments import bookable_teams, team_choices
from booking.web.paging import catalogue_page
from booking.web.service_forms import FIELD_TYPE_LABELS, ServiceSearchForm
from booking.web.service_order_forms import order_form
from instruments import services
from instruments.models import Lab, Service


def _search_choices(form: ServiceSearchForm) -> dict[str, District]:
    form.category.choices = [
        SelectChoice("", _("All categories")),
        *(SelectChoice(c) for c in services.active_categories()),
    ]
    labs = list(
        db.session.scalars(
            select(Lab)
            .where(Lab.id.in_(select(Service.lab_id).where(Service.active.is_(True))))
            .order_by(Lab.name)
        )
    )
    form.lab_id.choices = [SelectChoice("", _("All labs"))] + [
        SelectChoice(str(lab.id), f"{lab.name} · {lab.university.name}") for lab in labs
    ]
    districts = {d.code: d for d in db.session.scalars(select(District).order_by(District.code))}
    locale = current_language()
    with_services = {lab.district_code for lab in labs}
    form.district_code.choices = [SelectChoice("", _("All districts"))] + [
        SelectChoice(code, d.display_name(locale)) for code, d in districts.items() if code in with_services
    ]
    return districts


@blp.route("/services")
@page()
def service_list():
    form = ServiceSearchForm(formdata=request.args)
    districts = _search_choices(form)
    query = None
    if form.validate():
        lab_id = form.lab_id.data
        filters = {
            "q": form.q.data,
            "category": form.category.data,
            "district_code": form.district_code.data,
            "lab_id": int(lab_id) if lab_id and lab_id.isdigit() and len(lab_id) < 10 else None,
        }
        query = (
            services.found_services(current_user, filters)
            .where(Service.active.is_(True))
            .order_by(Service.name, Service.id)
        )
    found = catalogue_page(query, "web.service_list")
    return render_template(
        "services/list.html",
        form=form,
        services=found.items,
        districts=districts,
        locale=current_language(),
        previous_url=found.previous_url,
        next_url=found.next_url,
    )


def render_service_page(service: Service, form=None, status: int = 200, review: dict | None = None):
    """The service's page; ``form`` is a submitted order form to show again with its errors, or (with
    ``review``) the split the order would get, to confirm. Founders get the order form."""
    district = db.session.get(District, service.lab.district_code)
    teams_ = bookable_teams(current_user)
    if current_user.role == "founder":
        form = form or order_form(service, team_id=teams_[0].id if teams_ else None)
        form.team_id.choices = team_choices(teams_)
    return render_template(
        "services/detail.html",
        service=service,
        district=district.display_name(current_language()) if district else service.lab.district_code,
        type_labels=FIELD_TYPE_LABELS,
        manages=services.manages_lab(current_user, service.lab),
        form=form,
        review=review,
        has_team=current_user.role == "founder" and bool(teams_ or _has_any_team()),
    ), status


def _has_any_team() -> bool:
    return (
        db.session.scalar(teams.visible_teams(current_user).with_only_columns(Team.id).limit(1)) is not None
    )


@blp.route("/services/<int:service_id>")
@page()
def service_detail(service_id: int):
    return render_service_page(services.service_for(current_user, service_id))
