"""Bookings: create (with Idempotency-Key), read, list, approve/reject, cancel, check-in/out."""

from __future__ import annotations

import marshmallow as ma
from flask import request
from flask.views import MethodView

from booking.api.common import (
    Blueprint,
    BodySchema,
    Id,
    Instant,
    PageArgs,
    QueryId,
    StrictBoolean,
    api_auth,
    current_actor,
    documents,
    page_of,
    paginate,
)
from booking.core.errors import Invalid
from booking.flow import attendance, booking_lists, bookings, compute
from booking.flow.payments import webhooks
from booking.models import STATUSES, Booking
from instruments.rules import zone
from vouchers import commitments

blp = Blueprint("bookings", __name__, url_prefix="/api/v1", description="Bookings")


class LocalDateTime(ma.fields.AwareDateTime):
    """An instant shown with the offset of the booked resource's timezone (e.g. +08:00)."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is not None and getattr(obj, "instrument", None) is not None:
            value = value.astimezone(zone(obj.instrument.timezone))
        return super()._serialize(value, attr, obj, **kwargs)


class BookingCreateSchema(BodySchema):
    team_id = Id(required=True)
    instrument_id = Id()
    offer_id = Id()
    gpus = ma.fields.Integer(strict=True, validate=ma.validate.Range(min=1, max=10_000))
    starts_at = Instant(required=True)
    ends_at = Instant(required=True)
    use_vouchers = StrictBoolean(load_default=True)
    payment_method = ma.fields.String(validate=ma.validate.Length(min=1, max=200))

    @ma.validates_schema
    def _one_resource(self, data, **kwargs):
        if ("instrument_id" in data) == ("offer_id" in data):
            raise ma.ValidationError("Give instrument_id, or offer_id with gpus.", "instrument_id")
        if "offer_id" in data and "gpus" not in data:
            raise ma.ValidationError("Required with offer_id.", "gpus")
        if "instrument_id" in data and "gpus" in data:
            raise ma.ValidationError("Only for compute bookings.", "gpus")
        if "starts_at" in data and "ends_at" in data and data["ends_at"] <= data["starts_at"]:
            raise ma.ValidationError("Must be after starts_at.", "ends_at")


class SubsidySchema(ma.Schema):
    voucher_id = ma.fields.Integer()
    program_id = ma.fields.Integer()
    level = ma.fields.String()
    amount_fen = ma.fields.Integer()


class QuoteSchema(ma.Schema):
    total_fen = ma.fields.Integer()
    subsidies = ma.fields.List(ma.fields.Nested(SubsidySchema))
    team_pays_fen = ma.fields.Integer()


class QuoteField(ma.fields.Nested):
    """The booking's split as committed (vouchers' lines in the order they were applied)."""

    def __init__(self, **kwargs):
        super().__init__(QuoteSchema, **kwargs)

    def get_value(self, obj, attr, accessor=None, default=ma.missing):
        return commitments.quote(obj)


class SettlementSchema(QuoteSchema):
    fee_fen = ma.fields.Integer()
    period = ma.fields.String()
    settled_at = ma.fields.AwareDateTime()


class SettlementField(ma.fields.Nested):
    """The split on the actual cost, after reconciliation (null before)."""

    def __init__(self, **kwargs):
        super().__init__(SettlementSchema, allow_none=True, **kwargs)

    def get_value(self, obj, attr, accessor=None, default=ma.missing):
        return commitments.settlement(obj)


class PaymentSchema(ma.Schema):
    status = ma.fields.String()
    intent_id = ma.fields.String(allow_none=True)


class BookingSchema(ma.Schema):
    id = ma.fields.Integer()
    team_id = ma.fields.Integer()
    kind = ma.fields.String()
    instrument_id = ma.fields.Integer(allow_none=True)
    offer_id = ma.fields.Integer(allow_none=True)
    gpus = ma.fields.Integer(allow_none=True)
    starts_at = LocalDateTime()
    ends_at = LocalDateTime()
    status = ma.fields.String()
    use_vouchers = ma.fields.Boolean()
    quote = QuoteField(metadata={"description": "the split on the estimated cost"})
    settlement = SettlementField(
        metadata={"description": "the split on the actual cost, after reconciliation"}
    )
    payment = ma.fields.Function(
        lambda b: {"status": b.payment_status, "intent_id": b.payment_intent_id},
        metadata={"description": "payment status (none, invoice, authorized, captured, ...) and intent id"},
    )
    fee_fen = ma.fields.Integer()
    actual_starts_at = LocalDateTime(allow_none=True)
    actual_ends_at = LocalDateTime(allow_none=True)
    reason = ma.fields.String(allow_none=True)
    created_at = ma.fields.AwareDateTime()
    series_id = ma.fields.Integer(allow_none=True, metadata={"description": "the booking series, if any"})


class BookingListArgs(PageArgs):
    team_id = QueryId()
    instrument_id = QueryId()
    offer_id = QueryId()
    status = ma.fields.String(validate=ma.validate.OneOf(STATUSES))
    from_ = Instant(data_key="from", attribute="from")
    to = Instant()


class ReasonSchema(BodySchema):
    reason = ma.fields.String(validate=ma.validate.Length(max=500), load_default=None)


class AtSchema(BodySchema):
    at = Instant(load_default=None)


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (1 <= len(key) <= 200):
        raise Invalid(
            "Idempotency-Key must be 1 to 200 characters.", details={"Idempotency-Key": ["Bad length."]}
        )
    return key


@blp.route("/bookings")
class Bookings(MethodView):
    @blp.response(201, BookingSchema)
    @documents(400, 404, 409, 503)
    @api_auth("founder")
    @blp.arguments(BookingCreateSchema)
    def post(self, body):
        """Book an instrument (or compute) for your team. Honours ``Idempotency-Key``: the same key
        and body replay the first response; the same key with another body is 422
        ``idempotency_key_reused``."""
        common = {
            "team_id": body["team_id"],
            "starts_at": body["starts_at"],
            "ends_at": body["ends_at"],
            "use_vouchers": body["use_vouchers"],
            "idempotency_key": _idempotency_key(),
            "digest": bookings.request_digest(request.get_json(silent=True) or {}),
            "payment_method": body.get("payment_method"),
        }
        if "offer_id" in body:
            booking, _ = compute.create_compute_booking(
                current_actor(), offer_id=body["offer_id"], gpus=body["gpus"], **common
            )
        else:
            booking, _ = bookings.create_instrument_booking(
                current_actor(), instrument_id=body["instrument_id"], **common
            )
        return booking

    @blp.response(200, page_of(BookingSchema))
    @api_auth()
    @blp.arguments(BookingListArgs, location="query")
    def get(self, args):
        """Bookings you may see, filtered by team, instrument, status and time range."""
        page = paginate(booking_lists.filtered_bookings(current_actor(), args), Booking.id, args)
        commitments.preload(page["items"])
        return page


@blp.route("/bookings/<int:booking_id>")
class BookingById(MethodView):
    @blp.response(200, BookingSchema)
    @documents(404)
    @api_auth()
    def get(self, booking_id):
        return bookings.booking_for(current_actor(), booking_id)


@blp.route("/bookings/<int:booking_id>/approve")
class BookingApproval(MethodView):
    @blp.response(200, BookingSchema)
    @documents(404, 409)
    @api_auth("lab_manager", "admin")
    def post(self, booking_id):
        """Approve a booking waiting for approval (the lab's managers)."""
        return bookings.approve(current_actor(), booking_id)


@blp.route("/bookings/<int:booking_id>/reject")
class BookingRejection(MethodView):
    @blp.response(200, BookingSchema)
    @documents(400, 404, 409)
    @api_auth("lab_manager", "admin")
    @blp.arguments(ReasonSchema)
    def post(self, body, booking_id):
        return bookings.reject(current_actor(), booking_id, body.get("reason"))


@blp.route("/bookings/<int:booking_id>/cancel")
class BookingCancellation(MethodView):
    @blp.response(200, BookingSchema)
    @documents(400, 404, 409)
    @api_auth("founder", "lab_manager", "admin")
    @blp.arguments(ReasonSchema)
    def post(self, body, booking_id):
        """Cancel: free until ``free_cancel_hours`` before start, then the late fee (``fee_fen``)."""
        return bookings.cancel(current_actor(), booking_id, body.get("reason"))


class RefundSchema(BodySchema):
    amount_fen = ma.fields.Integer(strict=True, required=True, validate=ma.validate.Range(min=1))


@blp.route("/bookings/<int:booking_id>/refund")
class BookingRefund(MethodView):
    @blp.response(200, BookingSchema)
    @documents(400, 404, 503)
    @api_auth("admin")
    @blp.arguments(RefundSchema)
    def post(self, body, booking_id):
        """Refund (part of) what was captured by card; never more than captured (admins)."""
        booking = bookings.booking_for(current_actor(), booking_id)
        webhooks.refund(booking, body["amount_fen"])
        return booking


@blp.route("/bookings/<int:booking_id>/check-in")
class BookingCheckIn(MethodView):
    @blp.response(200, BookingSchema)
    @documents(400, 404, 409)
    @api_auth("founder", "lab_manager", "admin")
    @blp.arguments(AtSchema)
    def post(self, body, booking_id):
        """The lab checks the team in (``at``, default now). On an instrument with ``self_check_in`` the
        team's members check in themselves, now, from 15 minutes before the start until the no-show
        grace ends (422 outside it); otherwise members get 403."""
        return attendance.check_in(current_actor(), booking_id, body.get("at"))


@blp.route("/bookings/<int:booking_id>/check-out")
class BookingCheckOut(MethodView):
    @blp.response(200, BookingSchema)
    @documents(400, 404, 409)
    @api_auth("founder", "lab_manager", "admin")
    @blp.arguments(AtSchema)
    def post(self, body, booking_id):
        """The lab checks the team out (``at``, default now); with ``self_check_in`` so may the team's
        members (now)."""
        return attendance.check_out(current_actor(), booking_id, body.get("at"))
