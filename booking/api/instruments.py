"""Labs, lab managers, and the lab managers' side of instruments: policy, hours, blackouts, training."""

from flask.views import MethodView

from booking.api.common import Blueprint, api_auth, current_actor, documents, paginate
from booking.api.instrument_schemas import (
    BlackoutCreatedSchema,
    BlackoutCreateSchema,
    BlackoutSchema,
    InstrumentCreateSchema,
    InstrumentSchema,
    InstrumentUpdateSchema,
    OpeningHoursSchema,
    QualificationListSchema,
    minutes_of,
)
from booking.api.schemas import LabCreateSchema, LabSchema, MemberSchema
from booking.flow import closures as closing
from instruments import catalogue, labs
from instruments.models import Lab

blp = Blueprint("labs", __name__, url_prefix="/api/v1", description="Open university labs")


@blp.route("/labs")
class Labs(MethodView):
    @blp.response(201, LabSchema)
    @documents(400)
    @api_auth("admin")
    @blp.arguments(LabCreateSchema)
    def post(self, body):
        """Register a lab."""
        return labs.create_lab(**body)

    @blp.paged_list(LabSchema)
    def get(self, args):
        return paginate(labs.visible_labs(current_actor()), Lab.id, args)


@blp.route("/labs/<int:lab_id>")
class LabById(MethodView):
    @blp.response(200, LabSchema)
    @documents(404)
    @api_auth()
    def get(self, lab_id):
        return labs.lab_for(current_actor(), lab_id)


@blp.route("/labs/<int:lab_id>/managers")
class LabManagers(MethodView):
    @blp.response(204)
    @documents(400, 404)
    @api_auth("admin")
    @blp.arguments(MemberSchema)
    def post(self, body, lab_id):
        """Make a lab_manager user a manager of this lab (idempotent)."""
        labs.add_lab_manager(labs.lab_for(current_actor(), lab_id), body["user_id"])


# --- instruments (lab managers) ------------------------------------------------------------------------


@blp.route("/labs/<int:lab_id>/instruments")
class LabInstruments(MethodView):
    @blp.response(201, InstrumentSchema)
    @documents(400, 404)
    @api_auth("lab_manager", "admin")
    @blp.arguments(InstrumentCreateSchema)
    def post(self, body, lab_id):
        """Publish an instrument of this lab (its managers only)."""
        return catalogue.create_instrument(catalogue.managed_lab_for(current_actor(), lab_id), **body)


@blp.route("/instruments/<int:instrument_id>")
class InstrumentById(MethodView):
    @blp.response(200, InstrumentSchema)
    @documents(400, 404)
    @api_auth("lab_manager", "admin")
    @blp.arguments(InstrumentUpdateSchema)
    def patch(self, body, instrument_id):
        """Change an instrument's details or policy (e.g. ``active: false`` to withdraw it)."""
        return catalogue.update_instrument(
            catalogue.managed_instrument_for(current_actor(), instrument_id), **body
        )


@blp.route("/instruments/<int:instrument_id>/opening-hours")
class InstrumentOpeningHours(MethodView):
    @blp.response(200, OpeningHoursSchema(many=True))
    @documents(400, 404)
    @api_auth("lab_manager", "admin")
    @blp.arguments(OpeningHoursSchema(many=True))
    def put(self, ranges, instrument_id):
        """Replace the weekly opening hours (local time of the instrument; several ranges per weekday)."""
        instrument = catalogue.managed_instrument_for(current_actor(), instrument_id)
        catalogue.set_opening_hours(
            instrument, [(r["weekday"], minutes_of(r["opens"]), minutes_of(r["closes"])) for r in ranges]
        )
        return instrument.opening_hours

    @blp.response(200, OpeningHoursSchema(many=True))
    @documents(404)
    @api_auth()
    def get(self, instrument_id):
        return catalogue.instrument_for(current_actor(), instrument_id).opening_hours


@blp.route("/instruments/<int:instrument_id>/blackouts")
class InstrumentBlackouts(MethodView):
    @blp.response(201, BlackoutCreatedSchema)
    @documents(400, 404)
    @api_auth("lab_manager", "admin")
    @blp.arguments(BlackoutCreateSchema)
    def post(self, body, instrument_id):
        """Close the instrument for a while (maintenance); nothing can be booked across it. Pending
        or confirmed bookings holding time in it are cancelled by the lab (free, vouchers and card
        holds released, teams mailed): ``cancelled_booking_ids``."""
        actor = current_actor()
        instrument = catalogue.managed_instrument_for(actor, instrument_id)
        blackout, cancelled = closing.add_blackout(actor, instrument, **body)
        blackout.cancelled_booking_ids = cancelled  # shown in this answer only
        return blackout

    @blp.response(200, BlackoutSchema(many=True))
    @documents(404)
    @api_auth()
    def get(self, instrument_id):
        return catalogue.blackouts_of(catalogue.instrument_for(current_actor(), instrument_id))


@blp.route("/instruments/<int:instrument_id>/blackouts/<int:blackout_id>")
class InstrumentBlackout(MethodView):
    @blp.response(204)
    @documents(404)
    @api_auth("lab_manager", "admin")
    def delete(self, instrument_id, blackout_id):
        closing.remove_blackout(catalogue.managed_instrument_for(current_actor(), instrument_id), blackout_id)


@blp.route("/instruments/<int:instrument_id>/qualifications")
class InstrumentQualifications(MethodView):
    @blp.response(204)
    @documents(400, 404)
    @api_auth("lab_manager", "admin")
    @blp.arguments(MemberSchema)
    def post(self, body, instrument_id):
        """Record that a user is trained on this instrument (again: renews it until now plus
        ``qualification_valid_days``)."""
        actor = current_actor()
        catalogue.grant_qualification(
            catalogue.managed_instrument_for(actor, instrument_id), body["user_id"], actor
        )

    @blp.response(200, QualificationListSchema)
    @documents(404)
    @api_auth("lab_manager", "admin")
    def get(self, instrument_id):
        """Everyone qualified on this instrument, with when it was granted and when it lapses."""
        instrument = catalogue.managed_instrument_for(current_actor(), instrument_id)
        qualifications = catalogue.qualifications_of(instrument)
        return {
            "items": qualifications,
            "next_cursor": None,
            "user_ids": [q.user_id for q in qualifications],
        }


@blp.route("/instruments/<int:instrument_id>/qualifications/<int:user_id>")
class InstrumentQualification(MethodView):
    @blp.response(204)
    @documents(404)
    @api_auth("lab_manager", "admin")
    def delete(self, instrument_id, user_id):
        """Withdraw a qualification (future bookings needing training are refused)."""
        catalogue.revoke_qualification(
            catalogue.managed_instrument_for(current_actor(), instrument_id), user_id
        )
