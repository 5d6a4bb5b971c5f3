"""Finding instruments and their free time: the catalogue search, one instrument, its availability."""

from __future__ import annotations

import re
from datetime import timedelta

import marshmallow as ma
from flask.views import MethodView

from booking.api.common import (
    Blueprint,
    Instant,
    PageArgs,
    api_auth,
    current_actor,
    documents,
    paginate,
)
from booking.api.instrument_schemas import InstrumentSchema
from booking.core import clock
from instruments import availability
from instruments.catalogue import instrument_for
from instruments.models import Instrument
from instruments.rules import zone

blp = Blueprint(
    "instrument_search", __name__, url_prefix="/api/v1", description="Instrument search and availability"
)

MAX_AVAILABILITY_RANGE = timedelta(days=100)

# In a query string an unencoded "+" arrives as a space: "...T09:00:00 08:00" means "+08:00".
_SPACE_FOR_PLUS = re.compile(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}(?::?\d{2})?)$")


class QueryInstant(Instant):
    """An ISO 8601 instant that must carry its UTC offset (naive input is refused)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = _SPACE_FOR_PLUS.sub(r"\1+\2", value.strip())
        return super()._deserialize(value, attr, data, **kwargs)


def _ends_after_start(data: dict, start: str, end: str, names: tuple[str, str]) -> None:
    if start in data and end in data and data[end] <= data[start]:
        raise ma.ValidationError(f"Must be after {names[0]}.", names[1])


class InstrumentSearchArgs(PageArgs):
    category = ma.fields.String(validate=ma.validate.Length(min=1, max=100))
    district_code = ma.fields.String(
        validate=ma.validate.Regexp(r"^[0-9]{6}\Z", error="Six digits, e.g. 500106.")
    )
    q = ma.fields.String(
        validate=ma.validate.Length(max=200),
        metadata={"description": "case-insensitive text in the name, category, description or lab name"},
    )
    free_from = QueryInstant(
        metadata={"description": "with free_to: only instruments bookable for the whole range"}
    )
    free_to = QueryInstant()

    @ma.validates_schema
    def _free_range(self, data, **kwargs):
        given = [name for name in ("free_from", "free_to") if name in data]
        if len(given) == 1:
            missing = "free_to" if given == ["free_from"] else "free_from"
            raise ma.ValidationError("Give free_from and free_to together.", missing)
        _ends_after_start(data, "free_from", "free_to", ("free_from", "free_to"))


class AvailabilityArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    start = QueryInstant(required=True, data_key="from")
    end = QueryInstant(required=True, data_key="to")

    @ma.validates_schema
    def _range(self, data, **kwargs):
        _ends_after_start(data, "start", "end", ("from", "to"))
        if "start" in data and "end" in data and data["end"] - data["start"] > MAX_AVAILABILITY_RANGE:
            raise ma.ValidationError(f"At most {MAX_AVAILABILITY_RANGE.days} days after from.", "to")


class FreeIntervalSchema(ma.Schema):
    starts_at = ma.fields.AwareDateTime(required=True)
    ends_at = ma.fields.AwareDateTime(required=True)


class AvailabilitySchema(ma.Schema):
    free = ma.fields.List(ma.fields.Nested(FreeIntervalSchema), required=True)


@blp.route("/instruments")
class Instruments(MethodView):
    @blp.paged_list(InstrumentSchema, args=InstrumentSearchArgs)
    def get(self, args):
        """Search the active instruments of all labs; with free_from and free_to, only those that
        can be booked for that whole range (opening hours, grid, duration, lead time, horizon,
        blackouts and other bookings all respected)."""
        return paginate(availability.found_instruments(args, clock.now()), Instrument.id, args)


@blp.route("/instruments/<int:instrument_id>")
class InstrumentDetail(MethodView):
    @blp.response(200, InstrumentSchema)
    @documents(404)
    @api_auth()
    def get(self, instrument_id):
        """One instrument with its policy and opening hours."""
        return instrument_for(current_actor(), instrument_id)


@blp.route("/instruments/<int:instrument_id>/availability")
class InstrumentAvailability(MethodView):
    @blp.response(200, AvailabilitySchema)
    @documents(404)
    @api_auth()
    @blp.arguments(AvailabilityArgs, location="query")
    def get(self, args, instrument_id):
        """The bookable free intervals in [from, to) (at most 100 days), in the instrument's timezone.

        Any range inside one of them that starts and ends on the slot grid and lasts between the
        instrument's min and max minutes can be booked (until someone else books it)."""
        availability.instrument_with_hours(instrument_id)  # one round trip; the rule below then reuses it
        instrument = instrument_for(current_actor(), instrument_id)
        tz = zone(instrument.timezone)
        free = availability.free_intervals(instrument, args["start"], args["end"], clock.now())
        return {"free": [{"starts_at": s.astimezone(tz), "ends_at": e.astimezone(tz)} for s, e in free]}
