"""Voucher programmes: the list (where a finance office creates one), a programme's page with the
finance office's budget bar and the applications to it, and a founder applying for a voucher. Also the
voucher pages' shared wording, bars and refusal display, used by ``booking.web.voucher_applications``
(the applications queue and decisions) and ``booking.web.voucher_wallet`` (a team's vouchers).

Every change goes through ``vouchers.programs``, the same function as the JSON
API; a refused change rolls back and is shown beside its form in the page's language.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from wtforms import SelectChoice

from booking.core.db import db
from booking.core.errors import DomainError
from booking.core.i18n import current_language
from booking.core.money import round_half_up
from booking.models import District, Team
from booking.people import teams
from booking.web import vocabulary
from booking.web.access import page
from booking.web.blueprint import blp
from booking.web.errors import refusal_message, show_refusal
from booking.web.voucher_forms import (
    RESOURCE_KIND_LABELS,
    ApplyForm,
    ApproveForm,
    ProgramForm,
    RejectApplicationForm,
)
from instruments.rules import zone
from vouchers import programs
from vouchers.models import Application, Program, Voucher

LEVEL_LABELS = {"municipal": _l("municipal"), "district": _l("district")}
APPLICATION_STATUS_LABELS = {
    "pending": _l("awaiting decision"),
    "approved": _l("approved"),
    "rejected": _l("not approved"),
}
VOUCHER_STATUS_LABELS = {"active": _l("active"), "expired": _l("expired"), "revoked": _l("revoked")}
LIST_LIMIT = 200
BAR_WIDTH = 1000  # the bars' SVG user units; segment widths are whole units that add up to exactly this

# The operations' refusals in the page's language, by error code, then (for the generic "invalid") by
# the operation's own English message; anything else falls back to that message.
ERROR_CODE_MESSAGES = {
    "invalid_status": _l("This has already been decided or ended; reload the page."),
    "wrong_district": _l("This programme serves only teams registered in its district."),
    "team_not_verified": _l("The team is not verified yet."),
    "program_closed": _l("The programme is not open at the moment (outside its dates)."),
    "budget_exhausted": _l("The programme's remaining budget cannot cover this amount."),
    "team_cap_exceeded": _l("This would exceed the team's cap in this programme."),
    "wrong_level": _l("A finance office creates programmes of its own level only."),
    "unknown_reference": _l("Unknown district."),
    "forbidden": _l("You may not do this."),
}
# Refusals without ``details`` that are still about one field.
ERROR_CODE_FIELDS = {
    "wrong_district": ("team_id",),
    "budget_exhausted": ("amount_fen",),
    "team_cap_exceeded": ("amount_fen",),
}
INVALID_MESSAGES = {
    "Approve at most the amount asked for.": _l("Approve at most the amount asked for."),
    "The window ends before it starts.": _l("Must not be before the first day."),
    "The window is already over.": _l("The programme would already be over."),
    "The per-team cap exceeds the budget.": _l("Must not exceed the total budget."),
    "A rate for a kind the programme does not cover.": _l(
        "A rate was given for a kind the programme does not cover."
    ),
}


def show_error(form, error: DomainError, fields: dict) -> None:
    """Put the refusal beside the field it is about (the API's ``details`` keys), else atop the form."""
    message = refusal_message(error, ERROR_CODE_MESSAGES, by_text=INVALID_MESSAGES)
    show_refusal(form, error, fields, message, also=ERROR_CODE_FIELDS.get(error.code, ()))


# --- presentation helpers ------------------------------------------------------------------------------


@blp.app_template_filter("percent_bp")
def percent_bp(bp: int | None) -> str:
    """Basis points as a percentage without floats: 3000 → "30%", 1250 → "12.5%"."""
    if bp is None:
        return "—"
    whole, rest = divmod(bp, 100)
    return f"{whole}.{rest:02d}".rstrip("0").rstrip(".") + "%"


@blp.app_template_filter("cst_day")
def cst_day(instant: datetime | None) -> str:
    """An instant's calendar date in Chongqing (programmes and vouchers run on Asia/Shanghai dates)."""
    if instant is None:
        return "—"
    return instant.astimezone(zone(programs.PROGRAM_ZONE)).date().isoformat()


def valid_until(expires_at: datetime) -> tuple[str, bool]:
    """How a voucher's expiry reads, and whether it covers a whole last day: one that expires at
    Chongqing midnight (the programme's end) is valid through the day before, inclusive; otherwise
    the local date and time it expires (issue + validity days)."""
    local = expires_at.astimezone(zone(programs.PROGRAM_ZONE))
    if local.time() == time(0):
        return (local.date() - timedelta(days=1)).isoformat(), True
    return local.strftime("%Y-%m-%d %H:%M"), False


def bar_segments(parts: list[tuple[str, object, int]], total_fen: int) -> list[dict]:
    """Stacked-bar segments for (key, label, fen) parts of ``total_fen``: x and width in whole bar units
    from cumulative floors (so they add up to the bar exactly) and a share in per cent to one decimal."""
    total = max(total_fen, sum(fen for _key, _label, fen in parts), 1)
    segments, start, running = [], 0, 0
    for key, label, fen in parts:
        running += fen
        end = running * BAR_WIDTH // total
        permille = round_half_up(fen * 1000, total)
        segments.append(
            {
                "key": key,
                "label": label,
                "fen": fen,
                "x": start,
                "width": end - start,
                "share": f"{permille // 10}.{permille % 10}%",
            }
        )
        start = end
    return segments


def budget_bar(summary: dict) -> list[dict]:
    return bar_segments(
        [
            ("spent", _l("spent"), summary["spent_fen"]),
            ("committed", _l("committed to bookings"), summary["committed_fen"]),
            ("available", _l("available in vouchers"), summary["available_fen"]),
            ("unissued", _l("not yet issued"), summary["unissued_fen"]),
        ],
        summary["budget_fen"],
    )


def usage_bar(voucher: dict) -> list[dict]:
    """A voucher's face value: spent, committed, still available, and what went back to the programme
    (expired or revoked)."""
    parts = [
        ("spent", _l("spent"), voucher["spent_fen"]),
        ("committed", _l("committed to bookings"), voucher["committed_fen"]),
        ("available", _l("available"), voucher["balance_fen"]),
    ]
    returned = voucher["face_value_fen"] - sum(fen for _key, _label, fen in parts)
    if returned > 0:
        parts.append(("returned", _l("returned to the programme"), returned))
    return bar_segments(parts, voucher["face_value_fen"])


def _district_names(codes) -> dict[str, str]:
    codes = {c for c in codes if c}
    if not codes:
        return {}
    locale = current_language()
    return {
        d.code: d.display_name(locale)
        for d in db.session.scalars(select(District).where(District.code.in_(codes)))
    }


def render_page(template: str, status: int = 200, **context):
    context.update(
        level_labels=LEVEL_LABELS,
        kind_labels=RESOURCE_KIND_LABELS,
        application_status_labels=APPLICATION_STATUS_LABELS,
        voucher_status_labels=VOUCHER_STATUS_LABELS,
        today=programs.today(),
    )
    return render_template(template, **context), status


def flash_unshown(overrides: dict, shown) -> None:
    """Errors of a submitted form whose item no longer offers it (say, decided meanwhile) go atop the page."""
    for key, forms in overrides.items():
        if key not in shown:
            for form in forms.values():
                for message in [*form.form_errors, *(e for f in form for e in f.errors)]:
                    flash(str(message), "error")


def decision_forms(applications: list[Application], overrides: dict | None = None) -> dict[int, dict]:
    """Approve and reject forms for the pending applications the current user decides (field ids kept
    unique on the page by a prefix per application); ``overrides`` are submitted forms with errors."""
    overrides = overrides or {}
    forms = {}
    for application in applications:
        if application.status == "pending" and programs.is_officer(current_user, application.program):
            forms[application.id] = {
                "approve": ApproveForm(prefix=f"approve-{application.id}", formdata=None),
                "reject": RejectApplicationForm(prefix=f"reject-{application.id}", formdata=None),
                **overrides.get(application.id, {}),
                "room": programs.approval_room(application),
            }
    flash_unshown(overrides, forms)
    return forms


def pending_and_decided(query) -> tuple[list[Application], list[Application]]:
    pending = db.session.scalars(
        query.where(Application.status == "pending")
        .order_by(Application.created_at, Application.id)
        .limit(LIST_LIMIT)
    )
    decided = db.session.scalars(
        query.where(Application.status != "pending")
        .order_by(Application.decided_at.desc(), Application.id.desc())
        .limit(LIST_LIMIT)
    )
    return list(pending), list(decided)


def approved_amounts(decided: list[Application]) -> dict[int, int]:
    """Face value of the voucher each approved application got (it may be less than asked for)."""
    ids = [a.id for a in decided if a.status == "approved"]
    if not ids:
        return {}
    rows = db.session.execute(
        select(Voucher.application_id, Voucher.face_value_fen).where(Voucher.application_id.in_(ids))
    )
    return {application_id: face_value_fen for application_id, face_value_fen in rows}


# --- programmes ----------------------------------------------------------------------------------------


def _program_list_page(form: ProgramForm | None, status: int = 200):
    found = list(
        db.session.scalars(
            programs.visible_programs(current_user).order_by(Program.id.desc()).limit(LIST_LIMIT)
        )
    )
    officer = current_user.role == "finance"
    return render_page(
        "vouchers/programs.html",
        status,
        programs=found,
        form=form,
        district_names=_district_names([p.district_code for p in found] + [current_user.district_code]),
        summaries={p.id: programs.summary(p) for p in found}
        if officer or current_user.role == "admin"
        else {},
    )


@blp.route("/programs", methods=["GET", "POST"])
@page()
def program_list():
    form = ProgramForm.for_officer(current_user) if current_user.role == "finance" else None
    if form is not None:
        form.offer_payees()
    if request.method == "GET":
        return _program_list_page(form)
    if form is None:
        abort(403)
    if not form.validate_on_submit():
        return _program_list_page(form, 422)
    try:
        program = programs.create_program(current_user, **form.to_fields(current_user))
    except DomainError as error:
        show_error(
            form,
            error,
            {
                "valid_to": form.valid_to,
                "per_team_cap_fen": form.per_team_cap_yuan,
                "rate_bp": form.rate_percent,
                "stack_ceiling_bp": getattr(form, "stack_ceiling_percent", None),
            }
            | form.rule_fields(),
        )
        return _program_list_page(form, error.status)
    flash(_("Programme created and its budget funded."), "success")
    return redirect(url_for("web.program_detail", program_id=program.id))


def program_page(program: Program, overrides: dict | None = None, status: int = 200):
    """The programme; for its finance office and admins the budget bar and the applications to it;
    for founders their own applications to it."""
    sees_budget = programs.is_officer(current_user, program) or current_user.role == "admin"
    summary = programs.summary(program) if sees_budget else None
    query = programs.filtered_applications(current_user, {"program_id": program.id})
    pending, decided = pending_and_decided(query)
    return render_page(
        "vouchers/program.html",
        status,
        program=program,
        district_names=_district_names([program.district_code]),
        summary=summary,
        payee_names=[vocabulary.payee_name(p["kind"], p["id"]) for p in program.eligible_payees or []],
        bar=budget_bar(summary) if summary else None,
        pending=pending,
        decided=decided,
        approved_amounts=approved_amounts(decided),
        decision_forms=decision_forms(pending, overrides),
    )


@blp.route("/programs/<int:program_id>")
@page()
def program_detail(program_id: int):
    return program_page(programs.program_for(current_user, program_id))


@blp.route("/programs/<int:program_id>/apply", methods=["GET", "POST"])
@page("founder")
def program_apply(program_id: int):
    program = programs.program_for(current_user, program_id)
    owned = list(
        db.session.scalars(
            teams.visible_teams(current_user).where(Team.owner_id == current_user.id).order_by(Team.id)
        ).unique()
    )
    names = _district_names([t.district_code for t in owned])
    form = ApplyForm()
    unverified = _("awaiting verification")
    form.team_id.choices = [
        SelectChoice(
            t.id,
            f"{t.name} · {names.get(t.district_code, t.district_code)}"
            + ("" if t.verified else f" ({unverified})"),
        )
        for t in owned
    ]
    status = 200
    if form.validate_on_submit():
        try:
            programs.apply(
                current_user,
                program.id,
                team_id=form.team_id.data,
                amount_fen=form.amount_yuan.data,
                purpose=" ".join(form.purpose.data.split()),
            )
        except DomainError as error:
            show_error(form, error, {"team_id": form.team_id, "amount_fen": form.amount_yuan})
            status = error.status
        else:
            flash(_("Application sent. The programme's finance office will decide on it."), "success")
            return redirect(url_for("web.application_list"))
    elif form.is_submitted():
        status = 422
    return render_page(
        "vouchers/apply.html",
        status,
        program=program,
        form=form,
        has_teams=bool(owned),
        district_names=_district_names([program.district_code]),
    )
