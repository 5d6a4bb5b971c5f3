"""Training requests: a founder asks to be trained on an instrument, its lab's managers grant or decline."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView

from booking.api.common import (
    Blueprint,
    BodySchema,
    api_auth,
    current_actor,
    documents,
    paginate,
)
from instruments import catalogue, training
from instruments.models import TRAINING_REQUEST_STATUSES, TrainingRequest

blp = Blueprint("training", __name__, url_prefix="/api/v1", description="Training and qualifications")


class TrainingRequestCreateSchema(BodySchema):
    note = ma.fields.String(load_default="", validate=ma.validate.Length(max=training.NOTE_MAX))


class DeclineSchema(BodySchema):
    reason = ma.fields.String(load_default="", validate=ma.validate.Length(max=training.NOTE_MAX))


class RequesterSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    email = ma.fields.String()


class TrainingRequestSchema(ma.Schema):
    id = ma.fields.Integer()
    instrument_id = ma.fields.Integer()
    user_id = ma.fields.Integer()
    user = ma.fields.Nested(RequesterSchema)
    note = ma.fields.String()
    status = ma.fields.String(metadata={"enum": list(TRAINING_REQUEST_STATUSES)})
    created_at = ma.fields.AwareDateTime()
    decided_at = ma.fields.AwareDateTime(allow_none=True)
    decided_by_id = ma.fields.Integer(allow_none=True)
    decline_reason = ma.fields.String()


@blp.route("/instruments/<int:instrument_id>/training-requests")
class InstrumentTrainingRequests(MethodView):
    @blp.response(201, TrainingRequestSchema)
    @documents(404, 409)
    @api_auth("founder")
    @blp.arguments(TrainingRequestCreateSchema)
    def post(self, body, instrument_id):
        """Ask the lab for training on an instrument that requires it.

        One pending request per person and instrument: 409 ``already_requested``; someone qualified
        (and not lapsed) already: 409 ``already_qualified``; an instrument needing no training: 422
        ``training_not_required``.
        """
        actor = current_actor()
        instrument = catalogue.instrument_for(actor, instrument_id)
        return training.request_training(actor, instrument, body["note"])

    @blp.paged_list(TrainingRequestSchema, "lab_manager", "admin", codes=(404,))
    def get(self, args, instrument_id):
        """Every training request on the instrument, oldest first, a page at a time (its lab's managers)."""
        instrument = catalogue.managed_instrument_for(current_actor(), instrument_id)
        return paginate(training.requests_for(instrument), TrainingRequest.id, args)


@blp.route("/training-requests/<int:request_id>/grant")
class GrantTrainingRequest(MethodView):
    @blp.response(200, TrainingRequestSchema)
    @documents(404, 409)
    @api_auth("lab_manager", "admin")
    def post(self, request_id):
        """Qualify the requester (until now plus the instrument's ``qualification_valid_days``) and
        close the request; a decided request: 409 ``already_decided``."""
        actor = current_actor()
        request = training.managed_request_for(actor, request_id)
        training.grant_training(request, actor)
        return request


@blp.route("/training-requests/<int:request_id>/decline")
class DeclineTrainingRequest(MethodView):
    @blp.response(200, TrainingRequestSchema)
    @documents(400, 404, 409)
    @api_auth("lab_manager", "admin")
    @blp.arguments(DeclineSchema)
    def post(self, body, request_id):
        """Close the request without qualifying; the optional ``reason`` is mailed to the requester."""
        actor = current_actor()
        return training.decline_training(
            training.managed_request_for(actor, request_id), actor, body["reason"]
        )
