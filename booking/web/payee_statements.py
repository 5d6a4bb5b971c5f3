"""The payee statement pages: a lab manager (lab console) or a provider (provider console) picks a
month and sees what was settled to them — totals per payee and one line per settled booking or
testing-service order — and downloads it as CSV or XLSX (the people's layout: headers in their
language, yuan, China time; one row per line, a header always). The same domain functions as
``GET /api/v1/payee/statements`` (``vouchers.reports.payee_statements``)."""

from __future__ import annotations

from flask import Response, abort, render_template, request, stream_with_context, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Regexp

from booking.web.access import page
from booking.web.blueprint import blp
from booking.web.finance import previous_period
from booking.web.finance_forms import PERIOD_MESSAGE, QueryForm
from booking.web.lab_instruments import managed_labs
from booking.web.provider import console_provider
from vouchers import scope
from vouchers.reports import files, payee_statements
from vouchers.reports.exports import CONTENT_TYPES

LINES_SHOWN = 200  # on the page; the files hold every line


class MonthForm(QueryForm):
    period = StringField(
        _l("Month"),
        validators=[DataRequired(), Regexp(scope.PERIOD_RE, message=PERIOD_MESSAGE)],
        render_kw={"placeholder": "YYYY-MM", "inputmode": "numeric", "autocomplete": "off"},
    )
    show = SubmitField(_l("Show"))


def _month() -> tuple[MonthForm, str | None]:
    args = request.args.copy()
    if not args.get("period"):
        args["period"] = previous_period()
    form = MonthForm(formdata=args)
    return form, form.period.data if form.validate() else None


def _lab_payees() -> list[tuple[str, int]]:
    return [("lab", lab.id) for lab in managed_labs(current_user)]


def _provider_payees() -> tuple[list[tuple[str, int]], dict]:
    provider = console_provider()
    return [("provider", provider.id)], ({"provider_id": provider.id} if current_user.role == "admin" else {})


def _statement_page(payees, download_endpoint: str, back: str, scope_args: dict):
    form, period = _month()
    rows, lines = [], []
    if period is not None:
        rows = payee_statements.payee_rows(period, payees)
        lines = []
        for line in payee_statements.lines(period, payees):
            if len(lines) == LINES_SHOWN:
                break
            lines.append(line)
    return render_template(
        "payee/statements.html",
        form=form,
        action=request.path,
        period=period,
        rows=rows,
        totals=payee_statements.totals(rows),
        lines=lines,
        more=period is not None and sum(r["bookings"] for r in rows) > len(lines),
        download=lambda fmt: url_for(download_endpoint, period=period, format=fmt, **scope_args),
        back=back,
        scope_args=scope_args,
    ), (200 if period is not None else 422)


def _download(payees):
    _form, period = _month()
    fmt = request.args.get("format", "csv")
    if period is None or fmt not in CONTENT_TYPES:
        abort(422)
    table = files.table(
        "human", payee_statements.FILE_COLUMNS, payee_statements.file_values(period, payees), False
    )
    return Response(
        stream_with_context(files.pieces(table, fmt, period)),
        content_type=CONTENT_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{payee_statements.filename(period, fmt)}"'},
    )


@blp.route("/lab/statements")
@page("lab_manager", "admin")
def lab_statements():
    return _statement_page(_lab_payees(), "web.lab_statement_download", url_for("web.lab_console"), {})


@blp.route("/lab/statements/download")
@page("lab_manager", "admin")
def lab_statement_download():
    return _download(_lab_payees())


@blp.route("/provider/statements")
@page("provider", "admin")
def provider_statements():
    payees, scope_args = _provider_payees()
    back = url_for("web.provider_console", **scope_args)
    return _statement_page(payees, "web.provider_statement_download", back, scope_args)


@blp.route("/provider/statements/download")
@page("provider", "admin")
def provider_statement_download():
    payees, _scope_args = _provider_payees()
    return _download(payees)
