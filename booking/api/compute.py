"""Compute offers (providers) and their free capacity."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView

from booking.api.common import (
    Blueprint,
    BodySchema,
    Instant,
    Integer,
    StrictBoolean,
    Text,
    api_auth,
    current_actor,
    documents,
    paginate,
)
from booking.core.errors import Invalid
from booking.flow import compute
from booking.models import ComputeOffer

blp = Blueprint("compute", __name__, url_prefix="/api/v1", description="Compute offers")


class OfferFields(ma.Schema):
    name = Text(required=True)
    gpu_model = Text(max_length=100, required=True)
    gpus_total = Integer(required=True, validate=ma.validate.Range(1, 100_000))
    price_per_gpu_hour_fen = Integer(required=True, validate=ma.validate.Range(0, 100_000_000))


class OfferCreateSchema(OfferFields, BodySchema):
    pass


class OfferUpdateSchema(BodySchema):
    name = Text()
    gpu_model = Text(max_length=100)
    gpus_total = Integer(validate=ma.validate.Range(1, 100_000))
    price_per_gpu_hour_fen = Integer(validate=ma.validate.Range(0, 100_000_000))
    active = StrictBoolean()


class OfferSchema(OfferFields):
    id = ma.fields.Integer()
    provider_id = ma.fields.Integer()
    provider_name = ma.fields.Function(lambda offer: offer.provider.name)
    active = ma.fields.Boolean()
    created_at = ma.fields.AwareDateTime()


class RangeArgs(ma.Schema):
    from_ = Instant(required=True, data_key="from", attribute="from")
    to = Instant(required=True)

    @ma.validates_schema
    def _ordered(self, data, **kwargs):
        if "from" in data and "to" in data:
            if data["to"] <= data["from"]:
                raise ma.ValidationError("Must be after from.", "to")
            if (data["to"] - data["from"]).days > 100:
                raise ma.ValidationError("At most 100 days.", "to")


class SegmentSchema(ma.Schema):
    starts_at = ma.fields.AwareDateTime()
    ends_at = ma.fields.AwareDateTime()
    gpus_free = ma.fields.Integer()


class CapacitySchema(ma.Schema):
    segments = ma.fields.List(ma.fields.Nested(SegmentSchema))


@blp.route("/providers/<int:provider_id>/offers")
class ProviderOffers(MethodView):
    @blp.response(201, OfferSchema)
    @documents(400, 404)
    @api_auth("provider", "admin")
    @blp.arguments(OfferCreateSchema)
    def post(self, body, provider_id):
        """Publish a GPU offer (that provider's users)."""
        return compute.create_offer(compute.provider_for_user(current_actor(), provider_id), **body)


@blp.route("/compute/offers")
class Offers(MethodView):
    @blp.paged_list(OfferSchema)
    def get(self, args):
        return paginate(compute.visible_offers(current_actor()), ComputeOffer.id, args)


@blp.route("/compute/offers/<int:offer_id>")
class OfferById(MethodView):
    @blp.response(200, OfferSchema)
    @documents(404)
    @api_auth()
    def get(self, offer_id):
        return compute.offer_for(current_actor(), offer_id)

    @blp.response(200, OfferSchema)
    @documents(400, 404)
    @api_auth("provider", "admin")
    @blp.arguments(OfferUpdateSchema)
    def patch(self, body, offer_id):
        """Change an offer (price changes apply to new bookings only)."""
        offer = compute.managed_offer_for(current_actor(), offer_id)
        if "gpus_total" in body and body["gpus_total"] < offer.gpus_total:
            raise Invalid(
                "Capacity can only grow while bookings may hold it.",
                details={"gpus_total": ["Cannot shrink."]},
            )
        return compute.update_offer(offer, **body)


@blp.route("/compute/offers/<int:offer_id>/availability")
class OfferAvailability(MethodView):
    @blp.response(200, CapacitySchema)
    @documents(404)
    @api_auth()
    @blp.arguments(RangeArgs, location="query")
    def get(self, args, offer_id):
        """Free GPUs over time: segments of constant free capacity covering [from, to)."""
        offer = compute.offer_for(current_actor(), offer_id)
        return {
            "segments": [
                {"starts_at": s, "ends_at": e, "gpus_free": free}
                for s, e, free in compute.free_segments(offer, args["from"], args["to"])
            ]
        }
