"""Usage intake for providers."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView

from booking.api.common import Blueprint, BodySchema, api_auth, current_actor, documents
from booking.flow import usage

blp = Blueprint("usage", __name__, url_prefix="/api/v1", description="Metered compute usage")


class UsageBatchSchema(BodySchema):
    records = ma.fields.List(
        ma.fields.Raw(),
        required=True,
        validate=ma.validate.Length(min=1, max=usage.MAX_BATCH),
        metadata={
            "description": "each: {external_id, booking_id, started_at, ended_at, gpu_hours (decimal string)}; "
            "records are validated one by one"
        },
    )


class RejectedSchema(ma.Schema):
    external_id = ma.fields.String(allow_none=True)
    code = ma.fields.String(metadata={"description": "invalid | unknown_booking"})


class IntakeSchema(ma.Schema):
    accepted = ma.fields.Integer()
    duplicates = ma.fields.Integer()
    rejected = ma.fields.List(ma.fields.Nested(RejectedSchema))


@blp.route("/usage-records")
class UsageRecords(MethodView):
    @blp.response(200, IntakeSchema)
    @documents(400)
    @api_auth("provider")
    @blp.arguments(UsageBatchSchema)
    def post(self, body):
        """Report metered usage (up to 10,000 records). Idempotent per provider + external_id:
        a record sent again counts as a duplicate. Records for unknown bookings, non-compute bookings
        or another provider's bookings are rejected as ``unknown_booking`` and shown to finance."""
        result = usage.ingest(current_actor(), body["records"])
        return {"accepted": result.accepted, "duplicates": result.duplicates, "rejected": result.rejected}
