"""Schemas of the instrument catalogue API."""

from __future__ import annotations

import copy

import marshmallow as ma

from booking.api.common import BodySchema, Instant, Integer, StrictBoolean, Text
from instruments.models import OPERATION_MODES


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


class OpeningHoursSchema(ma.Schema):
    weekday = Integer(required=True, validate=ma.validate.Range(0, 6), metadata={"description": "0 = Monday"})
    opens = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^([01][0-9]|2[0-3]):[0-5][0-9]\Z"))
    closes = ma.fields.String(
        required=True, validate=ma.validate.Regexp(r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)\Z")
    )

    @ma.validates_schema
    def _opens_before_closes(self, data, **kwargs):
        if "opens" in data and "closes" in data and data["opens"] >= data["closes"]:
            raise ma.ValidationError("Must be after opens.", "closes")

    @ma.pre_dump
    def _from_model(self, row, **kwargs):
        if isinstance(row, dict):
            return row
        return {"weekday": row.weekday, "opens": _hhmm(row.opens_minute), "closes": _hhmm(row.closes_minute)}


def minutes_of(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


class InstrumentFields(ma.Schema):
    """Writable fields, shared by create (all required) and the response."""

    name = Text(required=True)
    category = Text(max_length=100, required=True)
    description = ma.fields.String(validate=ma.validate.Length(max=5000), load_default="")
    location = ma.fields.String(validate=ma.validate.Length(max=200), load_default="")
    hourly_rate_fen = Integer(required=True, validate=ma.validate.Range(0, 100_000_000))
    operation_mode = ma.fields.String(required=True, validate=ma.validate.OneOf(OPERATION_MODES))
    slot_minutes = Integer(required=True, validate=ma.validate.Range(1, 1440))
    min_minutes = Integer(required=True, validate=ma.validate.Range(1, 10080))
    max_minutes = Integer(required=True, validate=ma.validate.Range(1, 10080))
    lead_minutes = Integer(required=True, validate=ma.validate.Range(0, 525600))
    horizon_days = Integer(required=True, validate=ma.validate.Range(1, 730))
    requires_approval = StrictBoolean(required=True)
    requires_training = StrictBoolean(required=True)
    free_cancel_hours = Integer(required=True, validate=ma.validate.Range(0, 8760))
    late_cancel_fee_bp = Integer(required=True, validate=ma.validate.Range(0, 10000))
    no_show_grace_minutes = Integer(required=True, validate=ma.validate.Range(0, 1440))
    no_show_fee_bp = Integer(required=True, validate=ma.validate.Range(0, 10000))
    timezone = ma.fields.String(load_default="Asia/Shanghai", validate=ma.validate.Length(min=1, max=64))
    qualification_valid_days = Integer(
        load_default=None,
        allow_none=True,
        validate=ma.validate.Range(1, 3650),
        metadata={"description": "How long a qualification lasts after it is granted; null: for good"},
    )
    max_future_bookings_per_team = Integer(
        load_default=None,
        allow_none=True,
        validate=ma.validate.Range(1, 10000),
        metadata={"description": "Future bookings one team may hold on it at once; null: no limit"},
    )
    max_hours_per_team_per_week = Integer(
        load_default=None,
        allow_none=True,
        validate=ma.validate.Range(1, 168),
        metadata={
            "description": "Hours one team may book in a Monday–Sunday week (instrument's timezone); null: no limit"
        },
    )
    no_show_limit = Integer(
        load_default=None,
        allow_none=True,
        validate=ma.validate.Range(1, 1000),
        metadata={
            "description": "No-shows of one team on the lab's instruments in 90 days at which booking it is "
            "refused; null: never"
        },
    )
    self_check_in = StrictBoolean(
        load_default=False,
        metadata={
            "description": "Team members check themselves in (15 minutes before start to the grace's end)"
        },
    )


class InstrumentCreateSchema(InstrumentFields, BodySchema):
    @ma.validates_schema
    def _durations(self, data, **kwargs):
        if data.get("min_minutes", 0) > data.get("max_minutes", 10**9):
            raise ma.ValidationError("Must be at least min_minutes.", "max_minutes")


class InstrumentSchema(InstrumentFields):
    id = ma.fields.Integer()
    lab_id = ma.fields.Integer()
    lab_name = ma.fields.Function(lambda i: i.lab.name)
    district_code = ma.fields.Function(lambda i: i.lab.district_code)
    university = ma.fields.Function(lambda i: i.lab.university.name)
    active = ma.fields.Boolean()
    opening_hours = ma.fields.List(ma.fields.Nested(OpeningHoursSchema))


def _optional(field: ma.fields.Field) -> ma.fields.Field:
    """The same field, neither required nor defaulted: a PATCH changes only what it names."""
    field = copy.copy(field)
    field.required = False
    field.load_default = ma.missing
    return field


InstrumentUpdateSchema = BodySchema.from_dict(
    {
        **{name: _optional(field) for name, field in InstrumentFields._declared_fields.items()},
        "active": StrictBoolean(),
    },
    name="InstrumentUpdateSchema",
)
InstrumentUpdateSchema.__doc__ = "Any subset of the writable fields, plus ``active``."


class BlackoutCreateSchema(BodySchema):
    starts_at = Instant(required=True)
    ends_at = Instant(required=True)
    reason = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))

    @ma.validates_schema
    def _ends_after_start(self, data, **kwargs):
        if "starts_at" in data and "ends_at" in data and data["ends_at"] <= data["starts_at"]:
            raise ma.ValidationError("Must be after starts_at.", "ends_at")


class BlackoutSchema(ma.Schema):
    id = ma.fields.Integer()
    instrument_id = ma.fields.Integer()
    starts_at = ma.fields.AwareDateTime()
    ends_at = ma.fields.AwareDateTime()
    reason = ma.fields.String()
    closure_id = ma.fields.Integer(
        allow_none=True, metadata={"description": "the lab closure this blackout is part of, if any"}
    )


class BlackoutCreatedSchema(BlackoutSchema):
    cancelled_booking_ids = ma.fields.List(
        ma.fields.Integer(), metadata={"description": "the bookings the blackout cancelled"}
    )


class QualificationSchema(ma.Schema):
    """One person qualified on the instrument; ``expires_at`` null: for good."""

    user_id = ma.fields.Integer()
    granted_at = ma.fields.AwareDateTime()
    expires_at = ma.fields.AwareDateTime(allow_none=True)


class QualificationListSchema(ma.Schema):
    """Everyone qualified on the instrument, in one page (an instrument's trained people are few):
    ``items`` with their dates; ``user_ids`` as the API has always answered it (kept for its clients)."""

    items = ma.fields.List(ma.fields.Nested(QualificationSchema), required=True)
    next_cursor = ma.fields.String(allow_none=True, required=True, metadata={"description": "always null"})
    user_ids = ma.fields.List(ma.fields.Integer(), required=True)
