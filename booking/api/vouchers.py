"""Programmes, applications, vouchers: the JSON API."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView

from booking.api.common import (
    Blueprint,
    BodySchema,
    Day,
    Id,
    Integer,
    PageArgs,
    QueryId,
    Text,
    api_auth,
    current_actor,
    documents,
    paginate,
)
from booking.core.money import MAX_FEN
from vouchers import program_changes, programs, wallet
from vouchers.models import LEVELS, RESOURCE_KINDS, Application, Program

blp = Blueprint("vouchers", __name__, url_prefix="/api/v1", description="Voucher programmes and vouchers")


class PayeeRefSchema(BodySchema):
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(("lab", "provider")))
    id = Id(required=True)


class RatesByKindSchema(BodySchema):
    compute = Integer(validate=ma.validate.Range(0, 10_000))
    instrument = Integer(validate=ma.validate.Range(0, 10_000))
    service = Integer(validate=ma.validate.Range(0, 10_000))


class ProgramRulesSchema(BodySchema):
    """A programme's rules, at creation and by PATCH (null: any payee; no rate per kind; no annual cap)."""

    eligible_payees = ma.fields.List(
        ma.fields.Nested(PayeeRefSchema), allow_none=True, validate=ma.validate.Length(max=500)
    )
    rate_bp_by_kind = ma.fields.Nested(RatesByKindSchema, allow_none=True)
    annual_team_cap_fen = Integer(allow_none=True, validate=ma.validate.Range(1, MAX_FEN))


class ProgramCreateSchema(ProgramRulesSchema):
    name = Text(required=True)
    level = ma.fields.String(required=True, validate=ma.validate.OneOf(LEVELS))
    district_code = ma.fields.String(
        validate=ma.validate.Regexp(r"^[0-9]{6}\Z", error="Six digits, e.g. 500106.")
    )
    resource_kinds = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(RESOURCE_KINDS)),
        required=True,
        validate=ma.validate.Length(min=1, max=len(RESOURCE_KINDS)),
    )
    rate_bp = Integer(required=True, validate=ma.validate.Range(1, 10_000))
    budget_fen = Integer(required=True, validate=ma.validate.Range(1, MAX_FEN))
    per_team_cap_fen = Integer(required=True, validate=ma.validate.Range(1, MAX_FEN))
    valid_from = Day(required=True)
    valid_to = Day(required=True)
    voucher_validity_days = Integer(required=True, validate=ma.validate.Range(1, 3660))
    stack_ceiling_bp = Integer(validate=ma.validate.Range(1, 10_000))

    @ma.validates_schema
    def _consistent(self, data, **kwargs):
        errors = {}
        if "budget_fen" in data and data.get("per_team_cap_fen", 0) > data["budget_fen"]:
            errors["per_team_cap_fen"] = ["Must not exceed budget_fen."]
        if "valid_from" in data and "valid_to" in data and data["valid_to"] < data["valid_from"]:
            errors["valid_to"] = ["Must not be before valid_from."]
        if data.get("level") == "municipal":
            for field in ("district_code", "stack_ceiling_bp"):
                if field in data:
                    errors[field] = ["Only for level district."]
        if len(set(data.get("resource_kinds", []))) != len(data.get("resource_kinds", [])):
            errors["resource_kinds"] = ["Each kind once."]
        if errors:
            raise ma.ValidationError(errors)


class ProgramUpdateSchema(ProgramRulesSchema):
    name = Text()
    budget_fen = Integer(validate=ma.validate.Range(1, MAX_FEN))
    valid_to = Day()


class PayeeRefOutSchema(ma.Schema):
    kind = ma.fields.String()
    id = ma.fields.Integer()


class ProgramSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    level = ma.fields.String()
    district_code = ma.fields.String(allow_none=True)
    resource_kinds = ma.fields.List(ma.fields.String())
    rate_bp = ma.fields.Integer()
    budget_fen = ma.fields.Integer()
    per_team_cap_fen = ma.fields.Integer()
    valid_from = ma.fields.Date()
    valid_to = ma.fields.Date()
    voucher_validity_days = ma.fields.Integer()
    stack_ceiling_bp = ma.fields.Integer(allow_none=True)
    eligible_payees = ma.fields.List(ma.fields.Nested(PayeeRefOutSchema), allow_none=True)
    rate_bp_by_kind = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    annual_team_cap_fen = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.AwareDateTime()


class ProgramSummarySchema(ma.Schema):
    budget_fen = ma.fields.Integer()
    issued_fen = ma.fields.Integer()
    available_fen = ma.fields.Integer()
    committed_fen = ma.fields.Integer()
    spent_fen = ma.fields.Integer()
    paid_fen = ma.fields.Integer()
    unissued_fen = ma.fields.Integer()


class ApplicationCreateSchema(BodySchema):
    team_id = Id(required=True)
    amount_fen = Integer(required=True, validate=ma.validate.Range(1, MAX_FEN))
    purpose = Text(max_length=2000, required=True)


class ApplicationSchema(ma.Schema):
    id = ma.fields.Integer()
    program_id = ma.fields.Integer()
    team_id = ma.fields.Integer()
    amount_fen = ma.fields.Integer()
    purpose = ma.fields.String()
    status = ma.fields.String()
    reason = ma.fields.String(allow_none=True)
    created_at = ma.fields.AwareDateTime()
    decided_at = ma.fields.AwareDateTime(allow_none=True)


class ApproveSchema(BodySchema):
    amount_fen = Integer(validate=ma.validate.Range(1, MAX_FEN))


class RequiredReasonSchema(BodySchema):
    reason = Text(max_length=2000, required=True)


class VoucherSchema(ma.Schema):
    id = ma.fields.Integer()
    program_id = ma.fields.Integer()
    program_name = ma.fields.String()
    level = ma.fields.String()
    face_value_fen = ma.fields.Integer()
    balance_fen = ma.fields.Integer(metadata={"description": "what can still be used"})
    committed_fen = ma.fields.Integer()
    spent_fen = ma.fields.Integer()
    issued_at = ma.fields.AwareDateTime()
    expires_at = ma.fields.AwareDateTime()
    status = ma.fields.String()


class ApprovedSchema(ma.Schema):
    id = ma.fields.Integer()
    status = ma.fields.String()
    voucher = ma.fields.Nested(VoucherSchema)


class ApplicationListArgs(PageArgs):
    status = ma.fields.String(validate=ma.validate.OneOf(("pending", "approved", "rejected")))
    program_id = QueryId()


@blp.route("/programs")
class Programs(MethodView):
    @blp.response(201, ProgramSchema)
    @documents(400)
    @api_auth("finance")
    @blp.arguments(ProgramCreateSchema)
    def post(self, body):
        """Create and fund a programme: municipal finance → municipal; district finance → its district."""
        return programs.create_program(current_actor(), **body)

    @blp.paged_list(ProgramSchema)
    def get(self, args):
        return paginate(programs.visible_programs(current_actor()), Program.id, args)


@blp.route("/programs/<int:program_id>")
class ProgramById(MethodView):
    @blp.response(200, ProgramSchema)
    @documents(404)
    @api_auth()
    def get(self, program_id):
        return programs.program_for(current_actor(), program_id)

    @blp.response(200, ProgramSchema)
    @documents(400, 403, 404)
    @api_auth("finance", "admin")
    @blp.arguments(ProgramUpdateSchema)
    def patch(self, body, program_id):
        """Change a programme's name, budget (a top-up, or down to what is issued: 422
        ``below_issued``), last day (later only; active vouchers' expiry follows) and rules: the
        programme's finance office or an admin. ``rate_bp_by_kind`` replaces the whole map."""
        return program_changes.update_program(current_actor(), program_id, body)


@blp.route("/programs/<int:program_id>/summary")
class ProgramSummary(MethodView):
    @blp.response(200, ProgramSummarySchema)
    @documents(404)
    @api_auth("finance", "admin")
    def get(self, program_id):
        """Budget, issued, committed, spent, paid and unissued, from the ledger."""
        actor = current_actor()
        program = programs.program_for(actor, program_id)
        if actor.role != "admin":
            program = programs.officer_program_for(actor, program_id)
        return programs.summary(program)


@blp.route("/programs/<int:program_id>/applications")
class ProgramApplications(MethodView):
    @blp.response(201, ApplicationSchema)
    @documents(400, 404)
    @api_auth("founder")
    @blp.arguments(ApplicationCreateSchema)
    def post(self, body, program_id):
        """Apply for a voucher for your verified team (owner only). Any positive amount may be asked
        for; the budget and the per-team cap are checked at approval."""
        return programs.apply(current_actor(), program_id, **body)


@blp.route("/applications")
class Applications(MethodView):
    @blp.paged_list(ApplicationSchema, args=ApplicationListArgs)
    def get(self, args):
        """Applications you may see: a finance office's queue, a founder's own teams'."""
        return paginate(programs.filtered_applications(current_actor(), args), Application.id, args)


@blp.route("/applications/<int:application_id>")
class ApplicationById(MethodView):
    @blp.response(200, ApplicationSchema)
    @documents(404)
    @api_auth()
    def get(self, application_id):
        return programs.application_for(current_actor(), application_id)


@blp.route("/applications/<int:application_id>/approve")
class ApplicationApproval(MethodView):
    @blp.response(200, ApprovedSchema)
    @documents(400, 404, 409)
    @api_auth("finance")
    @blp.arguments(ApproveSchema)
    def post(self, body, application_id):
        """Approve (possibly a smaller amount) and issue the voucher; 409 ``budget_exhausted`` or
        ``team_cap_exceeded``."""
        voucher = programs.approve(current_actor(), application_id, body.get("amount_fen"))
        (view,) = wallet.balances([voucher])
        return {"id": application_id, "status": "approved", "voucher": view}


@blp.route("/applications/<int:application_id>/reject")
class ApplicationRejection(MethodView):
    @blp.response(200, ApplicationSchema)
    @documents(400, 404, 409)
    @api_auth("finance")
    @blp.arguments(RequiredReasonSchema)
    def post(self, body, application_id):
        return programs.reject(current_actor(), application_id, body["reason"])


@blp.route("/teams/<int:team_id>/vouchers")
class TeamVouchers(MethodView):
    @blp.response(200, VoucherSchema(many=True))
    @documents(404)
    @api_auth("founder", "finance", "admin")
    def get(self, team_id):
        """The team's vouchers with what is available, committed and spent."""
        return wallet.team_vouchers(current_actor(), team_id)


@blp.route("/vouchers/<int:voucher_id>/revoke")
class VoucherRevocation(MethodView):
    @blp.response(200, VoucherSchema)
    @documents(400, 404, 409)
    @api_auth("finance")
    @blp.arguments(RequiredReasonSchema)
    def post(self, body, voucher_id):
        """Claw back what is not yet spent (explicit ledger entries)."""
        voucher = wallet.revoke(current_actor(), voucher_id, body["reason"])
        (view,) = wallet.balances([voucher])
        return view
