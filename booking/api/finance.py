"""Finance: exceptions queue, period close, statements, payouts, dashboard, audit log (JSON API)."""

from __future__ import annotations

import json
import re

import marshmallow as ma
from flask import Response, stream_with_context
from flask.views import MethodView

from booking.api.common import (
    Blueprint,
    BodySchema,
    DistrictCode,
    Id,
    Instant,
    PageArgs,
    QueryId,
    Text,
    api_auth,
    current_actor,
    documents,
    paginate,
)
from booking.core.errors import Invalid
from booking.people import audit
from vouchers import dashboard, finance_exceptions, payouts, periods
from vouchers.models import AuditEntry, FinanceException
from vouchers.reports import files, journal, lab_report, statements
from vouchers.reports.exports import CONTENT_TYPES

blp = Blueprint(
    "finance", __name__, url_prefix="/api/v1/finance", description="District and municipal finance"
)


class ExceptionSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    booking_id = ma.fields.Integer(allow_none=True)
    provider_id = ma.fields.Integer(allow_none=True)
    district_code = ma.fields.String(allow_none=True)
    details = ma.fields.Dict()
    blocking = ma.fields.Boolean()
    status = ma.fields.String()
    created_at = ma.fields.AwareDateTime()
    resolved_at = ma.fields.AwareDateTime(allow_none=True)
    resolution = ma.fields.String(allow_none=True)


# A month the platform can have. The domain's YYYY-MM pattern also admits years such as 0000 or 9999,
# which its date arithmetic cannot reach (a 500 the API fuzz test found).
PERIOD_PATTERN = re.compile(r"^(19|20|21)[0-9]{2}-(0[1-9]|1[0-2])\Z")  # ASCII, no trailing newline
PERIOD = ma.validate.Regexp(PERIOD_PATTERN, error="YYYY-MM, years 1900 to 2199.")


class ExceptionListArgs(PageArgs):
    kind = ma.fields.String(validate=ma.validate.Length(max=30))
    status = ma.fields.String(validate=ma.validate.OneOf(("open", "resolved")))


class ResolveSchema(BodySchema):
    comment = Text(max_length=2000, required=True)


class PeriodSchema(ma.Schema):
    period = ma.fields.String()
    closed = ma.fields.Boolean()
    closed_at = ma.fields.AwareDateTime()


class StatementArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    period = ma.fields.String(required=True, validate=PERIOD)
    district_code = ma.fields.String(validate=ma.validate.Regexp(r"^[0-9]{6}\Z", error="Six digits."))
    format = ma.fields.String(load_default="json", validate=ma.validate.OneOf(("json", "csv", "xlsx")))
    # the files' columns: the machine ones named in API.md (default), or ``human`` (what the pages give)
    layout = ma.fields.String(load_default="machine", validate=ma.validate.OneOf(files.LAYOUTS))


class StatementRowSchema(ma.Schema):
    payee_kind = ma.fields.String()
    payee_id = ma.fields.Integer()
    payee_name = ma.fields.String()
    organization = ma.fields.String()
    bookings = ma.fields.Integer()
    total_fen = ma.fields.Integer()
    municipal_fen = ma.fields.Integer()
    district_fen = ma.fields.Integer()
    subsidy_fen = ma.fields.Integer()
    team_fen = ma.fields.Integer()
    fee_fen = ma.fields.Integer()


class StatementSchema(ma.Schema):
    period = ma.fields.String()
    district_code = ma.fields.String(allow_none=True)
    rows = ma.fields.List(ma.fields.Nested(StatementRowSchema))


class PayoutCreateSchema(BodySchema):
    period = ma.fields.String(required=True, validate=PERIOD)
    payee_kind = ma.fields.String(required=True, validate=ma.validate.OneOf(("lab", "provider")))
    payee_id = Id(required=True)
    reference = Text(max_length=200, required=True)


class PayoutLineSchema(ma.Schema):
    program_id = ma.fields.Integer()
    amount_fen = ma.fields.Integer()


class PayoutSchema(ma.Schema):
    period = ma.fields.String()
    payee_kind = ma.fields.String()
    payee_id = ma.fields.Integer()
    reference = ma.fields.String()
    paid_fen = ma.fields.Integer()
    programs = ma.fields.List(ma.fields.Nested(PayoutLineSchema))


class DistrictArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    district_code = ma.fields.String(validate=ma.validate.Regexp(r"^[0-9]{6}\Z", error="Six digits."))


class AuditEntrySchema(ma.Schema):
    id = ma.fields.Integer()
    at = ma.fields.AwareDateTime()
    actor_id = ma.fields.Integer(allow_none=True)
    action = ma.fields.String()
    object_type = ma.fields.String()
    object_id = ma.fields.String()
    district_code = ma.fields.String(allow_none=True)
    before = ma.fields.Dict(allow_none=True)
    after = ma.fields.Dict(allow_none=True)


class AuditListArgs(PageArgs):
    action = ma.fields.String(validate=ma.validate.OneOf(audit.ACTIONS))
    actor_id = QueryId()
    object_type = ma.fields.String(validate=ma.validate.Length(max=50))
    object_id = ma.fields.String(validate=ma.validate.Length(max=100))
    district_code = DistrictCode
    since = Instant()
    until = Instant()


@blp.route("/exceptions")
class Exceptions(MethodView):
    @blp.paged_list(ExceptionSchema, "finance", "admin", args=ExceptionListArgs)
    def get(self, args):
        """What reconciliation and payments would not charge silently; a district office sees those
        touching its district's teams."""
        return paginate(
            finance_exceptions.filtered_exceptions(current_actor(), args), FinanceException.id, args
        )


@blp.route("/exceptions/<int:exception_id>/resolve")
class ExceptionResolution(MethodView):
    @blp.response(200, ExceptionSchema)
    @documents(400, 404, 409)
    @api_auth("finance", "admin")
    @blp.arguments(ResolveSchema)
    def post(self, body, exception_id):
        """Resolve (audited): a blocked booking settles at the next reconciliation."""
        return finance_exceptions.resolve_exception(current_actor(), exception_id, body["comment"])


@blp.route("/periods/<period>/close")
class PeriodClose(MethodView):
    @blp.response(200, PeriodSchema)
    @documents(404, 409, 422)
    @api_auth("finance", "admin")
    def post(self, period):
        """Close a month that has ended (409 ``period_closed`` / ``period_not_ended``); entries dated
        in it go to the next open period. A period is the platform's ledger month: municipal finance
        and admins only (district finance → 403 ``wrong_level``)."""
        if not PERIOD_PATTERN.match(period):
            raise Invalid(
                "A period is a month: YYYY-MM.", details={"period": ["YYYY-MM, years 1900 to 2199."]}
            )
        closed = periods.close_period(current_actor(), period)
        return {"period": closed.period, "closed": True, "closed_at": closed.closed_at}


@blp.route("/statements")
class Statements(MethodView):
    @blp.response(200, StatementSchema)
    @blp.also_as("text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    @documents(404)
    @api_auth("finance")
    @blp.arguments(StatementArgs, location="query")
    def get(self, args):
        """Monthly settlement statement: one row per payee (lab or provider) of the bookings settled
        in the period; ``format=csv`` (UTF-8 with BOM) or ``format=xlsx``, streamed."""
        actor = current_actor()
        rows = statements.statement_rows(actor, args["period"], args.get("district_code"))
        name = f"statement-{args['period']}" + (
            f"-{args['district_code']}" if args.get("district_code") else ""
        )
        if args["format"] in ("csv", "xlsx"):
            return _file(
                statements.statement_table(rows, args["layout"]), args["format"], name, args["period"]
            )
        return {"period": args["period"], "district_code": args.get("district_code"), "rows": rows}


def _file(table, fmt: str, name: str, period: str) -> Response:
    """A CSV (UTF-8 with BOM) or XLSX file, streamed."""
    return Response(
        stream_with_context(files.pieces(table, fmt, period)),
        content_type=CONTENT_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'},
    )


class LabReportArgs(StatementArgs):
    # which table a file holds: per instrument (hours) or per testing service (orders, samples, ratings)
    part = ma.fields.String(
        load_default="instruments", validate=ma.validate.OneOf(("instruments", "services"))
    )


@blp.route("/lab-report")
class LabReport(MethodView):
    @blp.response(200)
    @blp.also_as(
        "text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", json_object=True
    )
    @documents(404)
    @api_auth("finance", "admin")
    @blp.arguments(LabReportArgs, location="query")
    def get(self, args):
        """Lab open-sharing report per instrument for a month: hours booked and used by teams,
        distinct teams, utilisation of opening hours (bp), income; and ``services``: per testing service,
        orders completed and settled, samples processed, ratings and their average, income.
        ``format=csv``/``xlsx`` too (``part=services`` for the services' table)."""
        actor, period, district = current_actor(), args["period"], args.get("district_code")
        if args["format"] in ("csv", "xlsx"):
            if args["part"] == "services":
                table = lab_report.service_table(
                    lab_report.service_rows(actor, period, district), args["layout"]
                )
                return _file(table, args["format"], f"lab-report-services-{period}", period)
            table = lab_report.report_table(lab_report.report_rows(actor, period, district), args["layout"])
            return _file(table, args["format"], f"lab-report-{period}", period)
        rows = lab_report.report_rows(actor, period, district)
        return {
            "period": period,
            "rows": rows,
            "income_by_mode": lab_report.income_by_mode(rows),
            "services": lab_report.service_rows(actor, period, district),
        }


class JournalArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    period = ma.fields.String(required=True, validate=PERIOD)
    format = ma.fields.String(load_default="json", validate=ma.validate.OneOf(("json", "csv", "xlsx")))
    # the file's columns: the machine ones (default; amounts in fen) or the people's (yuan, words)
    layout = ma.fields.String(load_default="machine", validate=ma.validate.OneOf(files.LAYOUTS))


class JournalPostingSchema(ma.Schema):
    account = ma.fields.String(metadata={"description": "e.g. available:program 3:voucher 17"})
    account_key = ma.fields.String()
    account_kind = ma.fields.String()
    program_id = ma.fields.Integer(allow_none=True)
    voucher_id = ma.fields.Integer(allow_none=True)
    team_id = ma.fields.Integer(allow_none=True)
    payee_kind = ma.fields.String(allow_none=True)
    payee_id = ma.fields.Integer(allow_none=True)
    amount_fen = ma.fields.Integer()


class JournalTransactionSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    created_at = ma.fields.AwareDateTime()
    booking_id = ma.fields.Integer(allow_none=True)
    period = ma.fields.String()
    memo = ma.fields.String()
    postings = ma.fields.List(ma.fields.Nested(JournalPostingSchema))


class JournalSchema(ma.Schema):
    period = ma.fields.String()
    transactions = ma.fields.List(ma.fields.Nested(JournalTransactionSchema))


def _journal_json(period: str, district: str | None):
    """``{period, transactions}`` streamed a transaction at a time (read in keyset pages)."""
    yield '{"period": ' + json.dumps(period) + ', "transactions": ['
    for n, t in enumerate(journal.transactions(period, district)):
        t = {**t, "created_at": t["created_at"].isoformat()}
        yield ("" if n == 0 else ", ") + json.dumps(t, ensure_ascii=False)
    yield "]}"


@blp.route("/journal")
class Journal(MethodView):
    @blp.response(200, JournalSchema)
    @blp.also_as("text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    @api_auth("finance", "admin")
    @blp.arguments(JournalArgs, location="query")
    def get(self, args):
        """The period's journal transactions with their postings (each sums to 0), for auditors; a
        district office sees those touching its district's programmes. Streamed: JSON, or
        ``format=csv``/``xlsx`` with one row per posting."""
        actor, period = current_actor(), args["period"]
        district = journal.journal_district(actor)
        if args["format"] in ("csv", "xlsx"):
            table = journal.journal_table(actor, period, args["layout"])
            return _file(table, args["format"], f"journal-{period}", period)
        return Response(stream_with_context(_journal_json(period, district)), content_type="application/json")


@blp.route("/payouts")
class Payouts(MethodView):
    @blp.response(201, PayoutSchema)
    @blp.alt_response(200, schema=PayoutSchema, description="A repeat: already paid, nothing more paid.")
    @documents(400)
    @api_auth("finance")
    @blp.arguments(PayoutCreateSchema)
    def post(self, body):
        """Mark what your programmes owe a payee for a period as paid (payable → paid). Idempotent
        per (period, payee): a repeat is 200 and pays nothing more."""
        result, new = payouts.payout(current_actor(), **body)
        return result, 201 if new else 200


@blp.route("/dashboard")
class Dashboard(MethodView):
    @blp.response(200)
    @documents(404)
    @api_auth("finance", "admin")
    @blp.arguments(DistrictArgs, location="query")
    def get(self, args):
        """Per programme budget, issued, committed, spent, paid, unissued and spend by month; top
        teams and payees; municipal vs district share."""
        return dashboard.dashboard(current_actor(), args.get("district_code"))


@blp.route("/audit")
class AuditLog(MethodView):
    @blp.paged_list(AuditEntrySchema, "finance", "admin", args=AuditListArgs)
    def get(self, args):
        """Every officer action; a district office sees its district's."""
        return paginate(audit.filtered_entries(current_actor(), args), AuditEntry.id, args)
