"""Running reconciliation on demand (finance, admin)."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView

from booking.api.common import Blueprint, api_auth, current_actor
from vouchers.reconciliation import reconcile

blp = Blueprint("reconciliation", __name__, url_prefix="/api/v1", description="Reconciliation")


class RunSchema(ma.Schema):
    id = ma.fields.Integer()
    as_of = ma.fields.AwareDateTime()
    started_at = ma.fields.AwareDateTime()
    finished_at = ma.fields.AwareDateTime(allow_none=True)
    settled = ma.fields.Integer(metadata={"description": "bookings settled by this run"})
    exceptions = ma.fields.Integer(metadata={"description": "new exceptions raised for finance"})


@blp.route("/reconciliation/runs")
class ReconciliationRuns(MethodView):
    @blp.response(201, RunSchema)
    @api_auth("finance", "admin")
    def post(self):
        """Reconcile now (the scheduler also does, every 5 minutes): settle finished bookings."""
        return reconcile(triggered_by_id=current_actor().id)
