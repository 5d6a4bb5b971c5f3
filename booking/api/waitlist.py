"""The waitlist: a team asks to be told when a taken range of an instrument frees up."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView

from booking.api.common import (
    Blueprint,
    BodySchema,
    Id,
    Instant,
    api_auth,
    current_actor,
    documents,
    paginate,
)
from booking.flow import waitlist
from instruments import catalogue
from instruments.models import WAITLIST_STATUSES, WaitlistEntry

blp = Blueprint("waitlist", __name__, url_prefix="/api/v1", description="Waitlist")


class WaitlistCreateSchema(BodySchema):
    team_id = Id(required=True)
    starts_at = Instant(required=True)
    ends_at = Instant(required=True)

    @ma.validates_schema
    def _ends_after_start(self, data, **kwargs):
        if "starts_at" in data and "ends_at" in data and data["ends_at"] <= data["starts_at"]:
            raise ma.ValidationError("Must be after starts_at.", "ends_at")


class WaitlistEntrySchema(ma.Schema):
    id = ma.fields.Integer()
    instrument_id = ma.fields.Integer()
    team_id = ma.fields.Integer()
    starts_at = ma.fields.AwareDateTime()
    ends_at = ma.fields.AwareDateTime()
    status = ma.fields.String(metadata={"enum": list(WAITLIST_STATUSES)})
    created_at = ma.fields.AwareDateTime()
    notified_at = ma.fields.AwareDateTime(allow_none=True)


@blp.route("/instruments/<int:instrument_id>/waitlist")
class InstrumentWaitlist(MethodView):
    @blp.response(201, WaitlistEntrySchema)
    @documents(400, 404, 409)
    @api_auth("founder")
    @blp.arguments(WaitlistCreateSchema)
    def post(self, body, instrument_id):
        """Wait for [starts_at, ends_at): when the whole range becomes bookable again (a booking is
        cancelled, rejected, marked no-show...) the team's members get one mail with a link to the
        filled-in booking form, and the entry becomes ``notified``. Nothing is booked by itself.
        The range follows a booking's time rules (same codes); another team → 404."""
        return waitlist.join(current_actor(), instrument_id, **body)

    @blp.paged_list(WaitlistEntrySchema, codes=(404,))
    def get(self, args, instrument_id):
        """The caller's teams' entries for this instrument."""
        actor = current_actor()
        instrument = catalogue.instrument_for(actor, instrument_id)
        return paginate(waitlist.entries_of(actor, instrument.id), WaitlistEntry.id, args)


@blp.route("/waitlist/<int:entry_id>")
class WaitlistEntryById(MethodView):
    @blp.response(204)
    @documents(404)
    @api_auth()
    def delete(self, entry_id):
        """Leave the waitlist (members of the entry's team; anyone else → 404)."""
        waitlist.leave(current_actor(), entry_id)
