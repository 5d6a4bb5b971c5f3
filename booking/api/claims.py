"""Redemption claims (兑付): payees file them for closed periods with invoice scans; each finance office
approves, rejects and pays its own share (JSON API; the pages call the same vouchers functions)."""

from __future__ import annotations

import marshmallow as ma
from flask import request
from flask.views import MethodView
from flask_smorest.fields import Upload

from booking.api.common import (
    Blueprint,
    BodySchema,
    Id,
    PageArgs,
    Text,
    api_auth,
    current_actor,
    documents,
    paginate,
)
from booking.core.body_limits import MB, body_limit
from booking.core.errors import Invalid
from booking.core.storage import storage
from vouchers import claim_decisions, claims
from vouchers.claims import MAX_ATTACHMENT_BYTES
from vouchers.models import CLAIM_STATUSES, SHARE_STATUSES, Claim

blp = Blueprint("claims", __name__, url_prefix="/api/v1", description="Redemption claims (兑付)")

PERIOD = ma.validate.Regexp(r"^[0-9]{4}-(0[1-9]|1[0-2])\Z", error="Not a YYYY-MM month.")
PAYEE_ROLES = ("lab_manager", "provider")
SEEING_ROLES = ("lab_manager", "provider", "finance", "admin")


class ClaimCreateSchema(BodySchema):
    payee_kind = ma.fields.String(required=True, validate=ma.validate.OneOf(claims.PAYEE_KINDS))
    payee_id = Id(required=True)
    period = ma.fields.String(required=True, validate=PERIOD)
    invoice_number = Text(max_length=100, required=True)
    note = Text(max_length=2000, load_default="")


class DecisionSchema(BodySchema):
    reason = Text(max_length=2000, load_default="")


class PaymentSchema(BodySchema):
    reference = Text(max_length=200, required=True)


class ClaimShareSchema(ma.Schema):
    id = ma.fields.Integer()
    level = ma.fields.String()
    district_code = ma.fields.String(allow_none=True)
    amount_fen = ma.fields.Integer()
    status = ma.fields.String(validate=ma.validate.OneOf(SHARE_STATUSES))
    decided_by_id = ma.fields.Integer(allow_none=True)
    decided_at = ma.fields.AwareDateTime(allow_none=True)
    reason = ma.fields.String()
    reference = ma.fields.String()
    paid_at = ma.fields.AwareDateTime(allow_none=True)


class ClaimAttachmentSchema(ma.Schema):
    id = ma.fields.Integer()
    filename = ma.fields.String()
    size = ma.fields.Integer()
    sha256 = ma.fields.String()
    content_type = ma.fields.String()
    created_at = ma.fields.AwareDateTime()


class ClaimSchema(ma.Schema):
    id = ma.fields.Integer()
    payee_kind = ma.fields.String()
    payee_id = ma.fields.Integer()
    payee_name = ma.fields.Function(lambda c: claims.payee_name(c.payee_kind, c.payee_id))
    period = ma.fields.String()
    invoice_number = ma.fields.String()
    note = ma.fields.String()
    status = ma.fields.String(validate=ma.validate.OneOf(CLAIM_STATUSES))
    reason = ma.fields.String()
    amount_fen = ma.fields.Integer()
    municipal_fen = ma.fields.Integer()
    district_fen = ma.fields.Integer()
    paid_fen = ma.fields.Function(lambda c: sum(s.amount_fen for s in c.shares if s.status == "paid"))
    bookings = ma.fields.Integer()
    created_by_id = ma.fields.Integer()
    created_at = ma.fields.AwareDateTime()
    updated_at = ma.fields.AwareDateTime()
    shares = ma.fields.List(ma.fields.Nested(ClaimShareSchema))
    attachments = ma.fields.List(ma.fields.Nested(ClaimAttachmentSchema))


class ClaimListArgs(PageArgs):
    status = ma.fields.String(validate=ma.validate.OneOf(CLAIM_STATUSES))
    period = ma.fields.String(validate=PERIOD)


class AttachmentUploadSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    file = Upload(required=True, metadata={"description": "a PDF or image, at most 20 MB"})


@blp.route("/claims")
class Claims(MethodView):
    @blp.response(201, ClaimSchema)
    @documents(400, 409)
    @api_auth(*PAYEE_ROLES)
    @blp.arguments(ClaimCreateSchema)
    def post(self, body):
        """File your lab's or provider's claim for a closed period: its amount is what was settled to
        you there (409 ``period_open``, ``already_claimed``; 422 ``nothing_to_claim``)."""
        return claims.file_claim(current_actor(), **body)

    @blp.paged_list(ClaimSchema, *SEEING_ROLES, args=ClaimListArgs)
    def get(self, args):
        """Claims you may see: your payee's; finance: municipal all, a district those with its share."""
        return paginate(claims.visible_claims(current_actor(), args), Claim.id, args)


@blp.route("/claims/<int:claim_id>")
class ClaimById(MethodView):
    @blp.response(200, ClaimSchema)
    @documents(404)
    @api_auth(*SEEING_ROLES)
    def get(self, claim_id):
        """One claim with its shares and attachments."""
        return claims.claim_for(current_actor(), claim_id)


@blp.route("/claims/<int:claim_id>/attachments")
class ClaimAttachments(MethodView):
    @blp.response(201, ClaimAttachmentSchema)
    @documents(400, 404, 413, 422)
    @body_limit(MAX_ATTACHMENT_BYTES + MB // 4)
    @api_auth(*PAYEE_ROLES)
    @blp.doc(
        requestBody={
            "required": True,
            "content": {"multipart/form-data": {"schema": AttachmentUploadSchema}},
        }
    )
    def post(self, claim_id):
        """Attach an invoice or contract scan (multipart ``file``: PDF or image, at most 20 MB)."""
        user = current_actor()
        claims.check_claimant(user, claims.claim_for(user, claim_id))  # who, before what was sent
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise Invalid("Send a file.", details={"file": ["Required."]})
        return claims.attach(
            user, claim_id, upload.stream, filename=upload.filename, content_type=upload.mimetype
        )


@blp.route("/claims/<int:claim_id>/attachments/<int:attachment_id>")
class ClaimAttachmentFile(MethodView):
    @blp.response(200)
    @documents(404)
    @api_auth(*SEEING_ROLES)
    def get(self, claim_id, attachment_id):
        """Download an attachment (the claimant's payee users and finance who see the claim)."""
        attachment = claims.attachment_for(current_actor(), claim_id, attachment_id)
        return storage.send(
            attachment.key, filename=attachment.filename, content_type=attachment.content_type
        )


@blp.route("/claims/<int:claim_id>/approve")
class ClaimApproval(MethodView):
    @blp.response(200, ClaimSchema)
    @documents(400, 404, 409)
    @api_auth("finance")
    @blp.arguments(DecisionSchema)
    def post(self, body, claim_id):
        """Approve your office's share (the claim is ``approved`` once every share is)."""
        return claim_decisions.approve(current_actor(), claim_id, body["reason"])


@blp.route("/claims/<int:claim_id>/reject")
class ClaimRejection(MethodView):
    @blp.response(200, ClaimSchema)
    @documents(400, 404, 409)
    @api_auth("finance")
    @blp.arguments(DecisionSchema)
    def post(self, body, claim_id):
        """Reject your office's share, and so the claim (``reason`` required; the payee may file again)."""
        return claim_decisions.reject(current_actor(), claim_id, body["reason"])


@blp.route("/claims/<int:claim_id>/pay")
class ClaimPayment(MethodView):
    @blp.response(200, ClaimSchema)
    @documents(400, 404, 409)
    @api_auth("finance")
    @blp.arguments(PaymentSchema)
    def post(self, body, claim_id):
        """Mark your office's approved share paid (payable → paid); 409 ``already_paid``, ``not_approved``."""
        return claim_decisions.pay(current_actor(), claim_id, body["reference"])
