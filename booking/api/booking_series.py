"""Booking series (the same time every day or week) and moving a booking (reschedule)."""

from __future__ import annotations

import marshmallow as ma
from flask import request
from flask.views import MethodView

from booking.api.bookings import BookingSchema
from booking.api.bookings import _idempotency_key as idempotency_key
from booking.api.common import (
    Blueprint,
    BodySchema,
    Id,
    Instant,
    StrictBoolean,
    api_auth,
    current_actor,
    documents,
)
from booking.flow import bookings, reschedule, series
from booking.models.booking_series import ON_CONFLICT, SERIES_EVERY, SERIES_MAX_COUNT, SERIES_MIN_COUNT
from vouchers import commitments

blp = Blueprint("booking_series", __name__, url_prefix="/api/v1", description="Booking series and moves")


class RepeatSchema(BodySchema):
    every = ma.fields.String(required=True, validate=ma.validate.OneOf(SERIES_EVERY))
    count = ma.fields.Integer(
        strict=True, required=True, validate=ma.validate.Range(min=SERIES_MIN_COUNT, max=SERIES_MAX_COUNT)
    )


class SeriesCreateSchema(BodySchema):
    team_id = Id(required=True)
    instrument_id = Id(required=True)
    starts_at = Instant(required=True)
    ends_at = Instant(required=True)
    repeat = ma.fields.Nested(RepeatSchema, required=True)
    on_conflict = ma.fields.String(required=True, validate=ma.validate.OneOf(ON_CONFLICT))
    use_vouchers = StrictBoolean(load_default=True)
    payment_method = ma.fields.String(validate=ma.validate.Length(min=1, max=200))

    @ma.validates_schema
    def _ends_after_start(self, data, **kwargs):
        if "starts_at" in data and "ends_at" in data and data["ends_at"] <= data["starts_at"]:
            raise ma.ValidationError("Must be after starts_at.", "ends_at")


class SkippedSchema(ma.Schema):
    starts_at = ma.fields.String()
    ends_at = ma.fields.String()
    code = ma.fields.String(metadata={"description": "why this occurrence was not booked (an error code)"})


class SeriesSchema(ma.Schema):
    id = ma.fields.Integer()
    team_id = ma.fields.Integer(attribute="series.team_id")
    instrument_id = ma.fields.Integer(attribute="series.instrument_id")
    repeat = ma.fields.Function(lambda o: {"every": o.series.every, "count": o.series.count})
    on_conflict = ma.fields.String(attribute="series.on_conflict")
    created_at = ma.fields.AwareDateTime(attribute="series.created_at")
    bookings = ma.fields.List(ma.fields.Nested(BookingSchema))
    skipped = ma.fields.List(ma.fields.Nested(SkippedSchema))


class SeriesCancelSchema(BodySchema):
    reason = ma.fields.String(validate=ma.validate.Length(max=500), load_default=None)


class SeriesCancelledSchema(ma.Schema):
    cancelled = ma.fields.Integer(metadata={"description": "occurrences cancelled now"})
    fee_fen = ma.fields.Integer(metadata={"description": "late-cancellation fees they charged, together"})


class RescheduleSchema(BodySchema):
    starts_at = Instant(required=True)
    ends_at = Instant(required=True)
    payment_method = ma.fields.String(validate=ma.validate.Length(min=1, max=200))

    @ma.validates_schema
    def _ends_after_start(self, data, **kwargs):
        if "starts_at" in data and "ends_at" in data and data["ends_at"] <= data["starts_at"]:
            raise ma.ValidationError("Must be after starts_at.", "ends_at")


def _preloaded(outcome: series.SeriesOutcome) -> series.SeriesOutcome:
    commitments.preload(outcome.bookings)
    return outcome


@blp.route("/booking-series")
class BookingSeriesCollection(MethodView):
    @blp.response(201, SeriesSchema)
    @documents(400, 404, 409, 503)
    @api_auth("founder")
    @blp.arguments(SeriesCreateSchema)
    def post(self, body):
        """Book the same local time every day or week, ``repeat.count`` times (2..52). Each
        occurrence follows every rule of a single booking. ``on_conflict: skip`` books the others and
        lists the refused ones in ``skipped`` with their code; ``fail`` books nothing and answers with
        the first refused occurrence's status and code (``details.starts_at`` names it). Honours
        ``Idempotency-Key`` as bookings do."""
        outcome, _created = series.create_series(
            current_actor(),
            team_id=body["team_id"],
            instrument_id=body["instrument_id"],
            starts_at=body["starts_at"],
            ends_at=body["ends_at"],
            every=body["repeat"]["every"],
            count=body["repeat"]["count"],
            on_conflict=body["on_conflict"],
            use_vouchers=body["use_vouchers"],
            payment_method=body.get("payment_method"),
            idempotency_key=idempotency_key(),
            digest=bookings.request_digest(request.get_json(silent=True) or {}),
        )
        return _preloaded(outcome)


@blp.route("/booking-series/<int:series_id>")
class BookingSeriesById(MethodView):
    @blp.response(200, SeriesSchema)
    @documents(404)
    @api_auth()
    def get(self, series_id):
        """A series with its bookings (the team's members, the instrument's lab managers)."""
        return _preloaded(series.outcome_of(current_actor(), series_id))


@blp.route("/booking-series/<int:series_id>/cancel")
class BookingSeriesCancellation(MethodView):
    @blp.response(200, SeriesCancelledSchema)
    @documents(400, 404)
    @api_auth("founder")
    @blp.arguments(SeriesCancelSchema)
    def post(self, body, series_id):
        """Cancel every occurrence that has not started, each by the cancellation rules (a late one
        pays its fee as a single cancellation would)."""
        cancelled, fee_fen = series.cancel_series(current_actor(), series_id, body.get("reason"))
        return {"cancelled": cancelled, "fee_fen": fee_fen}


@blp.route("/bookings/<int:booking_id>/reschedule")
class BookingReschedule(MethodView):
    @blp.response(200, BookingSchema)
    @documents(400, 404, 409, 503)
    @api_auth("founder")
    @blp.arguments(RescheduleSchema)
    def post(self, body, booking_id):
        """Move a booking before it starts: the same id at the new time, every rule of a new booking
        applied, re-quoted (vouchers re-committed), the card hold following the new share; an
        instrument that needs approval asks again. Refused → 409/422 and the booking is unchanged."""
        booking, _freed = reschedule.reschedule(
            current_actor(),
            booking_id,
            starts_at=body["starts_at"],
            ends_at=body["ends_at"],
            payment_method=body.get("payment_method"),
        )
        return booking
