"""The payment provider's webhook: Stripe-Signature verified, each event processed once."""

from __future__ import annotations

import marshmallow as ma
from flask import request
from flask.views import MethodView

from booking.api.common import Blueprint, documents, public
from booking.flow.payments import webhooks

blp = Blueprint("payments", __name__, url_prefix="/api/v1", description="Payments (webhook)")


class WebhookResultSchema(ma.Schema):
    received = ma.fields.Boolean()
    duplicate = ma.fields.Boolean()


@blp.route("/payments/webhook")
class PaymentsWebhook(MethodView):
    @blp.response(200, WebhookResultSchema)
    @documents(400, 413)
    @public
    def post(self):
        """Events from the payments API (``payment_intent.succeeded``, ``payment_failed``, ``canceled``).
        Verified by ``Stripe-Signature`` (HMAC-SHA256 over ``t.payload``, 5-minute tolerance): 400 if not."""
        event = webhooks.webhook_payload(request.get_data(), request.headers.get("Stripe-Signature"))
        fresh = webhooks.handle_event(event)
        return {"received": True, "duplicate": not fresh}
