"""Refunds of what a card payment captured, and the payments API's webhook events."""

from __future__ import annotations

import time

from flask import current_app
from sqlalchemy import select

from booking.core import clock, input_rules
from booking.core.db import db, insert_ignoring_conflicts
from booking.core.errors import DomainError, Invalid
from booking.flow.payments.client import client
from booking.flow.payments.holds import payment_of
from booking.flow.payments.wire import verify_signature
from booking.models import Booking, BookingPayment, PaymentEvent, PaymentStatus


class BadSignature(DomainError):
    status = 400
    code = "bad_signature"


def refund(booking: Booking, amount_fen: int) -> BookingPayment:
    row = payment_of(booking)
    api = client()
    if row is None or api is None or row.captured_fen == 0:
        raise Invalid("Nothing was captured for this booking.", code="nothing_captured")
    refundable = row.captured_fen - row.refunded_fen
    if amount_fen > refundable:
        raise Invalid(
            "A refund cannot exceed what was captured.",
            code="refund_exceeds_captured",
            details={"amount_fen": [f"At most {refundable}."]},
        )
    held = min(row.captured_fen - _extra_amount(row), row.captured_fen)
    remaining = amount_fen
    # refund the hold's capture first, then the difference's intent
    from_hold = max(0, min(remaining, held - min(row.refunded_fen, held)))
    parts = [(row.hold_intent_id, from_hold), (row.extra_intent_id, remaining - from_hold)]
    for intent_id, amount in parts:
        if intent_id and amount > 0:
            api.refund(intent_id, amount, key=f"{row.hold_key}:refund:{row.refunded_fen}:{amount}")
            row.refunded_fen += amount
    booking.payment_status = (
        PaymentStatus.REFUNDED if row.refunded_fen == row.captured_fen else PaymentStatus.PARTIALLY_REFUNDED
    )
    db.session.flush()
    return row


def _extra_amount(row: BookingPayment) -> int:
    if not row.extra_intent_id:
        return 0
    return max(0, row.captured_fen - min(row.due_fen or 0, row.authorized_fen))


WEBHOOK_STATUS = {
    "payment_intent.succeeded": PaymentStatus.CAPTURED,
    "payment_intent.payment_failed": PaymentStatus.FAILED,
    "payment_intent.canceled": PaymentStatus.CANCELED,
}


def handle_event(event: dict) -> bool:
    """Apply a verified webhook event once. Returns False for an event already processed."""
    event_id = str(event.get("id") or "")
    if not event_id:
        raise Invalid("Event without id.", details={"id": ["Required."]})
    result = db.session.execute(
        insert_ignoring_conflicts(PaymentEvent)
        .values(event_id=event_id, type=str(event.get("type"))[:60], received_at=clock.now())
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(PaymentEvent.__table__.c.event_id)
    )
    if result.first() is None:  # seen before (rowcount is not reliable for ON CONFLICT on every driver)
        return False
    status = WEBHOOK_STATUS.get(event.get("type"))
    intent = ((event.get("data") or {}).get("object")) or {}
    if status and intent.get("id"):
        row = db.session.scalar(select(BookingPayment).where(BookingPayment.hold_intent_id == intent["id"]))
        if row is not None:
            booking = db.session.get(Booking, row.booking_id)
            # refunds and our own finer states win over the provider's coarse news
            if booking.payment_status in (
                PaymentStatus.AUTHORIZED,
                PaymentStatus.CAPTURE_PENDING,
                PaymentStatus.CANCEL_PENDING,
                PaymentStatus.CAPTURE_FAILED,
            ):
                booking.payment_status = status
            if status == PaymentStatus.CANCELED and row.action == "cancel":
                row.action = None
    db.session.flush()
    return True


def webhook_payload(body: bytes, header: str | None) -> dict:
    secret = current_app.config.get("PAYMENTS_WEBHOOK_SECRET") or ""
    if not verify_signature(body, header, secret, now=time.time()):
        raise BadSignature("The Stripe-Signature header does not verify.")
    try:
        event = input_rules.parse_json(body)
    except input_rules.MalformedJson as error:
        raise BadSignature("Malformed event.", code="bad_request") from error
    if not _is_event(event):  # verified, but not shaped like an event
        raise BadSignature("Malformed event: not an event object.", code="bad_request")
    return event


def _is_event(event) -> bool:
    """``{"id", "type", "data": {"object": {"id": str, ...}}}``, the parts ``handle_event`` reads,
    in shapes it can read and text the database can store."""
    if not isinstance(event, dict):
        return False
    data = event.get("data", {})
    intent = data.get("object", {}) if isinstance(data, dict) else None
    if not isinstance(intent, dict) and intent is not None:
        return False
    intent_id = (intent or {}).get("id")
    if not (intent_id is None or isinstance(intent_id, str)):
        return False
    texts = [text for text in (event.get("id"), event.get("type"), intent_id) if isinstance(text, str)]
    return isinstance(data, dict | None) and all(
        input_rules.is_storable_text(text) and len(text) <= 100 for text in texts
    )
