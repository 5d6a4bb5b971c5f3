"""Lab closures: a lab manager closes the whole lab for a while; the bookings holding time in it are
cancelled by the lab (free, vouchers and card holds released, teams mailed)."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView

from booking.api.common import (
    Blueprint,
    BodySchema,
    Instant,
    api_auth,
    current_actor,
    documents,
    paginate,
)
from booking.flow import closures as closing
from instruments import catalogue, closures
from instruments.models import LabClosure

blp = Blueprint("closures", __name__, url_prefix="/api/v1", description="Lab closures")


class ClosureCreateSchema(BodySchema):
    starts_at = Instant(required=True)
    ends_at = Instant(required=True)
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))

    @ma.validates_schema
    def _ends_after_start(self, data, **kwargs):
        if "starts_at" in data and "ends_at" in data and data["ends_at"] <= data["starts_at"]:
            raise ma.ValidationError("Must be after starts_at.", "ends_at")


class ClosureSchema(ma.Schema):
    id = ma.fields.Integer()
    lab_id = ma.fields.Integer()
    starts_at = ma.fields.AwareDateTime()
    ends_at = ma.fields.AwareDateTime()
    reason = ma.fields.String()
    created_by_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.AwareDateTime()


class ClosureCreatedSchema(ClosureSchema):
    cancelled_booking_ids = ma.fields.List(
        ma.fields.Integer(), metadata={"description": "the bookings the closure cancelled"}
    )


@blp.route("/labs/<int:lab_id>/closures")
class LabClosures(MethodView):
    @blp.response(201, ClosureCreatedSchema)
    @documents(400, 404)
    @api_auth("lab_manager", "admin")
    @blp.arguments(ClosureCreateSchema)
    def post(self, body, lab_id):
        """Close every instrument of the lab over [starts_at, ends_at): booking it is refused
        (``blackout``), and pending or confirmed bookings holding time in it are cancelled by the lab,
        free, with vouchers and card holds released and the teams mailed the reason. Checked-in
        bookings (in progress) are left alone."""
        closure, cancelled = closing.close_lab(current_actor(), lab_id, **body)
        closure.cancelled_booking_ids = cancelled  # shown in this answer only
        return closure

    @blp.paged_list(ClosureSchema, "lab_manager", "admin", codes=(404,))
    def get(self, args, lab_id):
        lab = catalogue.managed_lab_for(current_actor(), lab_id)
        return paginate(closures.closures_of(lab), LabClosure.id, args)


@blp.route("/closures/<int:closure_id>")
class ClosureById(MethodView):
    @blp.response(204)
    @documents(404)
    @api_auth("lab_manager", "admin")
    def delete(self, closure_id):
        """Reopen the lab: the closure and its blackouts go; the bookings it cancelled stay cancelled
        (the reopened time is offered to the waitlist)."""
        closing.reopen(current_actor(), closure_id)
