"""The finance reports pages: statements (per payee and per programme, CSV/XLSX downloads streamed,
background exports with a progress page), the audit log and the lab open-sharing report. Shared
helpers (district scope, period forms) live in ``booking.web.finance``."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from flask import (
    Response,
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

from booking.core.db import db
from booking.core.errors import Invalid
from booking.core.i18n import current_language
from booking.people import audit
from booking.web.access import page
from booking.web.blueprint import blp
from booking.web.finance import municipal_view, operation_mode_labels, period_form, user_names
from booking.web.finance_forms import (
    AuditFilterForm,
    ExportForm,
)
from instruments.rules import zone
from vouchers import ledger, scope
from vouchers.models import AuditEntry, Export
from vouchers.reports import export_runs, exports, files, lab_report, statement_lines, statements

AUDIT_PAGE_SIZE = 50


# --- statements and exports ------------------------------------------------------------------------------


def _statement_args() -> tuple[str, str | None]:
    form, period, _status = period_form()
    if period is None:
        raise Invalid("A period is a month: YYYY-MM.", details={"period": ["Not a YYYY-MM month."]})
    return period, form.district_code.data or None


@blp.route("/finance/statements")
@page("finance", "admin")
def finance_statements():
    form, period, status = period_form()
    rows = programs = []
    export_form = None
    if period is not None:
        district = form.district_code.data or None
        rows = statements.statement_rows(current_user, period, district)
        programs = exports.program_rows(current_user, period, district)
        export_form = ExportForm(formdata=None, period=period, district_code=district or "")
    totals = {key: sum(r[key] for r in rows) for key in statements.STATEMENT_AMOUNTS}
    program_total = sum(p["settled_fen"] for p in programs)
    recent = list(
        db.session.scalars(exports.visible_exports(current_user).order_by(Export.id.desc()).limit(5))
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
        raise Invalid("Unknown format.", details={"format": ["csv or xlsx."]})
    scoped = scope.scope_district(current_user, district)
    name = exports.filename(kind, fmt, period, scoped)
    if kind == "statement":  # the people's layout: headers in their language, yuan, local times, totals
        table = statements.statement_table(statements.statement_rows(current_user, period, scoped), "human")
    else:
        table = statement_lines.lines_table(current_user, period, scoped, "human")
    pieces = files.pieces(table, fmt, period)
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
    district = (form.district_code.data or None) if municipal_view() else current_user.district_code
    export = exports.request_export(
        current_user,
        form.kind.data,
        form.format.data,
        form.period.data,
        district,
        layout="human",
        language=current_language(),
    )
    if export_runs.runner() == "thread":
        export_id = export.id

        @after_this_request
        def _start(response):  # after the commit, so the thread sees the export
            if response.status_code < 400:
                export_runs.start_in_thread(export_id)
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
    response = _download(export_runs.file_chunks(export), export.filename, export.content_type)
    if export.size_bytes is not None:
        response.headers["Content-Length"] = str(export.size_bytes)
    return response


# --- audit log -------------------------------------------------------------------------------------------


def _local_midnight(day) -> datetime:
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
    names = user_names(actor_ids)
    filters.actor_id.choices = [SelectChoice("", _("Anyone"))] + [
        SelectChoice(str(i), names[i]) for i in sorted(names, key=lambda i: names[i])
    ]
    status = 200
    if filters.validate():
        query = audit.filtered_entries(
            current_user,
            {
                "action": filters.action.data or None,
                "actor_id": int(filters.actor_id.data) if filters.actor_id.data else None,
                "since": _local_midnight(filters.since.data) if filters.since.data else None,
                "until": _local_midnight(filters.until.data + timedelta(days=1))
                if filters.until.data
                else None,
            },
        )
    else:
        status, query = 422, visible.where(False)
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
    form, period, status = period_form()
    rows, service_rows = [], []
    if period is not None:
        rows = lab_report.report_rows(current_user, period, form.district_code.data or None)
        service_rows = lab_report.service_rows(current_user, period, form.district_code.data or None)
    return render_template(
        "finance/lab_report.html",
        form=form,
        period=period,
        rows=rows,
        service_rows=service_rows,
        income=lab_report.income_by_mode(rows),
        chart=utilisation_chart(rows),
        mode_labels=operation_mode_labels(),
    ), status


@blp.route("/finance/lab-report/download")
@page("finance", "admin")
def finance_lab_report_download():
    period, district = _statement_args()
    fmt = request.args.get("format", "csv")
    if fmt not in exports.FORMATS:
        raise Invalid("Unknown format.", details={"format": ["csv or xlsx."]})
    if request.args.get("part") == "services":
        table = lab_report.service_table(lab_report.service_rows(current_user, period, district), "human")
        name = f"lab-report-services-{period}.{fmt}"
    else:
        table = lab_report.report_table(lab_report.report_rows(current_user, period, district), "human")
        name = f"lab-report-{period}.{fmt}"
    return _download(files.pieces(table, fmt, period), name, exports.CONTENT_TYPES[fmt])
