"""A payee's own statement (lab managers: their labs; provider users: their provider; admins: all):
GET /api/v1/payee/statements?period=YYYY-MM, as JSON or a CSV/XLSX file of one row per settled
booking or order (``vouchers.reports.payee_statements``)."""

from __future__ import annotations

import marshmallow as ma
from flask import Response, stream_with_context
from flask.views import MethodView

from booking.api.common import Blueprint, QueryId, api_auth, current_actor, documents
from booking.api.finance import PERIOD, StatementRowSchema
from vouchers.reports import files, payee_statements
from vouchers.reports.exports import CONTENT_TYPES

blp = Blueprint(
    "payee", __name__, url_prefix="/api/v1/payee", description="Statements for labs and providers"
)


class PayeeStatementArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    period = ma.fields.String(required=True, validate=PERIOD)
    format = ma.fields.String(load_default="json", validate=ma.validate.OneOf(("json", "csv", "xlsx")))
    # the file's columns: the people's layout by default (headers in the reader's language, yuan,
    # China time), or the ``*_fen`` columns of the JSON lines (``machine``)
    layout = ma.fields.String(load_default="human", validate=ma.validate.OneOf(files.LAYOUTS))
    # one of your payees only (an administrator: any)
    payee_kind = ma.fields.String(validate=ma.validate.OneOf(payee_statements.PAYEE_KINDS))
    payee_id = QueryId()


class PayeeRowSchema(StatementRowSchema):
    """A payee's totals: the finance statement's row (named apart in the API's document)."""


class PayeeLineSchema(ma.Schema):
    booking_id = ma.fields.Integer()
    kind = ma.fields.String(
        metadata={"description": "instrument, compute or service (a testing-service order)"}
    )
    team_id = ma.fields.Integer()
    team_name = ma.fields.String()
    resource_name = ma.fields.String(allow_none=True)
    payee_kind = ma.fields.String()
    payee_id = ma.fields.Integer()
    payee_name = ma.fields.String()
    starts_at = ma.fields.AwareDateTime()
    actual_cost_fen = ma.fields.Integer()
    municipal_fen = ma.fields.Integer()
    district_fen = ma.fields.Integer()
    subsidy_fen = ma.fields.Integer()
    team_fen = ma.fields.Integer()
    fee_fen = ma.fields.Integer()
    settled_at = ma.fields.AwareDateTime()


class PayeeStatementSchema(ma.Schema):
    period = ma.fields.String()
    payees = ma.fields.List(ma.fields.Nested(PayeeRowSchema))
    lines = ma.fields.List(ma.fields.Nested(PayeeLineSchema))


@blp.route("/statements")
class PayeeStatements(MethodView):
    @blp.response(200, PayeeStatementSchema)
    @blp.also_as("text/csv", CONTENT_TYPES["xlsx"])
    @documents(404)
    @api_auth("lab_manager", "provider", "admin")
    @blp.arguments(PayeeStatementArgs, location="query")
    def get(self, args):
        """What your labs (or your provider) had settled in a month: totals per payee and one line per
        settled booking or testing-service order; ``format=csv``/``xlsx``: one row per line and
        always a header row, streamed."""
        actor, period = current_actor(), args["period"]
        kind, payee_id = args.get("payee_kind"), args.get("payee_id")
        if args["format"] in ("csv", "xlsx"):
            fmt = args["format"]
            table = payee_statements.lines_table(actor, period, args["layout"], kind, payee_id)
            return Response(
                stream_with_context(files.pieces(table, fmt, period)),
                content_type=CONTENT_TYPES[fmt],
                headers={
                    "Content-Disposition": f'attachment; filename="{payee_statements.filename(period, fmt)}"'
                },
            )
        return payee_statements.statement(actor, period, kind, payee_id)
