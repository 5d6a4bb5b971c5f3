"""The finance pages (finance officers — a district office sees only its district — and admins).

Every page calls the same domain functions as the JSON API (``vouchers.finance``, ``vouchers.audit``,
``vouchers.lab_report``, ``vouchers.reconciliation``, ``vouchers.exports``); scope is decided there.

- ``/finance``: dashboard (``finance.dashboard``): programme figures, spend by month as a stacked bar
  chart per programme (server-rendered SVG, no script), municipal vs district share;
- ``/finance/reconciliation``: recent runs and "Run reconciliation";
- ``/finance/exceptions``: the queue, filters, resolve with a comment;
- ``/finance/statements``: lines per payee and per programme, CSV/XLSX downloads (streamed), and
  background exports with a progress page (``/finance/exports/<id>``, refreshes itself by meta refresh);
- ``/finance/periods`` (close a month), ``/finance/payouts`` (mark a payee paid);
- ``/finance/audit``: the audit log, filtered and paginated, newest first;
- ``/finance/lab-report``: lab open-sharing report with a utilisation chart and CSV.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from flask import (
    Response,
    abort,
    after_this_request,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from wtforms import SelectChoice

from booking import clock
from booking.db import db
from booking.errors import DomainError
from booking.i18n import current_language
from booking.models import District, User
from booking.web import blp
from booking.web.access import page
from booking.web.finance_forms import (
    EXCEPTION_KINDS,
    AuditFilterForm,
    ClosePeriodForm,
    DistrictPickerForm,
    ExceptionFilterForm,
    ExportForm,
    PayoutForm,
    PeriodForm,
    ResolveExceptionForm,
    RunReconciliationForm,
    district_choices,
)
from vouchers import audit, exports, finance, lab_report, ledger
from vouchers.models import AccountingPeriod, AuditEntry, FinanceException, ReconciliationRun
from vouchers.reconciliation import reconcile

CHART_WIDTH, CHART_HEIGHT, CHART_TOP, CHART_LEFT = 640, 220, 24, 8
PALETTE_SIZE = 8  # colour classes f-c0 … f-c7 in app.css, the same in the chart and its legend
AUDIT_PAGE_SIZE = 50
RUNS_SHOWN = 20


# --- helpers ---------------------------------------------------------------------------------------------


def _municipal() -> bool:
    return finance.is_municipal(current_user)


def _districts() -> list[District]:
    return list(db.session.scalars(select(District).order_by(District.code)))


def _district_arg() -> str | None:
    """The district asked for in the query string (district offices: always their own)."""
    if not _municipal():
        return current_user.district_code
    code = request.args.get("district_code") or None
    return code


def _with_district_choices(form) -> None:
    if _municipal():
        form.district_code.choices = district_choices(_districts(), current_language())
    else:
        own = db.session.get(District, current_user.district_code)
        form.district_code.choices = [SelectChoice(own.code, own.display_name(current_language()))]


def previous_period(now: datetime | None = None) -> str:
    this = ledger.period_of(now or clock.now())
    year, month = int(this[:4]), int(this[5:])
    return f"{year - (month == 1):04d}-{(month - 2) % 12 + 1:02d}"


def recent_periods(count: int = 12) -> list[str]:
    """This month and the ``count - 1`` before it, newest first."""
    periods, period = [], ledger.period_of(clock.now())
    for _i in range(count):
        periods.append(period)
        year, month = int(period[:4]), int(period[5:])
        period = f"{year - (month == 1):04d}-{(month - 2) % 12 + 1:02d}"
    return periods


def _period_form(period: str | None = None) -> tuple[PeriodForm, str | None, int]:
    """The period filter (default: ``period``, else the previous month); (form, period or None if
    invalid, status)."""
    args = request.args.copy()
    if not args.get("period"):
        args["period"] = period or previous_period()
    form = PeriodForm(formdata=args)
    _with_district_choices(form)
    if not _municipal():
        form.district_code.data = current_user.district_code
    if form.validate():
        return form, form.period.data, 200
    return form, None, 422


def _show_error(form, error: DomainError, fields: dict) -> None:
    keys = list(error.details)
    field = next((fields[key] for key in keys if key in fields), None)
    message = error.message
    if error.code == "period_closed":
        message = _("That month is already closed.")
    elif error.code == "period_not_ended":
        message = _("That month has not ended yet.")
    elif error.code == "invalid_status":
        message = _("This has already been decided; reload the page.")
    if field is not None:
        field.errors = [*field.errors, message]
    else:
        form.form_errors.append(message)


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
    district_code = _district_arg()
    picker = None
    if _municipal():
        picker = DistrictPickerForm()
        picker.district_code.choices = district_choices(_districts(), current_language())
        if not picker.validate():
            return render_template(
                "finance/dashboard.html", picker=picker, data=None, chart=None, share=None
            ), 422
    data = finance.dashboard(current_user, district_code)
    return render_template(
        "finance/dashboard.html",
        picker=picker,
        data=data,
        chart=spend_chart(data["programs"]),
        share=share_bar(data["share"]),
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
    names = _user_names({r.triggered_by_id for r in runs if r.triggered_by_id})
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


def _user_names(ids) -> dict[int, str]:
    ids = [i for i in ids if i is not None]
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())


# --- exceptions ------------------------------------------------------------------------------------------


def _exceptions_page(overrides: dict | None = None, status: int = 200):
    filters = ExceptionFilterForm()
    known = set(EXCEPTION_KINDS) | set(db.session.scalars(select(FinanceException.kind).distinct()))
    filters.kind.choices = [SelectChoice("", _("Any kind"))] + [SelectChoice(k, k) for k in sorted(known)]
    query = finance.visible_exceptions(current_user)
    if filters.validate():
        if filters.status.data:
            query = query.where(FinanceException.status == filters.status.data)
        if filters.kind.data:
            query = query.where(FinanceException.kind == filters.kind.data)
    else:
        status = 422
        query = query.where(False)
    items = list(db.session.scalars(query.order_by(FinanceException.id.desc()).limit(200)))
    forms = {
        e.id: (overrides or {}).get(e.id) or ResolveExceptionForm(prefix=f"resolve-{e.id}", formdata=None)
        for e in items
        if e.status == "open"
    }
    names = _user_names({e.resolved_by_id for e in items})
    return render_template(
        "finance/exceptions.html", filters=filters, items=items, forms=forms, names=names
    ), status


@blp.route("/finance/exceptions")
@page("finance", "admin")
def finance_exceptions():
    return _exceptions_page()


@blp.route("/finance/exceptions/<int:exception_id>/resolve", methods=["POST"])
@page("finance", "admin")
def finance_exception_resolve(exception_id: int):
    exception = finance.exception_for(current_user, exception_id)  # 404 outside the officer's scope
    form = ResolveExceptionForm(prefix=f"resolve-{exception.id}")
    if not form.validate_on_submit():
        return _exceptions_page({exception.id: form}, 422)
    try:
        finance.resolve_exception(current_user, exception.id, " ".join(form.comment.data.split()))
    except DomainError as error:
        db.session.rollback()
        _show_error(form, error, {"comment": form.comment})
        return _exceptions_page({exception.id: form}, error.status)
    flash(_("Exception %(id)d resolved.", id=exception.id), "success")
    return redirect(url_for("web.finance_exceptions", **request.args))


# --- statements and exports ------------------------------------------------------------------------------


def _statement_args() -> tuple[str, str | None]:
    form, period, _status = _period_form()
    if period is None:
        from booking.errors import Invalid

        raise Invalid("A period is a month: YYYY-MM.", details={"period": ["Not a YYYY-MM month."]})
    return period, form.district_code.data or None


@blp.route("/finance/statements")
@page("finance", "admin")
def finance_statements():
    form, period, status = _period_form()
    rows = programs = []
    export_form = None
    if period is not None:
        district = form.district_code.data or None
        rows = finance.statement_rows(current_user, period, district)
        programs = exports.program_rows(current_user, period, district)
        export_form = ExportForm(formdata=None, period=period, district_code=district or "")
    totals = {
        key: sum(r[key] for r in rows)
        for key in (
            "bookings",
            "total_fen",
            "municipal_fen",
            "district_fen",
            "subsidy_fen",
            "team_fen",
            "fee_fen",
        )
    }
    program_total = sum(p["settled_fen"] for p in programs)
    recent = list(
        db.session.scalars(exports.visible_exports(current_user).order_by(exports.Export.id.desc()).limit(5))
    )
    return render_template(
        "finance/statements.html",
        form=form,
        period=period,
        rows=rows,
        totals=totals,
        programs=programs,
        program_total=program_total,
        export_form=export_form,
        recent=recent,
    ), status


def _download(pieces, name: str, content_type: str) -> Response:
    return Response(
        stream_with_context(pieces),
        content_type=content_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@blp.route("/finance/statements/download")
@page("finance", "admin")
def finance_statement_download():
    period, district = _statement_args()
    fmt = request.args.get("format", "csv")
    kind = request.args.get("kind", "statement")
    if fmt not in exports.FORMATS or kind not in exports.KINDS:
        from booking.errors import Invalid

        raise Invalid("Unknown format.", details={"format": ["csv or xlsx."]})
    scoped = finance.scope_district(current_user, district)
    name = exports.filename(kind, fmt, period, scoped)
    if kind == "statement":
        rows = finance.statement_rows(current_user, period, scoped)
        pieces = finance.statement_csv(rows) if fmt == "csv" else finance.statement_xlsx(rows, period)
    else:
        maker = exports.lines_csv if fmt == "csv" else exports.lines_xlsx
        pieces = maker(current_user, period, scoped)
    return _download(pieces, name, exports.CONTENT_TYPES[fmt])


@blp.route("/finance/exports", methods=["POST"])
@page("finance", "admin")
def finance_export_create():
    form = ExportForm()
    if not form.validate_on_submit():
        flash(
            _(
                "The export could not be started: %(errors)s",
                errors="; ".join(str(e) for errors in form.errors.values() for e in errors),
            ),
            "error",
        )
        return redirect(url_for("web.finance_statements", period=form.period.data or None))
    district = (form.district_code.data or None) if _municipal() else current_user.district_code
    export = exports.request_export(
        current_user, form.kind.data, form.format.data, form.period.data, district
    )
    if exports.runner() == "thread":
        export_id = export.id

        @after_this_request
        def _start(response):  # after the commit, so the thread sees the export
            if response.status_code < 400:
                exports.start_in_thread(export_id)
            return response

    return redirect(url_for("web.finance_export", export_id=export.id))


@blp.route("/finance/exports/<int:export_id>")
@page("finance", "admin")
def finance_export(export_id: int):
    export = exports.export_for(current_user, export_id)
    response = make_response(render_template("finance/export.html", export=export))
    if export.status in ("pending", "running"):
        response.headers["Refresh"] = "2"  # the page reloads itself while the job writes (no script)
    return response


@blp.route("/finance/exports/<int:export_id>/download")
@page("finance", "admin")
def finance_export_download(export_id: int):
    export = exports.export_for(current_user, export_id)
    if export.status != "done":
        return redirect(url_for("web.finance_export", export_id=export.id))
    response = _download(exports.file_chunks(export), export.filename, export.content_type)
    if export.size_bytes is not None:
        response.headers["Content-Length"] = str(export.size_bytes)
    return response


# --- periods and payouts ---------------------------------------------------------------------------------


def _periods_page(form: ClosePeriodForm | None = None, status: int = 200):
    closed = {
        p.period: p
        for p in db.session.scalars(select(AccountingPeriod).order_by(AccountingPeriod.period.desc()))
    }
    current = ledger.period_of(clock.now())
    periods = sorted(set(recent_periods()) | set(closed), reverse=True)
    closable = [p for p in periods if p < current and p not in closed]
    if form is None and current_user.role == "finance":
        form = ClosePeriodForm(formdata=None)
    if form is not None:
        form.period.choices = [SelectChoice(p, p) for p in closable]
    names = _user_names({p.closed_by_id for p in closed.values()})
    return render_template(
        "finance/periods.html", periods=periods, closed=closed, current=current, form=form, names=names
    ), status


@blp.route("/finance/periods")
@page("finance", "admin")
def finance_periods():
    return _periods_page()


@blp.route("/finance/periods/close", methods=["POST"])
@page("finance")  # the same role as POST /api/v1/finance/periods/{period}/close
def finance_period_close():
    form = ClosePeriodForm()
    if not form.validate_on_submit():
        return _periods_page(form, 422)
    try:
        finance.close_period(current_user, form.period.data)
    except DomainError as error:
        db.session.rollback()
        _show_error(form, error, {"period": form.period})
        return _periods_page(form, error.status)
    flash(_("%(period)s is closed.", period=form.period.data), "success")
    return redirect(url_for("web.finance_periods"))


def _payouts_page(overrides: dict | None = None, status: int = 200, period: str | None = None):
    form, period, status_ = _period_form(period)
    status = max(status, status_)
    rows, paid = [], {}
    if period is not None:
        rows = finance.statement_rows(current_user, period, form.district_code.data or None)
        paid = exports.payouts_of(period)
    forms = {}
    if current_user.role == "finance" and period is not None:
        for row in rows:
            key = f"{row['payee_kind']}-{row['payee_id']}"
            forms[key] = (overrides or {}).get(key) or PayoutForm(
                prefix=f"payout-{key}",
                formdata=None,
                period=period,
                payee_kind=row["payee_kind"],
                payee_id=str(row["payee_id"]),
            )
    return render_template(
        "finance/payouts.html", form=form, period=period, rows=rows, paid=paid, forms=forms
    ), status


@blp.route("/finance/payouts")
@page("finance", "admin")
def finance_payouts():
    return _payouts_page()


@blp.route("/finance/payouts/<payee_kind>/<int:payee_id>", methods=["POST"])
@page("finance")  # the same role as POST /api/v1/finance/payouts
def finance_payout(payee_kind: str, payee_id: int):
    if payee_kind not in ("lab", "provider"):
        abort(404)
    key = f"{payee_kind}-{payee_id}"
    form = PayoutForm(prefix=f"payout-{key}")
    if not form.validate_on_submit():
        return _payouts_page({key: form}, 422, _valid_period(form.period.data))
    try:
        result, new = finance.payout(
            current_user,
            period=form.period.data,
            payee_kind=payee_kind,
            payee_id=payee_id,
            reference=" ".join(form.reference.data.split()),
        )
    except DomainError as error:
        db.session.rollback()
        _show_error(form, error, {"reference": form.reference})
        return _payouts_page({key: form}, error.status, _valid_period(form.period.data))
    if new:
        flash(_("Marked paid: %(amount)s.", amount=_yuan(result["paid_fen"])), "success")
    else:
        flash(_("Nothing more to pay: this statement was already marked paid."), "info")
    return redirect(url_for("web.finance_payouts", period=form.period.data))


def _valid_period(period: str | None) -> str | None:
    return period if period and finance.PERIOD_RE.match(period) else None


def _yuan(fen: int) -> str:
    from booking.i18n import format_yuan

    return format_yuan(fen)


# --- audit log -------------------------------------------------------------------------------------------


def _local_midnight(day) -> datetime:
    from instruments.rules import zone

    return datetime.combine(day, time(0), tzinfo=zone(ledger.PERIOD_ZONE)).astimezone(UTC)


@blp.route("/finance/audit")
@page("finance", "admin")
def finance_audit():
    filters = AuditFilterForm()
    visible = audit.visible_entries(current_user)
    actor_ids = set(
        db.session.scalars(
            select(AuditEntry.actor_id)
            .where(AuditEntry.id.in_(visible.with_only_columns(AuditEntry.id)))
            .distinct()
        )
    )
    names = _user_names(actor_ids)
    filters.actor_id.choices = [SelectChoice("", _("Anyone"))] + [
        SelectChoice(str(i), names[i]) for i in sorted(names, key=lambda i: names[i])
    ]
    status = 200
    query = visible
    if filters.validate():
        if filters.action.data:
            query = query.where(AuditEntry.action == filters.action.data)
        if filters.actor_id.data:
            query = query.where(AuditEntry.actor_id == int(filters.actor_id.data))
        if filters.since.data:
            query = query.where(AuditEntry.at >= _local_midnight(filters.since.data))
        if filters.until.data:
            query = query.where(AuditEntry.at < _local_midnight(filters.until.data + timedelta(days=1)))
    else:
        status, query = 422, query.where(False)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    page_no = max(request.args.get("page", 1, type=int) or 1, 1)
    pages = max((total + AUDIT_PAGE_SIZE - 1) // AUDIT_PAGE_SIZE, 1)
    page_no = min(page_no, pages)
    entries = list(
        db.session.scalars(
            query.order_by(AuditEntry.id.desc())
            .offset((page_no - 1) * AUDIT_PAGE_SIZE)
            .limit(AUDIT_PAGE_SIZE)
        )
    )
    args = {k: v for k, v in request.args.items() if k != "page"}
    return render_template(
        "finance/audit.html",
        filters=filters,
        entries=entries,
        names=names,
        page_no=page_no,
        pages=pages,
        total=total,
        args=args,
    ), status


# --- lab open-sharing report -----------------------------------------------------------------------------


def utilisation_chart(rows: list[dict]) -> dict:
    """Horizontal bars: utilisation of opening hours per instrument (0–100%, longer for more)."""
    width, label_w, row_h = 640, 220, 22
    bars = []
    for i, row in enumerate(rows):
        bp = min(row["utilisation_bp"], 10_000)
        bars.append(
            {
                "label": f"{row['lab_name']} · {row['instrument_name']}",
                "bp": row["utilisation_bp"],
                "y": i * row_h,
                "width": (width - label_w - 60) * bp // 10_000,
            }
        )
    return {
        "width": width,
        "label_w": label_w,
        "row_h": row_h,
        "height": max(len(rows), 1) * row_h,
        "bars": bars,
    }


@blp.route("/finance/lab-report")
@page("finance", "admin")
def finance_lab_report():
    form, period, status = _period_form()
    rows = []
    if period is not None:
        rows = lab_report.report_rows(current_user, period, form.district_code.data or None)
    return render_template(
        "finance/lab_report.html",
        form=form,
        period=period,
        rows=rows,
        income=lab_report.income_by_mode(rows),
        chart=utilisation_chart(rows),
        mode_labels=operation_mode_labels(),
    ), status


@blp.route("/finance/lab-report/download")
@page("finance", "admin")
def finance_lab_report_download():
    period, district = _statement_args()
    rows = lab_report.report_rows(current_user, period, district)
    return _download(lab_report.report_csv(rows), f"lab-report-{period}.csv", exports.CONTENT_TYPES["csv"])


# --- presentation helpers --------------------------------------------------------------------------------


@blp.app_template_filter("f_time")
def finance_time(instant: datetime | None) -> str:
    """An instant in Chongqing time, to the minute (finance works on Asia/Shanghai months)."""
    if instant is None:
        return "—"
    from instruments.rules import zone

    if instant.tzinfo is None:  # SQLite hands back naive UTC
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(zone(ledger.PERIOD_ZONE)).strftime("%Y-%m-%d %H:%M")


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
