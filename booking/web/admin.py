"""The administration pages (administrators only): users, labs and their managers, compute providers.

They call the same functions as the admin-only API: ``booking.people.accounts.create_user`` (with
``instruments.labs.require_lab_reference``/``add_lab_manager`` for a lab manager's lab) like
``POST /api/v1/users``, ``instruments.labs.create_lab`` and ``add_lab_manager`` like ``POST /api/v1/labs``
and ``/labs/{id}/managers``, ``booking.people.providers.create_provider`` like ``POST /api/v1/providers``.

A refused form is shown again with the reasons next to the fields (422; 409 for an e-mail address that
is taken) and changes nothing; a created object is flashed and the browser redirected (POST/redirect/GET).
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select
from wtforms import SelectChoice

from booking.core.db import MAX_ID, db
from booking.core.errors import DomainError
from booking.models import Provider, User
from booking.people import accounts, providers
from booking.web.access import page
from booking.web.admin_forms import LabForm, LabManagerForm, ProviderForm, UserFilterForm, UserForm
from booking.web.blueprint import ROLE_LABELS, blp
from booking.web.errors import refusal_message, show_on_named_fields
from booking.web.teams import district_options
from instruments import labs
from instruments.models import Lab, LabManager

PAGE_SIZE = 50
CHOICE_LIMIT = 1000  # labs, providers and lab managers offered in a select


# --- helpers ---------------------------------------------------------------------------------------------


def _before() -> int | None:
    """The ``?before=<id>`` of a newest-first list (ids beyond the id range simply start at the top)."""
    before = request.args.get("before", type=int)
    return None if before is None else max(0, min(before, MAX_ID))


def _page_of(query, key, before: int | None) -> tuple[list, int | None]:
    """A page of ``query`` newest first (by ``key``, an id column) and the id the next page starts before."""
    if before is not None:
        query = query.where(key < before)
    found = list(db.session.scalars(query.order_by(key.desc()).limit(PAGE_SIZE + 1)).unique())
    more = len(found) > PAGE_SIZE
    found = found[:PAGE_SIZE]
    return found, (found[-1].id if more else None)


FIELD_WORDS = {
    "unknown_reference": _l("Not found: it may have been removed. Reload the page and choose again."),
    "not_a_lab_manager": _l("This user is not a lab manager."),
}


def _apply_domain_error(form, error: DomainError, fields: dict[str, str]) -> None:
    """Show a refusal of the domain layer next to the form field it concerns (``fields`` maps the
    names in ``error.details`` to the form's field names); otherwise flash it."""
    if error.code == "email_taken" and hasattr(form, "email"):
        form.email.errors.append(_("A user with this e-mail already exists."))
        return
    show_on_named_fields(form, error, fields, refusal_message(error, FIELD_WORDS))


def _choices(pairs) -> list[SelectChoice]:
    return [SelectChoice(value, text) for value, text in pairs]


def _optional_choice(label: str, pairs) -> list[SelectChoice]:
    return [SelectChoice("", label)] + [SelectChoice(str(value), text) for value, text in pairs]


# --- overview --------------------------------------------------------------------------------------------


@blp.route("/admin")
@page("admin")
def admin_overview():
    counts = dict(db.session.execute(select(User.role, func.count()).group_by(User.role)).all())
    return render_template(
        "admin/index.html",
        user_counts=[(role, counts.get(role, 0)) for role in ROLE_LABELS],
        user_total=sum(counts.values()),
        lab_count=db.session.scalar(select(func.count()).select_from(Lab)),
        provider_count=db.session.scalar(select(func.count()).select_from(Provider)),
    )


# --- users -----------------------------------------------------------------------------------------------


def _user_form() -> UserForm:
    return fill_user_choices(UserForm())


def fill_user_choices(form):
    """The district, provider and lab choices of a user form (the new-user form, a user's page)."""
    form.district_code.choices = _optional_choice(_("Municipal (no district)"), district_options())
    form.provider_id.choices = _optional_choice(
        _("None"),
        (
            (p.id, f"{p.name} ({p.organization.name})")
            for p in db.session.scalars(
                select(Provider).order_by(Provider.name, Provider.id).limit(CHOICE_LIMIT)
            )
        ),
    )
    form.lab_id.choices = _optional_choice(
        _("None"),
        (
            (lab.id, f"{lab.name} ({lab.university.name})")
            for lab in db.session.scalars(select(Lab).order_by(Lab.name, Lab.id).limit(CHOICE_LIMIT))
        ),
    )
    return form


def _users_page(form: UserForm, status: int = 200):
    filter_form = UserFilterForm(request.args)
    filter_form.role.choices = _optional_choice(_("All roles"), ROLE_LABELS.items())
    query = select(User)
    scope = {}
    if request.args.get("role") or request.args.get("status"):
        if filter_form.validate():
            scope = {
                k: v for k, v in (("role", filter_form.role.data), ("status", filter_form.status.data)) if v
            }
            if "role" in scope:
                query = query.where(User.role == scope["role"])
            if "status" in scope:
                query = query.where(User.is_active.is_(scope["status"] == "active"))
        else:
            status = max(status, 422)
    before = _before()
    users, next_before = _page_of(query, User.id, before)
    managed: dict[int, list[Lab]] = {}
    manager_ids = [u.id for u in users if u.role == "lab_manager"]
    if manager_ids:
        for manager, lab in db.session.execute(
            select(LabManager.user_id, Lab)
            .join(Lab)
            .where(LabManager.user_id.in_(manager_ids))
            .order_by(Lab.name)
        ).all():
            managed.setdefault(manager, []).append(lab)
    return (
        render_template(
            "admin/users.html",
            form=form,
            filter_form=filter_form,
            users=users,
            managed=managed,
            first_url=url_for("web.admin_users", **scope) if before is not None else None,
            older_url=url_for("web.admin_users", before=next_before, **scope) if next_before else None,
        ),
        status,
    )


@blp.route("/admin/users", methods=["GET", "POST"])
@page("admin")
def admin_users():
    form = _user_form()
    if request.method == "GET":
        return _users_page(form)
    if not form.validate_on_submit():
        return _users_page(form, 422)
    try:
        lab = labs.require_lab_reference(int(form.lab_id.data)) if form.lab_id.data else None
        user = accounts.create_user(
            email=form.email.data,
            password=form.password.data,
            name=form.name.data,
            role=form.role.data,
            district_code=form.district_code.data or None,
            provider_id=int(form.provider_id.data) if form.provider_id.data else None,
        )
        if lab is not None:
            labs.add_lab_manager(lab, user.id)
    except DomainError as error:
        _apply_domain_error(form, error, {"user_id": "lab_id"})
        return _users_page(form, error.status)
    flash(_("User %(email)s created.", email=user.email), "success")
    return redirect(url_for("web.admin_users"))


# --- labs and their managers -----------------------------------------------------------------------------


def _lab_form() -> LabForm:
    form = LabForm()
    form.district_code.choices = _choices(district_options())
    return form


def _labs_page(
    form: LabForm | None = None, status: int = 200, failed: tuple[int, LabManagerForm] | None = None
):
    before = _before()
    found, next_before = _page_of(select(Lab), Lab.id, before)
    candidates = db.session.scalars(
        select(User).where(User.role == "lab_manager").order_by(User.name, User.id).limit(CHOICE_LIMIT)
    )
    choices = _choices((u.id, f"{u.name} <{u.email}>") for u in candidates)
    manager_forms = {}
    for lab in found:
        # the refused form keeps its input and errors; the others are blank (not filled from this POST)
        manager_form = (
            failed[1] if failed is not None and failed[0] == lab.id else LabManagerForm(formdata=None)
        )
        manager_form.user_id.choices = choices
        manager_forms[lab.id] = manager_form
    if failed is not None and failed[0] not in manager_forms:  # the lab is on another page of the list
        for message in failed[1].user_id.errors:
            flash(message, "error")
    return (
        render_template(
            "admin/labs.html",
            form=form or _lab_form(),
            labs=found,
            manager_forms=manager_forms,
            has_lab_managers=bool(choices),
            first_url=url_for("web.admin_labs") if before is not None else None,
            older_url=url_for("web.admin_labs", before=next_before) if next_before else None,
        ),
        status,
    )


@blp.route("/admin/labs", methods=["GET", "POST"])
@page("admin")
def admin_labs():
    if request.method == "GET":
        return _labs_page()
    form = _lab_form()
    if not form.validate_on_submit():
        return _labs_page(form, 422)
    try:
        lab = labs.create_lab(
            name=form.name.data,
            university=form.university.data,
            district_code=form.district_code.data,
            organization=form.organization.data,
        )
    except DomainError as error:
        _apply_domain_error(form, error, {})
        return _labs_page(form, error.status)
    flash(_("Lab %(name)s created. Add its managers below.", name=lab.name), "success")
    return redirect(url_for("web.admin_labs", _anchor=f"lab-{lab.id}"))


@blp.route("/admin/labs/<int:lab_id>/managers", methods=["POST"])
@page("admin")
def admin_lab_managers(lab_id: int):
    lab = labs.lab_for(current_user, lab_id)  # unknown lab: 404
    form = LabManagerForm()
    if not form.validate_on_submit():
        return _labs_page(status=422, failed=(lab.id, form))
    try:
        labs.add_lab_manager(lab, form.user_id.data)
    except DomainError as error:
        _apply_domain_error(form, error, {})
        return _labs_page(status=error.status, failed=(lab_id, form))
    manager = db.session.get(User, form.user_id.data)
    flash(_("%(name)s now manages %(lab)s.", name=manager.name, lab=lab.name), "success")
    return redirect(url_for("web.admin_labs", _anchor=f"lab-{lab.id}"))


# --- providers -------------------------------------------------------------------------------------------


def _providers_page(form: ProviderForm | None = None, status: int = 200):
    before = _before()
    found, next_before = _page_of(select(Provider), Provider.id, before)
    user_counts = {}
    if found:
        user_counts = dict(
            db.session.execute(
                select(User.provider_id, func.count())
                .where(User.provider_id.in_([p.id for p in found]))
                .group_by(User.provider_id)
            ).all()
        )
    return (
        render_template(
            "admin/providers.html",
            form=form or ProviderForm(),
            providers=found,
            user_counts=user_counts,
            first_url=url_for("web.admin_providers") if before is not None else None,
            older_url=url_for("web.admin_providers", before=next_before) if next_before else None,
        ),
        status,
    )


@blp.route("/admin/providers", methods=["GET", "POST"])
@page("admin")
def admin_providers():
    if request.method == "GET":
        return _providers_page()
    form = ProviderForm()
    if not form.validate_on_submit():
        return _providers_page(form, 422)
    provider = providers.create_provider(name=form.name.data, organization=form.organization.data)
    flash(
        _("Provider %(name)s created. Create its users with the role compute provider.", name=provider.name),
        "success",
    )
    return redirect(url_for("web.admin_providers"))
