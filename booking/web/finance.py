"""The finance pages (finance officers — a district office sees only its district — and admins).

Every page calls the same domain functions as the JSON API (``vouchers.dashboard``,
``vouchers.finance_exceptions``, ``vouchers.reconciliation``, ``booking.people.audit``, ``vouchers.reports``);
scope is decided there (``vouchers.scope``).

- ``/finance``: dashboard (``vouchers.dashboard``): programme figures, spend by month as a stacked bar
  chart per programme (server-rendered SVG, no script), municipal vs district share;
- ``/finance/reconciliation``: recent runs and "Run reconciliation";
- ``/finance/exceptions``: the queue, filters, resolve with a comment.

It also owns the finance pages' shared helpers (district scope, the period filter, refusal wording, the
``f_time`` filter). Closing months and payouts are in ``booking.web.finance_periods``; statements and
exports, the audit log and the lab report are in ``booking.web.finance_reports``.
"""

from __future__ import annotations

from datetime import datetime

from flask import (
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from wtforms import SelectChoice

from booking.core import clock
from booking.core.db import db
from booking.core.errors import DomainError
from booking.core.i18n import current_language
from booking.models import District, Provider, User
from booking.web import vocabulary
from booking.web.access import page
from booking.web.blueprint import blp
from booking.web.errors import refusal_message, show_refusal
from booking.web.finance_forms import (
    EXCEPTION_KINDS,
    DistrictPickerForm,
    ExceptionFilterForm,
    PeriodForm,
    ResolveExceptionForm,
    RunReconciliationForm,
    district_choices,
)
from vouchers import claim_queue, dashboard, ledger, scope
from vouchers.finance_exceptions import (
    exception_for,
    filtered_exceptions,
    resolve_exception,
    visible_exceptions,
)
from vouchers.models import FinanceException, ReconciliationRun
from vouchers.reconciliation import reconcile

CHART_WIDTH, CHART_HEIGHT, CHART_TOP, CHART_LEFT = 640, 220, 24, 8
PALETTE_SIZE = 8  # colour classes f-c0 … f-c7 in app.css, the same in the chart and its legend
RUNS_SHOWN = 20


# --- helpers ---------------------------------------------------------------------------------------------


def municipal_view() -> bool:
    return scope.is_municipal(current_user)


def all_districts() -> list[District]:
    return list(db.session.scalars(select(District).order_by(District.code)))


def district_arg() -> str | None:
    """The district asked for in the query string (district offices: always their own)."""
    if not municipal_view():
        return current_user.district_code
    code = request.args.get("district_code") or None
    return code


def with_district_choices(form) -> None:
    if municipal_view():
        form.district_code.choices = district_choices(all_districts(), current_language())
    else:
        own = db.session.get(District, current_user.district_code)
        form.district_code.choices = [SelectChoice(own.code, own.display_name(current_language()))]


def previous_period(now: datetime | None = None) -> str:
    this = ledger.period_of(now or clock.now())
    year, month = int(this[:4]), int(this[5:])
    return f"{year - (month == 1):04d}-{(month - 2) % 12 + 1:02d}"


def period_form(period: str | None = None) -> tuple[PeriodForm, str | None, int]:
    """The period filter (default: ``period``, else the previous month); (form, period or None if
    invalid, status)."""
    args = request.args.copy()
    if not args.get("period"):
        args["period"] = period or previous_period()
    form = PeriodForm(formdata=args)
    with_district_choices(form)
    if not municipal_view():
        form.district_code.data = current_user.district_code
    if form.validate():
        return form, form.period.data, 200
    return form, None, 422


FINANCE_WORDS = {
    "period_closed": _l("That month is already closed."),
    "period_not_ended": _l("That month has not ended yet."),
    "invalid_status": _l("This has already been decided; reload the page."),
}


def show_error(form, error: DomainError, fields: dict) -> None:
    show_refusal(form, error, fields, refusal_message(error, FINANCE_WORDS))


# --- dashboard -------------------------------------------------------------------------------------------


def spend_chart(programs: list[dict]) -> dict:
    """Stacked bars: one bar per month, one segment per programme (spend settled in that month), in
    whole SVG units; programmes keep their colour in the legend."""
    months = sorted({m["period"] for p in programs for m in p["by_month"]})
    totals = {period: 0 for period in months}
    for program in programs:
        for month in program["by_month"]:
            totals[month["period"]] += month["spent_fen"]
    peak = max(totals.values(), default=0)
    usable = CHART_HEIGHT - CHART_TOP
    slot = (CHART_WIDTH - CHART_LEFT) // max(len(months), 1)
    legend = [
        {"name": p["name"], "level": p["level"], "colour": i % PALETTE_SIZE}
        for i, p in enumerate(programs)
        if p["by_month"]
    ]
    colour_of = {p["id"]: i % PALETTE_SIZE for i, p in enumerate(programs)}
    bars = []
    for i, period in enumerate(months):
        x = CHART_LEFT + i * slot + slot // 6
        width = max(slot * 2 // 3, 1)
        segments, below = [], 0
        for program in programs:
            spent = next((m["spent_fen"] for m in program["by_month"] if m["period"] == period), 0)
            if not spent:
                continue
            top = ((below + spent) * usable) // peak
            bottom = (below * usable) // peak
            segments.append(
                {
                    "program": program["name"],
                    "spent_fen": spent,
                    "colour": colour_of[program["id"]],
                    "y": CHART_HEIGHT - top,
                    "height": max(top - bottom, 1),
                }
            )
            below += spent
        bars.append(
            {
                "period": period,
                "total_fen": totals[period],
                "x": x,
                "width": width,
                "label_x": x + width // 2,
                "top_y": CHART_HEIGHT - (totals[period] * usable) // peak - 6 if peak else CHART_HEIGHT,
                "segments": segments,
            }
        )
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT, "bars": bars, "legend": legend}


def share_bar(share: dict) -> dict:
    municipal, district = share["municipal_fen"], share["district_fen"]
    total = municipal + district
    width = 1000
    municipal_w = municipal * width // total if total else 0
    return {
        "total_fen": total,
        "municipal_fen": municipal,
        "district_fen": district,
        "municipal_w": municipal_w,
        "district_w": width - municipal_w if total else 0,
        "width": width,
        "municipal_bp": municipal * 10_000 // total if total else 0,
        "district_bp": 10_000 - municipal * 10_000 // total if total else 0,
    }


@blp.route("/finance")
@page("finance", "admin")
def finance_dashboard():
    district_code = district_arg()
    picker = None
    if municipal_view():
        picker = DistrictPickerForm()
        picker.district_code.choices = district_choices(all_districts(), current_language())
        if not picker.validate():
            return render_template(
                "finance/dashboard.html", picker=picker, data=None, chart=None, share=None
            ), 422
    data = dashboard.dashboard(current_user, district_code)
    return render_template(
        "finance/dashboard.html",
        picker=picker,
        data=data,
        chart=spend_chart(data["programs"]),
        share=share_bar(data["share"]),
        claims=claim_queue.claims_overview(current_user, district_code),
        claim_districts={d.code: d.display_name(current_language()) for d in all_districts()},
    )


# --- reconciliation --------------------------------------------------------------------------------------


def _runs_page(form: RunReconciliationForm, status: int = 200):
    runs = list(
        db.session.scalars(select(ReconciliationRun).order_by(ReconciliationRun.id.desc()).limit(RUNS_SHOWN))
    )
    shown = None
    run_id = request.args.get("run", type=int)
    if run_id is not None:
        shown = db.session.get(ReconciliationRun, run_id)
    names = user_names({r.triggered_by_id for r in runs if r.triggered_by_id})
    return render_template(
        "finance/reconciliation.html", form=form, runs=runs, shown=shown, names=names
    ), status


@blp.route("/finance/reconciliation")
@page("finance", "admin")
def finance_reconciliation():
    return _runs_page(RunReconciliationForm())


@blp.route("/finance/reconciliation", methods=["POST"])
@page("finance", "admin")  # the same roles as POST /api/v1/reconciliation/runs
def finance_reconciliation_run():
    form = RunReconciliationForm()
    if not form.validate_on_submit():
        return _runs_page(form, 422)
    run = reconcile(triggered_by_id=current_user.id)
    flash(
        _(
            "Reconciliation finished: %(settled)d bookings settled, %(exceptions)d exceptions raised.",
            settled=run.settled,
            exceptions=run.exceptions,
        ),
        "success",
    )
    return redirect(url_for("web.finance_reconciliation", run=run.id))


def user_names(ids) -> dict[int, str]:
    ids = [i for i in ids if i is not None]
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())


# --- exceptions ------------------------------------------------------------------------------------------


def _exceptions_page(overrides: dict | None = None, status: int = 200):
    filters = ExceptionFilterForm()
    known = set(EXCEPTION_KINDS) | set(db.session.scalars(select(FinanceException.kind).distinct()))
    filters.kind.choices = [SelectChoice("", _("Any kind"))] + [
        SelectChoice(k, vocabulary.exception_kind(k)) for k in sorted(known)
    ]
    if filters.validate():
        query = filtered_exceptions(current_user, {"kind": filters.kind.data, "status": filters.status.data})
    else:
        status = 422
        query = visible_exceptions(current_user).where(False)
    items = list(db.session.scalars(query.order_by(FinanceException.id.desc()).limit(200)))
    forms = {
        e.id: (overrides or {}).get(e.id) or ResolveExceptionForm(prefix=f"resolve-{e.id}", formdata=None)
        for e in items
        if e.status == "open"
    }
    names = user_names({e.resolved_by_id for e in items})
    provider_ids = {e.provider_id for e in items if e.provider_id is not None}
    providers = dict(db.session.execute(select(Provider.id, Provider.name).where(Provider.id.in_(provider_ids))).all())  # fmt: skip
    return render_template(
        "finance/exceptions.html",
        filters=filters,
        items=items,
        forms=forms,
        names=names,
        providers=providers,
        district_names={d.code: d.display_name(current_language()) for d in all_districts()},
        exception_fields=vocabulary.EXCEPTION_FIELDS,
    ), status


@blp.route("/finance/exceptions")
@page("finance", "admin")
def finance_exceptions():
    return _exceptions_page()


@blp.route("/finance/exceptions/<int:exception_id>/resolve", methods=["POST"])
@page("finance", "admin")
def finance_exception_resolve(exception_id: int):
    exception = exception_for(current_user, exception_id)  # 404 outside the officer's scope
    form = ResolveExceptionForm(prefix=f"resolve-{exception.id}")
    if not form.validate_on_submit():
        return _exceptions_page({exception.id: form}, 422)
    try:
        resolve_exception(current_user, exception.id, " ".join(form.comment.data.split()))
    except DomainError as error:
        show_error(form, error, {"comment": form.comment})
        return _exceptions_page({exception.id: form}, error.status)
    flash(_("Exception %(id)d resolved.", id=exception.id), "success")
    return redirect(url_for("web.finance_exceptions", **request.args))


# --- presentation helpers --------------------------------------------------------------------------------


blp.add_app_template_filter(vocabulary.finance_time, "f_time")


for _helper in (
    vocabulary.exception_kind,
    vocabulary.audit_action,
    vocabulary.audit_object,
    vocabulary.readable_facts,
):
    blp.add_app_template_global(_helper)
blp.add_app_template_global(vocabulary.AUDIT_FIELDS, "audit_fields")


@blp.app_template_global("export_status")
def export_status(export) -> str:
    return {
        "pending": _("Waiting to start"),
        "running": _("Writing the file…"),
        "done": _("Ready to download"),
        "failed": _("Failed"),
    }.get(export.status, export.status)


def operation_mode_labels() -> dict[str, str]:
    return {
        "public_interest": _("Public interest"),
        "market": _("Market rate"),
        "project": _("Project-based"),
    }
